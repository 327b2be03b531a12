"""benchmarks/time_to_solve.py runs end to end on the shipped files (briefly) and refuses bad counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "time_to_solve.py"


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("run_id", ["9", "10"])
def test_the_four_target_run_trains_and_is_reported(run_id):
    result = run_script("--skip-single-targets", "--four-target-run", run_id, "--max-episodes", "40",
                        "--assess", "20", "--threads", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    row = next(line for line in lines if line.startswith("4 targets"))
    assert "not solved" in row or row.split()[3].isdigit()
    assert f"four-target run {run_id}: " in lines[-1]


def test_single_target_rows_come_with_the_count_of_solved_runs():
    result = run_script("--skip-four-targets", "--seeds", "1", "--max-episodes", "20", "--assess", "20",
                        "--threads", "1")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("[")]
    targets = {row.split("]")[0] + "]" for row in rows}
    assert targets == {"[0, 10, 30, 250]", "[4, 14, 18, 238]", "[255, 20, 255, 1]", "[0, 5, 10, 25]",
                       "[17, 0, 12, 29]"}
    assert "single targets solved: " in result.stdout


@pytest.mark.parametrize("flag", ["--jobs", "--seeds", "--threads", "--assess", "--max-episodes"])
def test_counts_below_one_are_refused_in_one_line(flag):
    result = run_script(flag, "0")
    assert result.returncode == 2
    assert "must be at least 1" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_an_unknown_four_target_run_is_refused():
    result = run_script("--four-target-run", "3")
    assert result.returncode == 2 and "--four-target-run" in result.stderr


def test_runs_picks_the_single_target_runs_trained():
    result = run_script("--skip-four-targets", "--runs", "2,4-5", "--seeds", "1", "--max-episodes", "20",
                        "--assess", "20", "--threads", "1")
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert [row.split("]")[0] + "]" for row in rows] == ["[4, 14, 18, 238]", "[0, 5, 10, 25]", "[17, 0, 12, 29]"]


@pytest.mark.parametrize("runs", ["7", "x", "3-9"])
def test_runs_outside_the_single_targets_are_refused_in_one_line(runs):
    result = run_script("--runs", runs)
    assert result.returncode == 2 and "--runs" in result.stderr and "Traceback" not in result.stderr
