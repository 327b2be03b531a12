"""What the harness's commands (main.py, parameter_search.py, synthesize.py) share on the command
line: one-line errors with exit status 2 (toycorewar/cli.py) and the rule for an experiment NAME."""

from __future__ import annotations

from toycorewar.cli import ArgumentParser, UsageError, fail, parse_register_list
from training.files import folder_name_problem

__all__ = ["ArgumentParser", "UsageError", "check_name", "fail", "parse_register_list"]


def check_name(parser: ArgumentParser, name: str) -> None:
    """Refuse a NAME that cannot name a folder under experiments/ (exit status 2)."""
    problem = folder_name_problem(name, "NAME")
    if problem:
        parser.error(problem)
