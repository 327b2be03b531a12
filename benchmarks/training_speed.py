"""Training speed of each shipped preset on its training file: episodes and gradient steps per
second, where the time goes, and peak memory.

    python benchmarks/training_speed.py [--presets DQN,Generalist,AC,PG] [--seconds 60] [--threads 1]
                                        [--seed 0] [--against COMMIT] [--json PATH]

Each preset trains on its training file as `main.py` would, for `--seconds` of training (the run's
own clock, `train_run(max_seconds=...)`), alone in a fresh process with `--threads` torch threads:
`DQN`, `AC` and `PG` on run 5 of training.json (one target; the preset in place of the run's own
`algo`, as benchmarks/time_to_solve.py does), `Generalist` on examples/generalist_training.json
(random targets of 5 instructions, half of them hard, evaluated on the held-out tiers). The time is
split by the innermost of these that is running:

- setup: the run's context (its evaluation tasks, the held-out tiers drawn and proved) and the agent;
- acting: the agent choosing its actions (the network on the batch of states, exploration);
- learning: the gradient steps (sampling the replay, the targets, the backward pass, the optimizer);
- evaluating: the periodic evaluations on the run's evaluation tasks (every ASSESS_FREQ episodes);
- drawing tasks: the targets (or functions) of the episodes that start;
- other: the environment's steps, the replay's writes, logs, checkpoints.

Episodes per second count the training clock (acting to other, not setup); a gradient step is one
optimizer step (one `learn`: a DQN minibatch, or an on-policy agent's update of one rollout). Peak
memory is the process's resident peak (`ru_maxrss`), Python and torch included.

`--against COMMIT` measures the same presets, in the same way and in alternation, on the project as
it was at COMMIT (a `git archive` of it in a temporary folder, run with this script's instruments),
and prints both tables and the ratio of episodes per second: a before-and-after figure from one run
on one machine. `--json` writes every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PRESETS = ["DQN", "Generalist", "AC", "PG"]
SECTIONS = ["acting", "learning", "evaluating", "drawing tasks", "other"]
TRAINING_FILES = {"DQN": ("training.json", "5"), "AC": ("training.json", "5"), "PG": ("training.json", "5"),
                  "Generalist": ("examples/generalist_training.json", "generalist")}


class Sections:
    """Wall time by section, each moment counted once: to the innermost section running."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.stack: list[str] = []
        self.since = time.perf_counter()

    def _switch(self) -> None:
        now = time.perf_counter()
        if self.stack:
            self.seconds[self.stack[-1]] = self.seconds.get(self.stack[-1], 0.0) + now - self.since
        self.since = now

    def wrap(self, owner: type, name: str, section: str) -> None:
        """Count the time in `owner.name` (a method) to `section`, and its calls."""
        method = getattr(owner, name, None)
        if method is None:  # an older tree may lack it (--against): that section then reads 0
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._switch()
            self.stack.append(section)
            self.calls[section] = self.calls.get(section, 0) + 1
            try:
                return method(*args, **kwargs)
            finally:
                self._switch()
                self.stack.pop()

        setattr(owner, name, timed)


def instrument(sections: Sections) -> None:
    """Wrap the agents', the evaluator's and the task sources' methods (in this process only)."""
    from agents.dqn import DQN_Agent
    from agents.expert_iteration import ExpertIteration
    from agents.on_policy import OnPolicyAgent
    from environment.tasks import ScheduledTasks
    from training.evaluation import Evaluator
    from training.monitor import Monitor
    for owner, name, section in [
            (Monitor, "start", "other"), (Monitor, "finish", "other"),  # the first and last evaluations, saves
            (DQN_Agent, "train", "other"), (OnPolicyAgent, "train", "other"),
            (DQN_Agent, "act", "acting"), (OnPolicyAgent, "sample_actions", "acting"),
            (ExpertIteration, "search_round", "acting"),  # a preset with expert iteration: its searches
            (DQN_Agent, "learn", "learning"), (OnPolicyAgent, "learn", "learning"),
            (Evaluator, "__call__", "evaluating"), (ScheduledTasks, "__call__", "drawing tasks")]:
        sections.wrap(owner, name, section)


def measure_one(preset: str, seconds: float | None, episodes: int | None, threads: int, seed: int) -> dict[str, Any]:
    """Train `preset` on its training file for `seconds` (or `episodes`) in this process (the tree on
    sys.path)."""
    import resource

    from training.evaluation import Evaluator
    from training.run import train_run
    sections = Sections()
    instrument(sections)
    evaluations = []
    timed_evaluation = Evaluator.__call__

    def kept_evaluation(evaluator: Any, *args: Any) -> Any:  # (episode[, should_stop]): this tree's or an older one's
        evaluations.append(timed_evaluation(evaluator, *args))
        return evaluations[-1]

    Evaluator.__call__ = kept_evaluation
    config = json.loads(Path("config.json").read_text())
    path, run_id = TRAINING_FILES[preset]
    run = next(entry for entry in json.loads(Path(path).read_text()) if str(entry["id"]) == run_id)
    run = {**run, "algo": preset, **({"episodes": episodes} if episodes else {})}
    folder = Path(tempfile.mkdtemp(prefix="training_speed_"))
    started = time.perf_counter()
    result = train_run(run, config, str(folder / "run"), str(folder / "tb"), seed=seed, threads=threads,
                       max_seconds=None if episodes else seconds)
    total = time.perf_counter() - started
    if result.status != "finished":
        raise RuntimeError(f"{preset}: the run {result.status}: {result.error}")
    split = {name: sections.seconds.get(name, 0.0) for name in SECTIONS}
    training = sum(split.values())
    return {"preset": preset, "training_file": path, "run": run_id, "episodes": result.episodes,
            "gradient_steps": sections.calls.get("learning", 0), "seconds": training,
            "setup": total - training, "split": split,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "final_solved": evaluations[-1].solved_fraction, "final_performance": evaluations[-1].mean_performance}


