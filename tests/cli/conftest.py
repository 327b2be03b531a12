"""One tiny experiment of three runs (DQN, AC, PG), trained once through `python main.py` and read by the
tests of its outputs and by the tests of synthesize.py."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.register_assert_rewrite("experiment_files")
from experiment_files import run_main, tiny_config, tiny_run, write_inputs  # noqa: E402

RUNS = [
    # Two fixed targets from fixed non-zero initial registers.
    tiny_run("dqn", "DQN", targets=[[0, 10, 30, 250], [4, 14, 18, 238]], reg_inits=[[1, 2, 3, 4]]),
    # An integer id, as in the original project's files.
    tiny_run(7, "AC", targets=[[0, 10, 30, 250]]),
    # Random targets: evaluated on the held-out targets.
    tiny_run("pg", "PG"),
]


@dataclass
class Experiment:
    cwd: Path
    name: str
    runs: list[dict]
    config: dict
    result: subprocess.CompletedProcess

    @property
    def folder(self) -> Path:
        return self.cwd / "experiments" / self.name

    def run_dir(self, run: dict) -> Path:
        return self.folder / str(run["id"])

    def tensorboard_dir(self, run: dict) -> Path:
        return self.cwd / "runs" / self.name / str(run["id"])


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Experiment:
    cwd = tmp_path_factory.mktemp("trained")
    config = tiny_config()
    write_inputs(cwd, RUNS, config)
    result = run_main(cwd, "tiny", "-j", "1")
    assert result.returncode == 0, result.stderr
    return Experiment(cwd, "tiny", RUNS, config, result)
