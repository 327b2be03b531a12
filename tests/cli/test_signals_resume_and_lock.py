"""What a job scheduler and a careless user do to an experiment (docs/guarantees.md):
SIGTERM to a command started in the background of a script, --resume with other files, a damaged
models/last, and two commands on one experiment."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time

import pytest
import torch
from experiment_files import (
    MAIN,
    ROOT,
    TIMEOUT,
    assert_one_line_error,
    file_states,
    run_main,
    start_main,
    tiny_config,
    tiny_run,
    wait_for_files,
    write_inputs,
)

TARGETS = [[0, 10, 30, 250]]


def background_then_sigterm(cwd, command: list[str], wait_for: str) -> subprocess.CompletedProcess:
    """`command &` in a non-interactive bash (which starts it with SIGINT ignored), then `kill` (SIGTERM)
    once `wait_for` exists; the shell prints the command's exit status."""
    script = (f"{shlex.join(command)} > out.txt 2> err.txt & pid=$!; "
              f"while [ ! -e {shlex.quote(wait_for)} ]; do sleep 0.05; done; sleep 0.3; "
              "kill $pid; wait $pid; echo $?")
    return subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigterm_stops_main_started_in_the_background_of_a_script_with_every_checkpoint(tmp_path, jobs):
    runs = [tiny_run("a", "DQN", episodes=200_000, targets=TARGETS), tiny_run("b", "AC", episodes=200_000)]
    write_inputs(tmp_path, runs)
    command = [sys.executable, str(MAIN), "bg", "--quiet", "-j", jobs]
    result = background_then_sigterm(tmp_path, command, "experiments/bg/a/0000040_Evaluation")
    assert result.stdout.strip().splitlines()[-1] == "130", (result.stdout, (tmp_path / "err.txt").read_text())
    assert "Traceback" not in (tmp_path / "err.txt").read_text()
    summary = json.loads((tmp_path / "experiments" / "bg" / "summary.json").read_text(encoding="utf-8"))
    assert {entry["status"] for entry in summary} <= {"interrupted", "not started"}
    for entry in summary:
        if entry["status"] == "interrupted":
            last = torch.load(tmp_path / "experiments" / "bg" / str(entry["id"]) / "models" / "last",
                              weights_only=True)
            assert last["episode"] == entry["episodes"]


def test_sigterm_stops_a_sweep_started_in_the_background_of_a_script(tmp_path):
    write_inputs(tmp_path, [tiny_run("a", "DQN", episodes=100_000, targets=TARGETS)])
    (tmp_path / "search_spaces.json").write_text((ROOT / "search_spaces.json").read_text(encoding="utf-8"),
                                                 encoding="utf-8")
    command = [sys.executable, str(ROOT / "parameter_search.py"), "sw", "--quiet", "--budget", "3"]
    result = background_then_sigterm(tmp_path, command, "experiments/sw/001/0000040_Evaluation")
    assert result.stdout.strip().splitlines()[-1] == "130", (tmp_path / "err.txt").read_text()
    assert "Traceback" not in (tmp_path / "err.txt").read_text()
    assert (tmp_path / "experiments" / "sw" / "trials.csv").is_file()


@pytest.fixture(scope="module")
def interrupted_once(tmp_path_factory):
    """An experiment of one DQN run, stopped by SIGINT after its first logged evaluation."""
    folder = tmp_path_factory.mktemp("interrupted")
    write_inputs(folder, [tiny_run("r", "DQN", episodes=400, targets=TARGETS)])
    process = start_main(folder, "paused", "-j", "1")
    wait_for_files(process, [folder / "experiments" / "paused" / "r" / "0000040_Evaluation"])
    process.send_signal(2)
    process.communicate(timeout=120)
    assert process.returncode == 130
    return folder


