"""The ToyCorewar machine in plain Python: the reference statement of what every instruction means.

Registers are numbered from 1 in the assembly text (`r1..rN`) and from 0 in Python lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

MODULUS = 256
OPCODES = ("ld", "st", "add", "sub", "stop")


@dataclass(frozen=True)
class MachineConfig:
    """The shape of the machine: how many registers, how many load values, how long a program may be."""

    num_registers: int = 4
    n_vals: int = 20
    max_length: int = 5

    def __post_init__(self) -> None:
        for name in ("num_registers", "n_vals", "max_length"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.n_vals > MODULUS:
            raise ValueError(f"n_vals must be at most {MODULUS}, got {self.n_vals}")

    @property
    def num_actions(self) -> int:
        """R·V + R² + 2·R³ + 1: every instruction with its operands, and stop."""
        r = self.num_registers
        return r * self.n_vals + r * r + 2 * r**3 + 1


class Instruction(NamedTuple):
    """One instruction. `args` hold the value then the register for `ld` (`ld %V, rX` -> (V, X)),
    register numbers from 1 for the others (`add rA, rB, rC` -> (A, B, C)), nothing for `stop`."""

    op: str
    args: tuple[int, ...] = ()

    def __str__(self) -> str:
        if self.op == "ld":
            value, register = self.args
            return f"ld %{value}, r{register}"
        if self.op == "stop":
            return "stop"
        return f"{self.op} " + ", ".join(f"r{a}" for a in self.args)


STOP = Instruction("stop")


def execute(instruction: Instruction, registers: list[int]) -> list[int]:
    """Return the registers after `instruction`; the input list is left unchanged."""
    out = list(registers)
    op, args = instruction
    if op == "ld":
        value, x = args
        out[x - 1] = value
    elif op == "st":
        a, b = args
        out[b - 1] = registers[a - 1]
    elif op == "add":
        a, b, c = args
        out[c - 1] = (registers[a - 1] + registers[b - 1]) % MODULUS
    elif op == "sub":
        a, b, c = args
        out[c - 1] = (registers[a - 1] - registers[b - 1]) % MODULUS
    elif op != "stop":
        raise ValueError(f"unknown instruction {op!r}")
    return out


def run(program: list[Instruction], reg_init: list[int] | None = None, num_registers: int = 4) -> list[list[int]]:
    """Run `program` once from `reg_init` (zeros by default) and return the registers after each
    instruction that ran. Execution ends at the first `stop`, which is itself listed."""
    registers = list(reg_init) if reg_init is not None else [0] * num_registers
    trace = []
    for instruction in program:
        registers = execute(instruction, registers)
        trace.append(registers)
        if instruction.op == "stop":
            break
    return trace


def final_registers(program: list[Instruction], reg_init: list[int] | None = None,
                    num_registers: int = 4) -> list[int]:
    """The registers after running `program` from `reg_init`."""
    trace = run(program, reg_init, num_registers)
    if trace:
        return trace[-1]
    return list(reg_init) if reg_init is not None else [0] * num_registers


def without_dead_instructions(program: list[Instruction],
                              keeps: Callable[[list[Instruction]], bool]) -> list[Instruction]:
    """`program` less the instructions it does not need: dropped one at a time, the first that can go
    first, while `keeps(shorter)` holds (whatever the task asks: a target reached, a function computed),
    until none can go. A clean-up pass, reported apart from the program an agent or a search wrote;
    the result need not be a shortest program (the exact synthesizer says what is)."""
    program = [instruction for instruction in program if instruction.op != "stop"]
    dropped = True
    while dropped:
        dropped = False
        for index in range(len(program)):
            shorter = program[:index] + program[index + 1:]
            if keeps(shorter):
                program, dropped = shorter, True
                break
    return program
