"""The exact synthesizer: the shortest program that takes the registers from `reg_init` to `target`,
or the proof that none exists within a length bound.

Breadth-first over register states, all states of one depth expanded at once with numpy (in chunks,
so memory stays bounded). Two sound prunings keep it small:
- each instruction writes one register, so a state with k wrong registers needs at least k more
  instructions: states with more wrong registers than instructions left are dropped;
- the program's effect depends only on the register state it reaches, so a state reached by several
  programs (at this depth or an earlier one) is expanded once.

Many targets from the same initial registers: while no state can be dropped (depth ≤ bound − R) the
search does not depend on the target, so those levels are built once per initial registers and kept
(at most `cache_children` states generated for one level); the search then reads them and finds the
same program as without them. They also give `reachable`, every state within a depth, which answers
"is the optimal length below k" for a whole batch of targets at once (`shorter_than`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from toycorewar.actions import ActionTable, encode_registers
from toycorewar.machine import Instruction, MachineConfig

CHUNK = 1 << 21  # children generated at once (R int64 each): bounds the memory of one expansion
CACHED_STARTS = 4  # initial-register states whose shared levels are kept


@dataclass
class SynthesisResult:
    """`program` is a shortest program (stop not counted) or None when none exists within `max_length`."""

    program: list[Instruction] | None
    max_length: int

    @property
    def length(self) -> int | None:
        return None if self.program is None else len(self.program)


@dataclass
class _Level:
    """Every state first reached at one depth (sorted codes), how (row of the previous level, action),
    and every state reached within that depth (sorted codes)."""

    codes: np.ndarray
    parents: np.ndarray
    actions: np.ndarray
    seen: np.ndarray
    registers: np.ndarray  # the states of `codes`, decoded once (uint8: compact, and fast to compare)


class _OutOfTimeError(Exception):
    pass


def contains(sorted_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Which of `codes` are in `sorted_codes` (sorted, distinct): a binary search, no sort of either."""
    if not len(sorted_codes):
        return np.zeros(len(codes), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_codes, codes), len(sorted_codes) - 1)
    return sorted_codes[at] == codes


def merge(sorted_codes: np.ndarray, new: np.ndarray) -> np.ndarray:
    """The sorted union of two sorted arrays of codes that share none: one pass, no sort."""
    return np.insert(sorted_codes, np.searchsorted(sorted_codes, new), new)


def decode_registers(codes: np.ndarray, num_registers: int) -> np.ndarray:
    """The registers [n, R] of codes made by `encode_registers`."""
    shifts = np.uint64(8) * np.arange(num_registers - 1, -1, -1, dtype=np.uint64)
    return ((np.asarray(codes, dtype=np.uint64)[:, None] >> shifts) & np.uint64(255)).astype(np.int64)


