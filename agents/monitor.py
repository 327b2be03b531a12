"""What every run shares: its context (task, paths, seed, device) and its monitor, which evaluates,
logs, writes TensorBoard points, keeps the best model and checkpoints, all driven by the episode count."""

from __future__ import annotations

import copy
import json
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tensorboardX import SummaryWriter
from tqdm import tqdm

from agents.checkpoints import load_checkpoint, save_checkpoint
from agents.config import Config, Run
from agents.evaluation import Evaluation, evaluate, search_policy, write_evaluation_log
from environment import ScheduledTasks, TaskSchedule, heldout_targets, schedule_from_spec
from environment.tasks import heldout_solvable_targets
from toycorewar import MachineConfig


@contextmanager
def interrupt_deferred(active: bool = True) -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) until the block ends, then deliver it (main thread only: elsewhere, or when
    not `active`, the block runs as it is)."""
    if (not active or threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is None):  # None: a handler Python cannot put back
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and callable(previous):
        previous(signal.SIGINT, None)
    elif received and previous == signal.SIG_DFL:
        raise KeyboardInterrupt


class Agent(Protocol):
    agent_name: str
    network: torch.nn.Module

    def greedy_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...
    def model_payload(self) -> dict[str, Any]: ...
    def training_state(self) -> dict[str, Any]: ...
    def load_training_state(self, state: dict[str, Any]) -> None: ...


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("DEVICE is 'cuda' but no CUDA device is available (use 'cpu' or 'auto')")
    return torch.device(name)


@dataclass
class RunContext:
    """Everything a training loop needs to know about its run, built once from the validated files."""

    run: Run
    config: Config
    run_dir: Path
    tensorboard_dir: Path
    seed: int = 0
    quiet: bool = True
    position: int = 0
    resume: bool = False
    machine: MachineConfig = field(init=False)
    tasks: ScheduledTasks = field(init=False)
    eval_targets: np.ndarray = field(init=False)
    eval_reg_inits: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.machine = self.config.machine
        r, episodes = self.machine.num_registers, self.run.episodes
        seeds = np.random.SeedSequence(self.seed).spawn(2)
        targets = schedule_from_spec(self.run.targets, "targets", r, episodes, np.random.default_rng(seeds[0]),
                                     "random", self.machine)
        reg_inits = schedule_from_spec(self.run.reg_inits, "reg_inits", r, episodes,
                                       np.random.default_rng(seeds[1]), "zeros", self.machine)
        settings = self.config.settings
        eval_inits = reg_inits.distinct_values()
        if eval_inits is None:  # random initial registers: held out too, from the next seed
            eval_inits = heldout_targets(settings.EVAL_TARGETS, r, settings.EVAL_SEED + 1)
        if targets.kind == "solvable":
            # Held-out solvable tasks, which training never draws: generalization is measured on them.
            self.eval_targets, self.eval_reg_inits = heldout_solvable_targets(
                settings.EVAL_TARGETS, targets.length, self.machine, eval_inits, settings.EVAL_SEED)
            targets = TaskSchedule.solvable(targets.length, self.machine, excluded=self.eval_targets)
        else:
            eval_targets = targets.distinct_values()
            if eval_targets is None:
                eval_targets = heldout_targets(settings.EVAL_TARGETS, r, settings.EVAL_SEED)
            pairs = [(t, i) for t in eval_targets for i in eval_inits]
            self.eval_targets = np.array([p[0] for p in pairs], dtype=np.int64)
            self.eval_reg_inits = np.array([p[1] for p in pairs], dtype=np.int64)
        self.tasks = ScheduledTasks(targets, reg_inits)

    @property
    def params(self) -> Any:
        return self.config.presets[self.run.algo].parameters

    @property
    def device(self) -> torch.device:
        return select_device(self.config.settings.DEVICE)

    @property
    def reward_settings(self) -> dict:
        return dict(self.run.reward_settings)

    def env_kwargs(self) -> dict:
        """Keyword arguments of ToyCorewarVectorEnv for this run's machine and reward."""
        from environment import make_reward
        return {"max_length": self.machine.max_length, "num_registers": self.machine.num_registers,
                "n_vals": self.machine.n_vals, "reward_func": self.run.reward_func,
                **make_reward(self.run.reward_func, self.reward_settings).settings}


