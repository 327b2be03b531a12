"""A run's result: one typed record, built here and read everywhere (summary.json, the summary table,
sweeps, benchmarks). Its JSON form is the entry of `summary.json` (docs/training.md, "Outputs")."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

STATUSES = ("finished", "interrupted", "failed", "not started")


@dataclass
class RunResult:
    """What one run reports: its status, the best and first-solve figures, its evaluation curve.

    `first_solve` is the episode of the first evaluation that solved every task (None: never);
    `program` is the first task's program at that evaluation and `programs` every task's
    (target, reg_init, program); `traceback` goes to the run's error.txt, not to summary.json.
    """

    id: int | str
    algo: str
    agent: str | None = None
    status: str = "failed"
    best_performance: float | None = None
    first_solve: int | None = None
    episodes: int = 0
    seconds: float = 0.0
    curve: list[tuple[int, float]] = field(default_factory=list)
    error: str | None = None
    best_episode: int | None = None
    first_solve_seconds: float | None = None
    program: list[str] = field(default_factory=list)
    programs: list[dict[str, Any]] = field(default_factory=list)
    traceback: str | None = None
    # Episodes of the evaluations that did not solve every task (None: not recorded, as in summaries
    # written before it was; then an evaluation of mean performance 0 counts as solved).
    unsolved: list[int] | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")

    @classmethod
    def for_task(cls, task: dict[str, Any], status: str, error: str | None = None) -> RunResult:
        """The result of a run that has none of its own (never started, or lost with its process):
        `task` holds the keyword arguments of train_run."""
        return cls(id=task["run_data"]["id"], algo=task["run_data"]["algo"], status=status, error=error)

    @property
    def solved(self) -> bool:
        return self.first_solve is not None

    @property
    def later_solved_fraction(self) -> float | None:
        """Of the evaluations after the first solve, the fraction that solved every task (performance 0
        on each, so a mean of 0): whether the run kept what it found. None: never solved, or no
        evaluation after it."""
        if self.first_solve is None:
            return None
        later = [(episode, performance) for episode, performance in self.curve if episode > self.first_solve]
        if not later:
            return None
        if self.unsolved is None:
            return sum(performance == 0 for _, performance in later) / len(later)
        unsolved = set(self.unsolved)
        return sum(episode not in unsolved for episode, _ in later) / len(later)

    @property
    def final_performance(self) -> float | None:
        """The mean performance of the last evaluation: that of the model at the end (`models/last`)."""
        return float(self.curve[-1][1]) if self.curve else None

    def to_json(self) -> dict[str, Any]:
        """The summary.json entry: strict JSON (a run that made no evaluation has best_performance null)."""
        data = {k: v for k, v in asdict(self).items() if k != "traceback"}
        if data["best_performance"] is not None and not math.isfinite(data["best_performance"]):
            data["best_performance"] = None
        data["curve"] = [[int(e), float(p)] for e, p in self.curve]
        final = self.final_performance
        data["later_solved_fraction"] = self.later_solved_fraction
        data["final_performance"] = None if final is None else float(final)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        known = {f.name for f in fields(cls)}
        result = cls(**{k: v for k, v in data.items() if k in known})
        result.curve = [(int(e), float(p)) for e, p in result.curve]
        return result
