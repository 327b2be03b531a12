"""What a run writes for people to read: the `NNNNNNN_Evaluation` log files, TensorBoard points and
the progress bar (README, "Outputs")."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tensorboardX import SummaryWriter
from tqdm import tqdm

from training.evaluation import Evaluation, write_evaluation_log


class RunLogger:
    def __init__(self, run_dir: Path, tensorboard_dir: Path, total_episodes: int, label: str, position: int = 0,
                 quiet: bool = True) -> None:
        self.run_dir = run_dir
        self.writer = SummaryWriter(logdir=str(tensorboard_dir))
        self.progress = tqdm(total=total_episodes, desc=label, unit="ep", position=position, disable=quiet,
                             leave=True, mininterval=0.5, dynamic_ncols=True)
        self.scalars: dict[str, float] = {}  # the latest training scalars (loss, exploration rate)
        self.rate_mark = (time.perf_counter(), 0)  # (time, episodes) of the last TensorBoard point

    def configuration(self, effective: dict[str, Any]) -> None:
        """What produced the run, as text at step 0."""
        self.writer.add_text("config", "```\n" + json.dumps(effective, indent=1) + "\n```", 0)

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
