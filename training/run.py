"""Train one run: build its context, agent and monitor, run the agent's loop, report the result.

`train_run` takes plain data and returns a `RunResult` (a picklable record), so it runs the same in
this process, in a child process or as a Ray task.
"""

from __future__ import annotations

import signal
import time
import traceback
from pathlib import Path

import torch

from training.config import parse_config, parse_training
from training.context import RunContext
from training.monitor import Monitor, interrupt_deferred
from training.result import RunResult


def agent_class(name: str) -> type:
    from agents.actor_critic import AC_Agent
    from agents.dqn import DQN_Agent
    from agents.policy_gradient import PG_Agent
    return {"DQN_Agent": DQN_Agent, "AC_Agent": AC_Agent, "PG_Agent": PG_Agent}[name]


def train_run(run_data: dict, config_data: dict, run_dir: str, tensorboard_dir: str, seed: int = 0,
              quiet: bool = True, position: int = 0, resume: bool = False,
              threads: int = 1, stop_when_solved: bool = False, max_seconds: float | None = None,
              after_solve: int | None = None) -> RunResult:
    """Train the run described by `run_data` (one entry of training.json) under `config_data`.

    `threads`: torch threads of this run (one suits these small networks best on CPU);
    `stop_when_solved`: end the run at its first evaluation that solves every task (benchmarks);
    `max_seconds`: end it once it has trained that long (benchmarks comparing methods at equal time);
    `after_solve`: end it that many episodes after its first solve (benchmarks measuring whether a
    solved run stays solved; 0 is `stop_when_solved`).
    A failing run is reported (status "failed", its error and traceback), never raised.
    """
    started = time.perf_counter()
    config = parse_config(config_data)
    run = parse_training([run_data], config)[0]
    result = RunResult(id=run.id, algo=run.algo, agent=config.presets[run.algo].agent)
    monitor = None
    try:
        torch.set_num_threads(threads)
        ctx = RunContext(run, config, Path(run_dir), Path(tensorboard_dir), seed=seed, quiet=quiet,
                         position=position, resume=resume)
        agent = agent_class(ctx.agent_name)(ctx.agent_setup())
        monitor = Monitor(ctx, agent, stop_when_solved=stop_when_solved, max_seconds=max_seconds,
                          after_solve=after_solve)
        try:
            # Ctrl-C during the first evaluation (or the restore) waits for it, then saves as below.
            with interrupt_deferred():
                monitor.start()
            agent.train(monitor)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the checkpoint short
            monitor.finish(interrupted=True)
            return monitor.result("interrupted")
        monitor.finish()
        return monitor.result("finished")
    except KeyboardInterrupt:
        result.status, result.seconds = "interrupted", time.perf_counter() - started
    except Exception as error:  # a failing run is reported, and must not stop the others
        if monitor is not None:
            result = monitor.result("failed")
            monitor.logger.progress.close()
        result.status, result.error = "failed", f"{type(error).__name__}: {error}"
        result.traceback, result.seconds = traceback.format_exc(), time.perf_counter() - started
    return result
