"""The exact synthesizer: the shortest program that takes the registers from `reg_init` to `target`,
or the proof that none exists within a length bound.

Breadth-first over register states, all states of one depth expanded at once with numpy. Two sound
prunings keep it small:
- each instruction writes one register, so a state with k wrong registers needs at least k more
  instructions: states with more wrong registers than instructions left are dropped;
- the program's effect depends only on the register state it reaches, so a state reached by several
  programs (at this depth or an earlier one) is expanded once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toycorewar.actions import ActionTable, encode_registers
from toycorewar.machine import Instruction, MachineConfig


@dataclass
class SynthesisResult:
    """`program` is a shortest program (stop not counted) or None when none exists within `max_length`."""

    program: list[Instruction] | None
    max_length: int

    @property
    def length(self) -> int | None:
        return None if self.program is None else len(self.program)


class Synthesizer:
    """Shortest programs for one machine configuration (at most 8 registers)."""

    def __init__(self, config: MachineConfig | None = None) -> None:
        self.table = ActionTable(config or MachineConfig())
        self.config = self.table.config
        if self.config.num_registers > 8:
            raise ValueError("the synthesizer handles at most 8 registers")
        self.actions = np.arange(self.table.stop_action)  # stop never helps a shortest program

    def shortest_program(self, target: list[int], reg_init: list[int] | None = None,
                         max_length: int | None = None) -> SynthesisResult:
        max_length = self.config.max_length if max_length is None else max_length
        r = self.config.num_registers
        goal = np.asarray(target, dtype=np.int64).reshape(1, r)
        start = np.zeros((1, r), dtype=np.int64) if reg_init is None else np.asarray(reg_init, np.int64).reshape(1, r)
        if np.array_equal(start, goal):
            return SynthesisResult([], max_length)
        frontier, seen = start, encode_registers(start)
        # levels[d] = (parent row in level d−1's frontier, action) of each state of depth d.
        levels: list[tuple[np.ndarray, np.ndarray]] = []
        for depth in range(1, max_length + 1):
            if (np.count_nonzero(frontier != goal, axis=1) > max_length - depth + 1).all():
                break
            count, n_actions = len(frontier), len(self.actions)
            registers = np.repeat(frontier, n_actions, axis=0)
            actions = np.tile(self.actions, count)
            self.table.execute_batch(registers, actions)
            wrong = np.count_nonzero(registers != goal, axis=1)
            solved = np.flatnonzero(wrong == 0)
            parents = np.repeat(np.arange(count), n_actions)
            if len(solved):
                levels.append((parents[solved[:1]], actions[solved[:1]]))
                return SynthesisResult(self._program(levels), max_length)
            keep = np.flatnonzero(wrong <= max_length - depth)
            codes, first = np.unique(encode_registers(registers[keep]), return_index=True)
            new = ~np.isin(codes, seen, assume_unique=True)
            rows = keep[first[new]]
            frontier, seen = registers[rows], np.union1d(seen, codes[new])
            levels.append((parents[rows], actions[rows]))
            if not len(frontier):
                break
        return SynthesisResult(None, max_length)

    def _program(self, levels: list[tuple[np.ndarray, np.ndarray]]) -> list[Instruction]:
        program, row = [], 0
        for parents, actions in reversed(levels):
            program.append(self.table.instructions[int(actions[row])])
            row = int(parents[row])
        return program[::-1]
