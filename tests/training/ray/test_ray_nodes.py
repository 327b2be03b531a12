"""Ray clusters as people rent them (docs/ray.md): a real cluster of several nodes on this machine
(`ray.cluster_utils.Cluster`), whose workers import the project from the copy Ray ships them and write
into folders of their own. Every file a run makes lands in the driver's folders, and a run whose worker
is killed, or whose node is removed, mid-run is started again from its checkpoint and ends as the run
never interrupted."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch
from experiment_files import evaluation_logs, tiny_config, tiny_run, without_elapsed_time
from ray_processes import PROC, descendants

ray = pytest.importorskip("ray", reason="--ray needs the optional requirements (requirements-optional.txt)")
from ray.cluster_utils import Cluster  # noqa: E402

from training import ray_cluster as distributed  # noqa: E402
from training.run import train_run  # noqa: E402

pytestmark = pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="reads the process table from /proc")
ROOT = Path(__file__).resolve().parents[3]
RUN = tiny_run("r", "DQN", episodes=400, targets=[[0, 10, 30, 250], [4, 14, 18, 238]])


def task(folder: Path) -> dict:
    return {"run_data": RUN, "config_data": tiny_config(), "run_dir": str(folder / "experiments" / "r"),
            "tensorboard_dir": str(folder / "runs" / "r"), "seed": 5, "quiet": True}


def outcome(folder: Path) -> tuple:
    run_dir = folder / "experiments" / "r"
    logs = {episode: without_elapsed_time(text) for episode, text in evaluation_logs(run_dir).items()}
    models = [torch.load(run_dir / "models" / name, weights_only=True) for name in ("best", "last")]
    return logs, [m["network"] for m in models], models[1]["episode"]


def assert_same(one: tuple, other: tuple) -> None:
    logs, models, episode = one
    logs2, models2, episode2 = other
    assert episode == episode2 == RUN["episodes"] and logs == logs2
    for weights, weights2 in zip(models, models2, strict=True):
        assert weights.keys() == weights2.keys() and all(torch.equal(weights[k], weights2[k]) for k in weights)


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory) -> tuple:
    folder = tmp_path_factory.mktemp("unbroken")
    assert train_run(**task(folder)).status == "finished"
    return outcome(folder)


@pytest.fixture(scope="module")
def cluster():
    """A head without CPUs (the driver's machine: the collector lives there) and two worker nodes of one CPU."""
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    workers = [nodes.add_node(num_cpus=1) for _ in range(2)]
    nodes.wait_for_nodes()
    yield nodes, workers
    ray.shutdown()
    distributed._connected = None
    nodes.shutdown()


def training_worker(timeout: float = 120) -> int:
    """The pid of the Ray worker training the run (found in the process table, under this process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [pid for pid, command in descendants(os.getpid()).items() if command.startswith("ray::_train_shipped")]
        if found:
            return found[0]
        time.sleep(0.05)
    raise AssertionError("no Ray worker trains the run")


def when_checkpointed(folder: Path, action, deadline: float) -> threading.Thread:
    """Run `action()` once the driver holds the run's checkpoint of episode 80 (sent by the worker)."""
    def wait_then_act() -> None:
        while not (folder / "experiments" / "r" / "0000080_Evaluation").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        action()
    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def test_the_workers_import_the_shipped_project_and_every_file_lands_on_the_driver(cluster, unbroken, tmp_path):
    nodes, _ = cluster
    [result] = distributed.run_on_ray([task(tmp_path)], nodes.address)
    assert result.status == "finished"
    assert_same(unbroken, outcome(tmp_path))
    # The worker wrote into a folder of its own: the driver's copy has every file, and TensorBoard's.
    assert (tmp_path / "experiments" / "r" / "models" / "last").is_file()
    assert list((tmp_path / "runs" / "r").glob("events.out.tfevents.*"))

    @ray.remote(num_cpus=1)
    def where_from() -> tuple[str, str]:
        import training
        return training.__file__, os.getcwd()

    imported, cwd = ray.get(where_from.remote())
    assert not Path(imported).is_relative_to(ROOT) and not Path(cwd).is_relative_to(ROOT)


def test_a_worker_killed_mid_run_is_retried_from_its_checkpoint_and_ends_as_the_unbroken_run(
        cluster, unbroken, tmp_path):
    nodes, _ = cluster
    killed = []
    killer = when_checkpointed(tmp_path, lambda: (killed.append(training_worker()),
                                                  os.kill(killed[-1], signal.SIGKILL)), time.monotonic() + 120)
    [result] = distributed.run_on_ray([task(tmp_path)], nodes.address)
    killer.join()
    assert killed and result.status == "finished", result.error
    assert_same(unbroken, outcome(tmp_path))


def test_a_node_removed_mid_run_is_retried_on_another_and_ends_as_the_unbroken_run(cluster, unbroken, tmp_path):
    nodes, workers = cluster

    def remove_the_training_node() -> None:
        pid = training_worker()
        node = next(n for n in workers if pid in descendants(n.all_processes["raylet"][0].process.pid))
        nodes.remove_node(node)
        workers.remove(node)
        removed.append(node)

    removed: list = []
    remover = when_checkpointed(tmp_path, remove_the_training_node, time.monotonic() + 120)
    [result] = distributed.run_on_ray([task(tmp_path)], nodes.address)
    remover.join()
    workers.append(nodes.add_node(num_cpus=1))  # two worker nodes again (a node starts from the main thread)
    assert removed
    assert result.status == "finished", result.error
    assert_same(unbroken, outcome(tmp_path))
