"""Several runs at once, each in its own process; Ctrl-C reaches every run, which saves and stops."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
from typing import Any

from training.result import RunResult
from training.run import train_run


def _worker(results: Any, index: int, task: dict) -> None:
    from training.cli import stop_on_signals
    stop_on_signals()  # a worker started from a job in the background inherits SIGINT ignored
    try:
        results.put((index, train_run(**task)))
    except KeyboardInterrupt:  # before train_run could catch it (its inputs still being read): nothing written
        results.put((index, RunResult.for_task(task, "not started")))


def run_in_processes(tasks: list[dict], jobs: int, on_result: Any = None, threads: int = 1) -> list[RunResult]:
    """Train `tasks` (keyword arguments of train_run), `jobs` at a time; results in the order of tasks.
    `on_result(index, result)`, when given, is called as each run ends. `threads`: torch threads per
    run; 1 (the default) gives a run the same results whether it trains alone or beside others."""
    context = multiprocessing.get_context("spawn")
    results_queue = context.Queue()
    pending = list(enumerate(tasks))
    active: dict[int, Any] = {}
    results: dict[int, RunResult] = {}
    interrupted = False

    def forward_interrupt(signum: int, frame: Any) -> None:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            for process in active.values():
                if process.is_alive():
                    os.kill(process.pid, signal.SIGINT)

    previous = signal.signal(signal.SIGINT, forward_interrupt)
    try:
        while pending or active:
            while pending and len(active) < jobs and not interrupted:
                index, task = pending.pop(0)
                process = context.Process(target=_worker, args=(results_queue, index,
                                                                {"threads": threads, **task, "position": len(active)}))
                process.start()
                active[index] = process
            if interrupted and not active:
                break
            try:
                index, result = results_queue.get(timeout=0.2)
                results[index] = result
                active.pop(index).join()
                if on_result is not None:
                    on_result(index, result)
            except queue.Empty:
                for index, process in list(active.items()):
                    if not process.is_alive() and index not in results:
                        try:  # the result may have arrived just now
                            got, result = results_queue.get(timeout=1.0)
                            results[got] = result
                            active.pop(got).join()
                        except queue.Empty:
                            active.pop(index)
                            results[index] = RunResult.for_task(
                                tasks[index], "failed", f"the process ended with exit code {process.exitcode}")
    finally:
        signal.signal(signal.SIGINT, previous)
    return [results.get(i) or RunResult.for_task(task, "not started") for i, task in enumerate(tasks)]
