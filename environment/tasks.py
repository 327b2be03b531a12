"""Task schedules (SPEC §5): which target and which initial registers each episode uses.

A schedule is data handed to the environment: at every (auto)reset the environment asks its task
source for the targets and initial registers of the episodes that start, as arrays [count, R].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

HELDOUT_SEED = 100


class TaskSource(Protocol):
    def __call__(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Targets and initial registers, each int64 [count, R], for the next `count` episodes."""


def check_registers(values: Any, num_registers: int, what: str) -> np.ndarray:
    """`values` as an int64 array of NUM_REGISTERS integers in 0..255, or a ValueError naming `what`."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if (not isinstance(values, Sequence) or isinstance(values, str) or len(values) != num_registers
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values)):
        raise ValueError(f"{what} must be a list of {num_registers} integers in 0..255, got {values!r}")
    bad = [int(v) for v in values if not 0 <= v <= 255]
    if bad:
        raise ValueError(f"{what} must be a list of {num_registers} integers in 0..255, "
                         f"but {bad[0]} is out of range in {list(values)!r}")
    return np.asarray(values, dtype=np.int64)


class TaskSchedule:
    """The values (targets or initial registers) of successive episodes.

    `kind` is "fixed" (a list of values, each held for `alternate_freq` episodes, cycling), "random"
    (a fresh uniform draw every episode) or "zeros".
    """

    def __init__(self, kind: str, num_registers: int, values: np.ndarray | None = None,
                 alternate_freq: int = 0, episodes: int = 1) -> None:
        self.kind, self.num_registers = kind, num_registers
        self.values = None if values is None else np.asarray(values, dtype=np.int64).reshape(-1, num_registers)
        if kind == "fixed":
            # f = 0: one block of episodes // N episodes per value.
            self.block = alternate_freq if alternate_freq > 0 else max(1, episodes // len(self.values))
        self.episode = 0

    @classmethod
    def fixed(cls, values: Sequence, alternate_freq: int = 0, episodes: int = 1) -> TaskSchedule:
        values = np.asarray(values, dtype=np.int64)
        return cls("fixed", values.shape[-1], values, alternate_freq, episodes)

    def next(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """The values of the next `count` episodes, advancing the schedule."""
        start, self.episode = self.episode, self.episode + count
        if self.kind == "zeros":
            return np.zeros((count, self.num_registers), dtype=np.int64)
        if self.kind == "random":
            return rng.integers(0, 256, size=(count, self.num_registers), dtype=np.int64)
        index = (np.arange(start, start + count) // self.block) % len(self.values)
        return self.values[index]

    def distinct_values(self) -> np.ndarray | None:
        """Every value a fixed schedule uses (None for random, zeros for zeros): what evaluation covers."""
        if self.kind == "zeros":
            return np.zeros((1, self.num_registers), dtype=np.int64)
        return None if self.values is None else self.values.copy()


class ScheduledTasks:
    """A task source built from a target schedule and a reg_init schedule."""

    def __init__(self, targets: TaskSchedule, reg_inits: TaskSchedule) -> None:
        self.targets, self.reg_inits = targets, reg_inits

    def __call__(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.targets.next(count, rng), self.reg_inits.next(count, rng)


def schedule_from_spec(spec: Any, field: str, num_registers: int, episodes: int,
                       rng: np.random.Generator, null: str) -> TaskSchedule:
    """Build a schedule from its training-file form (`null`, or `{"values": N or [[...], ...],
    "alternate_freq": f}`); `null` gives the `null` kind ("random" or "zeros"). Errors name `field`."""
    if spec is None:
        return TaskSchedule(null, num_registers)
    if not isinstance(spec, dict):
        raise ValueError(f"{field} must be null or an object with 'values' and 'alternate_freq', got {spec!r}")
    unknown = sorted(set(spec) - {"values", "alternate_freq"})
    if unknown:
        raise ValueError(f"{field} has unknown key(s) {', '.join(unknown)}: expected 'values', 'alternate_freq'")
    if "values" not in spec:
        raise ValueError(f"{field} needs 'values': a count of random values or a list of lists")
    freq = spec.get("alternate_freq", 0)
    if not isinstance(freq, int) or isinstance(freq, bool) or freq < 0:
        raise ValueError(f"{field}.alternate_freq must be an integer ≥ 0, got {freq!r}")
    values = spec["values"]
    if isinstance(values, int) and not isinstance(values, bool):
        if values < 1:
            raise ValueError(f"{field}.values must be a count ≥ 1 or a list of lists, got {values!r}")
        drawn = rng.integers(0, 256, size=(values, num_registers), dtype=np.int64)
        return TaskSchedule("fixed", num_registers, drawn, freq, episodes)
    if not isinstance(values, list) or not values:
        raise ValueError(f"{field}.values must be a count ≥ 1 or a non-empty list of lists, got {values!r}")
    rows = [check_registers(v, num_registers, f"{field}.values[{i}]") for i, v in enumerate(values)]
    return TaskSchedule("fixed", num_registers, np.stack(rows), freq, episodes)


def heldout_targets(count: int, num_registers: int = 4, seed: int = HELDOUT_SEED) -> np.ndarray:
    """The fixed held-out random targets that evaluation uses when a run's targets are null."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, num_registers), dtype=np.int64)