@pytest.fixture
def interrupted(interrupted_once, tmp_path):
    """A copy of that interrupted experiment and its input files, for one test to change."""
    shutil.copytree(interrupted_once, tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_resume_trains_the_experiments_own_runs_not_the_files_given_now(interrupted):
    # The default training.json now holds other runs: --resume reads experiments/paused's own copy.
    write_inputs(interrupted, [tiny_run("r", "DQN", episodes=60), tiny_run("other", "AC")])
    (interrupted / "config.json").write_text(json.dumps(tiny_config()), encoding="utf-8")
    result = run_main(interrupted, "paused", "--resume", "-j", "1")
    assert result.returncode == 0, result.stderr
    [entry] = json.loads((interrupted / "experiments" / "paused" / "summary.json").read_text(encoding="utf-8"))
    assert entry["id"] == "r" and entry["episodes"] == 400


def test_resume_with_a_different_training_file_is_refused_and_changes_nothing(interrupted):
    experiment = interrupted / "experiments" / "paused"
    (interrupted / "other.json").write_text(json.dumps([tiny_run("r", "DQN", episodes=60)]), encoding="utf-8")
    before = file_states(experiment)
    line = assert_one_line_error(run_main(interrupted, "paused", "--resume", "-t", "other.json"))
    assert "other.json" in line and "Training_descriptions.json" in line
    assert file_states(experiment) == before


def test_resume_with_the_saved_training_file_given_again_is_accepted(interrupted):
    saved = interrupted / "experiments" / "paused" / "Training_descriptions.json"
    result = run_main(interrupted, "paused", "--resume", "-j", "1", "-t", str(saved))
    assert result.returncode == 0, result.stderr


def damage(path, how: str, other_last=None) -> None:
    data = path.read_bytes()
    path.unlink()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif how == "random_bytes":
        path.write_bytes(bytes(range(256)) * 40)
    elif how == "text":
        path.write_text("not a model\n", encoding="utf-8")
    elif how == "directory":
        path.mkdir()
    elif how == "another_network":
        path.write_bytes(other_last.read_bytes())


@pytest.mark.parametrize("how", ["empty", "truncated", "random_bytes", "text", "directory", "another_network"])
def test_a_damaged_models_last_is_one_line_naming_it_and_nothing_changes(interrupted, how):
    experiment = interrupted / "experiments" / "paused"
    last = experiment / "r" / "models" / "last"
    other = None
    if how == "another_network":  # the same agent, another shape: a wider DQN trained a few episodes
        config = tiny_config()
        config["presets"]["DQN"]["parameters"]["h_size"] = 12
        write_inputs(interrupted / "wide", [tiny_run("r", "DQN", episodes=20, targets=TARGETS)], config)
        assert run_main(interrupted / "wide", "w", "-j", "1").returncode == 0
        other = interrupted / "wide" / "experiments" / "w" / "r" / "models" / "last"
    damage(last, how, other)
    before = file_states(experiment, interrupted / "runs")
    line = assert_one_line_error(run_main(interrupted, "paused", "--resume", "-j", "1"))
    assert str(last.relative_to(interrupted)) in line and "cannot resume" in line, line
    assert file_states(experiment, interrupted / "runs") == before


def test_a_missing_models_last_restarts_its_run_from_the_beginning_and_says_so(interrupted):
    experiment = interrupted / "experiments" / "paused"
    (experiment / "r" / "models" / "last").unlink()
    result = run_main(interrupted, "paused", "--resume", "-j", "1")
    assert result.returncode == 0, result.stderr
    assert "restarts from episode 0" in result.stderr
    [entry] = json.loads((experiment / "summary.json").read_text(encoding="utf-8"))
    assert entry["episodes"] == 400 and entry["status"] == "finished"


HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from training.files import ExperimentLock
lock = ExperimentLock(Path("experiments") / "held")
lock.acquire("python main.py held")
print("held", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("force", [False, True], ids=["plain", "with -f"])
def test_a_second_command_on_a_locked_experiment_is_refused_and_changes_nothing(tmp_path, force):
    write_inputs(tmp_path, [tiny_run("r", "DQN", episodes=40, targets=TARGETS)])
    (tmp_path / "experiments" / "held").mkdir(parents=True)
    (tmp_path / "experiments" / "held" / "keep.txt").write_text("mine", encoding="utf-8")
    holder = subprocess.Popen([sys.executable, "-c", HOLD.format(root=str(ROOT))], cwd=tmp_path,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = file_states(tmp_path / "experiments")
        line = assert_one_line_error(run_main(tmp_path, "held", *(["-f"] if force else []), "-j", "1"))
        assert f"process {holder.pid}" in line and "being written" in line, line
        assert file_states(tmp_path / "experiments") == before
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path):
    write_inputs(tmp_path, [tiny_run("r", "DQN", episodes=40, targets=TARGETS)])
    (tmp_path / "experiments").mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / "experiments" / ".gone.lock").write_text(f"process {dead.stdout.strip()} (python main.py gone)\n",
                                                         encoding="utf-8")
    result = run_main(tmp_path, "gone", "-j", "1")
    assert result.returncode == 0, result.stderr
    assert "taking over the lock" in result.stderr and dead.stdout.strip() in result.stderr


def test_two_commands_started_together_on_one_name_train_one_experiment(tmp_path):
    write_inputs(tmp_path, [tiny_run("r", "DQN", episodes=3000, targets=TARGETS)])
    first = start_main(tmp_path, "twice", "-f", "-j", "1")
    time.sleep(0.05)
    second = run_main(tmp_path, "twice", "-f", "-j", "1")
    first_out, first_err = first.communicate(timeout=TIMEOUT)
    statuses = sorted([first.returncode, second.returncode])
    assert statuses == [0, 2], (first_err, second.stderr)
    refused = second.stderr if second.returncode == 2 else first_err
    assert "being written" in refused