def measure(tree: Path, preset: str, args: argparse.Namespace) -> dict[str, Any]:
    """`measure_one` in a fresh process on the project at `tree` (its own peak memory, its own code)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", preset, "--tree", str(tree),
               "--seconds", str(args.seconds), "--threads", str(args.threads), "--seed", str(args.seed),
               *(["--episodes", str(args.episodes)] if args.episodes else [])]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode != 0:
        raise RuntimeError(f"{preset} at {tree}: the measuring process failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def archived(commit: str, folder: Path) -> Path:
    """The project at `commit`, unpacked into `folder` (git archive; nothing of this checkout changes)."""
    archive = folder / "tree.tar"
    with archive.open("wb") as out:
        done = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, stdout=out,
                              stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git archive {commit} failed: {done.stderr.decode().strip()}")
    tree = folder / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def table(rows: list[dict[str, Any]], title: str) -> str:
    header = (f"{'preset':<11}{'episodes':>9}{'ep/s':>8}{'steps':>8}{'steps/s':>9}  "
              + "".join(f"{name:>15}" for name in SECTIONS) + f"{'setup s':>9}{'peak MiB':>10}")
    lines = [title, header, "-" * len(header)]
    for row in rows:
        seconds = row["seconds"]
        shares = "".join(f"{row['split'][name]:>8.1f}s {100 * row['split'][name] / seconds:>3.0f}%"
                         for name in SECTIONS)
        lines.append(f"{row['preset']:<11}{row['episodes']:>9}{row['episodes'] / seconds:>8.1f}"
                     f"{row['gradient_steps']:>8}{row['gradient_steps'] / seconds:>9.1f}  {shares}"
                     f"{row['setup']:>9.1f}{row['peak_mib']:>10.0f}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets of config.json")
    parser.add_argument("--seconds", type=float, default=60.0, help="training seconds per preset (default 60)")
    parser.add_argument("--episodes", type=int, help="train this many episodes instead of --seconds "
                        "(learning compared at equal episodes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1, as main.py)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--against", metavar="COMMIT", help="also measure the project at COMMIT, in alternation")
    parser.add_argument("--json", metavar="PATH", help="write every measurement to PATH")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tree", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.presets = [name.strip() for name in args.presets.split(",") if name.strip()]
    unknown = [name for name in args.presets if name not in PRESETS]
    if unknown or not args.presets:
        parser.error(f"--presets must name some of {', '.join(PRESETS)}, got {', '.join(unknown) or 'none'}")
    if not args.seconds > 0:
        parser.error(f"--seconds must be positive, got {args.seconds:g}")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.episodes is not None and args.episodes < 1:
        parser.error(f"--episodes must be at least 1, got {args.episodes}")
    if args.against and not args.child:
        known = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{args.against}^{{commit}}"], cwd=ROOT,
                               capture_output=True, text=True, check=False)
        if known.returncode != 0:
            parser.error(f"--against: git cannot archive {args.against!r}: not a commit of this repository")
    return args


def main(argv: list[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parse_args(argv)
    if args.child:  # the measuring process: the tree's own code, this script's instruments
        sys.path.insert(0, args.tree)
        print(json.dumps(measure_one(args.child, args.seconds, args.episodes, args.threads, args.seed)))
        return 0
    sys.path.insert(0, str(ROOT))
    from benchmarks.host import describe_machine
    out(f"machine: {describe_machine()}")
    budget = f"{args.episodes} episodes" if args.episodes else f"{args.seconds:g} s of training"
    out(f"{budget} per preset, {args.threads} torch thread(s), seed {args.seed}")
    trees = {"this checkout": ROOT}
    with tempfile.TemporaryDirectory(prefix="training_speed_") as folder:
        if args.against:
            trees = {f"at {args.against}": archived(args.against, Path(folder)), **trees}
        measured: dict[str, list[dict[str, Any]]] = {label: [] for label in trees}
        for preset in args.presets:  # alternating, so that a drift of the machine falls on both
            for label, tree in trees.items():
                row = measure(tree, preset, args)
                out(f"  {preset} ({label}): {row['episodes']} episodes in {row['seconds']:.1f} s; last evaluation "
                    f"{100 * row['final_solved']:.1f}% solved, mean performance {row['final_performance']:.3f}")
                measured[label].append(row)
    for label, rows in measured.items():
        out("")
        out(table(rows, f"training speed, {label}"))
    if args.against:
        before, after = measured[f"at {args.against}"], measured["this checkout"]
        out("")
        out(f"episodes per second, this checkout against {args.against}:")
        for old, new in zip(before, after, strict=True):
            ratio = (new["episodes"] / new["seconds"]) / (old["episodes"] / old["seconds"])
            out(f"  {new['preset']:<11}{old['episodes'] / old['seconds']:>8.1f} -> "
                f"{new['episodes'] / new['seconds']:>8.1f} episodes/s  ({ratio:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(measured, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
