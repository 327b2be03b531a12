"""benchmarks/expert_iteration.py runs end to end on a tiny budget (a small afterstate preset of a config
written here): both runs, then one table per tier; bad flags are refused in one line, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "expert_iteration.py"
TINY = {"agent": "DQN_Agent", "parameters": {
    "afterstate": True, "middle_size": 16, "effect_size": 4, "learning_starts": 0, "learning_freq": 16,
    "target_update_freq": 100, "lr": 0.002, "gamma": 1.0, "batch_size": 16, "replay_buffer_size": 2000,
    "epsilon_decay_steps": 100, "final_epsilon": 0.05, "num_envs": 4, "reward_scale": 0.05}}


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    config = json.loads((ROOT / "config.json").read_text())
    config["presets"]["Tiny"] = TINY
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def test_both_runs_and_every_tier_on_a_tiny_budget(tiny_config):
    result = run_script("--config", str(tiny_config), "--preset", "Tiny", "--seconds", "3", "--per-tier", "3",
                        "--search-every", "20", "--search-tasks", "2", "--search-expansions", "5", "--threads", "1")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "preset Tiny of" in out and "training seeds [0]" in out and "3 per optimal length 1..5" in out
    assert "guided search at 10, 100 expansions" in out
    assert "trained plain-0: " in out and "trained expert-0: " in out
    runs = out.split("\nruns:\n")[1].split("\n\n")[0].splitlines()
    assert runs[0].split(" | ")[0] == "| run" and len(runs) == 4  # header, rule, two runs
    plain, expert = (line.split(" | ") for line in runs[2:])
    assert plain[0] == "| Tiny" and plain[4] == "0"  # no search round
    assert expert[0] == "| Tiny + expert iteration" and int(expert[4]) >= 1
    tables = out.split("\ntier ")[1:]
    assert [table.split(":")[0] for table in tables] == ["1", "2", "3", "4", "5"]
    for tier, table in enumerate(tables, start=1):
        lines = table.splitlines()
        assert f"3 held-out targets of optimal length {tier}" in lines[0]
        assert lines[1] == "| run | seed | greedy | @10 | @100 |"
        assert [line.split(" | ")[0] for line in lines[3:5]] == ["| Tiny", "| Tiny + expert iteration"]
        for line in lines[3:5]:
            greedy, at10, at100 = (float(c.strip(" |%")) for c in line.split(" | ")[2:])
            assert 0 <= at10 <= at100 <= 100 and 0 <= greedy <= 100


@pytest.mark.parametrize(("args", "message"), [
    (("--seconds", "0"), "--seconds must be positive"),
    (("--preset", "XYZ"), "unknown preset 'XYZ'"),
    (("--preset", "AC"), "AC_Agent preset"),
    (("--per-tier", "0"), "--per-tier must be at least 1"),
    (("--seeds", "0,x"), "--seeds must be integers"),
    (("--length", "6"), "--length must be between 1 and MAX_LENGTH (5)"),
    (("--demo-fraction", "1"), "demo_fraction"),
    (("--config", "/nonexistent/config.json"), "--config:"),
])
def test_bad_flags_are_refused_in_one_line(args, message):
    result = run_script(*args)
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert result.returncode == 2 and len(errors) == 1 and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not result.stdout
