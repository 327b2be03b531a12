"""A run's result: one typed record, built here and read everywhere (summary.json, the summary table,
sweeps, benchmarks). Its JSON form is the entry of `summary.json` (README, "Outputs")."""

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

    def to_json(self) -> dict[str, Any]:
        """The summary.json entry: strict JSON (a run that made no evaluation has best_performance null)."""
        data = {k: v for k, v in asdict(self).items() if k != "traceback"}
        if data["best_performance"] is not None and not math.isfinite(data["best_performance"]):
            data["best_performance"] = None
        data["curve"] = [[int(e), float(p)] for e, p in self.curve]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        known = {f.name for f in fields(cls)}
        result = cls(**{k: v for k, v in data.items() if k in known})
        result.curve = [(int(e), float(p)) for e, p in result.curve]
        return result
