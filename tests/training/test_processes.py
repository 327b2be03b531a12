"""A run process (training/processes.py) that Ctrl-C reaches before `train_run` could catch it (its
inputs still being read and validated) reports its run "not started": nothing of it was written, and
--resume starts it afresh. It is never a "failed" run with no reason."""

from __future__ import annotations

import queue
import signal

from training import processes


def test_an_interrupt_before_train_run_catches_it_is_a_run_not_started(monkeypatch):
    def interrupted(**task: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(processes, "train_run", interrupted)
    handlers = {which: signal.getsignal(which) for which in (signal.SIGINT, signal.SIGTERM)}
    results: queue.Queue = queue.Queue()
    try:
        processes._worker(results, 3, {"run_data": {"id": "r", "algo": "DQN"}})
    finally:
        for which, handler in handlers.items():
            signal.signal(which, handler)
    index, result = results.get_nowait()
    assert (index, result.id, result.algo, result.status) == (3, "r", "DQN", "not started")
