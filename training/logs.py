"""What a run writes for people to read: the `NNNNNNN_Evaluation` log files, TensorBoard points (and
its HParams entry) and the progress bar (docs/training.md, "Outputs")."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tensorboardX import SummaryWriter
from tensorboardX.summary import hparams as hparams_summaries
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


class RunLogger:
    def __init__(self, run_dir: Path, tensorboard_dir: Path, total_episodes: int, label: str, position: int = 0,
                 quiet: bool = True) -> None:
        self.run_dir = run_dir
        # tensorboardX names its file by the second only: a resumed session started in the same second as
        # the one it resumes would overwrite that session's file. The suffix keeps each session's file.
        self.writer = SummaryWriter(logdir=str(tensorboard_dir), filename_suffix=f".{time.time_ns()}")
        self.progress = tqdm(total=total_episodes, desc=label, unit="ep", position=position, disable=quiet,
                             leave=True, mininterval=0.5, dynamic_ncols=True)
        self.scalars: dict[str, float] = {}  # the latest training scalars (loss, exploration rate)
        self.rate_mark = (time.perf_counter(), 0)  # (time, episodes) of the last TensorBoard point

    def configuration(self, effective: dict[str, Any]) -> None:
        """What produced the run, as text at step 0, and its HParams entry (hyperparameters and the
        metrics to come), in the run's own folder so that `tensorboard --logdir runs` compares runs."""
        self.writer.add_text("config", "```\n" + json.dumps(effective, indent=1) + "\n```", 0)
        experiment, session_start, _ = hparams_summaries(hparams_of(effective), dict.fromkeys(HPARAM_METRICS, 0.0))
        file_writer = self.writer._get_file_writer()
        file_writer.add_summary(experiment)
        file_writer.add_summary(session_start)

    def final_metrics(self, episode: int, best_performance: float | None, first_solve: int | None,
                      final_performance: float | None) -> None:
        """The HParams tab's metrics at the run's end (a metric with no value, such as the first solve of
        a run never solved, is left out: the tab shows it blank) and the session's end."""
        values = dict(zip(HPARAM_METRICS, (best_performance, first_solve, final_performance), strict=True))
        for tag, value in values.items():
            if value is not None:
                self.writer.add_scalar(tag, value, episode)
        self.writer._get_file_writer().add_summary(hparams_summaries({}, {})[2])  # session end: success
        self.writer.flush()

    def advance(self, episodes: int, **scalars: float) -> None:
        self.progress.update(episodes)
        self.scalars.update(scalars)

    def show(self, performance: float, best: float) -> None:
        self.progress.set_postfix(perf=f"{performance:.1f}", best=f"{best:.1f}", refresh=False)

    def resumed_at(self, episode: int) -> None:
        self.rate_mark = (time.perf_counter(), episode)
        self.progress.update(episode)

    def write(self, evaluation: Evaluation, episodes_done: int, elapsed: float, global_performance: float) -> None:
        """The evaluation's log file and its TensorBoard points (at the evaluation's episode)."""
        write_evaluation_log(self.run_dir, evaluation, elapsed)
        episode = evaluation.episode
        now = time.perf_counter()
        mark_time, mark_episode = self.rate_mark
        if now > mark_time and episode > mark_episode:
            self.scalars["episodes_per_second"] = (episodes_done - mark_episode) / (now - mark_time)
        self.rate_mark = (now, episodes_done)
        w = self.writer
        w.add_scalar("evaluation/mean_performance", evaluation.mean_performance, episode)
        w.add_scalar("evaluation/mean_total_reward", evaluation.mean_reward, episode)
        w.add_scalar("evaluation/solved_fraction", evaluation.solved_fraction, episode)
        w.add_scalar("evaluation/global_performance", global_performance, episode)
        for name, value in self.scalars.items():
            w.add_scalar(f"train/{name}", value, episode)
        w.flush()

    def close(self) -> None:
        self.progress.close()
        self.writer.close()
