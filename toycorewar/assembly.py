"""Assembly text: parse a program with errors that name the line, and print one back.

One instruction per line; `#` starts a comment; blank lines are ignored; mnemonics and register
names are case-insensitive; spaces around commas are optional. `stop` ends the program: the lines
after it are still checked, but they are not part of the program.
"""

from __future__ import annotations

import re

from toycorewar.machine import Instruction, MachineConfig

OPERANDS = {"ld": "%V, rX", "st": "rA, rB", "add": "rA, rB, rC", "sub": "rA, rB, rC", "stop": ""}
_INTEGER = re.compile(r"[+-]?\d+")


class AssemblyError(ValueError):
    """A malformed line: `line_number` counts every line of the file, comments and blanks included."""

    def __init__(self, line_number: int, line: str, reason: str) -> None:
        self.line_number, self.line, self.reason = line_number, line, reason
        super().__init__(f"line {line_number}: '{shorten(line)}': {shorten(reason, 120)}")


def shorten(text: str, limit: int = 40) -> str:
    """`text` as an error message quotes it: at most `limit` characters (a bad line may be megabytes)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def parse_instruction(text: str, config: MachineConfig) -> Instruction:
    """Parse one instruction (no comment); a malformed one is a ValueError saying what was expected."""
    mnemonic, rest = (text.split(None, 1) + ["", ""])[:2]  # any whitespace, tabs included
    op = mnemonic.lower()
    if op not in OPERANDS:
        raise ValueError(f"unknown instruction '{mnemonic}': expected one of {', '.join(OPERANDS)}")
    operands = [o.strip() for o in rest.split(",")] if rest.strip() else []
    expected = OPERANDS[op]
    count = len(expected.split(",")) if expected else 0
    if len(operands) != count:
        form = f"'{op} {expected}'" if expected else "'stop' with no operands"
        raise ValueError(f"expected {form}, got {len(operands)} operand{'s' if len(operands) != 1 else ''}")
    if op == "ld":
        return Instruction(op, (_value(operands[0], config), _register(operands[1], config)))
    return Instruction(op, tuple(_register(o, config) for o in operands))


def _value(text: str, config: MachineConfig) -> int:
    if not text.startswith("%") or not _INTEGER.fullmatch(text[1:].strip()):
        raise ValueError(f"expected a value '%V' with V in 0..{config.n_vals - 1}, got '{text}'")
    value = int(text[1:])
    if not 0 <= value < config.n_vals:
        raise ValueError(f"value {value} is out of range 0..{config.n_vals - 1}")
    return value


def _register(text: str, config: MachineConfig) -> int:
    last = config.num_registers
    if text[:1].lower() != "r" or not text[1:].isdigit():
        raise ValueError(f"expected a register r1..r{last}, got '{text}'")
    number = int(text[1:])
    if not 1 <= number <= last:
        raise ValueError(f"register '{text}' does not exist: expected r1..r{last}")
    return number


def parse_program(text: str, config: MachineConfig | None = None) -> list[Instruction]:
    """Parse assembly text into the program it runs: the instructions up to and including the first
    `stop`. At most `config.max_length` instructions may run before it."""
    config = config or MachineConfig()
    program: list[Instruction] = []
    stopped = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            instruction = parse_instruction(line, config)
        except ValueError as error:
            raise AssemblyError(number, raw.strip(), str(error)) from None
        if stopped:
            continue
        if instruction.op != "stop" and len(program) == config.max_length:
            raise AssemblyError(number, raw.strip(),
                                f"the program is longer than {config.max_length} instructions")
        program.append(instruction)
        stopped = instruction.op == "stop"
    return program


def format_program(program: list[Instruction]) -> str:
    """The assembly text of `program`, one instruction a line; `parse_program` reads it back."""
    return "".join(f"{instruction}\n" for instruction in program)
