"""Training runs as Ray tasks, on a Ray cluster or on a Ray instance started here (`--ray ADDRESS`).

Same contract as `training.processes.run_in_processes`: each task holds the keyword arguments of
`training.run.train_run`, and the summaries come back in task order. A task that raises or whose worker
dies becomes a "failed" summary; Ctrl-C cancels what has not started ("not started") and interrupts the
running runs, which save their checkpoints and logs and report "interrupted".

Ray is imported only inside these functions, so nothing imports it unless `--ray` is given. No shared
filesystem is needed (docs/ray.md): the workers get the project's code from Ray (`runtime_env`
working_dir: the project folder, without its experiments, runs and virtual environment), each run
writes into a folder of the worker's own, and a thread of the worker sends every file that changes
there (its logs, `models/last` as it is saved, TensorBoard events) to a collector actor on this
machine, which writes it into the run's `experiments/NAME/<id>` and `runs/NAME/<id>` here. A run whose
worker or machine dies is started again on another worker from the checkpoint that reached this
machine (`--resume`'s guarantee: it ends as the unbroken run), up to `retries` times.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from training.config import ConfigError
from training.result import RunResult
from training.run import train_run

CPUS_VARIABLE = "TOYCOREWAR_RAY_CPUS"  # CPUs of a `--ray local` instance (default: every core)
CONNECT_TIMEOUT = 5.0  # seconds to reach the cluster's address before giving up
SAVE_TIMEOUT = 300.0  # seconds the interrupted runs get to save after Ctrl-C
RETRIES = 3  # a run whose worker or node dies is started again from its checkpoint this many times at most
SHIP_EVERY = 0.5  # seconds between two looks of a worker at the files its run has changed
CHECKPOINT = Path("models") / "last"  # the file a retried run resumes from, relative to the run's folder
# What a worker does not need of the project folder: Ray ships the rest as the runtime_env's working_dir.
NOT_SHIPPED = [".git", ".venv", "venv", "experiments", "runs", "site", "**/__pycache__", "*.pyc", ".pytest_cache",
               ".ruff_cache", "*.png", "docs"]

_connected: str | None = None  # the address of the Ray instance this process is connected to


class RayUnavailableError(ConfigError):
    """Ray is not installed, or no Ray cluster answers at the address given: one line, exit status 2."""


def connect(address: str) -> None:
    """Connect this process to Ray: `local` starts an instance here (TOYCOREWAR_RAY_CPUS CPUs, default
    every core), `auto` joins the cluster this machine belongs to, anything else is the HOST:PORT of a
    cluster's head node. Raises RayUnavailableError; does nothing if already connected there."""
    global _connected
    try:
        import ray
    except ImportError:
        raise RayUnavailableError("--ray needs Ray: pip install -r requirements-optional.txt") from None
    if ray.is_initialized():
        if _connected == address:
            return
        ray.shutdown()
    # Workers import this project from the copy Ray ships them (a folder of their own), never from this path.
    project = str(Path(__file__).resolve().parents[1])
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                               "runtime_env": {"working_dir": project, "excludes": NOT_SHIPPED}}
    if address == "local":
        options.update(num_cpus=_local_cpus(), object_store_memory=200 * 1024**2)
    else:
        _check_reachable(address)
    with _stderr_held() as held:
        try:
            ray.init(address=address, **options)
        except (ConnectionError, ValueError, RuntimeError) as error:
            raise RayUnavailableError(f"--ray {address}: {_first_line(error)}") from None
        held.keep = True
    _connected = address


class _Held:
    keep = False


@contextmanager
def _stderr_held() -> Iterator[_Held]:
    """Hold what Ray's C++ core writes to stderr while it connects (a line a second while it retries an
    address that is not a Ray cluster's); pass it on only if the connection succeeds."""
    held = _Held()
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            yield held
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if held.keep:
                buffer.seek(0)
                sys.stderr.write(buffer.read().decode(errors="replace"))


