"""What a run writes for people to read: the `NNNNNNN_Evaluation` log files, TensorBoard points (and
its HParams entry) and the progress bar (docs/training.md, "Outputs")."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from tensorboardX.event_file_writer import EventsWriter
from tensorboardX.proto.event_pb2 import Event, SessionLog
from tensorboardX.proto.summary_pb2 import Summary
from tensorboardX.summary import hparams as hparams_summaries
from tensorboardX.summary import scalar, text
from tqdm import tqdm

from training.evaluation import Evaluation, write_evaluation_log

# The metrics of TensorBoard's HParams tab, written as scalars at the run's last episode.
HPARAM_METRICS = ("hparams/best_performance", "hparams/first_solve", "hparams/final_performance")


def hparams_of(effective: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The flat hyperparameters of a run for the HParams tab: its algo, agent, seed, episodes, reward
    function and settings, tasks (as JSON text) and every parameter of its preset; a value that is
    not a bool, number or string is shown as its JSON text."""
    run, config = effective["run"], effective["config"]
    preset = config["presets"][run["algo"]]
    values: dict[str, Any] = {"algo": run["algo"], "agent": preset["agent"], "seed": effective["seed"],
                              "episodes": run["episodes"], "reward_func": run["reward_func"],
                              "targets": run["targets"], "reg_inits": run["reg_inits"]}
    values.update({f"reward_settings.{k}": v for k, v in (run.get("reward_settings") or {}).items()})
    values.update(preset["parameters"])
    return {name: value if isinstance(value, bool | int | float | str) else json.dumps(value)
            for name, value in values.items()}


class EventFile:
    """A TensorBoard events file written in the caller's thread: what `flush` returns from is on disk.

    tensorboardX's SummaryWriter hands events to a thread that writes them when it gets to them and
    flushes every two minutes, whatever `flush()` is called: a checkpoint saved just after a log could
    then hold an evaluation the events file did not, and a run killed there and resumed lost that point
    (seen with Ray, whose workers send the files as they change: docs/ray.md). tensorboardX's own
    EventsWriter, used here, writes each event at once."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        # The file is named by the second: a resumed session started in the same second as the one it
        # resumes would overwrite that session's file. The suffix keeps each session's file.
        self.events = EventsWriter(str(folder / "events"), f".{time.time_ns()}")
        self.closed = False

    def add(self, step: int, summary: Summary | None = None, session_log: SessionLog | None = None) -> None:
        self.events.write_event(Event(wall_time=time.time(), step=int(step), summary=summary,
                                      session_log=session_log))

    def scalar(self, tag: str, value: float, step: int) -> None:
        self.add(step, scalar(tag, value))

    def flush(self) -> None:
        self.events.flush()

    def close(self) -> None:
        if not self.closed:
            self.events.close()
            self.closed = True


class RunLogger:
    def __init__(self, run_dir: Path, tensorboard_dir: Path, total_episodes: int, label: str, position: int = 0,
                 quiet: bool = True) -> None:
        self.run_dir = run_dir
        self.events = EventFile(tensorboard_dir)
        self.progress = tqdm(total=total_episodes, desc=label, unit="ep", position=position, disable=quiet,
                             leave=True, mininterval=0.5, dynamic_ncols=True)
        self.scalars: dict[str, float] = {}  # the latest training scalars (loss, exploration rate)
        self.rate_mark = (time.perf_counter(), 0)  # (time, episodes) of the last TensorBoard point

    def configuration(self, effective: dict[str, Any]) -> None:
        """What produced the run, as text at step 0, and its HParams entry (hyperparameters and the
        metrics to come), in the run's own folder so that `tensorboard --logdir runs` compares runs."""
        self.events.add(0, text("config", "```\n" + json.dumps(effective, indent=1) + "\n```"))
        experiment, session_start, _ = hparams_summaries(hparams_of(effective), dict.fromkeys(HPARAM_METRICS, 0.0))
        self.events.add(0, experiment)
        self.events.add(0, session_start)
        self.events.flush()

    def final_metrics(self, episode: int, best_performance: float | None, first_solve: int | None,
                      final_performance: float | None) -> None:
        """The HParams tab's metrics at the run's end (a metric with no value, such as the first solve of
        a run never solved, is left out: the tab shows it blank) and the session's end."""
        values = dict(zip(HPARAM_METRICS, (best_performance, first_solve, final_performance), strict=True))
        for tag, value in values.items():
            if value is not None:
                self.events.scalar(tag, value, episode)
        self.events.add(0, hparams_summaries({}, {})[2])  # session end: success
        self.events.flush()

    def advance(self, episodes: int, **scalars: float) -> None:
        self.progress.update(episodes)
        self.scalars.update(scalars)

    def show(self, performance: float, best: float) -> None:
        self.progress.set_postfix(perf=f"{performance:.1f}", best=f"{best:.1f}", refresh=False)

    def resumed_at(self, episode: int) -> None:
        """A session resuming from the checkpoint of `episode`. Points an earlier session logged after that
        checkpoint (it went on before it was killed) are logged again by this one: a SessionLog START at
        step episode + 1 tells TensorBoard to drop the earlier ones (its reader purges the steps of earlier
        files from a START's step on), so the resumed run's curves hold each point once."""
        self.rate_mark = (time.perf_counter(), episode)
        self.progress.update(episode)
        self.events.add(episode + 1, session_log=SessionLog(status=SessionLog.START))
        self.events.flush()

    def write(self, evaluation: Evaluation, episodes_done: int, elapsed: float, global_performance: float) -> None:
        """The evaluation's log file and its TensorBoard points (at the evaluation's episode)."""
        write_evaluation_log(self.run_dir, evaluation, elapsed)
        episode = evaluation.episode
        now = time.perf_counter()
        mark_time, mark_episode = self.rate_mark
        if now > mark_time and episode > mark_episode:
            self.scalars["episodes_per_second"] = (episodes_done - mark_episode) / (now - mark_time)
        self.rate_mark = (now, episodes_done)
        events = self.events
        events.scalar("evaluation/mean_performance", evaluation.mean_performance, episode)
        events.scalar("evaluation/mean_total_reward", evaluation.mean_reward, episode)
        events.scalar("evaluation/solved_fraction", evaluation.solved_fraction, episode)
        events.scalar("evaluation/global_performance", global_performance, episode)
        for name, value in self.scalars.items():
            if math.isfinite(value):  # not the loss before the first gradient step (NaN)
                events.scalar(f"train/{name}", value, episode)
        events.flush()

    def close(self) -> None:
        self.progress.close()
        self.events.close()
