"""The states of the function synthesizer (synthesis/function_exact.py): a register's values on every
probe input as one column of bytes, packed into 64-bit words, and what the search asks of them.

Byte p of a column is the register on probe p. An instruction adds or subtracts columns bytewise
mod 256 (no carry crosses a byte), so one word operation runs it on eight probes at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toycorewar.actions import ActionTable
from toycorewar.functions import Examples, Function

HIGH, LOW = np.uint64(0x8080808080808080), np.uint64(0x7F7F7F7F7F7F7F7F)
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier of the key mix (Fibonacci hashing)
_VALUATION = np.array([8] + [(x & -x).bit_length() - 1 for x in range(1, 256)], dtype=np.uint8)  # 2-adic
_UNREACHABLE = 1 << 10


def add_bytes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bytewise a + b mod 256 of uint64 words."""
    return ((a & LOW) + (b & LOW)) ^ ((a ^ b) & HIGH)


def sub_bytes(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bytewise a − b mod 256 of uint64 words."""
    return ((a | HIGH) - (b & LOW)) ^ ((a ^ ~b) & HIGH)


def pack_columns(columns: np.ndarray) -> np.ndarray:
    """uint8 [..., P] -> uint64 [..., K]: P bytes in K = ⌈P/8⌉ words, zero padded."""
    columns = np.asarray(columns, dtype=np.uint8)
    padded = np.zeros((*columns.shape[:-1], -(-columns.shape[-1] // 8) * 8), dtype=np.uint8)
    padded[..., :columns.shape[-1]] = columns
    return padded.view(np.uint64)


def differs(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """bool [...]: columns a and b [..., K] differ in a byte of `mask`."""
    x = (a ^ b) & mask
    return x[..., 0] != 0 if x.shape[-1] == 1 else x.any(axis=-1)


@dataclass(frozen=True)
class ProbeTask:
    """A task as the search sees it: each register's column on the probes (uint64 [R, K])."""

    start: np.ndarray
    goal: np.ndarray
    mask: np.ndarray  # 0xFF in the bytes that matter
    consts: np.ndarray  # the column each action loads, [A, K] (its constant on every probe)
    free: np.ndarray  # registers that matter on no probe
    probes: int
    goal_valuations: np.ndarray | None  # affine tasks: 2-adic valuation of each atom of the goal, [R, P]
    loads_one: bool  # an ld can load an odd constant

    @classmethod
    def of(cls, task: Function | Examples, table: ActionTable) -> ProbeTask:
        """The probes of a function (zeros, then each unit input: byte 0 is the constant of each
        register's affine form and byte i + 1 that plus its coefficient on input i) or the examples."""
        if isinstance(task, Function):
            start = task.probes()
            goal, matters = task.outputs(start), np.broadcast_to(task.assigned, start.shape)
        elif isinstance(task, Examples):
            start, goal, matters = task.inputs, task.outputs, task.matters
        else:
            raise TypeError(f"a task is a Function or Examples, got {type(task).__name__}")
        if start.shape[1] != table.num_registers:
            raise ValueError(f"the task has {start.shape[1]} registers, the machine {table.num_registers}")
        matters = np.asarray(matters, dtype=bool).T
        ones = pack_columns(np.ones(len(start), dtype=np.uint8))
        goal_columns = (goal.T % 256).astype(np.uint8)
        return cls(pack_columns(start.T % 256), pack_columns(goal_columns), pack_columns(matters * 255),
                   table.const[:table.stop_action, None].astype(np.uint64) * ones,
                   np.flatnonzero(~matters.any(axis=1)), len(start),
                   atom_valuations(goal_columns) if isinstance(task, Function) else None, table.n_vals > 1)

    def wrong(self, states: np.ndarray) -> np.ndarray:
        """bool [..., R]: the registers that matter and differ from the goal on some probe."""
        return differs(states, self.goal, self.mask)

    def needed(self, states: np.ndarray, wrong: np.ndarray) -> np.ndarray:
        """int [n]: a lower bound on the instructions that finish each state [n, R, K].

        Each wrong register needs a write. For a function, more: the goal T_w of a wrong register is
        made by add/sub from leaves (registers of the state, loaded constants), and the 2-adic
        valuation of a sum's coefficient is at least the least of its terms'. So for each atom
        (constant, input coefficient) T_w needs a leaf whose valuation is at most T_w's; l leaves
        take l − 1 adds or subs, and a constant no register provides an ld and one more add."""
        bound = np.count_nonzero(wrong, axis=1)
        if self.goal_valuations is None or not len(states):
            return bound
        r = states.shape[1]
        columns = np.ascontiguousarray(states).view(np.uint8).reshape(len(states), r, -1)[..., :self.probes]
        valuations = atom_valuations(columns)
        sizes = np.array([bin(s).count("1") for s in range(1 << r)])[:, None]
        for w in np.flatnonzero(wrong.any(axis=0)):
            rows = np.flatnonzero(wrong[:, w])
            target = self.goal_valuations[w]
            atoms = np.flatnonzero(target < 8)
            covers = np.zeros((r, len(rows)), dtype=np.uint16)  # the atoms each register covers, as bits
            for atom in atoms:
                covers |= (valuations[rows, :, atom] <= target[atom]).T.astype(np.uint16) << np.uint16(atom)
            unions = np.zeros((1 << r, len(rows)), dtype=np.uint16)  # the atoms each set of registers covers
            for s in range(1, 1 << r):
                unions[s] = unions[s & (s - 1)] | covers[(s & -s).bit_length() - 1]
            inputs = np.uint16(sum(1 << int(a) for a in atoms if a))
            no_constant = (unions & 1) == 0 if atoms[:1].tolist() == [0] else np.zeros_like(unions, dtype=bool)
            cost = np.where(((unions & inputs) == inputs) & (self.loads_one | ~no_constant),
                            sizes + 2 * no_constant - 1, _UNREACHABLE)
            bound[rows] = np.maximum(bound[rows], np.maximum(cost.min(axis=0), 1))
        return bound


def atom_valuations(columns: np.ndarray) -> np.ndarray:
    """uint8 [..., P]: the 2-adic valuation (8 for 0) of each atom of affine columns [..., P]
    (probe 0 the constant; probe i the constant plus input i's coefficient)."""
    atoms = np.array(columns, dtype=np.uint8)
    atoms[..., 1:] -= atoms[..., :1]
    return _VALUATION[atoms]


class ActionGroup:
    """A set of actions split by kind, so that their values are a few array operations."""

    def __init__(self, table: ActionTable, actions: np.ndarray) -> None:
        self.actions = np.asarray(actions)
        self.dest = table.dest[self.actions]
        coef_a, coef_b = table.coef_a[self.actions], table.coef_b[self.actions]
        kinds = np.where(coef_a == 0, 0, np.where(coef_b == 0, 1, np.where(coef_b == 1, 2, 3)))
        self.parts = [(np.flatnonzero(kinds == k), table.src_a[self.actions[kinds == k]],
                       table.src_b[self.actions[kinds == k]], self.actions[kinds == k]) for k in range(4)]

    def values(self, task: ProbeTask, states: np.ndarray) -> np.ndarray:
        """uint64 [n, len(actions), K]: the column each action writes, from each state [n, R, K]."""
        out = np.empty((len(states), len(self.actions), states.shape[-1]), dtype=np.uint64)
        (ld, _, _, loads), (st, st_a, _, _), (ad, ad_a, ad_b, _), (sb, sb_a, sb_b, _) = self.parts
        out[:, ld] = task.consts[loads]
        out[:, st] = states[:, st_a]
        out[:, ad] = add_bytes(states[:, ad_a], states[:, ad_b])
        out[:, sb] = sub_bytes(states[:, sb_a], states[:, sb_b])
        return out


def state_keys(states: np.ndarray) -> np.ndarray:
    """A uint64 key per row of `states` (uint64 [n, ...]): the word itself when there is one, a mix
    of the words otherwise (equal states, equal keys; the converse is checked on the words)."""
    words = _rows(states)
    keys = words[:, 0].copy()
    for w in range(1, words.shape[1]):
        keys = (keys ^ words[:, w]) * _MIX
        keys ^= keys >> np.uint64(29)
    return keys


def first_occurrences(keys: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Sorted indices of the rows that are not copies of the row before them in key order (each
    kept row is the first of its state, in row order, unless keys collide: then a copy may stay)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys, sorted_states = keys[order], _rows(states[order])
    repeat = np.zeros(len(keys), dtype=bool)
    repeat[1:] = (sorted_keys[1:] == sorted_keys[:-1]) & (sorted_states[1:] == sorted_states[:-1]).all(axis=1)
    return np.sort(order[~repeat])


def contains(seen_keys: np.ndarray, seen: np.ndarray, keys: np.ndarray, states: np.ndarray) -> np.ndarray:
    """Which `states` are in `seen` (sorted by `seen_keys`): the first row of the same key must be equal."""
    if not len(seen_keys):
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(seen_keys, keys), len(seen_keys) - 1)
    return (seen_keys[at] == keys) & (_rows(seen[at]) == _rows(states)).all(axis=1)


def _rows(states: np.ndarray) -> np.ndarray:
    """[n, ...] -> [n, words] (an empty batch too)."""
    return states.reshape(len(states), int(np.prod(states.shape[1:])))
