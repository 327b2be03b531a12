"""Command-line tools shared by the project's scripts: one-line errors and exit status 2."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def fail(message: str) -> NoReturn:
    """Print `message` as one error line and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_register_list(text: str, num_registers: int, what: str) -> list[int]:
    """Parse 'A,B,C,D' into NUM_REGISTERS integers in 0..255, or raise UsageError saying why."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != num_registers or not all(p.lstrip("-").isdigit() for p in parts):
        raise UsageError(f"{what} '{text}': expected {num_registers} integers separated by commas")
    values = [int(p) for p in parts]
    bad = [v for v in values if not 0 <= v <= 255]
    if bad:
        raise UsageError(f"{what} '{text}': {bad[0]} is out of range 0..255")
    return values