def _local_cpus() -> int:
    text = os.environ.get(CPUS_VARIABLE, "")
    if not text:
        return os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise RayUnavailableError(f"{CPUS_VARIABLE}={text!r}: expected a number of CPUs, at least 1")
    return int(text)


def _check_reachable(address: str) -> None:
    """Fail fast: given an address where nothing listens, ray.init retries for minutes."""
    target = address.removeprefix("ray://")
    if address == "auto":
        try:  # the address `ray start` recorded on this machine (private API, hence the guard)
            from ray._private.services import canonicalize_bootstrap_address
            target = canonicalize_bootstrap_address("auto") or ""
        except (ConnectionError, ValueError) as error:
            raise RayUnavailableError(f"--ray auto: {_first_line(error)}") from None
        except (ImportError, AttributeError):
            return
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise RayUnavailableError(f"--ray {address}: expected HOST:PORT, auto or local")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT).close()
    except OSError as error:
        raise RayUnavailableError(f"--ray {address}: no Ray cluster answers at {host}:{port} ({error})") from None


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _train_on_worker(task: dict) -> RunResult:
    """One run in a Ray worker. Ray's cancel arrives as KeyboardInterrupt, which train_run turns into
    a checkpoint; the SIGINT handler train_run changes is put back, as the worker may run more tasks."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        return train_run(**task)
    except KeyboardInterrupt:  # cancelled before train_run could catch it
        return RunResult.for_task(task, "interrupted")
    finally:
        if handler is not None:
            signal.signal(signal.SIGINT, handler)


class Collector:
    """A Ray actor on the driver's machine: writes the files the workers send into the runs' folders there
    (`folders`: task index -> {"run": experiments/NAME/<id>, "tensorboard": runs/NAME/<id>}, absolute) and
    counts the bytes. Calls are served in order, so once `flushed` answers, every earlier file is written."""

    def __init__(self, folders: dict[int, dict[str, str]]) -> None:
        self.folders, self.received = folders, 0
        self.written: dict[int, set[Path]] = {index: set() for index in folders}

    def put(self, index: int, key: str, relative: str, data: bytes) -> None:
        root = Path(self.folders[index][key]).resolve()
        target = (root / relative).resolve()
        if root not in target.parents:
            raise ValueError(f"{relative!r} is not a path inside the run's folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(data)
        os.replace(partial, target)  # a reader sees the old file or the new one, whole
        self.written[index].add(target)
        self.received += len(data)

    def forget(self, index: int) -> None:
        """Remove every file written for task `index`: its run starts again from the beginning, and what its
        killed attempt sent (logs, models, a TensorBoard events file of its own) would outlive it."""
        for target in self.written[index]:
            target.unlink(missing_ok=True)
        self.written[index].clear()

    def flushed(self) -> int:
        """The bytes received so far (every file sent before this call is written)."""
        return self.received


class Shipper(threading.Thread):
    """In a worker: every SHIP_EVERY seconds, sends the collector each file of the run's folders that is new
    or changed (size or modification time) since it was last sent; `finish` sends the last of them."""

    def __init__(self, collector: Any, index: int, folders: dict[str, Path]) -> None:
        super().__init__(daemon=True)
        self.collector, self.index, self.folders = collector, index, folders
        self.sent: dict[Path, tuple[int, int]] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(SHIP_EVERY):
            self.ship()

    def ship(self) -> None:
        """Send what is new or changed. models/last is read before the other files and sent after them:
        whatever its run wrote before that checkpoint (logs, TensorBoard points) then reaches the driver
        no later than the checkpoint does, so a retry resumes from files that agree with it."""
        import ray
        paths = [(key, folder, path) for key, folder in self.folders.items() for path in sorted(folder.rglob("*"))]
        paths.sort(key=lambda entry: entry[2].relative_to(entry[1]) != CHECKPOINT)  # the checkpoint first
        reads = []
        for key, folder, path in paths:
            try:
                stat = path.stat()
                if not path.is_file() or path.name.endswith(".tmp"):  # half written (training/files.py)
                    continue
                signature = (stat.st_size, stat.st_mtime_ns)
                if self.sent.get(path) == signature:
                    continue
                data = path.read_bytes()
            except OSError:  # replaced or removed meanwhile: its next state is sent next time
                continue
            self.sent[path] = signature
            reads.append((key, str(path.relative_to(folder)), data))
        if reads and reads[0][1] == str(CHECKPOINT):
            reads = reads[1:] + reads[:1]
        # The collector serves one caller's calls in order: the checkpoint is written after the rest.
        ray.get([self.collector.put.remote(self.index, key, relative, data) for key, relative, data in reads])

    def finish(self) -> None:
        self.stopping.set()
        self.join()
        self.ship()


def _train_shipped(task: dict, index: int, collector: Any, files: dict[str, dict[str, bytes]]) -> RunResult:
    """One run in a Ray worker, in folders of the worker's own (`files`: what the driver holds of the run,
    laid down first, for a retry to resume from); every file it writes reaches the driver (Shipper)."""
    root = Path(tempfile.mkdtemp(prefix="toycorewar-run-"))
    folders = {"run": root / "run", "tensorboard": root / "tensorboard"}
    for key, contents in files.items():
        for relative, data in contents.items():
            path = folders[key] / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    shipper = Shipper(collector, index, folders)
    for path in (p for folder in folders.values() for p in folder.rglob("*") if p.is_file()):
        stat = path.stat()  # the driver has these already
        shipper.sent[path] = (stat.st_size, stat.st_mtime_ns)
    shipper.start()
    try:
        return _train_on_worker({**task, "run_dir": str(folders["run"]),
                                 "tensorboard_dir": str(folders["tensorboard"])})
    finally:
        shipper.finish()
        shutil.rmtree(root, ignore_errors=True)


def driver_files(task: dict) -> dict[str, dict[str, bytes]]:
    """What this machine holds of a run's folders, to lay down in a worker's (a resumed or retried run)."""
    files: dict[str, dict[str, bytes]] = {}
    for key, folder in (("run", Path(task["run_dir"])), ("tensorboard", Path(task["tensorboard_dir"]))):
        files[key] = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} \
            if folder.is_dir() else {}
    return files


def run_on_ray(tasks: list[dict], address: str, retries: int = RETRIES, stats: dict | None = None) -> list[RunResult]:
    """Train `tasks` (keyword arguments of train_run) as Ray tasks of one CPU per torch thread (a task's
    `threads`, 1 by default) on the Ray instance at `address` (see `connect`); returns the summaries in
    the order of tasks. A task whose worker or node dies is started again (from the run's checkpoint
    here, if one arrived) at most `retries` times, then "failed" with the reason. `stats`, when given,
    receives "shipped_bytes" (every file the workers sent) and "retries"."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    connect(address)
    verbose = any(not task.get("quiet", True) for task in tasks)
    # Absolute folders here; a worker writes into its own. Progress bars cannot reach this terminal from a
    # worker, so runs are quiet and this process reports each run as it ends.
    tasks = [{"threads": 1, **task, "run_dir": os.path.abspath(task["run_dir"]),
              "tensorboard_dir": os.path.abspath(task["tensorboard_dir"]), "quiet": True, "position": 0}
             for task in tasks]
    here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)
    collector = ray.remote(num_cpus=0)(Collector).options(scheduling_strategy=here).remote(
        {i: {"run": task["run_dir"], "tensorboard": task["tensorboard_dir"]} for i, task in enumerate(tasks)})
    remote = ray.remote(num_cpus=1, max_retries=0)(_train_shipped)

    def submit(i: int, resume: bool) -> Any:
        files = driver_files(tasks[i]) if resume else {}
        return remote.options(num_cpus=tasks[i]["threads"]).remote({**tasks[i], "resume": resume}, i, collector, files)

    refs = {submit(i, bool(task.get("resume"))): i for i, task in enumerate(tasks)}
    attempts = dict.fromkeys(range(len(tasks)), 0)
    results: dict[int, RunResult] = {}
    try:
        while len(results) < len(tasks):
            done, _ = ray.wait(list(refs), num_returns=1, timeout=0.5)
            for ref in done:
                i = refs.pop(ref)
                result = _result(ray, ref, tasks[i])
                if result.status == "failed" and result.traceback is None and attempts[i] < retries:
                    attempts[i] += 1  # the worker or its node died: again, from what reached this machine
                    ray.get(collector.flushed.remote())
                    resume = bool(tasks[i].get("resume")) or (Path(tasks[i]["run_dir"]) / CHECKPOINT).is_file()
                    if not resume:  # as a run never started: nothing of the killed attempt stays
                        ray.get(collector.forget.remote(i))
                    print(f"run {tasks[i]['run_data'].get('id')}: {result.error}; retry {attempts[i]} of {retries}"
                          f"{' from its checkpoint' if resume else ' from the start'}", file=sys.stderr)
                    refs[submit(i, resume)] = i
                    continue
                if result.status == "failed" and result.traceback is None and attempts[i]:
                    result.error = f"{result.error} (after {attempts[i]} retries)"
                results[i] = result
                if verbose:
                    _report(result, len(results), len(tasks))
    except KeyboardInterrupt:
        results.update(_stop(ray, list(refs), refs, tasks))
    shipped = ray.get(collector.flushed.remote())
    if stats is not None:
        stats.update(shipped_bytes=shipped, retries=sum(attempts.values()))
    return [results[i] for i in range(len(tasks))]


