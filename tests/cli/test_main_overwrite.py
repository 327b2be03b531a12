"""An existing experiments/NAME is never overwritten without -f; -f replaces experiments/NAME and runs/NAME
and nothing else (docs/reference.md §8)."""

from __future__ import annotations

import json

from experiment_files import assert_one_line_error, file_states, run_main, tiny_run, write_inputs

TARGETS = [[0, 10, 30, 250]]


def test_an_existing_experiment_is_kept_without_f_and_replaced_with_f(tmp_path):
    write_inputs(tmp_path, [tiny_run("old", "AC", episodes=40, targets=TARGETS)])
    assert run_main(tmp_path, "exp", "-j", "1").returncode == 0
    experiment, tensorboard = tmp_path / "experiments" / "exp", tmp_path / "runs" / "exp"
    neighbours = [tmp_path / "experiments" / "other", tmp_path / "runs" / "other"]
    for folder in neighbours:
        folder.mkdir()
        (folder / "keep.txt").write_text("another experiment", encoding="utf-8")
    first = file_states(experiment, tensorboard)
    assert str(experiment / "old" / "models" / "best") in first

    write_inputs(tmp_path, [tiny_run("new", "AC", episodes=40, targets=TARGETS)])
    line = assert_one_line_error(run_main(tmp_path, "exp", "-j", "1"))
    assert "experiments/exp" in line and "-f" in line
    assert file_states(experiment, tensorboard) == first

    replaced = run_main(tmp_path, "exp", "-f", "-j", "1")
    assert replaced.returncode == 0, replaced.stderr
    assert sorted(p.name for p in experiment.iterdir()) == ["Training_descriptions.json", "config.json",
                                                            "curves.png", "new", "summary.json"]
    assert [p.name for p in tensorboard.iterdir()] == ["new"]
    assert json.loads((experiment / "Training_descriptions.json").read_text(encoding="utf-8"))[0]["id"] == "new"
    for folder in neighbours:
        assert (folder / "keep.txt").read_text(encoding="utf-8") == "another experiment"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "experiments", "runs", "training.json"]
