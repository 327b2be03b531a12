"""The exact synthesizer for functions: the shortest program that computes a function on every input
(or meets a set of examples), or the proof that none exists within a length bound.

A program computes an affine map, so what it does on every input follows from its runs on the probe
inputs (zeros and each unit input of the function's input registers; for an examples task, the
example inputs). The state of a partial program is its registers on every probe, one packed column
a register (synthesis/function_states.py), and the search is the breadth-first search of
synthesis/exact.py over these states: all states of one depth expanded at once with numpy, in
chunks. What keeps it small, every pruning sound:
- fewer runs for fewer inputs: a function reading k registers has k + 1 probes, not one run per input;
- a register that matters and is wrong on some probe needs a write, and for a function the goal of a
  wrong register needs leaves that provide each of its coefficients (ProbeTask.needed): a state
  needing more instructions than are left is dropped;
- a state reached before is expanded once; registers that matter on no probe (free registers) are
  interchangeable (every instruction treats registers alike, and their final values do not count),
  so a state is kept with its free registers' columns sorted: states equal up to a permutation of
  free registers are one;
- the last two levels are never built. A state one instruction short has one wrong register: only the
  actions writing it are tried. A state two short finishes only if its last instruction writes a
  wrong register w with a value made of the state's registers S_b and the value v the first writes:
  T_w is v, 2v, v ± S_b or S_b − v. Only the states where one of the distinct values one
  instruction writes (46 on the default machine) is such a v are expanded, and finished as above.
States are compared exactly: a 64-bit key orders them, and two are merged only when their words are
equal (a key collision can only keep a duplicate, never merge two different states).
"""

from __future__ import annotations

import time

import numpy as np

from synthesis.exact import SynthesisResult
from synthesis.function_states import (
    ActionGroup,
    ProbeTask,
    add_bytes,
    contains,
    differs,
    first_occurrences,
    state_keys,
    sub_bytes,
)
from toycorewar.actions import ActionTable
from toycorewar.functions import Examples, Function, program_map
from toycorewar.machine import Instruction, MachineConfig

CHUNK = 1 << 20  # values computed at once: bounds the memory of one expansion
_EMPTY = np.zeros(0, dtype=np.int64)


class _OutOfTimeError(Exception):
    pass


