"""Functions by difficulty: tier k holds functions whose optimal length (the function synthesizer's) is
exactly k; and the named suite of functions a person would ask for (examples/function_suite.json).

A tier is drawn by rejection, as synthesis/tiers.py draws targets: candidates are the functions of
random programs of k instructions (never stop; the assigned registers are those the program changes,
`Function.of_map`), so their optimal length is at most k; one is kept when the synthesizer proves that
no program of fewer instructions computes it. Cheap tests drop a program before any search: one that
changes nothing, one whose function was drawn or excluded before, and one with a dead write (a
register written again before anything reads it: without the first write the program computes the
same map in fewer instructions). Without a time limit a draw depends on its seed alone, whatever the
number of `workers`: with several, the proofs of consecutive candidates run in parallel processes and
their verdicts are taken in the candidates' order (the proofs of tier 8 at `MAX_LENGTH` 8 take seconds
each: docs/functions.md).
"""

from __future__ import annotations

import json
import multiprocessing
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from environment.function_tasks import function_key
from synthesis.function_exact import FunctionSynthesizer
from toycorewar import AffineMap, Function, MachineConfig, parse_function
from toycorewar.actions import ActionTable

FIRST_BATCH, LAST_BATCH = 256, 1 << 14  # random programs per batch: doubling, so small draws stay small
# Seconds the synthesizer may spend proving one candidate of a run's held-out tiers (`"held_out": "tiers"`):
# beyond MAX_LENGTH 5 some proofs take longer (docs/functions.md); a candidate not proved in time is dropped.
FUNCTION_TIER_LIMIT = 10.0
_DRAWN: dict[tuple, dict[int, FunctionTierDraw]] = {}  # heldout_function_tiers' draws, the last 8 asked for


@dataclass
class FunctionTierDraw:
    """The functions of one tier and what drawing them took."""

    length: int
    functions: list[Function]
    candidates: int = 0  # random programs drawn
    proofs: list[float] = field(default_factory=list)  # seconds of each synthesizer search run
    unproved: int = 0  # candidates the synthesizer could not settle within the time limit
    seconds: float = 0.0
    out_of_budget: bool = False  # stopped by the draw's time budget, before `count` functions


@dataclass
class SuiteOptimum:
    """A named function's optimal length: `length` None with `proved` means more than the bound."""

    name: str
    function: Function
    length: int | None
    proved: bool
    seconds: float


