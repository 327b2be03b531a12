"""Train one run: build its context, agent and monitor, run the agent's loop, report the result.

`train_run` takes and returns plain data, so it runs the same in this process, in a child process
or as a Ray task.
"""

from __future__ import annotations

import signal
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from agents.config import parse_config, parse_training
from agents.monitor import Monitor, RunContext, interrupt_deferred


def agent_class(name: str) -> type:
    from agents.actor_critic import AC_Agent
    from agents.dqn import DQN_Agent
    from agents.policy_gradient import PG_Agent
    return {"DQN_Agent": DQN_Agent, "AC_Agent": AC_Agent, "PG_Agent": PG_Agent}[name]


def train_run(run_data: dict, config_data: dict, run_dir: str, tensorboard_dir: str, seed: int = 0,
              quiet: bool = True, position: int = 0, resume: bool = False,
              threads: int = 1, stop_when_solved: bool = False) -> dict[str, Any]:
    """Train the run described by `run_data` (one entry of training.json) under `config_data`.

    `threads`: torch threads of this run (one suits these small networks best on CPU);
    `stop_when_solved`: end the run at its first evaluation that solves every task (benchmarks).
    Returns a summary: id, algorithm, status ("finished", "interrupted" or "failed"), best performance,
    episode of first solve, episodes, seconds, evaluation curve, and the error of a failed run.
    """
    started = time.perf_counter()
    config = parse_config(config_data)
    run = parse_training([run_data], config)[0]
    summary: dict[str, Any] = {"id": run.id, "algo": run.algo, "agent": config.presets[run.algo].agent,
                               "status": "failed", "best_performance": None, "first_solve": None,
                               "episodes": 0, "seconds": 0.0, "curve": [], "error": None}
    monitor = None
    try:
        torch.set_num_threads(threads)
        ctx = RunContext(run, config, Path(run_dir), Path(tensorboard_dir), seed=seed, quiet=quiet,
                         position=position, resume=resume)
        agent = agent_class(config.presets[run.algo].agent)(ctx)
        monitor = Monitor(ctx, agent, stop_when_solved=stop_when_solved)
        try:
            # Ctrl-C during the first evaluation (or the restore) waits for it, then saves as below.
            with interrupt_deferred():
                monitor.start()
            agent.train(monitor)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the checkpoint short
            monitor.finish(interrupted=True)
            summary.update(monitor.result(), status="interrupted")
            return summary
        monitor.finish()
        summary.update(monitor.result(), status="finished")
    except KeyboardInterrupt:
        summary.update(status="interrupted", seconds=time.perf_counter() - started)
    except Exception as error:  # a failing run is reported, and must not stop the others
        summary.update(status="failed", error=f"{type(error).__name__}: {error}",
                       traceback=traceback.format_exc(), seconds=time.perf_counter() - started)
        if monitor is not None:
            summary.update({k: v for k, v in monitor.result().items() if k != "seconds"})
            monitor.progress.close()
    return summary
