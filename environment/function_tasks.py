"""Function tasks as data handed to the environment (docs/reference.md §10).

A function task source is asked, at every (auto)reset, for the tasks of the `count` episodes that
start, as one `FunctionBatch` of arrays: each episode's examples (inputs, wanted outputs, which
output registers matter) and what decides `correct` exactly (the function's matrix, offset, assigned
and input registers; an examples task has no function, and `correct` is then every example met).

- `FunctionTasks`: a list of functions, each held for `alternate_freq` episodes, cycling; each episode
  shows `num_examples` inputs drawn afresh from the environment's generator.
- `ExamplesTasks`: given input-output examples, shown as they are in every episode.
- `RandomFunctions`: the function of a random program of `length` instructions (generalists), never
  one of an excluded (held-out) set.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

import numpy as np

from toycorewar import ActionTable, MachineConfig
from toycorewar.functions import Examples, Function, probe_inputs
from toycorewar.machine import MODULUS
from toycorewar.task_syntax import examples_from_pairs, parse_function

MAX_EXAMPLES = 64  # examples an episode may show (settings.EXAMPLES, or a task's given examples)


class FunctionBatch(NamedTuple):
    """The tasks of `n` episodes: examples int64 `inputs`, `outputs` [n, E, R] (0 where an output does not
    matter) and bool `matters` [n, E, R]; the function of each episode, int64 `matrix` [n, R, R],
    `offset` [n, R], bool `assigned` and `reads` (its input registers) [n, R]. An examples task has no
    function: its rows assign nothing, and only its examples decide `correct`."""

    inputs: np.ndarray
    outputs: np.ndarray
    matters: np.ndarray
    matrix: np.ndarray
    offset: np.ndarray
    assigned: np.ndarray
    reads: np.ndarray

    def probe_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """What a correct program leaves after its runs on the probe inputs of every register (zeros,
        then the unit input of each register: `probe_inputs`), int64 [n, R + 1, R], and where it must
        (bool [n, R + 1, R]): the assigned registers, on the probes of input registers and zeros. A
        program computes the function on every input exactly when it meets these (affine maps)."""
        n, r = self.offset.shape
        # The run on zeros gives the offset; the run on unit input j adds the matrix's column j.
        outputs = np.zeros((n, r + 1, r), dtype=np.int64)
        outputs[:, 1:] = self.matrix.transpose(0, 2, 1)
        outputs += self.offset[:, None, :]
        outputs &= MODULUS - 1  # (mod 256: every term is ≥ 0)
        valid = np.ones((n, r + 1), dtype=bool)  # zeros, and the unit inputs of input registers
        valid[:, 1:] = self.reads
        matters = valid[:, :, None] & self.assigned[:, None, :]
        outputs *= matters
        return outputs, matters

    def function(self, index: int) -> Function | None:
        """The function of episode `index` (None for an examples task)."""
        if not self.assigned[index].any():
            return None
        return Function(self.matrix[index], self.offset[index], self.assigned[index], self.reads[index])

    def examples(self, index: int) -> Examples:
        """The examples episode `index` shows."""
        return Examples(self.inputs[index], self.outputs[index], self.matters[index].astype(bool))

    def row(self, index: int) -> FunctionBatch:
        """The batch of episode `index` alone."""
        return FunctionBatch(*(array[index:index + 1] for array in self))


class FunctionTaskSource(Protocol):
    num_examples: int  # E, the examples every episode shows

    def __call__(self, count: int, rng: np.random.Generator) -> FunctionBatch:
        """The tasks of the next `count` episodes."""


def execute_runs(table: ActionTable, runs: np.ndarray, actions: np.ndarray) -> None:
    """Execute `actions[i]` on every run of copy i, in place (`runs`: int64 [n, K, R], K runs per copy
    (its examples), all executing the copy's instruction): a handful of vector operations."""
    rows = np.arange(len(actions))
    values = (table.coef_a[actions, None] * runs[rows, :, table.src_a[actions]]
              + table.coef_b[actions, None] * runs[rows, :, table.src_b[actions]]
              + table.const[actions, None]) & 255
    runs[rows, :, table.dest[actions]] = values


def function_batch(matrix: np.ndarray, offset: np.ndarray, assigned: np.ndarray, reads: np.ndarray,
                   num_examples: int, rng: np.random.Generator) -> FunctionBatch:
    """The batch of episodes of these functions ([n, R, R], [n, R], [n, R], [n, R]), each with
    `num_examples` inputs drawn uniformly on its input registers (0 on the others)."""
    n, r = offset.shape
    inputs = rng.integers(0, MODULUS, size=(n, num_examples, r), dtype=np.int64)
    inputs *= reads[:, None, :]
    outputs = np.matmul(inputs, matrix.transpose(0, 2, 1))
    outputs += offset[:, None, :]
    outputs &= MODULUS - 1  # (mod 256: every term is ≥ 0)
    matters = np.repeat(assigned[:, None, :], num_examples, axis=1)
    outputs *= matters
    return FunctionBatch(inputs, outputs, matters, matrix, offset, assigned, reads)


def functions_batch(functions: Sequence[Function], num_examples: int, rng: np.random.Generator) -> FunctionBatch:
    """One episode per function, in order, each with `num_examples` inputs drawn from `rng`."""
    return function_batch(*_stack(functions), num_examples, rng)


def examples_batch(examples: Examples, count: int = 1) -> FunctionBatch:
    """`count` episodes of given examples (no function: the examples alone decide `correct`)."""
    r = examples.num_registers

    def repeat(array: np.ndarray) -> np.ndarray:
        return np.repeat(array[None], count, axis=0)

    nothing = np.zeros((count, r), dtype=bool)
    return FunctionBatch(repeat(examples.inputs), repeat(examples.outputs), repeat(examples.matters),
                         np.zeros((count, r, r), dtype=np.int64), np.zeros((count, r), dtype=np.int64),
                         nothing, nothing.copy())


def function_key(function: Function) -> bytes:
    """A byte key of a function (matrix, offset, assigned and input registers): equal keys, equal functions."""
    return _keys(function.matrix[None], function.offset[None], function.assigned[None], function.inputs[None])[0]


def _keys(matrix: np.ndarray, offset: np.ndarray, assigned: np.ndarray, reads: np.ndarray) -> list[bytes]:
    n = len(offset)
    rows = np.concatenate([matrix.reshape(n, -1), offset, assigned, reads], axis=1).astype(np.uint8)
    return [row.tobytes() for row in rows]


def _stack(functions: Sequence[Function]) -> tuple[np.ndarray, ...]:
    return tuple(np.stack([getattr(f, name) for f in functions])
                 for name in ("matrix", "offset", "assigned", "inputs"))


class FunctionTasks:
    """Functions cycling as the "fixed" target schedule does (docs/reference.md §5): each held for
    `alternate_freq` episodes (0: one block of `episodes // N` episodes each); every episode shows
    `num_examples` inputs drawn afresh."""

    def __init__(self, functions: Sequence[Function], num_examples: int = 4, alternate_freq: int = 0,
                 episodes: int = 1) -> None:
        if not functions:
            raise ValueError("FunctionTasks needs at least one function")
        self.functions, self.num_examples = list(functions), num_examples
        self.matrix, self.offset, self.assigned, self.reads = _stack(self.functions)
        self.block = alternate_freq if alternate_freq > 0 else max(1, episodes // len(self.functions))
        self.episode = 0

    def __call__(self, count: int, rng: np.random.Generator) -> FunctionBatch:
        start, self.episode = self.episode, self.episode + count
        index = (np.arange(start, start + count) // self.block) % len(self.functions)
        return function_batch(self.matrix[index], self.offset[index], self.assigned[index], self.reads[index],
                              self.num_examples, rng)

    def state(self) -> list[int]:
        return [self.episode]

    def restore(self, state: list[int]) -> None:
        self.episode = int(state[0])


class ExamplesTasks:
    """Given examples, shown as they are in every episode; `correct` means meeting all of them."""

    def __init__(self, examples: Examples) -> None:
        self.examples, self.num_examples = examples, len(examples.inputs)
        self.episode = 0

    def __call__(self, count: int, rng: np.random.Generator) -> FunctionBatch:
        self.episode += count
        return examples_batch(self.examples, count)

    def state(self) -> list[int]:
        return [self.episode]

    def restore(self, state: list[int]) -> None:
        self.episode = int(state[0])


def random_program_functions(count: int, length: int, rng: np.random.Generator,
                             table: ActionTable) -> tuple[np.ndarray, ...]:
    """(matrix, offset, assigned, reads) of the functions of `count` random programs of `length`
    instructions (never stop): their maps, from their runs on the probe inputs of every register,
    restricted to the registers they change. A program that changes nothing assigns nothing."""
    r = table.num_registers
    runs = np.broadcast_to(probe_inputs(np.ones(r, dtype=bool)), (count, r + 1, r)).copy()
    for _ in range(length):
        execute_runs(table, runs, rng.integers(0, table.stop_action, size=count))
    offset = runs[:, 0]
    matrix = ((runs[:, 1:] - offset[:, None, :]) % MODULUS).transpose(0, 2, 1)  # column j: the unit input j
    assigned = ~((matrix == np.eye(r, dtype=np.int64)).all(axis=2) & (offset == 0))
    matrix = np.where(assigned[:, :, None], matrix, 0)
    offset = np.where(assigned, offset, 0)
    return matrix, offset, assigned, (matrix != 0).any(axis=1)


class RandomFunctions:
    """The function of a random program of `length` instructions each episode (a generalist's
    training), redrawn when the program changes nothing or its function is one of `excluded` (the
    held-out ones). `hard`: the share of episodes whose function is redrawn until it looks hard
    (`looks_hard`). `held_out` says how the run's evaluation functions are drawn (None or "tiers")."""

    def __init__(self, length: int, machine: MachineConfig, num_examples: int = 4,
                 excluded: Sequence[Function] = (), held_out: str | None = None, hard: float = 0.0) -> None:
        self.length, self.machine, self.num_examples = length, machine, num_examples
        self.table = ActionTable(machine)
        self.held_out, self.hard = held_out, hard
        self.excluded: set[bytes] = set()
        self.exclude(excluded)
        self.episode = 0

    def exclude(self, functions: Sequence[Function]) -> None:
        """Never hand out these functions (say, the held-out ones evaluation measures)."""
        self.excluded.update(function_key(f) for f in functions)

    def looks_hard(self, matrix: np.ndarray, offset: np.ndarray, assigned: np.ndarray) -> np.ndarray:
        """Two registers or more assigned, one of them by arithmetic: a form that is neither a copy
        (one coefficient 1) nor a load of a load value: most functions of long programs are so."""
        terms = (matrix != 0).sum(axis=2) + (offset != 0)
        copy = (terms == 1) & (matrix == 1).any(axis=2)
        load = (terms <= 1) & ~(matrix != 0).any(axis=2) & (offset < self.table.n_vals)
        return (assigned.sum(axis=1) >= 2) & (assigned & ~copy & ~load).any(axis=1)

    def __call__(self, count: int, rng: np.random.Generator) -> FunctionBatch:
        self.episode += count
        matrix, offset, assigned, reads = random_program_functions(count, self.length, rng, self.table)
        wanted_hard = rng.random(count) < self.hard if self.hard > 0 else np.zeros(count, dtype=bool)
        for _ in range(1000):
            redraw = ~assigned.any(axis=1) | (wanted_hard & ~self.looks_hard(matrix, offset, assigned))
            if self.excluded:
                redraw |= np.array([key in self.excluded for key in _keys(matrix, offset, assigned, reads)])
            rows = np.flatnonzero(redraw)
            if not len(rows):
                return function_batch(matrix, offset, assigned, reads, self.num_examples, rng)
            drawn = random_program_functions(len(rows), self.length, rng, self.table)
            for array, new in zip((matrix, offset, assigned, reads), drawn, strict=True):
                array[rows] = new
        raise RuntimeError(f"random programs of {self.length} instructions keep giving held-out or empty functions: "
                           "use a longer length or fewer held-out functions")

    def state(self) -> list[int]:
        return [self.episode]

    def restore(self, state: list[int]) -> None:
        self.episode = int(state[0])


def heldout_random_functions(count: int, length: int, machine: MachineConfig, seed: int = 100) -> list[Function]:
    """Up to `count` distinct functions of random programs of `length` instructions, drawn from `seed`
    (fewer when short programs compute fewer): held-out functions when a run's `held_out` is null."""
    rng, table = np.random.default_rng(seed), ActionTable(machine)
    found: dict[bytes, Function] = {}
    for _ in range(100):
        matrix, offset, assigned, reads = random_program_functions(count, length, rng, table)
        for i, key in enumerate(_keys(matrix, offset, assigned, reads)):
            if assigned[i].any() and key not in found and len(found) < count:
                found[key] = Function(matrix[i], offset[i], assigned[i], reads[i])
        if len(found) == count:
            break
    return list(found.values())


def keyword_source(function: str | Function | None, examples: int | Sequence | Examples | None,
                   num_registers: int) -> FunctionTaskSource | None:
    """The task source of the environments' keywords `function` (an expression or a Function) and
    `examples` (a count of drawn examples, default 4, or given ones: pairs [inputs, outputs] with None
    for an output that does not matter, or an Examples); None when neither is given (constant targets)."""
    if function is None and examples is None:
        return None
    if function is not None:
        is_count = isinstance(examples, int | np.integer) and not isinstance(examples, bool)
        if examples is not None and not is_count:
            raise ValueError("with `function`, `examples` is the count of examples an episode shows; "
                             "give either a function or examples pairs, not both")
        count = 4 if examples is None else int(examples)
        if not 1 <= count <= MAX_EXAMPLES:
            raise ValueError(f"examples must be a count in 1..{MAX_EXAMPLES}, got {count}")
        return FunctionTasks([as_function(function, num_registers, "function")], count)
    return ExamplesTasks(as_examples(examples, num_registers, "examples"))


def as_function(function: str | Function, num_registers: int, what: str) -> Function:
    """A Function from an expression (parsed) or a Function of this machine; errors name `what`."""
    if isinstance(function, Function):
        if function.num_registers != num_registers:
            raise ValueError(f"{what} has {function.num_registers} registers, the machine {num_registers}")
        return function
    if not isinstance(function, str):
        raise ValueError(f"{what} must be an expression such as 'r3 = r1 + r2', got {function!r}")
    try:
        return parse_function(function, num_registers)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


def as_examples(examples: Sequence | Examples, num_registers: int, what: str) -> Examples:
    """Examples from pairs [inputs, outputs] (None: an output that does not matter) or an Examples."""
    if isinstance(examples, Examples):
        given = examples
    elif isinstance(examples, int | np.integer) and not isinstance(examples, bool):
        raise ValueError(f"{what} as a count needs a `function` to draw inputs for; without one give pairs "
                         "[inputs, outputs]")
    else:
        given = examples_from_pairs(examples, num_registers, what)
    if given.num_registers != num_registers:
        raise ValueError(f"{what} have {given.num_registers} registers, the machine {num_registers}")
    if not 1 <= len(given.inputs) <= MAX_EXAMPLES:
        raise ValueError(f"{what}: at most {MAX_EXAMPLES} examples, got {len(given.inputs)}")
    return given
