"""Training runs as Ray tasks, on a Ray cluster or on a Ray instance started here (`--ray ADDRESS`).

Same contract as `training.processes.run_in_processes`: each task holds the keyword arguments of
`training.run.train_run`, and the summaries come back in task order. A task that raises or whose worker
dies becomes a "failed" summary; Ctrl-C cancels what has not started ("not started") and interrupts the
running runs, which save their checkpoints and logs and report "interrupted".

Ray is imported only inside these functions, so nothing imports it unless `--ray` is given. The runs
write their files themselves, at the absolute paths of their folders: on a cluster of several machines
those paths must lie on a filesystem that every machine mounts at the same place (docs/ray.md).
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import tempfile
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
    # Workers import this project from where it lies here (on a cluster: the same path on every machine).
    project = str(Path(__file__).resolve().parents[1])
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.ERROR,
                               "job_config": ray.job_config.JobConfig(code_search_path=[project])}
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


def run_on_ray(tasks: list[dict], address: str) -> list[RunResult]:
    """Train `tasks` (keyword arguments of train_run) as Ray tasks of one CPU per torch thread (a task's
    `threads`, 1 by default) on the Ray instance at `address` (see `connect`); returns the summaries in
    the order of tasks."""
    import ray

    connect(address)
    verbose = any(not task.get("quiet", True) for task in tasks)
    remote = ray.remote(num_cpus=1, max_retries=0)(_train_on_worker)
    # Absolute folders: a worker's working directory need not be ours. Progress bars cannot reach this
    # terminal from a worker, so runs are quiet and this process reports each run as it ends.
    refs = [remote.options(num_cpus=task.get("threads", 1)).remote(
        {"threads": 1, **task, "run_dir": os.path.abspath(task["run_dir"]),
         "tensorboard_dir": os.path.abspath(task["tensorboard_dir"]), "quiet": True, "position": 0})
        for task in tasks]
    index = {ref: i for i, ref in enumerate(refs)}
    results: dict[int, RunResult] = {}
    pending = list(refs)
    try:
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in done:
                results[index[ref]] = _result(ray, ref, tasks[index[ref]])
                if verbose:
                    _report(results[index[ref]], len(results), len(tasks))
    except KeyboardInterrupt:
        results.update(_stop(ray, pending, index, tasks))
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

