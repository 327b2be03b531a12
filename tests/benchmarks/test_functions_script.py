"""benchmarks/functions.py runs end to end on a tiny budget: the held-out tiers with their cost, one table
per tier scored correct on every input, the named suite with no program claimed correct that is not, the
over-fitting table and the figure; bad flags are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "functions.py"
METHODS = ("greedy", "guided search", "best-first, no network", "random search", "beam search (reward)")


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_every_table_on_a_tiny_budget(tmp_path):
    png, suite = tmp_path / "figure.png", tmp_path / "suite.json"
    suite.write_text(json.dumps([{"name": "add", "function": "r3 = r1 + r2"},
                                 {"name": "add 100", "function": "r1 = r1 + 100"}]))
    result = run_script("--episodes", "30", "--per-tier", "3", "--budgets", "1,10", "--max-length", "3",
                        "--threads", "1", "--suite", str(suite), "--overfit-functions", "4", "--overfit-budget", "5",
                        "--png", str(png), "--set", "learning_freq=32", "--draw-budget", "60")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "trained Generalist, learning_freq 32: " in out and "each proved within 10 s" in out
    tables = out.split("\ntier ")[1:]
    assert [table.split(":")[0] for table in tables] == ["1", "2", "3"]
    for tier, table in enumerate(tables, start=1):
        assert f"3 held-out functions of optimal length {tier}" in table
        rows = [line.split("  ")[0] for line in table.splitlines()]
        assert all(method in rows for method in METHODS), table
        assert "exact synthesizer: median" in table
    suite_lines = out.split("named suite")[1].splitlines()
    assert any(line.startswith("add ") and line.split()[-4:] == ["correct", "on", "every", "input"]
               for line in suite_lines)
    # r1 + 100 needs more than 3 instructions: proved so, and nothing claims a program for it.
    assert any(line.startswith("add 100") and "> 3" in line and "not found" in line for line in suite_lines)
    assert "programs claimed correct that are not: 0" in out
    overfitting = out.split("over-fitting:")[1].splitlines()
    assert [line.split()[0] for line in overfitting[2:8]] == ["1", "2", "3", "4", "5", "6"]
    assert png.stat().st_size > 0


@pytest.mark.parametrize(("args", "message"), [
    (("--per-tier", "0"), "--per-tier must be at least 1"),
    (("--examples", "0"), "--examples must be at least 1"),
    (("--episodes", "10", "--minutes", "1"), "not both"),
    (("--length", "6"), "--length must be at most --max-length"),
    (("--budgets", "1,x"), "--budgets must be integers"),
    (("--suite", "no/such.json"), "no such file"),
    (("--synth-limit", "0"), "--synth-limit must be positive"),
    (("--draw-budget", "-1"), "--draw-budget must be positive"),
    (("--set", "learning_freq"), "expected NAME=VALUE"),
    (("--set", "learning_freq=fast"), "learning_freq"),
    (("--set", "no_such_parameter=1"), "no_such_parameter"),
    (("--set", "lr=-1"), "--set lr=-1: config.json: presets."),
    (("--preset", "Nope"), "unknown preset Nope"),
])
def test_bad_flags_are_refused_in_one_line(args, message, capsys):
    from benchmarks.functions import parse_args
    with pytest.raises(SystemExit) as exit:
        parse_args(list(args))
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and out == "" and message in err.splitlines()[-1]


def test_the_script_refuses_a_bad_flag_with_exit_2_and_no_traceback():
    result = run_script("--preset", "Nope")
    assert result.returncode == 2 and "unknown preset Nope" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