class Monitor:
    """Evaluation every ASSESS_FREQ episodes, logs and TensorBoard points every LOG_FREQ, the best model
    and the last checkpoint every SAVE_FREQ (and at the end), a progress bar."""

    def __init__(self, ctx: RunContext, agent: Agent, stop_when_solved: bool = False) -> None:
        self.ctx, self.agent, self.stop_when_solved = ctx, agent, stop_when_solved
        settings = ctx.config.settings
        self.assess_freq, self.log_freq, self.save_freq = settings.ASSESS_FREQ, settings.LOG_FREQ, settings.SAVE_FREQ
        self.models_dir = ctx.run_dir / "models"
        self.models_dir.mkdir(parents=True, exist_ok=True)
        self.episode = 0
        self.best_performance = -float("inf")
        self.best_episode = -1
        self.best_payload: dict[str, Any] | None = None
        self.first_solve: int | None = None
        self.first_solve_seconds: float | None = None
        self.first_solve_program: list[str] = []
        self.first_solve_programs: list[dict[str, Any]] = []  # every task's, for runs of several targets
        self.recent = deque(maxlen=settings.PERF_MRY)
        self.curve: list[tuple[int, float]] = []
        self.elapsed_before = 0.0
        self.started = time.perf_counter()
        self.rate_mark = (self.started, 0)
        self.scalars: dict[str, float] = {}
        self.writer = SummaryWriter(logdir=str(ctx.tensorboard_dir))
        self.progress = tqdm(total=ctx.run.episodes, desc=f"run {ctx.run.id}", unit="ep", position=ctx.position,
                             disable=ctx.quiet, leave=True, mininterval=0.5, dynamic_ncols=True)

    # -- the schedule ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Evaluate at episode 0, or restore the state of `models/last` when resuming."""
        if self.ctx.resume:
            self._restore(load_checkpoint(self.models_dir / "last"))
            return
        self.writer.add_text("config", "```\n" + json.dumps({"run": self.ctx.run.model_dump(),
                             "config": self.ctx.config.to_json(), "seed": self.ctx.seed}, indent=1) + "\n```", 0)
        self._assess(0, log=True)

    def update(self, episodes_done: int, **scalars: float) -> None:
        """Tell the monitor how many episodes have ended; it evaluates, logs and saves when due."""
        previous = self.episode
        due = sorted(set(self._crossed(previous, episodes_done, self.assess_freq)
                         + self._crossed(previous, episodes_done, self.log_freq)))
        save_due = bool(self.save_freq and self._crossed(previous, episodes_done, self.save_freq))
        # Once the count passes a boundary its evaluation must be done: a checkpoint taken after an
        # interrupted one would resume past it and its log would never be written.
        with interrupt_deferred(bool(due) or save_due):
            self.progress.update(episodes_done - previous)
            self.episode = episodes_done
            self.scalars.update(scalars)
            for boundary in due:
                self._assess(boundary, log=boundary % self.log_freq == 0)
            if save_due:
                self.save()

    @property
    def done(self) -> bool:
        solved = self.stop_when_solved and self.first_solve is not None
        return solved or self.episode >= self.ctx.run.episodes

    @staticmethod
    def _crossed(previous: int, now: int, every: int) -> list[int]:
        return list(range((previous // every + 1) * every, now + 1, every))

    def finish(self, interrupted: bool = False) -> None:
        """Final evaluation and log (unless interrupted), best model and last checkpoint, close files."""
        if not interrupted and (not self.curve or self.curve[-1][0] != self.episode):
            self._assess(self.episode, log=True)
        self.save()
        self.progress.close()
        self.writer.close()

    # -- evaluation and logs --------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def _assess(self, episode: int, log: bool) -> Evaluation:
        ctx = self.ctx
        policy = self.agent.greedy_actions
        if ctx.run.search_budget:
            policy = search_policy(self.agent.network, ctx.machine, ctx.run.reward_func, ctx.reward_settings,
                                   ctx.eval_targets, ctx.eval_reg_inits, ctx.run.search_budget,
                                   ctx.params.reward_scale)
        evaluation = evaluate(policy, ctx.machine, ctx.run.reward_func, ctx.reward_settings,
                              ctx.eval_targets, ctx.eval_reg_inits, episode)
        performance = evaluation.mean_performance
        self.recent.append(performance)
        self.curve.append((episode, performance))
        if performance > self.best_performance:
            self.best_performance, self.best_episode = performance, episode
            self.best_payload = copy.deepcopy(self.agent.model_payload())
        if self.first_solve is None and evaluation.solved_fraction == 1.0:
            self.first_solve, self.first_solve_seconds = episode, self.elapsed()
            self.first_solve_program = evaluation.tasks[0].instructions
            self.first_solve_programs = [{"target": task.target, "reg_init": task.reg_init,
                                          "program": task.instructions} for task in evaluation.tasks]
        self.progress.set_postfix(perf=f"{performance:.1f}", best=f"{self.best_performance:.1f}", refresh=False)
        if log:
            write_evaluation_log(ctx.run_dir, evaluation, self.elapsed())
            self._tensorboard(episode, evaluation)
        return evaluation

    def _tensorboard(self, episode: int, evaluation: Evaluation) -> None:
        now = time.perf_counter()
        mark_time, mark_episode = self.rate_mark
        if now > mark_time and episode > mark_episode:
            self.scalars["episodes_per_second"] = (self.episode - mark_episode) / (now - mark_time)
        self.rate_mark = (now, self.episode)
        w = self.writer
        w.add_scalar("evaluation/mean_performance", evaluation.mean_performance, episode)
        w.add_scalar("evaluation/mean_total_reward", evaluation.mean_reward, episode)
        w.add_scalar("evaluation/solved_fraction", evaluation.solved_fraction, episode)
        w.add_scalar("evaluation/global_performance", float(np.mean(self.recent)), episode)
        for name, value in self.scalars.items():
            w.add_scalar(f"train/{name}", value, episode)
        w.flush()

    # -- checkpoints ----------------------------------------------------------------------------------
    def _model_file_payload(self, payload: dict[str, Any], episode: int, performance: float) -> dict[str, Any]:
        return {**payload, "agent": self.agent.agent_name, "episode": episode, "performance": performance,
                "reward_scale": self.ctx.params.reward_scale,
                "run": self.ctx.run.model_dump(), "machine": {"num_registers": self.ctx.machine.num_registers,
                                                             "n_vals": self.ctx.machine.n_vals,
                                                             "max_length": self.ctx.machine.max_length}}

    def save(self) -> None:
        """Write models/best (the best so far) and models/last (everything needed to resume)."""
        if self.best_payload is not None:
            save_checkpoint(self.models_dir / "best",
                            self._model_file_payload(self.best_payload, self.best_episode, self.best_performance))
        last = self._model_file_payload(self.agent.model_payload(), self.episode, self.curve[-1][1])
        last["training"] = self.agent.training_state()
        last["monitor"] = {"episode": self.episode, "best_performance": self.best_performance,
                           "best_episode": self.best_episode, "first_solve": -1 if self.first_solve is None
                           else self.first_solve, "recent": list(self.recent),
                           "curve": [list(point) for point in self.curve], "elapsed": self.elapsed(),
                           "first_solve_programs": self.first_solve_programs,
                           "best_payload": self.best_payload, "torch_rng": torch.get_rng_state(),
                           "schedule": [self.ctx.tasks.targets.episode, self.ctx.tasks.reg_inits.episode]}
        save_checkpoint(self.models_dir / "last", last)

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["monitor"]
        self.agent.load_training_state(checkpoint["training"])
        self.episode = state["episode"]
        self.best_performance, self.best_episode = state["best_performance"], state["best_episode"]
        self.first_solve = None if state["first_solve"] < 0 else state["first_solve"]
        self.first_solve_programs = state.get("first_solve_programs", [])  # absent in older checkpoints
        self.first_solve_program = self.first_solve_programs[0]["program"] if self.first_solve_programs else []
        self.recent.extend(state["recent"])
        self.curve = [(int(e), float(p)) for e, p in state["curve"]]
        self.elapsed_before = state["elapsed"]
        self.best_payload = state["best_payload"]
        torch.set_rng_state(state["torch_rng"])
        self.ctx.tasks.targets.episode, self.ctx.tasks.reg_inits.episode = state["schedule"]
        self.rate_mark = (time.perf_counter(), self.episode)
        self.progress.update(self.episode)

    def result(self) -> dict[str, Any]:
        return {"best_performance": self.best_performance, "best_episode": self.best_episode,
                "first_solve": self.first_solve, "first_solve_seconds": self.first_solve_seconds,
                "episodes": self.episode, "seconds": self.elapsed(), "program": self.first_solve_program,
                "programs": self.first_solve_programs, "curve": self.curve}
