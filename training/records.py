"""The record of a run's evaluations: its learning curve, the recent ones (the global performance),
the best model so far and the first solve. Saved in models/last and restored on --resume."""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from training.evaluation import Evaluation


class RunRecord:
    def __init__(self, perf_memory: int) -> None:
        self.best_performance = -float("inf")
        self.best_episode = -1
        self.best_payload: dict[str, Any] | None = None  # the best model's weights and spec
        self.first_solve: int | None = None
        self.first_solve_seconds: float | None = None
        self.first_solve_programs: list[dict[str, Any]] = []  # every task's (target, reg_init, program)
        self.recent: deque[float] = deque(maxlen=perf_memory)
        self.curve: list[tuple[int, float]] = []
        # The evaluations that did not solve every task, by episode: on a function task an evaluation can
        # meet every example (mean performance 0) with a program wrong on some input.
        self.unsolved: list[int] = []

    def observe(self, evaluation: Evaluation, model_payload: Callable[[], dict[str, Any]], elapsed: float) -> None:
        """Take in an evaluation; `model_payload` is asked for the model only when it is the best so far."""
        performance = evaluation.mean_performance
        self.recent.append(performance)
        self.curve.append((evaluation.episode, performance))
        if evaluation.solved_fraction < 1.0:
            self.unsolved.append(evaluation.episode)
        if performance > self.best_performance:
            self.best_performance, self.best_episode = performance, evaluation.episode
            self.best_payload = copy.deepcopy(model_payload())
        if self.first_solve is None and evaluation.solved_fraction == 1.0:
            self.first_solve, self.first_solve_seconds = evaluation.episode, elapsed
            self.first_solve_programs = [{"target": task.target, "reg_init": task.reg_init,
                                          "program": task.instructions,
                                          **({"function": task.function} if task.function is not None else {})}
                                         for task in evaluation.tasks]

    @property
    def first_solve_program(self) -> list[str]:
        """The first task's program at the first solve (the run's program when it has one target)."""
        return self.first_solve_programs[0]["program"] if self.first_solve_programs else []

    @property
    def global_performance(self) -> float:
        return float(np.mean(self.recent))

    @property
    def last_performance(self) -> float:
        return self.curve[-1][1]

    def state(self) -> dict[str, Any]:
        """The record as saved in models/last (under "monitor", beside the run's position)."""
        return {"best_performance": self.best_performance, "best_episode": self.best_episode,
                "first_solve": -1 if self.first_solve is None else self.first_solve,
                "first_solve_seconds": self.first_solve_seconds, "recent": list(self.recent),
                "curve": [list(point) for point in self.curve], "first_solve_programs": self.first_solve_programs,
                "best_payload": self.best_payload, "unsolved": list(self.unsolved)}

    def restore(self, state: dict[str, Any]) -> None:
        self.best_performance, self.best_episode = state["best_performance"], state["best_episode"]
        self.first_solve = None if state["first_solve"] < 0 else state["first_solve"]
        self.first_solve_seconds = state.get("first_solve_seconds")  # absent in older checkpoints
        self.first_solve_programs = state.get("first_solve_programs", [])  # likewise
        self.recent.extend(state["recent"])
        self.curve = [(int(e), float(p)) for e, p in state["curve"]]
        # Checkpoints before it was kept: solved evaluations were those of performance 0.
        self.unsolved = [int(e) for e in state.get("unsolved", [e for e, p in self.curve if p != 0])]
        self.best_payload = state["best_payload"]
