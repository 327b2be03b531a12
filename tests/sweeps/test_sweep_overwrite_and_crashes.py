"""An existing sweep is never overwritten without -f, and -f replaces only experiments/NAME and runs/NAME;
a trial whose training crashes is a failed trial, and the sweep goes on."""

from __future__ import annotations

import json

import pytest
from experiment_files import file_states
from sweep_files import read_table, tiny_sweep_args

import parameter_search


def test_an_existing_sweep_is_kept_without_f_and_replaced_with_f(inputs, capsys):
    experiment, tensorboard = inputs / "experiments" / "exp", inputs / "runs" / "exp"
    for folder in (experiment, tensorboard, inputs / "experiments" / "other", inputs / "runs" / "other"):
        folder.mkdir(parents=True)
        (folder / "keep.txt").write_text("an earlier experiment", encoding="utf-8")
    before = file_states(inputs / "experiments", inputs / "runs")

    with pytest.raises(SystemExit) as refused:
        parameter_search.main(["exp", "--quiet", *tiny_sweep_args("--budget", "1")])
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "experiments/exp already exists: use -f" in err
    assert file_states(inputs / "experiments", inputs / "runs") == before

    assert parameter_search.main(["exp", "-f", "--quiet", *tiny_sweep_args("--budget", "1")]) == 0
    assert sorted(p.name for p in experiment.iterdir()) == [
        "001", "Training_descriptions.json", "best_preset.json", "config.json", "search_space.json", "sweep.json",
        "trials.csv"]
    assert [p.name for p in tensorboard.iterdir()] == ["001"]
    for folder in (inputs / "experiments" / "other", inputs / "runs" / "other"):
        assert (folder / "keep.txt").read_text(encoding="utf-8") == "an earlier experiment"


def test_a_trial_that_crashes_is_a_failed_trial_and_the_sweep_goes_on(inputs, capsys, monkeypatch):
    # Every value that cannot run is refused when the files are read, so the crash is injected: each trial's
    # agent raises MemoryError as it is built (the sweep's own code in this process).
    from agents.dqn import DQN_Agent

    def out_of_memory(self, setup):
        raise MemoryError("injected: no memory for this trial")

    monkeypatch.setattr(DQN_Agent, "__init__", out_of_memory)
    space = {"DQN_Agent": {"replay_buffer_size": {"type": "int", "min": 1000, "max": 5000}}}
    (inputs / "space.json").write_text(json.dumps(space), encoding="utf-8")
    status = parameter_search.main(["huge", *tiny_sweep_args("--budget", "2")])
    out = capsys.readouterr().out
    assert status == 1  # no trial finished
    experiment = inputs / "experiments" / "huge"
    _, rows = read_table(experiment / "trials.csv")
    assert [(row["trial"], row["status"], row["objective"]) for row in rows] == [("001", "failed", ""),
                                                                                ("002", "failed", "")]
    for trial in ("001", "002"):
        assert "MemoryError" in (experiment / trial / "error.txt").read_text(encoding="utf-8")
    assert not (experiment / "best_preset.json").exists()
    assert "no trial finished" in out and out.count("error: MemoryError") == 2


def test_a_sweep_on_an_experiment_another_command_writes_is_refused_and_changes_nothing(inputs, capsys):
    from training.files import ExperimentLock

    holder = ExperimentLock(inputs / "experiments" / "busy")
    holder.acquire("python main.py busy")  # this process holds it: the sweep's own lock cannot be taken
    try:
        (inputs / "experiments" / "busy").mkdir()
        before = file_states(inputs / "experiments")
        with pytest.raises(SystemExit) as refused:
            parameter_search.main(["busy", "-f", "--quiet", *tiny_sweep_args("--budget", "1")])
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and "being written by process" in err and "python main.py busy" in err
        assert file_states(inputs / "experiments") == before
    finally:
        holder.release()