class FunctionSynthesizer:
    """Shortest programs computing functions (or meeting examples) on one machine configuration."""

    def __init__(self, config: MachineConfig | None = None) -> None:
        self.table = ActionTable(config or MachineConfig())
        self.config = self.table.config
        table, r = self.table, self.config.num_registers
        self.everything = ActionGroup(table, np.arange(table.stop_action))  # stop never helps a shortest program
        self.writing = [ActionGroup(table, np.flatnonzero(table.dest[:table.stop_action] == x)) for x in range(r)]
        # One action per value an instruction can write (its destination does not change the value).
        shapes = {}
        for a in range(table.stop_action):
            sources = (int(table.src_a[a]), int(table.src_b[a]))
            sources = tuple(sorted(sources)) if table.coef_b[a] == 1 else sources
            kind = (int(table.coef_a[a]), int(table.coef_b[a]), int(table.const[a]))
            if not (kind[1] == -1 and sources[0] == sources[1]):  # r − r is 0, which ld writes
                shapes.setdefault((kind, sources if kind[0] else None), a)
        self.expressions = ActionGroup(table, np.array(sorted(shapes.values())))

    def shortest_program(self, task: Function | Examples, max_length: int | None = None,
                         time_limit: float | None = None) -> SynthesisResult | None:
        """A shortest program computing `task` on every input (meeting every example) within
        `max_length` (default MAX_LENGTH), or the proof there is none (program None). With
        `time_limit` seconds, None means "not proved within the limit"."""
        max_length = self.config.max_length if max_length is None else max_length
        deadline = None if time_limit is None else time.perf_counter() + time_limit
        problem = ProbeTask.of(task, self.table)
        root = self._canonical(problem, problem.start[None].copy())
        program = None
        try:
            # Deepening bounds: a short program is found under a tight bound, whose pruning is strong.
            for bound in range(min(int(problem.needed(root, problem.wrong(root))[0]), max_length + 1),
                               max_length + 1):
                program = self._search(problem, root, bound, deadline)
                if program is not None:
                    break
        except _OutOfTimeError:
            return None
        if program is not None and not _meets(task, program, self.config.num_registers):
            raise AssertionError(f"synthesized program {[str(i) for i in program]} does not compute {task}")
        return SynthesisResult(program, max_length)

    def shorter_than(self, task: Function | Examples, length: int, time_limit: float | None = None) -> bool | None:
        """Whether a program of fewer than `length` instructions computes `task` (None: not proved
        within `time_limit` seconds)."""
        if length <= 0:
            return False
        result = self.shortest_program(task, length - 1, time_limit)
        return None if result is None else result.program is not None

    # -- the search -----------------------------------------------------------------------------------
    def _search(self, problem: ProbeTask, root: np.ndarray, max_length: int, deadline: float | None
                ) -> list[Instruction] | None:
        """A shortest program within `max_length` from the canonical `root`, or None."""
        wrong = problem.wrong(root)
        if not wrong.any():
            return []
        if problem.needed(root, wrong)[0] > max_length:
            return None
        levels = [(root, np.zeros(1, np.int64), np.zeros(1, np.int64))]  # (states, parent rows, actions) of each depth
        seen_keys, seen = state_keys(root), root
        for depth in range(1, max_length - 1):
            hit, states, parents, actions = self._expand(problem, levels[-1][0], max_length - depth, deadline)
            if hit is not None:
                return self._program(problem, levels, *hit)
            _check(deadline)
            keys = state_keys(states)
            new = ~contains(seen_keys, seen, keys, states)
            levels.append((states[new], parents[new], actions[new]))
            if not new.any():
                return None
            at = np.searchsorted(seen_keys, keys[new])
            seen_keys, seen = np.insert(seen_keys, at, keys[new]), np.insert(seen, at, states[new], axis=0)
        frontier = levels[-1][0]
        hit = self._finish(problem, frontier, deadline)
        if hit is None and max_length >= 2:
            hit = self._finish_two(problem, frontier, deadline)
        return None if hit is None else self._program(problem, levels, *hit)

    def _expand(self, problem: ProbeTask, frontier: np.ndarray, bound: int, deadline: float | None
                ) -> tuple[tuple[int, list[int]] | None, np.ndarray, np.ndarray, np.ndarray]:
        """Every child of `frontier` (row-major: frontier row, then action) with at most `bound` wrong
        registers, canonical and deduplicated (each with its first occurrence's parent and action);
        or (row, [action]) of the first child that is the goal."""
        group = self.everything
        goal, mask = problem.goal[group.dest], problem.mask[group.dest]  # [A, K]: each action's register
        per_chunk = max(1, CHUNK // len(group.actions))
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for low in range(0, len(frontier), per_chunk):
            _check(deadline)
            part = frontier[low:low + per_chunk]
            values = group.values(problem, part)
            parent_wrong = problem.wrong(part)
            wrong = (np.count_nonzero(parent_wrong, axis=1)[:, None] - parent_wrong[:, group.dest]
                     + differs(values, goal, mask))
            solved = np.flatnonzero(wrong.ravel() == 0)
            if len(solved):  # chunks go in order, so this is the first solution of the whole depth
                row, column = divmod(int(solved[0]), len(group.actions))
                return (low + row, [int(group.actions[column])]), frontier[:0], _EMPTY, _EMPTY
            unchanged = ~differs(values, part[:, group.dest], ~np.uint64(0))  # the parent itself, seen before
            rows, columns = np.nonzero((wrong <= bound) & ~unchanged)
            children = part[rows]
            children[np.arange(len(rows)), group.dest[columns]] = values[rows, columns]
            near = problem.needed(children, problem.wrong(children)) <= bound
            children, rows, columns = children[near], rows[near], columns[near]
            children = self._canonical(problem, children)
            first = first_occurrences(state_keys(children), children)
            parts.append((children[first], low + rows[first], group.actions[columns[first]]))
        _check(deadline)
        if not parts:
            return None, frontier[:0], _EMPTY, _EMPTY
        states = np.concatenate([p[0] for p in parts])
        first = first_occurrences(state_keys(states), states)  # chunks in order: the earliest occurrence
        return (None, states[first], np.concatenate([p[1] for p in parts])[first],
                np.concatenate([p[2] for p in parts])[first])

    def _finish(self, problem: ProbeTask, frontier: np.ndarray, deadline: float | None
                ) -> tuple[int, list[int]] | None:
        """(row, [action]) of the first state of `frontier` that one action makes the goal. Such a
        state has one wrong register, so only the actions writing it are tried."""
        wrong = problem.wrong(frontier)
        single, register = np.count_nonzero(wrong, axis=1) == 1, np.argmax(wrong, axis=1)
        best = None
        for r, group in enumerate(self.writing):
            rows = np.flatnonzero(single & (register == r))
            per_chunk = max(1, CHUNK // len(group.actions))
            for low in range(0, len(rows), per_chunk):
                _check(deadline)
                part = rows[low:low + per_chunk]
                met = ~differs(group.values(problem, frontier[part]), problem.goal[r], problem.mask[r])
                hits = np.flatnonzero(met.any(axis=1))
                if len(hits):
                    if best is None or part[hits[0]] < best[0]:
                        best = (int(part[hits[0]]), [int(group.actions[np.argmax(met[hits[0]])])])
                    break
        return best

    def _finish_two(self, problem: ProbeTask, frontier: np.ndarray, deadline: float | None
                    ) -> tuple[int, list[int]] | None:
        """(row, [action, action]) of the first state of `frontier` that two actions make the goal,
        when no single action does. The last one writes a register w wrong in the state (had it
        written another, the first alone would finish), so its value T_w is made of the state's
        registers S_b and the value v of the first: v is T_w, T_w − S_b, T_w + S_b or S_b − T_w, or
        2v is T_w. The states where none of the expression values is such a v cannot finish; the
        others are expanded and finished one action at a time."""
        expressions = self.expressions
        per_chunk = max(1, CHUNK // (len(expressions.actions) * (1 + 3 * frontier.shape[1])))
        candidates = []
        for low in range(0, len(frontier), per_chunk):
            _check(deadline)
            part = frontier[low:low + per_chunk]
            values = expressions.values(problem, part)  # [n, E, K]
            wrong = problem.wrong(part)
            possible = np.zeros(len(part), dtype=bool)
            for w in range(part.shape[1]):
                rows = np.flatnonzero(wrong[:, w] & ~possible)
                goal, mask = problem.goal[w], problem.mask[w]
                wanted = np.concatenate([np.broadcast_to(goal, (len(rows), 1, len(goal))),
                                         sub_bytes(goal, part[rows]), add_bytes(goal, part[rows]),
                                         sub_bytes(part[rows], goal)], axis=1)  # [n, 1 + 3R, K]
                v = values[rows] & mask  # [n, E, K]
                equal = ~differs(v[:, :, None], wanted[:, None] & mask, ~np.uint64(0))  # [n, E, 1 + 3R]
                double = ~differs(add_bytes(v, v), goal, mask)  # [n, E]
                possible[rows] = equal.any(axis=(1, 2)) | double.any(axis=1)
            candidates.append(low + np.flatnonzero(possible))
        group, n = self.everything, len(self.everything.actions)
        candidates = np.concatenate(candidates)
        for low in range(0, len(candidates), max(1, CHUNK // n)):
            _check(deadline)
            rows = candidates[low:low + max(1, CHUNK // n)]
            children = np.repeat(frontier[rows], n, axis=0)
            children[np.arange(len(children)), np.tile(group.dest, len(rows))] = \
                group.values(problem, frontier[rows]).reshape(len(children), -1)
            hit = self._finish(problem, children, deadline)
            if hit is not None:  # children are in (state, action) order: the first hit is the first program
                row, column = divmod(hit[0], n)
                return int(rows[row]), [int(group.actions[column]), *hit[1]]
        return None

    def _canonical(self, problem: ProbeTask, states: np.ndarray) -> np.ndarray:
        """`states` with the columns of the free registers sorted (by a 64-bit key of each column):
        one representative for states equal up to a permutation of free registers."""
        free = problem.free
        if len(free) < 2 or not len(states):
            return states
        columns = states[:, free]
        order = np.argsort(state_keys(columns.reshape(-1, columns.shape[2])).reshape(len(states), len(free)), axis=1)
        states[:, free] = np.take_along_axis(columns, order[:, :, None], axis=1)
        return states

    def _program(self, problem: ProbeTask, levels: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
                 row: int, tail: list[int]) -> list[Instruction]:
        """The program reaching state `row` of the last level, then running `tail` (actions in that
        state's register names), with the canonical states' register names mapped to the machine's."""
        path, actions = [], []
        for states, parents, level_actions in reversed(levels):
            path.append(states[row])
            actions.append(int(level_actions[row]))
            row = int(parents[row])
        path, actions = path[::-1], actions[:-1][::-1]  # the root has no action
        registers, program = problem.start.copy(), []
        names = np.arange(len(registers))
        for step, action in enumerate(actions + tail):
            if step < len(path):  # the tail runs in the register names of the last state
                names = _names(problem, registers, path[step])
            instruction = _renamed(self.table.instructions[action], names)
            program.append(instruction)
            a = self.table.encode_instruction(instruction)
            registers[self.table.dest[a]] = ActionGroup(self.table, [a]).values(problem, registers[None])[0, 0]
        return program


def _check(deadline: float | None) -> None:
    if deadline is not None and time.perf_counter() > deadline:
        raise _OutOfTimeError


def _names(problem: ProbeTask, registers: np.ndarray, canonical: np.ndarray) -> np.ndarray:
    """For each register of `canonical`, the machine register of `registers` holding its column
    (free registers may be permuted, the others are in place)."""
    names = np.arange(len(registers))
    unused = list(problem.free)
    for j in problem.free:
        match = next(r for r in unused if np.array_equal(registers[r], canonical[j]))
        unused.remove(match)
        names[j] = match
    return names


def _renamed(instruction: Instruction, names: np.ndarray) -> Instruction:
    op, args = instruction
    if op == "ld":
        return Instruction(op, (args[0], int(names[args[1] - 1]) + 1))
    return Instruction(op, tuple(int(names[a - 1]) + 1 for a in args))


def _meets(task: Function | Examples, program: list[Instruction], num_registers: int) -> bool:
    function = program_map(program, num_registers)
    return task.is_computed_by(function) if isinstance(task, Function) else task.met_by(function)