class Synthesizer:
    """Shortest programs for one machine configuration (at most 8 registers)."""

    def __init__(self, config: MachineConfig | None = None, cache_children: int = 1 << 25) -> None:
        self.table = ActionTable(config or MachineConfig())
        self.config = self.table.config
        if self.config.num_registers > 8:
            raise ValueError("the synthesizer handles at most 8 registers")
        self.actions = np.arange(self.table.stop_action)  # stop never helps a shortest program
        self.cache_children = cache_children
        self._dest = self.table.dest[self.actions]
        self._src_a, self._src_b = self.table.src_a[self.actions], self.table.src_b[self.actions]
        self._coef_a, self._coef_b, self._const = (array[self.actions].astype(np.uint8) for array in
                                                   (self.table.coef_a, self.table.coef_b, self.table.const))
        # Where each action's register sits in a state's code (encode_registers: r1 in the top byte).
        self._shifts = (np.uint64(8) * (self.config.num_registers - 1 - self._dest).astype(np.uint64))
        self._masks = np.uint64(255) << self._shifts
        self._shared: dict[bytes, list[_Level]] = {}

    def shortest_program(self, target: list[int], reg_init: list[int] | None = None,
                         max_length: int | None = None, time_limit: float | None = None) -> SynthesisResult | None:
        """A shortest program within `max_length` (default MAX_LENGTH), or the proof there is none.
        With `time_limit` (seconds of this target's own search; building the shared levels is not
        counted) None means "not proved within the limit"; without one the result is always given."""
        max_length = self.config.max_length if max_length is None else max_length
        goal, start = self._state(target), self._state(reg_init)
        if np.array_equal(start, goal):
            return SynthesisResult([], max_length)
        deadline = None if time_limit is None else time.perf_counter() + time_limit
        try:
            return SynthesisResult(self._search(start, goal, max_length, deadline), max_length)
        except _OutOfTimeError:
            return None

    def reachable(self, reg_init: list[int] | None = None, depth: int = 0) -> np.ndarray | None:
        """Sorted codes (`encode_registers`) of every state within `depth` instructions of `reg_init`,
        or None when a level would generate more than `cache_children` states."""
        start = self._state(reg_init)
        if depth == 0:
            return encode_registers(start)
        level = self._level(start, depth)
        return None if level is None else level.seen

    def quick_shorter_than(self, targets: np.ndarray, length: int, reg_init: list[int] | None = None) -> np.ndarray:
        """What sound cheap tests tell of each target [n, R]: 1 a program of fewer than `length`
        instructions reaches it, 0 none does, −1 undecided (a search is needed). A target with k
        registers differing from `reg_init` needs k instructions at least; the states within a depth
        settle the rest when they fit in the cache."""
        start = self._state(reg_init)
        targets = np.asarray(targets, dtype=np.int64).reshape(-1, self.config.num_registers)
        answer = np.full(len(targets), -1, dtype=np.int8)
        codes = encode_registers(targets)
        for depth in range(length - 1, -1, -1):  # the deepest set of states that fits
            within = self.reachable(reg_init, depth)
            if within is not None:
                inside = contains(within, codes)
                answer[inside] = 1
                if depth == length - 1:
                    answer[~inside] = 0
                break
        answer[np.count_nonzero(targets != start, axis=1) >= length] = 0
        return answer

    def shorter_than(self, targets: np.ndarray, length: int, reg_init: list[int] | None = None,
                     time_limit: float | None = None) -> list[bool | None]:
        """For each target [n, R]: whether a program of fewer than `length` instructions reaches it
        (None: not proved within `time_limit` seconds of search for that target)."""
        quick = self.quick_shorter_than(targets, length, reg_init)
        answers: list[bool | None] = [bool(q) if q >= 0 else None for q in quick]
        for i in np.flatnonzero(quick < 0):
            result = self.shortest_program(np.asarray(targets)[i].tolist(), reg_init, length - 1, time_limit)
            answers[i] = None if result is None else result.program is not None
        return answers

    # -- the search -----------------------------------------------------------------------------------
    def _state(self, registers: list[int] | None) -> np.ndarray:
        r = self.config.num_registers
        return np.zeros((1, r), dtype=np.int64) if registers is None else np.asarray(registers, np.int64).reshape(1, r)

    def _search(self, start: np.ndarray, goal: np.ndarray, max_length: int,
                deadline: float | None) -> list[Instruction] | None:
        r, n = self.config.num_registers, len(self.actions)
        goal_code = encode_registers(goal)[0]
        frontier, seen = start, encode_registers(start)
        # levels[d] = (parent row in level d−1's frontier, action) of each state of depth d.
        levels: list[tuple[np.ndarray, np.ndarray]] = []
        for depth in range(1, max_length + 1):
            # While every state of depth − 1 is kept, this depth does not depend on the target.
            shared = self._level(start, depth) if max_length - depth + 1 >= r else None
            if shared is not None:
                at = int(np.searchsorted(shared.codes, goal_code))
                if at < len(shared.codes) and shared.codes[at] == goal_code:
                    levels.append((shared.parents[at:at + 1], shared.actions[at:at + 1]))
                    return self._program(levels)
                if max_length - depth >= r:
                    rows, seen = slice(None), shared.seen
                else:  # the first depth whose states can be dropped
                    rows = np.flatnonzero(np.count_nonzero(shared.registers != goal.astype(np.uint8), axis=1)
                                          <= max_length - depth)
                    seen = merge(seen, shared.codes[rows])
                frontier = shared.registers[rows]
                levels.append((shared.parents[rows], shared.actions[rows]))
            else:
                if (np.count_nonzero(frontier != goal, axis=1) > max_length - depth + 1).all():
                    break
                hit, codes, index = self._expand(frontier, seen, goal, max_length - depth, deadline)
                if hit is not None:
                    levels.append((np.array([hit // n]), self.actions[[hit % n]]))
                    return self._program(levels)
                frontier, seen = decode_registers(codes, r), merge(seen, codes)
                levels.append((index // n, self.actions[index % n]))
            if not len(frontier):
                break
        return None

    def _expand(self, frontier: np.ndarray, seen: np.ndarray, goal: np.ndarray | None, bound: int,
                deadline: float | None) -> tuple[int | None, np.ndarray, np.ndarray]:
        """Every child of `frontier` (row-major: frontier row, then action). Returns (the index of the
        first child equal to `goal`, or None; the sorted codes of the new children with at most `bound`
        wrong registers, each with the index of its first occurrence). `goal` None: keep every child.
        A child differs from its parent in one register, so its code and its wrong registers come from
        the parent's and the value written, without building the child's registers."""
        n = len(self.actions)
        per_chunk = max(1, CHUNK // n)
        code_parts, index_parts = [], []
        goal8 = None if goal is None else goal.astype(np.uint8)
        for low in range(0, len(frontier), per_chunk):
            if deadline is not None and time.perf_counter() > deadline:
                raise _OutOfTimeError
            part = frontier[low:low + per_chunk]
            part8 = part.astype(np.uint8)
            # uint8 arithmetic wraps modulo 256, as the machine does (−1 is 255).
            values = self._coef_a * part8[:, self._src_a] + self._coef_b * part8[:, self._src_b] + self._const
            parent_codes = encode_registers(part)
            if goal8 is None:
                codes = (parent_codes[:, None] & ~self._masks) | (values.astype(np.uint64) << self._shifts)
                codes, first = np.unique(codes.ravel(), return_index=True)
            else:
                dest_goal = goal8[0, self._dest]
                wrong = (np.count_nonzero(part8 != goal8, axis=1).astype(np.int8)[:, None]
                         - (part8[:, self._dest] != dest_goal) + (values != dest_goal)).ravel()
                solved = np.flatnonzero(wrong == 0)
                if len(solved):  # chunks go in order, so this is the first solution of the whole depth
                    return int(low * n + solved[0]), seen[:0], np.zeros(0, dtype=np.int64)
                keep = np.flatnonzero(wrong <= bound)
                rows, columns = keep // n, keep % n
                codes = ((parent_codes[rows] & ~self._masks[columns])
                         | (values[rows, columns].astype(np.uint64) << self._shifts[columns]))
                codes, first = np.unique(codes, return_index=True)
                first = keep[first]
            code_parts.append(codes)
            index_parts.append(low * n + first)
        # np.unique's first index is the earliest occurrence, and chunks are in order: the same
        # representative as one np.unique over every child at once.
        if not code_parts:
            return None, seen[:0], np.zeros(0, dtype=np.int64)
        codes, first = np.unique(np.concatenate(code_parts), return_index=True)
        index = np.concatenate(index_parts)[first]
        new = ~contains(seen, codes)
        return None, codes[new], index[new]

    def _level(self, start: np.ndarray, depth: int) -> _Level | None:
        """The shared level `depth` of `start` (every state first reached there), built on first use;
        None when building it would generate more than `cache_children` states."""
        key = start.tobytes()
        if key not in self._shared:
            if len(self._shared) >= CACHED_STARTS:
                self._shared.pop(next(iter(self._shared)))
            self._shared[key] = []
        levels, r, n = self._shared[key], self.config.num_registers, len(self.actions)
        while len(levels) < depth:
            previous = levels[-1] if levels else None
            if (1 if previous is None else len(previous.codes)) * n > self.cache_children:
                return None
            frontier = start if previous is None else previous.registers
            seen = encode_registers(start) if previous is None else previous.seen
            _, codes, index = self._expand(frontier, seen, None, r, None)
            levels.append(_Level(codes, index // n, self.actions[index % n], merge(seen, codes),
                                 decode_registers(codes, r).astype(np.uint8)))
        return levels[depth - 1]

    def _program(self, levels: list[tuple[np.ndarray, np.ndarray]]) -> list[Instruction]:
        program, row = [], 0
        for parents, actions in reversed(levels):
            program.append(self.table.instructions[int(actions[row])])
            row = int(parents[row])
        return program[::-1]
