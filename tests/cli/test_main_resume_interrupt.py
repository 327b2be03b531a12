"""Ctrl-C (SIGINT), or SIGTERM, saves and exits 130; `--resume` continues an interrupted experiment from models/last."""

from __future__ import annotations

import json
import signal
import time

import pytest
import torch
from experiment_files import (
    assert_evaluation_logs,
    assert_one_line_error,
    evaluation_logs,
    file_states,
    interrupt,
    run_main,
    start_main,
    tiny_config,
    tiny_run,
    wait_for_files,
    write_inputs,
)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from training.checkpoints import load_network

TARGETS = [[0, 10, 30, 250]]


@pytest.mark.parametrize("which", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_during_the_first_evaluation_exits_130_with_it_pending_in_a_loadable_models_last(tmp_path, which):
    """The stop does not wait for the evaluation: it is dropped (no log, no best model from it), kept pending
    in models/last, and --resume does it first."""
    config = tiny_config()
    config["settings"]["EVAL_TARGETS"] = 10_000  # random targets: a first evaluation of a second or more
    write_inputs(tmp_path, [tiny_run("long", "DQN", episodes=200_000)], config)
    run_dir = tmp_path / "experiments" / "stopped" / "long"
    process = start_main(tmp_path, "stopped", "-j", "1")
    wait_for_files(process, [run_dir / "models"])  # made just before the first evaluation starts
    time.sleep(0.4)
    result = interrupt(process, which=which)

    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    last = torch.load(run_dir / "models" / "last", weights_only=True)
    network, _ = load_network(run_dir / "models" / "last")
    assert network.state_dict().keys() == last["network"].keys()
    assert 0 <= last["episode"] < 200_000
    # On a fast machine the first evaluation can end before the signal: then the one cut short is a later
    # one (every ASSESS_FREQ 20 episodes, logged every LOG_FREQ 40). Each log is written or still due.
    pending = {episode for episode, log in last["monitor"]["pending"] if log}
    logged = set(evaluation_logs(run_dir))
    assert last["monitor"]["pending"] or logged, "the signal came after the run had ended"
    assert logged | pending == set(range(0, last["episode"] + 1, 40)) and not logged & pending
    assert (run_dir / "models" / "best").is_file() == bool(logged)  # a best model only from a whole evaluation
    [entry] = json.loads((tmp_path / "experiments" / "stopped" / "summary.json").read_text(encoding="utf-8"))
    assert entry["status"] == "interrupted" and entry["episodes"] == last["episode"]
    assert any(line.split()[:3] == ["long", "DQN", "interrupted"] for line in result.stdout.splitlines()
               if line.strip())


def test_resume_continues_an_interrupted_run_from_models_last_and_keeps_every_earlier_file(tmp_path):
    config = tiny_config()
    run = tiny_run("r", "DQN", episodes=480, targets=TARGETS)
    write_inputs(tmp_path, [run], config)
    experiment, tensorboard = tmp_path / "experiments" / "paused", tmp_path / "runs" / "paused"
    process = start_main(tmp_path, "paused", "-j", "1")
    wait_for_files(process, [experiment / "r" / "0000040_Evaluation"])
    assert interrupt(process).returncode == 130
    stopped_at = torch.load(experiment / "r" / "models" / "last", weights_only=True)["episode"]
    assert stopped_at < run["episodes"]
    rewritten = {"summary.json", "curves.png", "best", "last"}
    before = {path: state for path, state in file_states(experiment, tensorboard).items()
              if path.rsplit("/", 1)[1] not in rewritten}

    result = run_main(tmp_path, "paused", "--resume", "-j", "1")

    assert result.returncode == 0, result.stderr
    last = torch.load(experiment / "r" / "models" / "last", weights_only=True)
    assert last["episode"] >= run["episodes"] > stopped_at
    after = file_states(experiment, tensorboard)
    for path, state in before.items():
        assert after.get(path) == state, f"{path} was lost or rewritten by --resume"
    [resumed_events] = [path for path in after if "tfevents" in path and path not in before]
    accumulator = EventAccumulator(resumed_events)
    accumulator.Reload()
    resumed_steps = [event.step for event in accumulator.Scalars("evaluation/mean_performance")]
    # Continued, not restarted: the resumed points begin after the episode where the run stopped.
    assert resumed_steps and min(resumed_steps) > stopped_at and max(resumed_steps) == last["episode"]
    [entry] = json.loads((experiment / "summary.json").read_text(encoding="utf-8"))
    assert entry["status"] == "finished" and entry["episodes"] == last["episode"]
    assessed = [episode for episode, _ in entry["curve"]]
    assert assessed == sorted(set(assessed)) and set(range(0, run["episodes"] + 1, 20)) <= set(assessed)
    assert_evaluation_logs(experiment / "r", run, config, entry["episodes"])


def test_resume_of_a_missing_experiment_is_refused(tmp_path):
    write_inputs(tmp_path, [tiny_run("r", "DQN", targets=TARGETS)])
    line = assert_one_line_error(run_main(tmp_path, "never", "--resume"))
    assert "experiments/never" in line
    assert not (tmp_path / "experiments" / "never").exists() and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("which", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_to_main_reaches_every_parallel_run_and_each_logs_or_keeps_pending_its_due_evaluations(tmp_path, which):
    config = tiny_config()
    # Random targets, evaluated on 2000 held-out ones: evaluating takes most of the time, so the interrupt
    # most likely arrives during one, which must still be logged since the checkpoint is past it.
    config["settings"].update(EVAL_TARGETS=2000, ASSESS_FREQ=40)
    runs = [tiny_run("a", "DQN", episodes=200_000), tiny_run("b", "AC", episodes=200_000)]
    write_inputs(tmp_path, runs, config)
    experiment = tmp_path / "experiments" / "both"
    process = start_main(tmp_path, "both", "-j", "2")
    wait_for_files(process, [experiment / run["id"] / "0000040_Evaluation" for run in runs])
    time.sleep(0.3)
    result = interrupt(process, which=which)  # to main.py only: it forwards the interrupt to its workers

    assert result.returncode == 130, result.stderr
    entries = json.loads((experiment / "summary.json").read_text(encoding="utf-8"))
    assert [(e["id"], e["status"]) for e in entries] == [("a", "interrupted"), ("b", "interrupted")]
    for entry in entries:
        run_dir = experiment / entry["id"]
        last = torch.load(run_dir / "models" / "last", weights_only=True)
        assert last["episode"] == entry["episodes"] >= 40
        torch.load(run_dir / "models" / "best", weights_only=True)
        # Every due evaluation is logged, or pending when the stop came in the middle of it.
        pending = {episode for episode, _ in last["monitor"]["pending"]}
        assert set(evaluation_logs(run_dir)) | pending == set(range(0, last["episode"] + 1, 40)), entry["id"]