def draw_function_tier(machine: MachineConfig, length: int, count: int, seed: int,
                       exclude: Iterable[Function | bytes] = (), time_limit: float | None = None,
                       synthesizer: FunctionSynthesizer | None = None,
                       max_candidates: int = 10_000_000, workers: int = 1,
                       budget: float | None = None) -> FunctionTierDraw:
    """`count` distinct functions of optimal length exactly `length` (≥ 1), none in `exclude`,
    reproducible from `seed` (without a time limit). Fewer when random programs yield no more:
    after `max_candidates` of them, or after a drought 20 times the mean gap between the functions
    found so far (at least 100,000 programs); and when the draw has taken `budget` seconds (the
    functions found by then, in the same order). `workers` processes prove candidates at once."""
    if length < 1:
        raise ValueError(f"a tier's length is at least 1 (no function has optimal length 0), got {length}")
    started = time.perf_counter()
    synthesizer = synthesizer or _synthesizer(machine)
    rng = np.random.default_rng([seed, length])
    taken = {item if isinstance(item, bytes) else function_key(item) for item in exclude}
    draw = FunctionTierDraw(length, [])
    batch, last_found = FIRST_BATCH, 0
    with _provers(synthesizer, workers) as prove:
        while len(draw.functions) < count and draw.candidates < max_candidates and not draw.out_of_budget:
            if draw.functions and draw.candidates - last_found >= max(100_000, 20 * last_found // len(draw.functions)):
                break
            size = min(batch, max_candidates - draw.candidates)
            batch = min(2 * batch, LAST_BATCH)
            draw.candidates += size
            programs = rng.integers(0, synthesizer.table.stop_action, size=(size, length))
            programs = programs[_without_dead_writes(synthesizer.table, programs)]
            candidates = []
            for matrix, offset in zip(*_maps(synthesizer.table, programs), strict=True):
                function = Function.of_map(AffineMap(matrix, offset))
                key = function_key(function)
                if function.assigned.any() and key not in taken:
                    taken.add(key)  # a function is tried once, kept or not
                    candidates.append(function)
            verdicts = prove(candidates, length, time_limit)
            for function, (shorter, seconds) in zip(candidates, verdicts, strict=False):
                draw.proofs.append(seconds)
                draw.unproved += shorter is None
                if shorter is False:
                    draw.functions.append(function)
                    last_found = draw.candidates
                    if len(draw.functions) == count:
                        break
                if budget is not None and time.perf_counter() - started > budget:
                    draw.out_of_budget = True
                    break
            verdicts.close()
    draw.seconds = time.perf_counter() - started
    return draw


Verdicts = Iterator[tuple[bool | None, float]]  # per candidate: shorter_than's answer, and its seconds


@contextmanager
def _provers(synthesizer: FunctionSynthesizer, workers: int) -> Iterator:
    """A function (candidates, length, time_limit) -> their verdicts, lazily and in order: computed here,
    or, with several workers, by that many processes, at most `workers` proofs ahead of the one taken
    (so that a draw that stops early wastes at most that many)."""
    if workers <= 1:
        yield lambda candidates, length, limit: (_timed(synthesizer, f, length, limit) for f in candidates)
        return
    context = multiprocessing.get_context("spawn")  # never fork a process that holds torch's threads
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(synthesizer.config,)) as pool:
        def verdicts(candidates: list[Function], length: int, limit: float | None) -> Verdicts:
            pending, queue = deque(), iter(candidates)
            try:
                for function in queue:
                    pending.append(pool.submit(_prove, function, length, limit))
                    if len(pending) == workers:
                        break
                while pending:
                    yield pending.popleft().result()
                    for function in queue:
                        pending.append(pool.submit(_prove, function, length, limit))
                        break
            finally:
                for future in pending:
                    future.cancel()
        yield verdicts


def _timed(synthesizer: FunctionSynthesizer, function: Function, length: int, limit: float | None
           ) -> tuple[bool | None, float]:
    started = time.perf_counter()
    shorter = synthesizer.shorter_than(function, length, limit)
    return shorter, time.perf_counter() - started


_WORKER: list[FunctionSynthesizer] = []  # a proving process's synthesizer, built once


def _start_worker(machine: MachineConfig) -> None:
    _WORKER.append(FunctionSynthesizer(machine))


def _prove(function: Function, length: int, limit: float | None) -> tuple[bool | None, float]:
    return _timed(_WORKER[0], function, length, limit)


def heldout_function_tiers(machine: MachineConfig, per_tier: int, seed: int, lengths: tuple[int, ...] | None = None,
                           time_limit: float | None = None, workers: int = 1,
                           budget: float | None = None) -> dict[int, FunctionTierDraw]:
    """For each length (default 1..MAX_LENGTH) its draw of `per_tier` functions, each tier from its
    own stream of `seed` (`workers` processes proving, each tier's draw within `budget` seconds).
    Remembered for the process, so that a benchmark and the training run it starts, asking for the
    same tiers, get the same draws: the first draw asked for, whatever its workers and budget."""
    lengths = tuple(range(1, machine.max_length + 1)) if lengths is None else tuple(lengths)
    key = (machine, per_tier, seed, lengths, time_limit)
    if key not in _DRAWN:
        while len(_DRAWN) >= 8:
            _DRAWN.pop(next(iter(_DRAWN)))
        _DRAWN[key] = {k: draw_function_tier(machine, k, per_tier, seed, time_limit=time_limit, workers=workers,
                                             budget=budget) for k in lengths}
    draws = _DRAWN[key]
    return {k: FunctionTierDraw(d.length, list(d.functions), d.candidates, list(d.proofs), d.unproved, d.seconds,
                                d.out_of_budget) for k, d in draws.items()}


