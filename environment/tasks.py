"""Task schedules (docs/reference.md §5): which target and which initial registers each episode uses.

A schedule is data handed to the environment: at every (auto)reset the environment asks its task
source for the targets and initial registers of the episodes that start, as arrays [count, R].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from environment.function_tasks import (
    MAX_EXAMPLES,
    ExamplesTasks,
    FunctionTasks,
    FunctionTaskSource,
    RandomFunctions,
    as_examples,
    as_function,
)
from environment.plugins import import_class
from toycorewar import ActionTable, MachineConfig
from toycorewar.actions import encode_registers

HELDOUT_SEED = 100
MAX_VALUES = 100_000  # values of a schedule: a count of random ones or a list (each episode cycles through them)
MAX_FREQUENCY = 10**9  # alternate_freq, in episodes
# How a solvable run's evaluation targets may be drawn besides the default (docs/synthesis.md, "Solvable targets").
HELD_OUT_FORMS = ("tiers",)
HARD_BLOCK = 256  # random programs drawn at once per row for a `hard` target (about 5 of them look hard)


class TaskSource(Protocol):
    def __call__(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Targets and initial registers, each int64 [count, R], for the next `count` episodes."""


def check_registers(values: Any, num_registers: int, what: str) -> np.ndarray:
    """`values` as an int64 array of NUM_REGISTERS integers in 0..255, or a ValueError naming `what`."""
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if (not isinstance(values, Sequence) or isinstance(values, str) or len(values) != num_registers
            or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values)):
        raise ValueError(f"{what} must be a list of {num_registers} integers in 0..255, got {_shown(values)}")
    bad = [int(v) for v in values if not 0 <= v <= 255]
    if bad:
        raise ValueError(f"{what} must be a list of {num_registers} integers in 0..255, "
                         f"but {bad[0]} is out of range in {list(values)!r}")
    return np.asarray(values, dtype=np.int64)


