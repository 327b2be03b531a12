"""ToyCorewar: a tiny register machine whose programs reinforcement-learning agents learn to write."""

from toycorewar.actions import ActionTable
from toycorewar.assembly import AssemblyError, format_program, parse_program
from toycorewar.machine import MODULUS, STOP, Instruction, MachineConfig, execute, final_registers, run

__all__ = [
    "MODULUS", "STOP", "ActionTable", "AssemblyError", "Instruction", "MachineConfig",
    "execute", "final_registers", "format_program", "parse_program", "run",
]
