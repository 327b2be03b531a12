"""Targets by difficulty: tier k holds targets whose optimal length (the exact synthesizer's) is exactly k.

Drawn by rejection (docs/synthesis.md, "Solvable targets"): candidates are the registers after random programs
of k instructions (never stop), generated in batches with numpy, so their optimal length is at most k;
one is kept when no program of fewer instructions reaches it. Every prefix of an optimal program is
optimal, so a program is dropped at its first prefix that is not, by sound tests, the cheap ones first:
- an instruction writing a register that was written before and not read since (the earlier write
  is dead: without it the program reaches the same registers);
- a prefix whose registers differ from the initial ones in as many registers as its length is optimal;
- the synthesizer's states within fewer instructions, when they fit in its cache, settle the rest at
  once; otherwise `Synthesizer.shortest_program(max_length=depth − 1)` does, within `time_limit`
  seconds a state (one it cannot settle in time is dropped and counted as unproved).
Without a time limit a draw depends on its seed alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from synthesis.exact import Synthesizer
from toycorewar import MachineConfig
from toycorewar.actions import encode_registers

FIRST_BATCH, LAST_BATCH = 1024, 1 << 16  # random programs per batch: doubling, so small draws stay small


@dataclass
class TierDraw:
    """The targets of one tier and what drawing them took."""

    length: int
    targets: np.ndarray
    candidates: int = 0  # random programs drawn
    proofs: list[float] = field(default_factory=list)  # seconds of each synthesizer search run
    unproved: int = 0  # candidates the synthesizer could not settle within the time limit
    seconds: float = 0.0


def draw_tier(machine: MachineConfig, length: int, count: int, seed: int, reg_init: list[int] | None = None,
              exclude: np.ndarray | None = None, time_limit: float | None = None,
              synthesizer: Synthesizer | None = None, max_candidates: int = 100_000_000) -> TierDraw:
    """`count` distinct targets of optimal length exactly `length` from `reg_init` (zeros by default),
    none of them in `exclude` [n, R], reproducible from `seed` (without a time limit). Fewer when the
    random programs yield no more: after `max_candidates` of them, or after a drought 20 times the
    mean gap between the targets found so far (at least 100,000 programs)."""
    started = time.perf_counter()
    r = machine.num_registers
    synthesizer = synthesizer or _synthesizer(machine)
    start = np.zeros(r, dtype=np.int64) if reg_init is None else np.asarray(reg_init, dtype=np.int64)
    rng = np.random.default_rng([seed, length])
    taken = set() if exclude is None else set(encode_registers(np.asarray(exclude).reshape(-1, r)).tolist())
    draw = TierDraw(length, np.zeros((0, r), dtype=np.int64))
    optimal: dict[tuple[int, int], bool] = {}  # (state code, depth) -> optimal length is that depth
    found: list[np.ndarray] = []
    if length == 0:  # the initial registers themselves, the one target of tier 0
        found = [start] if count and encode_registers(start[None])[0] not in taken else []
    batch, last_found = FIRST_BATCH, 0
    while length and len(found) < count and draw.candidates < max_candidates:
        if found and draw.candidates - last_found >= max(100_000, 20 * last_found // len(found)):
            break
        size = min(batch, max_candidates - draw.candidates)
        batch = min(2 * batch, LAST_BATCH)
        draw.candidates += size
        programs = _optimal_programs(synthesizer, start, length, size, rng, optimal, draw, time_limit,
                                     need=count - len(found), taken=taken)
        for target in programs:
            found.append(target)
            last_found = draw.candidates
    draw.targets = np.array(found[:count], dtype=np.int64).reshape(-1, r)
    draw.seconds = time.perf_counter() - started
    return draw


def tier_targets(machine: MachineConfig, length: int, count: int, seed: int, reg_init: list[int] | None = None,
                 exclude: np.ndarray | None = None, time_limit: float | None = None) -> np.ndarray:
    """`count` distinct targets [n, R] whose optimal length from `reg_init` is exactly `length` (draw_tier)."""
    return draw_tier(machine, length, count, seed, reg_init, exclude, time_limit).targets


def heldout_tiers(machine: MachineConfig, per_tier: int, seed: int, reg_init: list[int] | None = None,
                  lengths: tuple[int, ...] | None = None, time_limit: float | None = None) -> dict[int, TierDraw]:
    """For each length (default 1..MAX_LENGTH) its draw of `per_tier` targets, each tier from its own
    stream of `seed`. Remembered for the process, so that a benchmark and the training run it starts,
    asking for the same tiers, get the same draws (with a time limit too)."""
    lengths = tuple(range(1, machine.max_length + 1)) if lengths is None else tuple(lengths)
    key = None if reg_init is None or not any(reg_init) else tuple(int(v) for v in reg_init)  # zeros: one key
    draws = _heldout_tiers(machine, per_tier, seed, key, lengths, time_limit)
    return {k: TierDraw(d.length, d.targets.copy(), d.candidates, list(d.proofs), d.unproved, d.seconds)
            for k, d in draws.items()}


def tier_tasks(machine: MachineConfig, per_tier: int, seed: int, reg_inits: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Evaluation tasks by tier: for each initial-register set (default zeros) `per_tier` targets of
    each tier 1..MAX_LENGTH (heldout_tiers). Returns (targets, reg_inits, tiers), one row per task."""
    r = machine.num_registers
    inits = np.zeros((1, r), dtype=np.int64) if reg_inits is None else np.asarray(reg_inits, np.int64).reshape(-1, r)
    targets, starts, tiers = [], [], []
    for init in inits:
        for tier, draw in heldout_tiers(machine, per_tier, seed, init.tolist()).items():
            targets.append(draw.targets)
            starts.append(np.repeat(init[None], len(draw.targets), axis=0))
            tiers.append(np.full(len(draw.targets), tier, dtype=np.int64))
    return np.concatenate(targets), np.concatenate(starts), np.concatenate(tiers)


