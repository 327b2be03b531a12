"""What the tests of `parameter_search.py` share: tiny inputs (the ones of the main.py tests, from
tests/cli/experiment_files.py), running the script as a user runs it, and readers of what it writes."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from experiment_files import tiny_config, tiny_run  # on sys.path through conftest.py

ROOT = Path(__file__).resolve().parents[2]
SEARCH = ROOT / "parameter_search.py"
TIMEOUT = 300  # seconds: generous, the machine may be busy with other work
TOKEN = "dummy-token-1234567890"

TARGETS = [[0, 10, 30, 250]]
# lstm_layers 0 is rejected by DQN_Agent's parameter class: those suggestions become failed trials.
TINY_SPACE = {"DQN_Agent": {"lr": {"type": "double", "min": 1e-4, "max": 1e-2, "transformation": "log"},
                            "lstm_layers": {"type": "int", "min": 0, "max": 1},
                            "learning_starts": {"type": "int", "min": 0, "max": "episodes/2"}},
              "AC_Agent": {"gamma": {"type": "double", "min": 0.5, "max": 0.99}}}
# With SigOpt-Lite seeded by --seed 29 (afresh for each trial, from the seed and its number), the
# suggestions' lstm_layers are 1, 0, 1: finished, failed, finished.
SEED = "29"
EPISODES = 60


def tiny_runs() -> list[dict]:
    """A training file of two runs; the sweeps train the second (--id t), shortened to EPISODES."""
    return [tiny_run("other", "AC", episodes=40, targets=TARGETS), tiny_run("t", "DQN", episodes=500, targets=TARGETS)]


def write_sweep_inputs(folder: Path, space: dict | None = None, config: dict | None = None) -> None:
    """config.json, training.json and space.json in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or tiny_config(), indent=2), encoding="utf-8")
    (folder / "training.json").write_text(json.dumps(tiny_runs(), indent=2), encoding="utf-8")
    (folder / "space.json").write_text(json.dumps(space or TINY_SPACE, indent=2), encoding="utf-8")


def search_command(name: str, *args: str, quiet: bool = True) -> list[str]:
    return [sys.executable, str(SEARCH), name, *(["--quiet"] if quiet else []), *args]


def tiny_sweep_args(*more: str) -> list[str]:
    """The flags of a tiny SigOpt-Lite sweep of run t over space.json."""
    return ["--id", "t", "--episodes", str(EPISODES), "--search-space", "space.json", "--driver", "lite",
            "--seed", SEED, *more]


def run_search(cwd: Path, name: str, *args: str, env: dict | None = None,
               quiet: bool = True) -> subprocess.CompletedProcess:
    """`python parameter_search.py NAME [--quiet] ARGS` in `cwd`, where experiments/ and runs/ are written."""
    return subprocess.run(search_command(name, *args, quiet=quiet), cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)


def start_search(cwd: Path, name: str, *args: str) -> subprocess.Popen:
    def default_sigint() -> None:  # a shell without job control starts children with SIGINT ignored
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    return subprocess.Popen(search_command(name, *args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint, start_new_session=True)


def token_environment() -> dict[str, str]:
    return {**os.environ, "SIGOPT_API_TOKEN": TOKEN}


def read_table(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of trials.csv."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)
