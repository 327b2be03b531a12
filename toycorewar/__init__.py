"""ToyCorewar: a tiny register machine whose programs reinforcement-learning agents learn to write."""

from toycorewar.actions import ActionTable
from toycorewar.assembly import AssemblyError, format_program, parse_program
from toycorewar.functions import AffineMap, Examples, Function, format_map, program_map
from toycorewar.machine import (
    MODULUS,
    STOP,
    Instruction,
    MachineConfig,
    execute,
    final_registers,
    run,
    without_dead_instructions,
)
from toycorewar.task_syntax import FunctionSyntaxError, examples_from_pairs, parse_examples, parse_function

__all__ = [
    "MODULUS", "STOP", "ActionTable", "AffineMap", "AssemblyError", "Examples", "Function",
    "FunctionSyntaxError", "Instruction", "MachineConfig", "examples_from_pairs", "execute", "final_registers",
    "format_map", "format_program", "parse_examples", "parse_function", "parse_program", "program_map", "run",
    "without_dead_instructions",
]
