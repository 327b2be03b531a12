"""benchmarks/training_speed.py measures each preset in its own process: episodes and gradient steps
per second, the time split by section, the peak memory, and with --against the project at another
commit side by side; bad flags are refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "training_speed.py"
sys.path.insert(0, str(ROOT))

from benchmarks.training_speed import SECTIONS  # noqa: E402


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_the_split_accounts_for_the_training_time(tmp_path):
    measured = tmp_path / "speed.json"
    result = run_script("--presets", "Generalist,PG", "--seconds", "3", "--json", str(measured))
    assert result.returncode == 0, result.stderr
    assert "training speed, this checkout" in result.stdout
    rows = json.loads(measured.read_text())["this checkout"]
    assert [row["preset"] for row in rows] == ["Generalist", "PG"]
    for row in rows:
        assert row["episodes"] > 0 and row["gradient_steps"] > 0 and row["peak_mib"] > 50
        assert set(row["split"]) == set(SECTIONS)
        # Every section ran, and together they are the training clock (at least the 3 s asked).
        assert all(row["split"][name] > 0 for name in ("acting", "learning", "evaluating", "other")), row
        assert row["seconds"] >= 3 and row["setup"] > 0
        assert 0 <= row["final_solved"] <= 1
    generalist, pg = rows
    assert generalist["split"]["drawing tasks"] > 0  # random targets; PG's one target costs next to nothing
    line = next(line for line in result.stdout.splitlines() if line.startswith("Generalist "))
    assert f"{generalist['episodes']}" in line


def test_against_a_commit_measures_both_trees_at_equal_episodes(tmp_path):
    result = run_script("--presets", "PG", "--episodes", "200", "--against", "HEAD")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "training speed, at HEAD" in out and "training speed, this checkout" in out
    assert "PG (at HEAD): 200 episodes" in out and "PG (this checkout): 200 episodes" in out
    assert "episodes per second, this checkout against HEAD:" in out


@pytest.mark.parametrize("args, message", [
    (("--presets", "Nope"), "--presets must name some of DQN, Generalist, AC, PG, got Nope"),
    (("--seconds", "0"), "--seconds must be positive"),
    (("--episodes", "0"), "--episodes must be at least 1"),
    (("--threads", "0"), "--threads must be at least 1"),
    (("--against", "no-such-commit", "--seconds", "1"), "--against: git cannot archive 'no-such-commit'"),
])
def test_bad_flags_are_refused_in_one_line(args, message):
    result = run_script(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
