"""`training.ray_cluster.run_on_ray` keeps the contract of run_in_processes when things go wrong: a task that
raises and a task whose worker dies (with no retry left) each become a "failed" summary, in task order, and
the others run. Retries from checkpoints: test_ray_nodes.py."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from experiment_files import tiny_config, tiny_run
from ray_processes import PROC, descendants

ray = pytest.importorskip("ray", reason="--ray needs the optional requirements (requirements-optional.txt)")

from training import ray_cluster as distributed  # noqa: E402


def task(run: dict, folder: Path, **extra: object) -> dict:
    return {"run_data": run, "config_data": tiny_config(), "run_dir": str(folder / "experiments" / run["id"]),
            "tensorboard_dir": str(folder / "runs" / run["id"]), "seed": 0, "quiet": True, **extra}


def kill_worker_after(log: Path, deadline: float) -> None:
    """SIGKILL the Ray worker training a run once the run has written `log`."""
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid, command in descendants(os.getpid()).items():
        if command.startswith("ray::_train_shipped"):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="reads the process table from /proc")
def test_a_task_that_raises_and_a_worker_that_dies_become_failed_summaries_in_task_order(tmp_path, monkeypatch):
    monkeypatch.setenv(distributed.CPUS_VARIABLE, "1")  # one task at a time: the first is the one killed
    doomed = tiny_run("doomed", "DQN", episodes=200_000, targets=[[0, 10, 30, 250]])
    broken = tiny_run("broken", "DQN", episodes=20, targets=[[0, 10, 30, 250]])
    tasks = [task(doomed, tmp_path), task(broken, tmp_path, no_such_argument=1)]
    killer = threading.Thread(target=kill_worker_after, daemon=True,
                              args=(tmp_path / "experiments" / "doomed" / "0000040_Evaluation", time.monotonic() + 120))
    killer.start()
    try:
        results = distributed.run_on_ray(tasks, "local", retries=0)  # no retry: the death is the summary
    finally:
        ray.shutdown()
        distributed._connected = None
    killer.join()

    assert [(r.id, r.algo, r.status) for r in results] == [("doomed", "DQN", "failed"),
                                                                     ("broken", "DQN", "failed")]
    assert results[0].error.startswith("WorkerCrashedError: The worker died"), results[0].error
    assert results[1].error.startswith("TypeError:") and "no_such_argument" in results[1].error
    assert "Traceback" not in results[1].error and "no_such_argument" in results[1].traceback
    assert "\x1b[" not in results[1].traceback  # written to error.txt: no terminal colours
    assert (tmp_path / "experiments" / "doomed" / "0000040_Evaluation").is_file()