def function_tier_tasks(machine: MachineConfig, per_tier: int, seed: int,
                        time_limit: float | None = FUNCTION_TIER_LIMIT) -> tuple[list[Function], np.ndarray]:
    """Evaluation tasks by tier: `per_tier` functions of each tier 1..MAX_LENGTH (heldout_function_tiers,
    each proved within `time_limit` seconds). Returns (functions, tiers), one entry per task."""
    functions, tiers = [], []
    for tier, draw in heldout_function_tiers(machine, per_tier, seed, time_limit=time_limit).items():
        functions.extend(draw.functions)
        tiers.extend([tier] * len(draw.functions))
    return functions, np.array(tiers, dtype=np.int64)


def load_suite(path: str | Path, num_registers: int = 4) -> list[tuple[str, Function]]:
    """The named functions of a suite file: a JSON list of {"name": ..., "function": "rX = ..."}.
    Bad content is a ValueError naming the file and the entry."""
    path = Path(path)
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: cannot read a function suite: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{path}: a function suite is a non-empty JSON list of "
                         '{"name": ..., "function": ...} objects')
    suite, names = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or set(entry) != {"name", "function"}:
            raise ValueError(f"{where} must be an object with exactly the keys 'name' and 'function', got {entry!r}")
        name, text = entry["name"], entry["function"]
        if not isinstance(name, str) or not name.strip() or not isinstance(text, str):
            raise ValueError(f"{where}: 'name' must be a non-empty string and 'function' a string")
        if name in names:
            raise ValueError(f"{where} ({name!r}): the name is used twice")
        try:
            function = parse_function(text, num_registers)
        except ValueError as error:
            raise ValueError(f"{where} ({name!r}): {error}") from None
        names.add(name)
        suite.append((name, function))
    return suite


def suite_optima(machine: MachineConfig, suite: list[tuple[str, Function]], time_limit: float | None = None,
                 synthesizer: FunctionSynthesizer | None = None) -> list[SuiteOptimum]:
    """Each named function's optimal length within MAX_LENGTH, proved by the synthesizer within
    `time_limit` seconds a function (length None: more than MAX_LENGTH, or not proved in time)."""
    synthesizer = synthesizer or _synthesizer(machine)
    optima = []
    for name, function in suite:
        started = time.perf_counter()
        result = synthesizer.shortest_program(function, time_limit=time_limit)
        optima.append(SuiteOptimum(name, function, None if result is None else result.length, result is not None,
                                   time.perf_counter() - started))
    return optima


@lru_cache(maxsize=2)
def _synthesizer(machine: MachineConfig) -> FunctionSynthesizer:
    return FunctionSynthesizer(machine)


def _without_dead_writes(table: ActionTable, programs: np.ndarray) -> np.ndarray:
    """bool [n]: the programs [n, L] in which no register is written twice without a read between."""
    n, r = len(programs), table.num_registers
    reads_a = np.where(table.coef_a != 0, table.src_a, -1)[programs]
    reads_b = np.where(table.coef_b != 0, table.src_b, -1)[programs]
    pending = np.zeros((n, r), dtype=bool)  # written, and not read since
    alive = np.ones(n, dtype=bool)
    rows = np.arange(n)
    for step in range(programs.shape[1]):
        for reads in (reads_a[:, step], reads_b[:, step]):
            pending[rows[reads >= 0], reads[reads >= 0]] = False
        dest = table.dest[programs[:, step]]
        alive &= ~pending[rows, dest]
        pending[rows, dest] = True
    return alive


def _maps(table: ActionTable, programs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine maps (matrices [n, R, R], offsets [n, R]) of programs [n, L], all run at once on
    the rows of their maps (each register an affine form of the initial registers)."""
    n, r = len(programs), table.num_registers
    forms = np.zeros((n, r, r + 1), dtype=np.int64)  # coefficients, then the constant
    forms[:, np.arange(r), np.arange(r)] = 1
    rows = np.arange(n)
    for step in range(programs.shape[1]):
        actions = programs[:, step]
        constant = np.zeros((n, r + 1), dtype=np.int64)
        constant[:, r] = table.const[actions]
        forms[rows, table.dest[actions]] = (table.coef_a[actions, None] * forms[rows, table.src_a[actions]]
                                            + table.coef_b[actions, None] * forms[rows, table.src_b[actions]]
                                            + constant) % 256
    return forms[:, :, :r], forms[:, :, r]
