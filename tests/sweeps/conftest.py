"""Two tiny SigOpt-Lite sweeps through `python parameter_search.py`, run once and read by several tests:
a sweep of 3 trials (with a dummy SIGOPT_API_TOKEN in its environment, forced to the Lite driver), and a
sweep of 2 trials continued with --resume to 3."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

# The main.py tests' helpers (tiny inputs, readers of evaluation logs and TensorBoard files) serve here too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
pytest.register_assert_rewrite("sweep_files", "experiment_files")
from experiment_files import file_states  # noqa: E402
from sweep_files import run_search, tiny_sweep_args, token_environment, write_sweep_inputs  # noqa: E402


@pytest.fixture
def inputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder holding the tiny sweep inputs, made the working directory, with no SigOpt token set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SIGOPT_API_TOKEN", raising=False)
    write_sweep_inputs(tmp_path)
    return tmp_path


@dataclass
class SweepRun:
    cwd: Path
    name: str
    result: subprocess.CompletedProcess

    @property
    def folder(self) -> Path:
        return self.cwd / "experiments" / self.name

    @property
    def tensorboard(self) -> Path:
        return self.cwd / "runs" / self.name


@pytest.fixture(scope="session")
def swept(tmp_path_factory: pytest.TempPathFactory) -> SweepRun:
    cwd = tmp_path_factory.mktemp("swept")
    write_sweep_inputs(cwd)
    result = run_search(cwd, "tiny", *tiny_sweep_args("--budget", "3"), env=token_environment(), quiet=False)
    assert result.returncode == 0, result.stderr
    return SweepRun(cwd, "tiny", result)


@dataclass
class ResumedSweep:
    first: SweepRun
    before: dict[str, tuple[bytes, int]]  # every file after the first part, with its bytes and mtime
    resumed: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def resumed(tmp_path_factory: pytest.TempPathFactory) -> ResumedSweep:
    cwd = tmp_path_factory.mktemp("resumed")
    write_sweep_inputs(cwd)
    first = SweepRun(cwd, "paused", run_search(cwd, "paused", *tiny_sweep_args("--budget", "2")))
    assert first.result.returncode == 0, first.result.stderr
    before = file_states(first.folder, first.tensorboard)
    resumed = run_search(cwd, "paused", "--resume", "--budget", "3", "--driver", "lite")
    assert resumed.returncode == 0, resumed.stderr
    return ResumedSweep(first, before, resumed)
