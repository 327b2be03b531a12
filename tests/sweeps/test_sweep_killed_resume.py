"""A sweep killed with SIGKILL (no handler runs: a lost machine, an OOM kill) and resumed with --resume
ends as the sweep never killed (docs/sweeps.md, "Resume"): the same trials.csv (but for SigOpt's
suggestion ids and the seconds), the same files and evaluation logs in every trial's folder, and one
TensorBoard run per trial with the same curves and HParams. The trial that was training when the kill
came leaves nothing behind."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from experiment_files import evaluation_logs, read_hparams, without_elapsed_time
from sweep_files import TIMEOUT, read_table, run_search, start_search, tiny_sweep_args, write_sweep_inputs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# Every suggestion valid: each trial trains (an invalid one fails at once, with nothing to kill).
SPACE = {"DQN_Agent": {"lr": {"type": "double", "min": 1e-4, "max": 1e-2, "transformation": "log"},
                       "learning_starts": {"type": "int", "min": 0, "max": "episodes/2"}}}
EPISODES = "200"


def sweep_args(*more: str) -> list[str]:
    args = tiny_sweep_args("--budget", "3", *more)
    args[args.index("--episodes") + 1] = EPISODES
    return args


def trial_outcome(cwd: Path, name: str) -> dict:
    """What a sweep left, without what differs from one run to the next (times, SigOpt's ids)."""
    experiment, tensorboard = cwd / "experiments" / name, cwd / "runs" / name
    header, rows = read_table(experiment / "trials.csv")
    table = [{k: v for k, v in row.items() if k not in ("suggestion", "seconds")} for row in rows]
    trials = {}
    for row in rows:
        folder, board = experiment / row["trial"], tensorboard / row["trial"]
        files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        logs = {episode: without_elapsed_time(text) for episode, text in evaluation_logs(folder).items()}
        event_files = sorted(p.name.split(".")[0] for p in board.rglob("events.out.tfevents.*"))
        accumulator = EventAccumulator(str(board), size_guidance={"scalars": 0})
        accumulator.Reload()
        curve = [(e.step, e.value) for e in accumulator.Scalars("evaluation/mean_performance")]
        _, hparams, _, _ = read_hparams(board)
        trials[row["trial"]] = {"files": files, "logs": logs, "event_files": event_files, "curve": curve,
                                "hparams": hparams}
    folders = sorted(p.name for p in experiment.iterdir() if p.is_dir())
    boards = sorted(p.name for p in tensorboard.iterdir() if p.is_dir())
    best = (experiment / "best_preset.json").read_text(encoding="utf-8")
    return {"header": header, "table": table, "trials": trials, "folders": folders, "boards": boards, "best": best}


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory) -> dict:
    cwd = tmp_path_factory.mktemp("unbroken")
    write_sweep_inputs(cwd, space=SPACE)
    result = run_search(cwd, "k", *sweep_args())
    assert result.returncode == 0, result.stderr
    outcome = trial_outcome(cwd, "k")
    assert [row["status"] for row in outcome["table"]] == ["finished"] * 3
    assert all(trial["event_files"] == ["events"] for trial in outcome["trials"].values())
    return outcome


def kill_when(cwd: Path, ready) -> None:
    """Start the sweep and SIGKILL its whole process group once `ready(experiment)` is true."""
    process = start_search(cwd, "k", *sweep_args())
    experiment = cwd / "experiments" / "k"
    deadline = time.monotonic() + TIMEOUT
    while not ready(experiment):
        assert process.poll() is None, f"the sweep ended before the kill point: {process.communicate()}"
        assert time.monotonic() < deadline, "the kill point never came"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def rows_recorded(experiment: Path) -> int:
    table = experiment / "trials.csv"
    return len(read_table(table)[1]) if table.exists() else 0


KILL_POINTS = {
    # Trial 001 training, nothing recorded yet.
    "in-trial-1": lambda e: rows_recorded(e) == 0 and (e / "001" / "0000040_Evaluation").exists(),
    # Trial 001 recorded, trial 002 half trained (its checkpoint and TensorBoard run on disk).
    "in-trial-2": lambda e: rows_recorded(e) == 1 and (e / "002" / "models" / "last").exists(),
}


@pytest.mark.parametrize("point", sorted(KILL_POINTS))
def test_a_sweep_killed_and_resumed_ends_as_the_unbroken_sweep(unbroken, tmp_path, point):
    write_sweep_inputs(tmp_path, space=SPACE)
    kill_when(tmp_path, KILL_POINTS[point])
    resumed = run_search(tmp_path, "k", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "Traceback" not in resumed.stderr
    assert trial_outcome(tmp_path, "k") == unbroken
