"""The coordinator of a run's harness: the agent's `Progress`. As the count of ended episodes moves,
it asks the schedule what is due and has the pieces do it: the evaluator evaluates, the record keeps
the curve, the best model and the first solve, the logger writes logs and TensorBoard, the
checkpointer saves and restores (training/schedule.py, evaluation.py, records.py, logs.py,
checkpoints.py; each testable alone)."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from agents.base import Agent
from synthesis.search import StopRequested
from training.checkpoints import Checkpointer
from training.context import RunContext
from training.evaluation import Evaluation, Evaluator
from training.logs import RunLogger
from training.records import RunRecord
from training.result import RunResult
from training.schedule import EventSchedule


@contextmanager
def stop_requests(monitor: Monitor) -> Iterator[None]:
    """While the block runs, Ctrl-C (SIGINT, and SIGTERM through it: training/cli.py) asks `monitor` to
    stop rather than raising: the agent's loop ends at its next step, where everything it holds is
    consistent, and the checkpoint taken there resumes exactly (docs/guarantees.md). In
    a thread other than the main one (no handler can be set there) the block runs as it is, and a
    KeyboardInterrupt still stops the run, less exactly."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: monitor.request_stop())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class Monitor:
    """Evaluation every ASSESS_FREQ episodes, logs and TensorBoard points every LOG_FREQ, the best model
    and the last checkpoint every SAVE_FREQ (and at the end), a progress bar."""

    def __init__(self, ctx: RunContext, agent: Agent, stop_when_solved: bool = False,
                 max_seconds: float | None = None, after_solve: int | None = None,
                 stop_after: int | None = None) -> None:
        self.ctx, self.agent, self.max_seconds = ctx, agent, max_seconds
        self.stop_after = stop_after  # stop as Ctrl-C does once this many episodes have ended
        # Episodes trained past the first solve before the run ends (None: to its budget).
        self.after_solve = 0 if stop_when_solved else after_solve
        settings = ctx.config.settings
        self.schedule = EventSchedule(settings.ASSESS_FREQ, settings.LOG_FREQ, settings.SAVE_FREQ)
        self.evaluator = Evaluator(agent, ctx.machine, ctx.reward, ctx.eval_targets, ctx.eval_reg_inits,
                                   ctx.run.search_budget, ctx.params.reward_scale, ctx.device, ctx.eval_functions)
        self.record = RunRecord(settings.PERF_MRY)
        machine = ctx.machine
        self.checkpointer = Checkpointer(ctx.run_dir / "models", agent, {
            "reward_scale": ctx.params.reward_scale, "run": ctx.run.model_dump(),
            "machine": {"num_registers": machine.num_registers, "n_vals": machine.n_vals,
                        "max_length": machine.max_length}})
        self.logger = RunLogger(ctx.run_dir, ctx.tensorboard_dir, ctx.run.episodes, f"run {ctx.run.id}",
                                ctx.position, ctx.quiet)
        self._episode = 0
        self.stop_requested = False  # Ctrl-C or SIGTERM: the loop ends at its next step
        self.last_evaluation: Evaluation | None = None  # this session's latest, and the episode of the latest log
        self.last_logged = -1
        self.pending: list[tuple[int, bool]] = []  # evaluations a stop cut short, done first on resume
        self.elapsed_before = 0.0
        self.started = time.perf_counter()

    # -- Progress, for the agent's loop ---------------------------------------------------------------
    @property
    def episode(self) -> int:
        return self._episode

    @property
    def done(self) -> bool:
        first_solve = self.record.first_solve
        solved = self.after_solve is not None and first_solve is not None and (
            self._episode >= first_solve + self.after_solve)
        out_of_time = self.max_seconds is not None and self.elapsed() >= self.max_seconds
        return self.stop_requested or solved or out_of_time or self._episode >= self.ctx.run.episodes

    @property
    def stopping(self) -> bool:
        return self.stop_requested

    def request_stop(self) -> None:
        self.stop_requested = True

    def update(self, episodes_done: int, **scalars: float) -> None:
        """Tell the monitor how many episodes have ended; it evaluates, logs and saves when due."""
        due = self.schedule.due(self._episode, episodes_done)
        # Ctrl-C only asks for a stop (stop_requests). An evaluation it cuts short is dropped whole and
        # kept as pending in the checkpoint, which does it first on resume: a checkpoint never resumes
        # past an evaluation it has not logged.
        self.logger.advance(episodes_done - self._episode, **scalars)
        self._episode = episodes_done
        if self.stop_after is not None and episodes_done >= self.stop_after:
            self.request_stop()
        if self.evaluate_all([(boundary, boundary in due.logged) for boundary in due.evaluations]) and due.save:
            self.save()

    # -- the run's start and end ----------------------------------------------------------------------
    def start(self) -> None:
        """Evaluate at episode 0, or restore the state of `models/last` when resuming."""
        if self.ctx.resume:
            self.restore()
            return
        self.logger.configuration({"run": self.ctx.run.model_dump(), "config": self.ctx.config.to_json(),
                                   "seed": self.ctx.seed})
        self.evaluate_all([(0, True)])

    def evaluate_all(self, evaluations: list[tuple[int, bool]]) -> bool:
        """Do the evaluations (episode, logged) in order. A stop asked for in the middle of one drops it
        (StopRequested): it and the ones after it become `pending`, saved in the checkpoint and done first
        on resume, with the same weights (the agent's loop ends at once). True when all were done."""
        for index, (episode, log) in enumerate(evaluations):
            try:
                self.assess(episode, log)
            except StopRequested:
                self.pending = evaluations[index:]
                return False
        self.pending = []
        return True

    def finish(self, interrupted: bool = False) -> bool:
        """Final evaluation and log (unless interrupted), best model and last checkpoint, close files.
        False when the run ends interrupted (asked to, or its final evaluation cut short by a stop)."""
        curve = self.record.curve
        if not interrupted and (not curve or curve[-1][0] != self._episode):
            interrupted = not self.evaluate_all([(self._episode, True)])
        elif not interrupted and self.last_logged != self._episode and self.last_evaluation is not None:
            # The run ended on an evaluation that was not a log's: its log is the run's last.
            self.logger.write(self.last_evaluation, self._episode, self.elapsed(), self.record.global_performance)
            self.last_logged = self._episode
        self.save()
        if not interrupted:
            record = self.record
            self.logger.final_metrics(self._episode, record.best_performance, record.first_solve,
                                      record.last_performance if record.curve else None)
        self.logger.close()
        return not interrupted

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def assess(self, episode: int, log: bool) -> Evaluation:
        evaluation = self.evaluator(episode, lambda: self.stop_requested)
        record = self.record
        record.observe(evaluation, self.agent.model_payload, self.elapsed())
        self.logger.show(evaluation.mean_performance, record.best_performance)
        self.last_evaluation = evaluation
        if log:
            self.logger.write(evaluation, self._episode, self.elapsed(), record.global_performance)
            self.last_logged = episode
        return evaluation

    # -- checkpoints ----------------------------------------------------------------------------------
    def save(self) -> None:
        """Write models/best (the best so far) and models/last (everything needed to resume)."""
        record = self.record
        best = None if record.best_payload is None else (record.best_payload, record.best_episode,
                                                         record.best_performance)
        state = {"episode": self._episode, **record.state(), "elapsed": self.elapsed(),
                 "torch_rng": torch.get_rng_state(), "schedule": self.ctx.tasks.state(),
                 "pending": [[episode, log] for episode, log in self.pending]}
        # No performance before a whole evaluation (a stop can drop the first).
        self.checkpointer.save(best, self._episode, record.last_performance if record.curve else None, state)

    def restore(self) -> None:
        state = self.checkpointer.load_last()["monitor"]
        self._episode = state["episode"]
        self.record.restore(state)
        self.elapsed_before = state["elapsed"]
        torch.set_rng_state(state["torch_rng"])
        self.ctx.tasks.restore(state["schedule"])
        self.logger.resumed_at(self._episode)
        self.evaluate_all([(int(episode), bool(log)) for episode, log in state.get("pending", [])])

    def result(self, status: str = "finished") -> RunResult:
        r = self.record
        return RunResult(id=self.ctx.run.id, algo=self.ctx.run.algo, agent=self.ctx.agent_name, status=status,
                         best_performance=r.best_performance, best_episode=r.best_episode,
                         first_solve=r.first_solve, first_solve_seconds=r.first_solve_seconds,
                         episodes=self._episode, seconds=self.elapsed(), program=r.first_solve_program,
                         programs=r.first_solve_programs, curve=list(r.curve), unsolved=list(r.unsolved))
