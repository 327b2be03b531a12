"""`--threads N`: torch threads per run (1 by default); a value below 1 is refused before anything runs."""

from __future__ import annotations

import json

from experiment_files import assert_one_line_error, run_main, tiny_run, write_inputs


def test_threads_below_one_is_refused_and_writes_nothing(tmp_path):
    write_inputs(tmp_path, [tiny_run(1, "DQN", episodes=20, targets=[[0, 5, 10, 25]])])
    line = assert_one_line_error(run_main(tmp_path, "exp", "--threads", "0"))
    assert "--threads" in line
    assert not (tmp_path / "experiments").exists() and not (tmp_path / "runs").exists()


def test_a_run_trains_with_two_threads(tmp_path):
    write_inputs(tmp_path, [tiny_run(1, "DQN", episodes=40, targets=[[0, 5, 10, 25]])])
    result = run_main(tmp_path, "exp", "-j", "1", "--threads", "2")
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "experiments" / "exp" / "summary.json").read_text(encoding="utf-8"))
    assert [run["status"] for run in summary] == ["finished"]
    assert (tmp_path / "experiments" / "exp" / "1" / "models" / "best").exists()