def _result(ray: Any, ref: Any, task: dict, timeout: float | None = None) -> RunResult:
    """The summary a finished task returned, or a "failed" one saying why there is none."""
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.TaskCancelledError:
        return RunResult.for_task(task, "not started")
    except ray.exceptions.RayTaskError as error:  # the task raised
        cause = error.cause if isinstance(error.cause, BaseException) else error
        failed = RunResult.for_task(task, "failed", f"{type(cause).__name__}: {_first_line(cause)}")
        failed.traceback = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # without Ray's terminal colours
        return failed
    except ray.exceptions.RayError as error:  # its worker or node died, or its result was lost
        return RunResult.for_task(task, "failed", f"{type(error).__name__}: {_first_line(error)}")


def _stop(ray: Any, pending: list, index: dict, tasks: list[dict]) -> dict[int, RunResult]:
    """Ctrl-C: cancel every unfinished task (a queued one never starts; a running one gets a
    KeyboardInterrupt, saves and returns) and wait for the running ones; a second Ctrl-C stops waiting."""
    for ref in pending:
        ray.cancel(ref, force=False)
    print("interrupted: waiting for the running runs to save (Ctrl-C again to stop waiting)", file=sys.stderr)
    results: dict[int, RunResult] = {}
    deadline = time.monotonic() + SAVE_TIMEOUT
    try:
        for ref in pending:
            task = tasks[index[ref]]
            try:
                results[index[ref]] = _result(ray, ref, task, timeout=max(0.1, deadline - time.monotonic()))
            except ray.exceptions.GetTimeoutError:
                results[index[ref]] = RunResult.for_task(task, "interrupted",
                                                         f"no result within {SAVE_TIMEOUT:g} s of Ctrl-C")
    except KeyboardInterrupt:
        for ref in pending:
            results.setdefault(index[ref], RunResult.for_task(tasks[index[ref]], "interrupted",
                                                              "stopped waiting for the run to save"))
    return results


def _report(result: RunResult, done: int, total: int) -> None:
    best = "-" if result.best_performance is None else f"{result.best_performance:g}"
    print(f"[{done}/{total}] run {result.id} ({result.algo}): {result.status}, best performance {best}, "
          f"{result.episodes} episodes, {result.seconds:.1f} s", file=sys.stderr)

