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

from agents.registry import agent_class
from environment.heap import keep_freed_memory
from training.config import parse_config, parse_training
from training.context import RunContext
from training.monitor import Monitor, stop_requests
from training.result import RunResult


def resume_problem(run_data: dict, config_data: dict, last: Path) -> str | None:
    """Why the run cannot resume from the checkpoint `last` (one line), or None when it can: the file
    is read, and its training state loaded into the agent the run would build, as --resume will."""
    from training.checkpoints import load_checkpoint

    config = parse_config(config_data)
    run = parse_training([run_data], config)[0]
    try:
        checkpoint = load_checkpoint(last)
    except ValueError as error:
        return str(error).removeprefix(f"{last}: ")
    ctx = RunContext(run, config, last.parent.parent, last.parent.parent, seed=0)
    agent_name = ctx.agent_name
    if checkpoint.get("agent") != agent_name:
        return f"it holds a {checkpoint.get('agent')!r} model, the run trains {agent_name}"
    if not isinstance(checkpoint.get("monitor"), dict) or not isinstance(checkpoint.get("training"), dict):
        return "it is not a checkpoint to resume from (no training state)"
    torch.set_num_threads(1)
    agent = agent_class(agent_name)(ctx.agent_setup())
    try:
        agent.load_training_state(checkpoint["training"])
    except Exception as error:  # a network of another shape, a missing entry: whatever loading finds
        lines = str(error).strip().splitlines()
        detail = f"{type(error).__name__}: {lines[0][:160]}" if lines else type(error).__name__
        return f"its training state does not fit the run's {agent_name} ({detail})"
    return None


def train_run(run_data: dict, config_data: dict, run_dir: str, tensorboard_dir: str, seed: int = 0,
              quiet: bool = True, position: int = 0, resume: bool = False,
              threads: int = 1, stop_when_solved: bool = False, max_seconds: float | None = None,
              after_solve: int | None = None, stop_after: int | None = None) -> RunResult:
    """Train the run described by `run_data` (one entry of training.json) under `config_data`.

    `threads`: torch threads of this run (one suits these small networks best on CPU);
    `stop_when_solved`: end the run at its first evaluation that solves every task (benchmarks);
    `max_seconds`: end it once it has trained that long (benchmarks comparing methods at equal time);
    `after_solve`: end it that many episodes after its first solve (benchmarks measuring whether a
    solved run stays solved; 0 is `stop_when_solved`);
    `stop_after`: stop as Ctrl-C does (status "interrupted", a checkpoint to resume) at the first step
    that ends this many episodes: an interruption at a chosen point (tests of exact resume).
    A failing run is reported (status "failed", its error and traceback), never raised.
    """
    started = time.perf_counter()
    keep_freed_memory()
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
                          after_solve=after_solve, stop_after=stop_after)
        try:
            # Ctrl-C asks the run to stop: the first evaluation (or the restore) and the step under way
            # end first, then the run saves where it stands.
            with stop_requests(monitor):
                monitor.start()
                agent.train(monitor)
                stopped = monitor.stop_requested and monitor.episode < run.episodes
                stopped = not monitor.finish(interrupted=stopped)
            return monitor.result("interrupted" if stopped else "finished")
        except KeyboardInterrupt:  # where no handler could be set (a thread other than the main one)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the checkpoint short
            monitor.finish(interrupted=True)
            return monitor.result("interrupted")
    except KeyboardInterrupt:
        result.status, result.seconds = "interrupted", time.perf_counter() - started
    except Exception as error:  # a failing run is reported, and must not stop the others
        if monitor is not None:
            result = monitor.result("failed")
            monitor.logger.close()  # its TensorBoard events too: main.py exits without Python's teardown
        result.status, result.error = "failed", f"{type(error).__name__}: {error}"
        result.traceback, result.seconds = traceback.format_exc(), time.perf_counter() - started
    return result
