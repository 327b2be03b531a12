"""The machine's command line: `python -m toycorewar run FILE.s [--init A,B,C,D]` runs an assembly file
and shows the registers after each instruction; `python -m toycorewar map FILE.s` prints the function
the program computes (docs/reference.md §10). Bad input is one line and exit status 2 (the
ArgumentParser and `fail` here are also those of the harness's commands, training/cli.py)."""

from __future__ import annotations

import argparse
import re
import signal
import sys
from typing import NoReturn

from toycorewar.assembly import AssemblyError, parse_program, shorten
from toycorewar.functions import program_map
from toycorewar.machine import MachineConfig, run

INTEGER = re.compile(r"-?[0-9]+")
MAX_ASSEMBLY_BYTES = 64 * 1024


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {one_line(message)} (see --help)", file=sys.stderr)
        sys.exit(2)


def quiet_closed_pipe() -> None:
    """A closed pipe (`... | head -1`) ends the command quietly, as it does other Unix tools, rather than
    with a BrokenPipeError."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def one_line(message: str) -> str:
    """`message` with every control character (a newline in a key of a malformed file) written as an
    escape: an error stays one line whatever it quotes."""
    return CONTROL.sub(lambda match: repr(match.group())[1:-1], message)


def fail(message: str) -> NoReturn:
    """Print `message` as one error line and exit with status 2."""
    print(f"error: {one_line(message)}", file=sys.stderr)
    sys.exit(2)


def parse_register_list(text: str, num_registers: int, what: str) -> list[int]:
    """Parse 'A,B,C,D' into NUM_REGISTERS integers in 0..255, or raise UsageError saying why."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != num_registers or not all(INTEGER.fullmatch(p) for p in parts):
        raise UsageError(f"{what} '{shorten(text)}': expected {num_registers} integers separated by commas")
    if any(len(p) > 4 for p in parts):
        raise UsageError(f"{what} '{shorten(text)}': every value must be in 0..255")
    values = [int(p) for p in parts]
    bad = [v for v in values if not 0 <= v <= 255]
    if bad:
        raise UsageError(f"{what} '{shorten(text)}': {bad[0]} is out of range 0..255")
    return values


def read_assembly(path: str) -> str:
    """The text of an assembly file, or a UsageError: unreadable, not UTF-8, or over MAX_ASSEMBLY_BYTES
    (a program is a few lines; `/dev/zero` or a gigabyte file is refused without reading it all)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_ASSEMBLY_BYTES + 1)
    except OSError as error:
        raise UsageError(f"{path}: cannot read the file ({error.strerror})") from None
    if len(data) > MAX_ASSEMBLY_BYTES:
        raise UsageError(f"{path}: larger than {MAX_ASSEMBLY_BYTES // 1024} KiB: not an assembly program")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not a text file (expected UTF-8 assembly)") from None


def format_registers(registers: list[int]) -> str:
    return "[" + ", ".join(str(r) for r in registers) + "]"


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m toycorewar", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)
    run_parser = commands.add_parser("run", help="run an assembly file, one line per instruction")
    run_parser.add_argument("--init", help="initial registers A,B,C,D (default zeros)")
    map_parser = commands.add_parser("map", help="print the function an assembly file computes")
    for command in (run_parser, map_parser):
        command.add_argument("file", help="assembly file (.s)")
        command.add_argument("--registers", type=int, default=4, help="number of registers (default 4)")
        command.add_argument("--values", type=int, default=20, help="load values 0..VALUES-1 (default 20)")
        command.add_argument("--max-length", type=int, default=5, help="longest program (default 5)")
    args = parser.parse_args(argv)
    try:
        config = MachineConfig(args.registers, args.values, args.max_length)
        init = getattr(args, "init", None)
        reg_init = parse_register_list(init, config.num_registers, "--init") if init else None
        text = read_assembly(args.file)
        try:
            program = parse_program(text, config)
        except AssemblyError as error:
            raise UsageError(f"{args.file}: {error}") from None
    except (UsageError, ValueError) as error:
        fail(str(error))
    if args.command == "map":
        print(program_map(program, config.num_registers))
        return 0
    registers = list(reg_init) if reg_init else [0] * config.num_registers
    print(f"{'start':<20} {format_registers(registers)}")
    trace = run(program, registers, config.num_registers)
    for instruction, after in zip(program, trace, strict=True):
        print(f"{str(instruction):<20} {format_registers(after)}")
    print(f"{'final':<20} {format_registers(trace[-1] if trace else registers)}")
    return 0
