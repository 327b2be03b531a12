"""Ray clusters as people rent them (docs/ray.md): a real cluster of several nodes on this machine
(`ray.cluster_utils.Cluster`), whose workers import the project from the copy Ray ships them and write
into folders of their own. Every file a run makes lands in the driver's folders, and a run whose worker
is killed, or whose node is removed, mid-run is started again from its checkpoint and ends as the run
never interrupted; so does a sweep's trial. Ctrl-C on the driver saves the run on the driver, and
--resume ends it as the run never interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from experiment_files import (
    TIMEOUT,
    evaluation_logs,
    interrupt,
    main_command,
    run_main,
    stop,
    tiny_config,
    tiny_run,
    without_elapsed_time,
    write_inputs,
)
from ray_processes import PROC, descendants
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ray = pytest.importorskip("ray", reason="--ray needs the optional requirements (requirements-optional.txt)")
from ray.cluster_utils import Cluster  # noqa: E402

from training import ray_cluster as distributed  # noqa: E402
from training.run import train_run  # noqa: E402

pytestmark = pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="reads the process table from /proc")
ROOT = Path(__file__).resolve().parents[3]
# Seconds long (about 4 s on two cores): a worker killed or a node removed once the driver holds the
# run's first files or its checkpoint of episode 80 is still training it.
RUN = tiny_run("r", "DQN", episodes=1200, targets=[[0, 10, 30, 250], [4, 14, 18, 238]])


def task(folder: Path, run: dict = RUN, save_freq: int | None = None) -> dict:
    """The run (`save_freq`: a SAVE_FREQ other than the tiny configuration's 40)."""
    config = tiny_config()
    if save_freq is not None:
        config["settings"]["SAVE_FREQ"] = save_freq
    return {"run_data": run, "config_data": config, "run_dir": str(folder / "experiments" / "r"),
            "tensorboard_dir": str(folder / "runs" / "r"), "seed": 5, "quiet": True}


def outcome(folder: Path, run_dir: Path | None = None) -> tuple:
    """The run's evaluation logs, best and last weights, episodes, and its TensorBoard curve as TensorBoard
    reads it (every events file of the run's folder)."""
    run_dir = run_dir or folder / "experiments" / "r"
    logs = {episode: without_elapsed_time(text) for episode, text in evaluation_logs(run_dir).items()}
    models = [torch.load(run_dir / "models" / name, weights_only=True) for name in ("best", "last")]
    board = EventAccumulator(str(folder / "runs" / run_dir.relative_to(folder / "experiments")),
                             size_guidance={"scalars": 0})
    board.Reload()
    curve = [(e.step, e.value) for e in board.Scalars("evaluation/mean_performance")]
    return logs, [m["network"] for m in models], models[1]["episode"], curve


def episode_of(outcome: tuple) -> int:
    return outcome[2]


def assert_same(one: tuple, other: tuple) -> None:
    logs, models, episode, curve = one
    logs2, models2, episode2, curve2 = other
    assert episode == episode2 and logs == logs2
    assert curve == curve2 and [step for step, _ in curve] == list(range(0, episode + 1, 40))
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


def when_checkpointed(folder: Path, action, deadline: float, log: Path | None = None) -> threading.Thread:
    """Run `action()` once the driver holds the run's log of episode 80 and a checkpoint (sent by the
    worker: the one of episode 40 or 80; a log can arrive without the checkpoint the worker sent after it,
    a call of a killed worker being lost), or the file `log`."""
    run_dir = folder / "experiments" / "r"
    if log is not None:
        return when(log.exists, action, deadline)
    return when(lambda: (run_dir / "0000080_Evaluation").exists() and (run_dir / "models" / "last").exists(),
                action, deadline)


def when(ready, action, deadline: float) -> threading.Thread:
    """Run `action()` in a thread once `ready()` (or at `deadline`)."""
    def wait_then_act() -> None:
        while not ready() and time.monotonic() < deadline:
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


def kill_training_worker(killed: list) -> None:
    killed.append(training_worker())
    os.kill(killed[-1], signal.SIGKILL)


@pytest.mark.parametrize("point", ["as it starts", "after episode 80's checkpoint"])
def test_a_killed_worker_is_retried_from_what_reached_the_driver_and_the_run_ends_as_the_unbroken_run(
        cluster, unbroken, tmp_path, capsys, point):
    """Killed as its worker starts (nothing of the run on the driver yet: it starts again from the
    beginning) or once the driver holds its log of episode 80 and a checkpoint (it resumes from there)."""
    nodes, _ = cluster
    killed: list = []
    if point == "as it starts":
        killer = threading.Thread(target=kill_training_worker, args=(killed,), daemon=True)
        killer.start()
    else:
        killer = when_checkpointed(tmp_path, lambda: kill_training_worker(killed), time.monotonic() + 120)
    [result] = distributed.run_on_ray([task(tmp_path)], nodes.address)
    killer.join()
    assert killed and result.status == "finished", result.error
    retried = capsys.readouterr().err
    assert "retry 1 of 3" in retried and ("from the start" in retried) == (point == "as it starts"), retried
    assert episode_of(unbroken) == RUN["episodes"]
    assert_same(unbroken, outcome(tmp_path))


def test_a_run_killed_after_sending_files_but_no_checkpoint_starts_again_with_nothing_of_the_killed_attempt(
        cluster, tmp_path, capsys):
    """SAVE_FREQ = the run's length (no checkpoint before its end); the worker killed once the driver
    holds its first log and a TensorBoard events file: the retry starts from the beginning, and what the
    killed attempt sent (its events file among them) is gone: the run ends as the unbroken run, its
    TensorBoard curve holding each point once."""
    nodes, _ = cluster
    here, on_ray = tmp_path / "here", tmp_path / "ray"
    assert train_run(**task(here, RUN, RUN["episodes"])).status == "finished"

    def sent() -> bool:
        return (on_ray / "experiments" / "r" / "0000000_Evaluation").exists() and \
            any((on_ray / "runs" / "r").glob("events.out.tfevents.*"))
    killed: list = []
    killer = when(sent, lambda: kill_training_worker(killed), time.monotonic() + 120)
    [result] = distributed.run_on_ray([task(on_ray, RUN, RUN["episodes"])], nodes.address)
    killer.join()
    assert killed and result.status == "finished", result.error
    assert "retry 1 of 3 from the start" in capsys.readouterr().err
    assert len(list((on_ray / "runs" / "r").glob("events.out.tfevents.*"))) == 1
    unbroken = outcome(here)
    assert episode_of(unbroken) == RUN["episodes"]
    assert_same(unbroken, outcome(on_ray))


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


def test_ctrl_c_on_the_driver_saves_the_run_there_and_resume_ends_as_the_unbroken_run(cluster, unbroken, tmp_path):
    """main.py --ray on the cluster, SIGINT once the driver holds episode 40's log: exit 130 with the
    run's checkpoint on the driver (sent by its worker as it saved); --resume on the cluster then ends
    as the run never interrupted."""
    nodes, _ = cluster
    write_inputs(tmp_path, [{**RUN, "seed": 5}])
    run_dir = tmp_path / "experiments" / "e" / "r"
    process = subprocess.Popen(main_command("e", "--ray", nodes.address), cwd=tmp_path, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + TIMEOUT
    while not (run_dir / "0000040_Evaluation").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, "main.py ended or timed out before the driver held episode 40's log")
        time.sleep(0.02)
    stopped = interrupt(process)
    assert stopped.returncode == 130, stopped.stderr
    last = torch.load(run_dir / "models" / "last", weights_only=True)
    assert 40 <= last["episode"] < RUN["episodes"], "the run ended before Ctrl-C reached it"
    resumed = run_main(tmp_path, "e", "--resume", "--ray", nodes.address)
    assert resumed.returncode == 0, resumed.stderr
    assert_same(unbroken, outcome(tmp_path, run_dir))


def test_a_sweep_trial_whose_worker_is_killed_is_retried_and_the_sweep_ends_as_the_unbroken_one(cluster, tmp_path):
    """parameter_search.py --ray on the cluster: the worker training trial 001 SIGKILLed once the driver
    holds its checkpoint of episode 40 (of 1,000: seconds, so the trial is still training then); the
    trial is retried, and trials.csv, the trial's files and logs, its TensorBoard curve and HParams are
    those of the sweep run here, never broken."""
    sys.path.insert(0, str(ROOT / "tests" / "sweeps"))
    from sweep_files import run_search, write_sweep_inputs
    from test_sweep_killed_resume import SPACE, sweep_args, trial_outcome

    nodes, _ = cluster
    arguments = sweep_args()
    arguments[arguments.index("--budget") + 1] = "1"
    arguments[arguments.index("--episodes") + 1] = "1000"
    here, on_ray = tmp_path / "here", tmp_path / "ray"
    for folder in (here, on_ray):
        write_sweep_inputs(folder, space=SPACE)
    assert run_search(here, "k", *arguments).returncode == 0
    killed = []
    killer = when_checkpointed(on_ray, lambda: (killed.append(training_worker()), os.kill(killed[-1], signal.SIGKILL)),
                               time.monotonic() + 120, log=on_ray / "experiments" / "k" / "001" / "models" / "last")
    swept = run_search(on_ray, "k", *arguments, "--ray", nodes.address)
    killer.join()
    assert killed and swept.returncode == 0, swept.stderr
    assert "retry 1 of 3" in swept.stderr
    unbroken, retried = trial_outcome(here, "k"), trial_outcome(on_ray, "k")
    # The retried trial's TensorBoard run holds the killed attempt's events file beside the resumed one's.
    assert retried["trials"]["001"].pop("event_files") == ["events"] * 2
    unbroken["trials"]["001"].pop("event_files")
    for key in unbroken["trials"]["001"]:
        assert retried["trials"]["001"][key] == unbroken["trials"]["001"][key], key
    assert retried == unbroken
