"""benchmarks/baselines.py end to end on a tiny budget: the project's agents and SB3's, raw and
wrapped, trained side by side, summarised, saved and reported again from the saved file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "baselines.py"
METHODS = ["DQN", "SB3-DQN+gap", "SB3-PPO+scaled"]


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env={"SB3_LOGDIR": str(cwd), "PATH": "/usr/bin:/bin"})


def test_every_method_trains_each_run_and_seed_and_the_saved_outcomes_report_again(tmp_path):
    png, saved = tmp_path / "baselines.png", tmp_path / "baselines.json"
    result = run_script("--methods", ",".join(METHODS), "--runs", "5", "--seeds", "1", "--episodes", "200",
                        "--assess", "100", "--jobs", "2", "--reps", "50", "--png", str(png), "--save", str(saved),
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if line.split() and line.split()[0] in METHODS]
    # A row: method, run, target ("[17, 0, 12, 29]"), seed, first solve, ...
    assert sorted((r.split()[0], r.split()[1], r.split("]")[1].split()[0]) for r in rows) == sorted(
        (method, "5", "0") for method in METHODS)
    for method in METHODS:
        assert any(line.startswith(f"{method}: ") and "/1 runs solved" in line for line in result.stdout.splitlines())
    assert "the project DQN's" in result.stdout and png.stat().st_size > 0
    outcomes = json.loads(saved.read_text())["outcomes"]
    assert len(outcomes) == len(METHODS)
    for outcome in outcomes:
        curve = outcome["result"]["curve"]
        episodes = [episode for episode, _ in curve]
        solved = outcome["result"]["first_solve"]
        # Evaluated before training, then every 100 episodes until solved or 200; the project's harness
        # adds its final evaluation where the batched copies stopped, just past the solve.
        stop = 200 if solved is None else solved
        assert episodes[:stop // 100 + 1] == list(range(0, stop + 1, 100))
        assert len(episodes) == stop // 100 + 1 or (outcome["algo"] == "DQN" and len(episodes) == stop // 100 + 2)
        if solved is not None:
            assert curve[stop // 100][1] == 0
        assert outcome["result"]["episodes"] <= 200 + 31  # a batch of copies may end a few episodes together
    again = run_script("--load", str(saved), "--reps", "50", "--png", str(tmp_path / "again.png"), cwd=tmp_path)
    assert again.returncode == 0, again.stderr

    def table_and_summaries(stdout: str) -> tuple[list[str], list[str]]:
        lines = stdout.splitlines()
        table = sorted(line for line in lines if line.split() and line.split()[0] in METHODS)
        summaries = [line for line in lines[lines.index(""):] if not line.startswith(("figure:", "outcomes:"))]
        return table, summaries

    assert table_and_summaries(again.stdout) == table_and_summaries(result.stdout)


@pytest.mark.parametrize(("args", "expected"), [
    (["--methods", "DQN,A2C"], "the methods are DQN, AC, PG, SB3-DQN"),
    (["--seeds", "0"], "--seeds must be at least 1, got 0"),
    (["--png", "no/such/folder/b.png"], "--png: the folder no/such/folder does not exist"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, args, expected):
    result = run_script(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr and "Traceback" not in result.stderr
