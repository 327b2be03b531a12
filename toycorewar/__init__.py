"""ToyCorewar: a tiny register machine whose programs reinforcement-learning agents learn to write."""

from toycorewar.actions import ActionTable
from toycorewar.assembly import AssemblyError, format_program, parse_program
from toycorewar.functions import (  # noqa: I001
    AffineMap,
    Examples,
    Function,
    FunctionSyntaxError,
    examples_from_pairs,
    format_map,
    parse_examples,
    parse_function,
    program_map,
)
from toycorewar.machine import MODULUS, STOP, Instruction, MachineConfig, execute, final_registers, run

__all__ = [
    "MODULUS", "STOP", "ActionTable", "AffineMap", "AssemblyError", "Examples", "Function",
    "FunctionSyntaxError", "Instruction", "MachineConfig", "examples_from_pairs", "execute", "final_registers",
    "format_map", "format_program", "parse_examples", "parse_function", "parse_program", "program_map", "run",
]