class TaskSchedule:
    """The values (targets or initial registers) of successive episodes.

    `kind` is "fixed" (a list of values, each held for `alternate_freq` episodes, cycling), "random"
    (a fresh uniform draw every episode), "zeros", or "solvable" (targets only: the registers after a
    random program of `length` instructions run from the episode's initial registers, so that a
    solution within `length` instructions exists; draws equal to an `excluded` target are redrawn).
    `held_out` says how a solvable run's evaluation targets are drawn: None (as training draws them)
    or "tiers" (by optimal length, synthesis/tiers.py); the run's context draws them.
    """

    def __init__(self, kind: str, num_registers: int, values: np.ndarray | None = None,
                 alternate_freq: int = 0, episodes: int = 1) -> None:
        self.kind, self.num_registers = kind, num_registers
        self.values = None if values is None else np.asarray(values, dtype=np.int64).reshape(-1, num_registers)
        if kind == "fixed":
            # f = 0: one block of episodes // N episodes per value.
            self.block = alternate_freq if alternate_freq > 0 else max(1, episodes // len(self.values))
        self.episode = 0
        self.length, self.table, self.excluded = 0, None, np.zeros(0, dtype=np.uint64)
        self.held_out: str | None = None
        self.hard = 0.0  # solvable: the share of targets redrawn until they look hard (`looks_hard`)

    @classmethod
    def solvable(cls, length: int, machine: MachineConfig, excluded: np.ndarray | None = None,
                 held_out: str | None = None, hard: float = 0.0) -> TaskSchedule:
        schedule = cls("solvable", machine.num_registers)
        schedule.length, schedule.table, schedule.held_out = length, ActionTable(machine), held_out
        schedule.hard = hard
        if excluded is not None and len(excluded):
            schedule.excluded = np.unique(encode_registers(np.asarray(excluded)))
        return schedule

    def solvable_targets(self, reg_inits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Targets reached by random programs from `reg_inits` (one per row), advancing the schedule."""
        self.episode += len(reg_inits)
        targets = random_program_results(reg_inits, self.length, rng, self.table)
        if self.hard > 0:
            # A `hard` share of the episodes take a target that looks hard: every register changed, one
            # beyond the load values (random programs mostly reach easy targets).
            wanted = rng.random(len(targets)) < self.hard
            for _ in range(100):  # about 2% of random 5-instruction programs from zeros look hard
                redraw = np.flatnonzero(wanted & ~self.looks_hard(targets, reg_inits))
                if not len(redraw):
                    break
                # HARD_BLOCK programs per row at once; a row takes the first that looks hard (the target
                # of the first hard program of a sequence of random ones, as drawing them one by one).
                inits = np.repeat(reg_inits[redraw], HARD_BLOCK, axis=0)
                candidates = random_program_results(inits, self.length, rng, self.table)
                hard = self.looks_hard(candidates, inits).reshape(len(redraw), HARD_BLOCK)
                found = hard.any(axis=1)
                first = hard.argmax(axis=1)
                chosen = candidates.reshape(len(redraw), HARD_BLOCK, -1)[np.arange(len(redraw)), first]
                targets[redraw[found]] = chosen[found]
        for _ in range(1000):
            clash = np.flatnonzero(np.isin(encode_registers(targets), self.excluded))
            if not len(clash):
                return targets
            targets[clash] = random_program_results(reg_inits[clash], self.length, rng, self.table)
        raise RuntimeError(f"random programs of {self.length} instructions keep reaching held-out targets only: "
                           "use a longer length or fewer EVAL_TARGETS")

    def looks_hard(self, targets: np.ndarray, reg_inits: np.ndarray) -> np.ndarray:
        """Every register changed from the initial ones, and one beyond the load values (it takes
        arithmetic): the shape of most targets of optimal length 5 on the default machine."""
        changed = (targets != reg_inits).all(axis=1)
        return changed & (targets >= self.table.n_vals).any(axis=1)

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

    def state(self) -> list[int]:
        """How far both schedules have gone (episodes handed out), for a checkpoint."""
        return [self.targets.episode, self.reg_inits.episode]

    def restore(self, state: list[int]) -> None:
        self.targets.episode, self.reg_inits.episode = (int(episode) for episode in state)

    def __call__(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.targets.kind == "solvable":
            reg_inits = self.reg_inits.next(count, rng)
            return self.targets.solvable_targets(reg_inits, rng), reg_inits
        return self.targets.next(count, rng), self.reg_inits.next(count, rng)


def schedule_from_spec(spec: Any, field: str, num_registers: int, episodes: int,
                       rng: np.random.Generator, null: str, machine: MachineConfig | None = None) -> TaskSchedule:
    """Build a schedule from its training-file form (`null`, `{"values": N or [[...], ...],
    "alternate_freq": f}`, or for targets `{"solvable": L}` and `{"solvable": L, "held_out": "tiers"}`);
    `null` gives the `null` kind ("random" or "zeros"). Errors name `field`."""
    machine = machine or MachineConfig(num_registers=num_registers)
    if spec is None:
        return TaskSchedule(null, num_registers)
    if not isinstance(spec, dict):
        raise ValueError(f"{field} must be null or an object with 'values' and 'alternate_freq', got {_shown(spec)}")
    if null == "random" and "solvable" in spec:
        return _solvable_from_spec(spec, field, machine)
    unknown = sorted(set(spec) - {"values", "alternate_freq"})
    if unknown:
        raise ValueError(f"{field} has unknown key(s) {', '.join(unknown)}: expected 'values', 'alternate_freq'")
    if "values" not in spec:
        raise ValueError(f"{field} needs 'values': a count of random values or a list of lists")
    freq = spec.get("alternate_freq", 0)
    if not isinstance(freq, int) or isinstance(freq, bool) or not 0 <= freq <= MAX_FREQUENCY:
        raise ValueError(f"{field}.alternate_freq must be an integer in 0..{MAX_FREQUENCY:.0e}, got {freq!r}")
    values = spec["values"]
    if isinstance(values, int) and not isinstance(values, bool):
        if not 1 <= values <= MAX_VALUES:
            raise ValueError(f"{field}.values must be a count in 1..{MAX_VALUES} or a list of lists, got {values!r}")
        drawn = rng.integers(0, 256, size=(values, num_registers), dtype=np.int64)
        return TaskSchedule("fixed", num_registers, drawn, freq, episodes)
    if not isinstance(values, list) or not values or len(values) > MAX_VALUES:
        raise ValueError(f"{field}.values must be a count in 1..{MAX_VALUES} or a list of 1..{MAX_VALUES} lists, "
                         f"got {_shown(values)}")
    rows = [check_registers(v, num_registers, f"{field}.values[{i}]") for i, v in enumerate(values)]
    return TaskSchedule("fixed", num_registers, np.stack(rows), freq, episodes)


def is_custom_spec(spec: Any) -> bool:
    """Whether a `targets` spec names a task source of your own (`{"source": "MODULE:CLASS"}`)."""
    return isinstance(spec, dict) and "source" in spec


class CustomTasks:
    """A task source of your own (docs/tutorials/add_a_task_kind.md): `"targets": {"source":
    "MODULE:CLASS", "options": {...}}`. The class is built once per run as `CLASS(machine=...,
    episodes=..., rng=..., **options)` and offers `__call__(count, rng)`, the targets and initial
    registers of the next `count` episodes, and `heldout(count, seed)`, the run's evaluation tasks
    (at most `count`, which training should never draw); `state()` and `restore(state)` when it has a position that
    `--resume` must find again. What it gives is checked: int64 [count, NUM_REGISTERS] in 0..255."""

    def __init__(self, spec: dict, field: str, machine: MachineConfig, episodes: int,
                 rng: np.random.Generator) -> None:
        unknown = sorted(set(spec) - {"source", "options"})
        if unknown:
            raise ValueError(f"{field} has unknown key(s) {', '.join(unknown)}: expected 'source', 'options'")
        options = spec.get("options", {})
        if not isinstance(options, dict):
            raise ValueError(f"{field}.options must be an object of keyword arguments, got {_shown(options)}")
        try:
            source_class = import_class(spec["source"], f"{field}.source")
            self.source = source_class(machine=machine, episodes=episodes, rng=rng, **options)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{field}.source {spec['source']!r}: {str(error).splitlines()[0]}") from None
        for method in ("__call__", "heldout"):
            if not callable(getattr(self.source, method, None)):
                raise ValueError(f"{field}.source {spec['source']!r}: the class has no method {method}")
        self.name, self.num_registers = spec["source"], machine.num_registers

    def checked(self, tasks: Any, count: int, what: str, fewer: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """The source's (targets, reg_inits) as int64 [count, R] in 0..255 (with `fewer`, 1..count rows),
        or a ValueError naming it."""
        try:
            targets, reg_inits = (np.asarray(part) for part in tasks)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}.{what} must return (targets, reg_inits), got {_shown(tasks)}") from None
        rows = len(targets) if fewer and targets.ndim == 2 and 1 <= len(targets) <= count else count
        for name, array in (("targets", targets), ("reg_inits", reg_inits)):
            if array.shape != (rows, self.num_registers) or not np.issubdtype(array.dtype, np.integer) \
                    or (array < 0).any() or (array > 255).any():
                raise ValueError(f"{self.name}.{what}: {name} must be integers in 0..255 of shape "
                                 f"({rows}, {self.num_registers}), got {array.dtype} {array.shape}")
        return targets.astype(np.int64), reg_inits.astype(np.int64)

    def __call__(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        return self.checked(self.source(count, rng), count, "__call__")

    def heldout(self, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """At most `count` evaluation tasks (EVAL_TARGETS), drawn from `seed` (EVAL_SEED)."""
        return self.checked(self.source.heldout(count, seed), count, "heldout", fewer=True)

    def state(self) -> Any:
        return self.source.state() if hasattr(self.source, "state") else []

    def restore(self, state: Any) -> None:
        if hasattr(self.source, "restore"):
            self.source.restore(state)


FUNCTION_FORMS = ("function", "functions", "examples")


def is_function_spec(spec: Any) -> bool:
    """Whether a run's `targets` is a function task (docs/reference.md §10) rather than constants."""
    return isinstance(spec, dict) and any(form in spec for form in FUNCTION_FORMS)


def function_schedule_from_spec(spec: Any, field: str, machine: MachineConfig, episodes: int,
                                rng: np.random.Generator, examples: int = 4) -> FunctionTaskSource:
    """The task source of a function task's training-file form: `{"function": "r3 = r1 + r2"}`,
    `{"functions": [...], "alternate_freq": f}`, `{"examples": [[[inputs], [outputs]], ...]}` (null
    for an output that does not matter) or `{"functions": {"solvable": L, "held_out": "tiers", "hard":
    x}}`; drawn episodes show `examples` examples. Errors (ValueError) name the field's path. (`rng` is
    taken for symmetry with `schedule_from_spec`: no form draws anything when it is built.)"""
    del rng
    r = machine.num_registers
    if not is_function_spec(spec):
        raise ValueError(f"{field} must be an object with one of {', '.join(map(repr, FUNCTION_FORMS))}, "
                         f"got {_shown(spec)}")
    forms = [form for form in FUNCTION_FORMS if form in spec]
    if len(forms) > 1:
        raise ValueError(f"{field} has {' and '.join(map(repr, forms))}: give one of them")
    form = forms[0]
    allowed = {form, "alternate_freq"} if form == "functions" and isinstance(spec[form], list) else {form}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ValueError(f"{field} has unknown key(s) {', '.join(unknown)}: with '{form}' expected "
                         f"{', '.join(map(repr, sorted(allowed)))}")
    if isinstance(examples, bool) or not isinstance(examples, int) or not 1 <= examples <= MAX_EXAMPLES:
        raise ValueError(f"EXAMPLES must be a count in 1..{MAX_EXAMPLES}, got {examples!r}")
    value, path = spec[form], f"{field}.{form}"
    if form == "function":
        return FunctionTasks([as_function(value, r, path)], examples)
    if form == "examples":
        if not isinstance(value, list):
            raise ValueError(f"{path} must be a list of pairs [[inputs], [outputs]], got {_shown(value)}")
        return ExamplesTasks(as_examples(value, r, path))
    if isinstance(value, dict):
        if "solvable" not in value:
            raise ValueError(f"{path} as an object needs 'solvable': a program length in 1..{machine.max_length}")
        solvable = _solvable_from_spec(value, path, machine)
        return RandomFunctions(solvable.length, machine, examples, held_out=solvable.held_out, hard=solvable.hard)
    if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
        raise ValueError(f"{path} must be a list of 1..{MAX_VALUES} expressions or {{\"solvable\": L}}, "
                         f"got {_shown(value)}")
    freq = spec.get("alternate_freq", 0)
    if not isinstance(freq, int) or isinstance(freq, bool) or not 0 <= freq <= MAX_FREQUENCY:
        raise ValueError(f"{field}.alternate_freq must be an integer in 0..{MAX_FREQUENCY:.0e}, got {freq!r}")
    functions = [as_function(text, r, f"{path}[{i}]") for i, text in enumerate(value)]
    return FunctionTasks(functions, examples, freq, episodes)


def _shown(value: Any) -> str:
    """`value` for an error message: its repr, cut to a few dozen characters."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def random_program_results(reg_inits: np.ndarray, length: int, rng: np.random.Generator,
                           table: ActionTable) -> np.ndarray:
    """The registers after a random program of `length` instructions (never stop) from each row."""
    registers = np.array(reg_inits, dtype=np.int64, copy=True)
    for _ in range(length):
        table.execute_batch(registers, rng.integers(0, table.stop_action, size=len(registers)))
    return registers


def heldout_solvable_targets(count: int, length: int, machine: MachineConfig, reg_inits: np.ndarray,
                             seed: int = HELDOUT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Held-out solvable tasks: `count` distinct targets of random programs of `length` instructions,
    each from one of `reg_inits` in turn, drawn from `seed`. Returns (targets, reg_inits); fewer than
    `count` when short programs cannot reach that many distinct targets."""
    rng = np.random.default_rng(seed)
    table = ActionTable(machine)
    inits = np.asarray(reg_inits, dtype=np.int64)[np.arange(count) % len(reg_inits)]
    targets = random_program_results(inits, length, rng, table)
    for _ in range(100):  # distinct targets, so that a solve rate counts different problems
        _, first = np.unique(encode_registers(targets), return_index=True)
        repeated = np.setdiff1d(np.arange(count), first)
        if not len(repeated):
            break
        targets[repeated] = random_program_results(inits[repeated], length, rng, table)
    _, first = np.unique(encode_registers(targets), return_index=True)
    keep = np.sort(first)
    return targets[keep], inits[keep]


def _solvable_from_spec(spec: dict, field: str, machine: MachineConfig) -> TaskSchedule:
    unknown = sorted(set(spec) - {"solvable", "held_out", "hard"})
    if unknown:
        raise ValueError(f"{field} has unknown key(s) {', '.join(unknown)}: with 'solvable' only 'held_out' "
                         "and 'hard' may be given")
    length = spec["solvable"]
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= machine.max_length:
        raise ValueError(f"{field}.solvable must be a program length in 1..{machine.max_length}, got {_shown(length)}")
    held_out = spec.get("held_out")
    if held_out is not None and held_out not in HELD_OUT_FORMS:
        raise ValueError(f"{field}.held_out must be null or {' or '.join(map(repr, HELD_OUT_FORMS))}, "
                         f"got {_shown(held_out)}")
    hard = spec.get("hard", 0)
    if isinstance(hard, bool) or not isinstance(hard, int | float) or not 0 <= hard <= 1:
        raise ValueError(f"{field}.hard must be a fraction in 0..1, got {_shown(hard)}")
    return TaskSchedule.solvable(length, machine, held_out=held_out, hard=float(hard))


def heldout_targets(count: int, num_registers: int = 4, seed: int = HELDOUT_SEED) -> np.ndarray:
    """The fixed held-out random targets that evaluation uses when a run's targets are null."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, num_registers), dtype=np.int64)