@lru_cache(maxsize=8)
def _heldout_tiers(machine: MachineConfig, per_tier: int, seed: int, reg_init: tuple[int, ...] | None,
                   lengths: tuple[int, ...], time_limit: float | None) -> dict[int, TierDraw]:
    init = None if reg_init is None else list(reg_init)
    return {k: draw_tier(machine, k, per_tier, seed, init, time_limit=time_limit) for k in lengths}


@lru_cache(maxsize=2)
def _synthesizer(machine: MachineConfig) -> Synthesizer:
    """One synthesizer per machine, so that its shared levels serve every draw."""
    return Synthesizer(machine)


def _optimal_programs(synthesizer: Synthesizer, start: np.ndarray, length: int, size: int,
                      rng: np.random.Generator, optimal: dict[tuple[int, int], bool], draw: TierDraw,
                      time_limit: float | None, need: int, taken: set[int]) -> list[np.ndarray]:
    """The new targets among the registers after `size` random programs of `length` instructions from
    `start`: those whose optimal length is `length`, in drawing order, at most `need` (added to `taken`).

    Every prefix of an optimal program is optimal, so a program is dropped at the first prefix that
    is not: a dead write (its register written again before anything reads it), a state within fewer
    instructions (the synthesizer's cheap tests, then its search). Actions are drawn for every program
    at every step, so the random stream does not depend on which are dropped."""
    table, r = synthesizer.table, len(start)
    reads_a = np.where(table.coef_a != 0, table.src_a, -1)
    reads_b = np.where(table.coef_b != 0, table.src_b, -1)
    registers = np.repeat(start[None], size, axis=0)
    pending = np.zeros((size, r), dtype=bool)  # written, and not read since
    alive = np.arange(size)
    init = start.tolist()
    for depth in range(1, length + 1):
        actions = rng.integers(0, table.stop_action, size=size)[alive]
        rows = np.arange(len(alive))
        read = np.zeros((len(alive), r), dtype=bool)
        for sources in (reads_a[actions], reads_b[actions]):
            read[rows[sources >= 0], sources[sources >= 0]] = True
        dest = table.dest[actions]
        dead = pending[rows, dest] & ~read[rows, dest]
        pending = pending[~dead] & ~read[~dead]
        alive, actions, dest = alive[~dead], actions[~dead], dest[~dead]
        pending[np.arange(len(alive)), dest] = True
        states = registers[alive]
        table.execute_batch(states, actions)
        registers[alive] = states
        codes = encode_registers(states)
        quick = synthesizer.quick_shorter_than(states, depth, init)
        keep = quick == 0
        last = depth == length
        for i in np.flatnonzero(quick < 0):
            if last and (int(codes[i]) in taken or np.count_nonzero(keep[:i]) >= need):
                continue  # a final state already known, or no more needed: no search for it
            key = (int(codes[i]), depth)
            if key not in optimal:
                proof = time.perf_counter()
                result = synthesizer.shortest_program(states[i].tolist(), init, depth - 1, time_limit)
                draw.proofs.append(time.perf_counter() - proof)
                if result is None:
                    draw.unproved += 1
                optimal[key] = result is not None and result.program is None
            keep[i] = optimal[key]
        alive, pending = alive[keep], pending[keep]
    new = []
    for row in alive:
        code = int(encode_registers(registers[row][None])[0])
        if code not in taken and len(new) < need:
            taken.add(code)
            new.append(registers[row].copy())
    return new
