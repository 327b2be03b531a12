"""`python main.py NAME --ray local` trains the runs as Ray tasks, with the outputs of a local run; a bad
address is one line and exit status 2; Ctrl-C saves the running runs; without --ray, Ray is never imported."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from experiment_files import (
    ROOT,
    TIMEOUT,
    assert_one_line_error,
    evaluation_logs,
    interrupt,
    main_command,
    stop,
    tiny_run,
    without_elapsed_time,
    write_inputs,
)
from ray_processes import PROC, descendants

pytest.importorskip("ray", reason="--ray needs the optional requirements (requirements-optional.txt)")

RAY_ENV = {**os.environ, "TOYCOREWAR_RAY_CPUS": "2"}  # a small local Ray instance: the machine is shared
RUNS = [tiny_run("one", "DQN", episodes=60, targets=[[0, 10, 30, 250]]),
        tiny_run("two", "DQN", episodes=60, targets=[[4, 14, 18, 238], [1, 2, 3, 4]], reg_inits=[[1, 2, 3, 4]])]


def files(cwd: Path, name: str) -> list[str]:
    """Every file under experiments/NAME and runs/NAME; TensorBoard names end in a time and host name."""
    return sorted(re.sub(r"events\.out\.tfevents\..*$", "events.out.tfevents.*", str(path.relative_to(cwd)))
                  for folder in (cwd / "experiments" / name, cwd / "runs" / name)
                  for path in folder.rglob("*") if path.is_file())


@pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="reads the process table from /proc")
def test_ray_local_trains_the_runs_in_ray_workers_with_the_files_and_logs_of_a_local_run(tmp_path):
    on_ray, alone = tmp_path / "ray", tmp_path / "alone"
    write_inputs(on_ray, RUNS)
    write_inputs(alone, RUNS)
    process = subprocess.Popen(main_command("tiny", "--ray", "local"), cwd=on_ray, env=RAY_ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # The same runs one after the other in one process, meanwhile (Ray takes seconds to start).
    local = subprocess.Popen(main_command("tiny", "-j", "1"), cwd=alone, text=True, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    workers: set[int] = set()
    while process.poll() is None:
        workers |= {pid for pid, command in descendants(process.pid).items()
                    if command.startswith("ray::_train_shipped")}
        time.sleep(0.1)
    stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr
    assert workers, "no Ray worker ran a training run"
    assert "Traceback" not in stderr
    _, local_stderr = local.communicate(timeout=TIMEOUT)
    assert local.returncode == 0, local_stderr

    assert files(on_ray, "tiny") == files(alone, "tiny")
    summaries = [json.loads((cwd / "experiments" / "tiny" / "summary.json").read_text(encoding="utf-8"))
                 for cwd in (on_ray, alone)]
    assert [(e["id"], e["status"], e["episodes"], e["curve"]) for e in summaries[0]] == \
        [(e["id"], e["status"], e["episodes"], e["curve"]) for e in summaries[1]]
    for run in RUNS:
        logs = evaluation_logs(on_ray / "experiments" / "tiny" / run["id"])
        logs_alone = evaluation_logs(alone / "experiments" / "tiny" / run["id"])
        assert sorted(logs) == sorted(logs_alone) == [0, 40, 60]
        for episode, text in logs.items():  # the same seeds give the same programs, rewards and means
            assert without_elapsed_time(text) == without_elapsed_time(logs_alone[episode]), (run["id"], episode)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_bad_address_or_missing_ray_is_one_line_and_exit_2_with_nothing_written(tmp_path):
    write_inputs(tmp_path, RUNS)
    no_ray = "import sys; sys.modules['ray'] = None; import main; sys.exit(main.main(sys.argv[1:]))"
    commands = {
        "refused": main_command("tiny", "--ray", f"127.0.0.1:{free_port()}"),
        "malformed": main_command("tiny", "--ray", "nowhere"),
        "no ray": [sys.executable, "-c", no_ray, "tiny", "--quiet", "--ray", "local"],
    }
    env = {**RAY_ENV, "PYTHONPATH": str(ROOT)}
    started = {why: subprocess.Popen(command, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE) for why, command in commands.items()}
    lines = {}
    for why, process in started.items():
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        lines[why] = assert_one_line_error(subprocess.CompletedProcess(process.args, process.returncode, stdout,
                                                                       stderr))
    assert lines["refused"].startswith("error: --ray 127.0.0.1:") and "no Ray cluster answers" in lines["refused"]
    assert lines["malformed"] == "error: --ray nowhere: expected HOST:PORT, auto or local"
    assert lines["no ray"] == "error: --ray needs Ray: pip install -r requirements-optional.txt"
    assert not (tmp_path / "experiments").exists() and not (tmp_path / "runs").exists()


def test_sigint_saves_the_running_runs_and_leaves_the_queued_one_not_started(tmp_path):
    runs = [tiny_run(name, "DQN", episodes=200_000, targets=[[0, 10, 30, 250]]) for name in ("a", "b", "c")]
    write_inputs(tmp_path, runs)
    experiment = tmp_path / "experiments" / "stopped"
    process = subprocess.Popen(main_command("stopped", "--ray", "local"), cwd=tmp_path, env=RAY_ENV, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Two CPUs: two runs train, the third waits. Interrupt once two of them have logged episode 40.
    deadline = time.monotonic() + TIMEOUT
    while sum((experiment / run["id"] / "0000040_Evaluation").exists() for run in runs) < 2:
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, "main.py ended or timed out before two runs logged episode 40")
        time.sleep(0.05)
    result = interrupt(process)

    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    entries = json.loads((experiment / "summary.json").read_text(encoding="utf-8"))
    assert sorted(e["status"] for e in entries) == ["interrupted", "interrupted", "not started"], entries
    for entry in entries:
        run_dir = experiment / entry["id"]
        if entry["status"] == "not started":
            assert not run_dir.exists()
            continue
        assert (run_dir / "models" / "best").is_file() and (run_dir / "models" / "last").is_file()
        assert 40 <= entry["episodes"] < 200_000
        assert max(evaluation_logs(run_dir)) <= entry["episodes"]


def test_without_ray_flag_main_and_agents_never_import_ray(tmp_path):
    write_inputs(tmp_path, [tiny_run("short", "DQN", episodes=20, targets=[[0, 10, 30, 250]])])
    script = ("import sys, main, agents, training.run, training.processes, training.ray_cluster\n"
              "assert 'ray' not in sys.modules, 'imported by importing main and agents'\n"
              "status = main.main(['quick', '--quiet', '-j', '1'])\n"
              "assert status == 0, status\n"
              "assert 'ray' not in sys.modules, 'imported by a run without --ray'\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "experiments" / "quick" / "short" / "models" / "best").is_file()
