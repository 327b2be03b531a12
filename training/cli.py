"""What the harness's commands (main.py, parameter_search.py, synthesize.py) share on the command
line: one-line errors with exit status 2 (toycorewar/cli.py) and the rule for an experiment NAME."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, NoReturn

from toycorewar.cli import ArgumentParser, UsageError, fail, parse_register_list, quiet_closed_pipe
from training.files import folder_name_problem

__all__ = ["ArgumentParser", "UsageError", "check_name", "exit_promptly", "fail", "parse_register_list",
           "quiet_closed_pipe", "stop_on_signals"]


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    # Through SIGINT's handler of the moment, so that a run that defers or forwards Ctrl-C does so for this too.
    signal.raise_signal(signal.SIGINT)


def stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and a polite kill (SIGTERM: `kill`, a scheduler's time limit) both stop the command
    as Ctrl-C does, however it was started: a job started with `&` in a script inherits SIGINT ignored,
    so Python's own handler is put back rather than assumed. A closed pipe ends the command quietly.
    Worker processes call this too (they inherit an ignored SIGINT across exec)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    quiet_closed_pipe()


def exit_promptly(status: int) -> NoReturn:
    """End the command with `status`, without Python's teardown of the objects it made: freeing torch's
    modules and a run's networks, buffers and environments one by one took 0.7 s of every Ctrl-C
    (docs/guarantees.md). Every file has been written and closed by then; the output is flushed here.
    With Ray imported the normal exit is kept: its exit handler disconnects from the cluster."""
    sys.stdout.flush()
    sys.stderr.flush()
    if "ray" in sys.modules:
        sys.exit(status)
    os._exit(status)


def check_name(parser: ArgumentParser, name: str) -> None:
    """Refuse a NAME that cannot name a folder under experiments/ (exit status 2)."""
    problem = folder_name_problem(name, "NAME")
    if problem:
        parser.error(problem)
