"""benchmarks/generalization.py runs end to end on a tiny budget, on the default machine and on one of
programs of 8, prints one table per tier and draws the figure; bad flags are refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "generalization.py"
METHODS = ("DQN greedy", "DQN guided search", "AC greedy", "AC guided search", "best-first, no network",
           "random search", "beam search (reward)")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("max_length", [5, 8])
def test_one_table_per_tier_on_a_tiny_budget(tmp_path, max_length):
    png = tmp_path / "figure.png"
    result = run_script("--episodes", "20", "--ac-episodes", "20", "--per-tier", "3", "--budgets", "1,10",
                        "--max-length", str(max_length), "--threads", "1", "--synth-limit", "0.5",
                        "--synth-budget", "0.5", "--png", str(png))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "trained DQN: " in out and "trained AC: " in out
    tables = out.split("\ntier ")[1:]
    assert [table.split(":")[0] for table in tables] == [str(k) for k in range(1, max_length + 1)]
    for tier, table in enumerate(tables, start=1):
        assert f"3 held-out targets of optimal length {tier}" in table
        rows = [line.split("  ")[0] for line in table.splitlines()]
        assert all(method in rows for method in METHODS), table
        assert "exact synthesizer: median" in table and "proved within 0.5 s" in table
    assert png.stat().st_size > 0


def test_the_machine_can_change_its_registers_and_values(tmp_path):
    result = run_script("--agents", "DQN", "--episodes", "10", "--per-tier", "2", "--budgets", "5",
                        "--max-length", "3", "--registers", "3", "--values", "5", "--threads", "1",
                        "--png", str(tmp_path / "figure.png"))
    assert result.returncode == 0, result.stderr
    assert "3 registers, load values 0..4, programs of at most 3 instructions (79 actions)" in result.stdout
    assert "tier 3: 2 held-out targets" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (("--per-tier", "0"), "--per-tier must be at least 1"),
    (("--hard", "1.5"), "--hard must be a share in 0..1"),
    (("--episodes", "10", "--minutes", "1"), "not both"),
    (("--length", "6"), "--length must be at most --max-length"),
    (("--budgets", "1,x"), "--budgets must be integers"),
    (("--registers", "9"), "--registers must be at most 8"),
    (("--agents", "DQN,XYZ"), "--agents: unknown preset(s) XYZ; config.json has DQN"),
])
def test_bad_flags_are_refused_in_one_line(args, message, capsys):
    from benchmarks.generalization import parse_args
    with pytest.raises(SystemExit) as exit:
        parse_args(list(args))
    error = capsys.readouterr().err
    assert exit.value.code == 2 and message in error.splitlines()[-1]


def test_the_script_refuses_a_bad_flag_with_exit_2_and_no_traceback():
    result = run_script("--agents", "XYZ")
    assert result.returncode == 2 and "unknown preset" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
