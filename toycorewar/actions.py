"""The action table: every instruction with its operands, and stop, numbered as docs/reference.md §2 fixes.

Layout for R registers and V load values (registers numbered from 1):

    ld    0 .. R·V−1     V = k mod V_count, X = k div V_count + 1
    st    next R²        A = k mod R + 1, B = k div R + 1
    add   next R³        A = k mod R + 1, B = (k div R) mod R + 1, C = k div R² + 1
    sub   next R³        as add
    stop  last
"""

from __future__ import annotations

import numpy as np

from toycorewar.machine import STOP, Instruction, MachineConfig


def encode_registers(registers: np.ndarray) -> np.ndarray:
    """One integer per row of registers [n, R] (8 bits a register, at most 8 registers): equal codes,
    equal register states. What searches and task draws use to tell states apart quickly."""
    codes = np.zeros(len(registers), dtype=np.uint64)
    for column in range(registers.shape[1]):
        codes = (codes << np.uint64(8)) | registers[:, column].astype(np.uint64)
    return codes


class ActionTable:
    """Decodes and encodes actions for one machine configuration.

    Besides the instruction of each action, it holds the table the batched machine executes: every
    action writes `dest ← (coef_a·r[src_a] + coef_b·r[src_b] + const) mod 256`, so a step over many
    copies is a handful of array operations. `stop` is written as `r1 ← r1`, which changes nothing.
    """

    def __init__(self, config: MachineConfig | None = None) -> None:
        self.config = config or MachineConfig()
        r, v = self.config.num_registers, self.config.n_vals
        self.num_registers, self.n_vals = r, v
        self.ld_start = 0
        self.st_start = r * v
        self.add_start = self.st_start + r * r
        self.sub_start = self.add_start + r**3
        self.stop_action = self.sub_start + r**3
        self.num_actions = self.stop_action + 1
        assert self.num_actions == self.config.num_actions
        self.instructions: tuple[Instruction, ...] = tuple(self._decode(a) for a in range(self.num_actions))
        self._codes = {instruction: a for a, instruction in enumerate(self.instructions)}
        self._build_arrays()

    def _decode(self, action: int) -> Instruction:
        r, v = self.num_registers, self.n_vals
        if action < self.st_start:
            return Instruction("ld", (action % v, action // v + 1))
        if action < self.add_start:
            k = action - self.st_start
            return Instruction("st", (k % r + 1, k // r + 1))
        if action < self.stop_action:
            op, k = ("add", action - self.add_start) if action < self.sub_start else ("sub", action - self.sub_start)
            return Instruction(op, (k % r + 1, (k // r) % r + 1, k // (r * r) + 1))
        return STOP

    def decode_action(self, action: int) -> Instruction:
        """The instruction of `action`; an action outside 0..NUM_ACTIONS−1 is a ValueError."""
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            raise TypeError(f"an action is an integer, got {action!r}")
        if not 0 <= action < self.num_actions:
            raise ValueError(f"action {action} is out of range 0..{self.num_actions - 1}")
        return self.instructions[int(action)]

    def encode_instruction(self, instruction: Instruction) -> int:
        """The action number of `instruction`; one this machine cannot run is a ValueError."""
        try:
            return self._codes[Instruction(instruction.op, tuple(instruction.args))]
        except KeyError:
            raise ValueError(f"'{instruction}' is not an instruction of this machine "
                             f"({self.num_registers} registers, load values 0..{self.n_vals - 1})") from None

    def _build_arrays(self) -> None:
        n = self.num_actions
        self.dest = np.zeros(n, dtype=np.intp)
        self.src_a = np.zeros(n, dtype=np.intp)
        self.src_b = np.zeros(n, dtype=np.intp)
        self.coef_a = np.zeros(n, dtype=np.int64)
        self.coef_b = np.zeros(n, dtype=np.int64)
        self.const = np.zeros(n, dtype=np.int64)
        for a, (op, args) in enumerate(self.instructions):
            if op == "ld":
                self.const[a], self.dest[a] = args[0], args[1] - 1
            elif op == "st":
                self.src_a[a], self.coef_a[a], self.dest[a] = args[0] - 1, 1, args[1] - 1
            elif op in ("add", "sub"):
                self.src_a[a], self.src_b[a], self.dest[a] = args[0] - 1, args[1] - 1, args[2] - 1
                self.coef_a[a], self.coef_b[a] = 1, (1 if op == "add" else -1)
            else:  # stop: r1 ← r1
                self.coef_a[a] = 1
        for array in (self.dest, self.src_a, self.src_b, self.coef_a, self.coef_b, self.const):
            array.setflags(write=False)

    def execute_batch(self, registers: np.ndarray, actions: np.ndarray) -> None:
        """Execute `actions[i]` on `registers[i]` for every row, in place (registers: int array [n, R])."""
        rows = np.arange(len(actions))
        values = (self.coef_a[actions] * registers[rows, self.src_a[actions]]
                  + self.coef_b[actions] * registers[rows, self.src_b[actions]]
                  + self.const[actions]) & 255
        registers[rows, self.dest[actions]] = values
