"""Episodes and seconds until the shipped DQN preset first solves each single-target run, and the
four-target run.

    python benchmarks/time_to_solve.py [--seeds 3] [--runs 1-5] [--jobs 1] [--threads CORES] [--assess 100]
                                       [--max-episodes N] [--skip-four-targets] [--four-target-run 9]

Trains the DQN preset of config.json on the five single-target runs of training.json (ids 1-5) with
each seed (`--runs` picks some of them: `5`, `1,3`, `2-4`), evaluating greedily every --assess
episodes, each run stopping at its first evaluation that solves its target(s) (or at the run's
episode budget, or --max-episodes when smaller). Then a
four-target run the same way: id 9 by default, where the four targets take turns every episode so
that all four are learnt at once; id 10 (`--four-target-run 10`) gives each target one block of
25,000 episodes in turn, so solving all four at one evaluation asks the agent to keep the first
three through the last block. Runs go `--jobs` at a time, each in its own process with
`--threads` torch threads (default: one run at a time on every core, the fastest per run: two runs
side by side on a 2-core machine each take about 1.6 times as long as one alone). Prints one table (a
row as each run ends) and the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.host import describe_machine  # noqa: E402
from training.config import load_config, load_training  # noqa: E402
from training.processes import run_in_processes  # noqa: E402
from training.result import RunResult  # noqa: E402

SINGLE_TARGET_IDS = ["1", "2", "3", "4", "5"]
FOUR_TARGET_IDS = ("9", "10")


def tasks_for(run_ids: list[str], seeds: list[int], assess: int, folder: Path,
              max_episodes: int | None = None) -> list[dict]:
    config = load_config(ROOT / "config.json")
    runs = {run.folder: run for run in load_training(ROOT / "training.json", config)}
    raw = {str(entry["id"]): entry for entry in json.loads((ROOT / "training.json").read_text())}
    config_data = config.to_json()
    config_data["settings"].update(ASSESS_FREQ=assess, LOG_FREQ=10**9, SAVE_FREQ=0)
    tasks = []
    for run_id in run_ids:
        assert config.presets[runs[run_id].algo].agent == "DQN_Agent", f"run {run_id} is not a DQN run"
        for seed in seeds:
            name = f"{run_id}-seed{seed}"
            run_data = dict(raw[run_id])
            if max_episodes:
                run_data["episodes"] = min(run_data["episodes"], max_episodes)
            tasks.append({"run_data": run_data, "config_data": config_data, "run_dir": str(folder / name),
                          "tensorboard_dir": str(folder / "runs" / name), "seed": seed, "quiet": True,
                          "stop_when_solved": True})
    return tasks


def targets_of(task: dict) -> str:
    values = task["run_data"]["targets"]["values"]
    return " ".join(str(v) for v in values) if len(values) == 1 else f"{len(values)} targets"


def print_rows(tasks: list[dict], results: list[RunResult]) -> None:
    for task, result in zip(tasks, results, strict=True):
        print_row(task, result)


def print_row(task: dict, result: RunResult) -> None:
    solved = result.first_solve is not None
    episodes = result.first_solve if solved else f">{result.episodes}"
    seconds = result.first_solve_seconds if solved else result.seconds
    program = "; ".join(result.program or [])
    if not solved:
        program = f"not solved (best {result.best_performance})"
    if result.status == "failed":
        program = f"FAILED: {result.error}"
    print(f"{targets_of(task):<22}{task['seed']:>5}{episodes:>10}{seconds:>9.1f}  {program}", flush=True)


def run_ids(text: str) -> list[str]:
    """The single-target run ids of `--runs` ("5", "1,3", "2-4"), in training.json's order."""
    chosen: set[str] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"{text!r}: expected ids such as 5, 1,3 or 2-4")
        chosen.update(str(i) for i in range(int(low), int(high or low) + 1))
    unknown = sorted(chosen - set(SINGLE_TARGET_IDS), key=int)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: the single-target runs are 1-5, not {', '.join(unknown)}")
    return [i for i in SINGLE_TARGET_IDS if i in chosen]


def single_targets(args: argparse.Namespace, threads: int, folder: Path) -> None:
    single = tasks_for(args.runs, list(range(args.seeds)), args.assess, folder, args.max_episodes)
    results = run_in_processes(single, args.jobs, lambda index, result: print_row(single[index], result),
                               threads=threads)
    solved = [r for r in results if r.first_solve is not None]
    print(f"single targets solved: {len(solved)}/{len(results)}")
    if len(solved) == len(results):
        print(f"median episodes to first solve: {statistics.median(r.first_solve for r in solved):g} "
              "(required ≤ 5,000)")
        print(f"median seconds to first solve: {statistics.median(r.first_solve_seconds for r in solved):.1f}"
              " (required ≤ 60)")
    else:
        unsolved = len(results) - len(solved)
        print(f"{unsolved} run(s) unsolved within their budget: medians over all runs are not defined")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds per single-target run (default 3)")
    parser.add_argument("--runs", type=run_ids, default=SINGLE_TARGET_IDS,
                        help="single-target runs of training.json to train (default 1-5)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: cores / jobs)")
    parser.add_argument("--assess", type=int, default=100, help="evaluate every so many episodes (default 100)")
    parser.add_argument("--max-episodes", type=int, help="cap every run's episode budget")
    parser.add_argument("--skip-four-targets", action="store_true", help="only the single-target runs")
    parser.add_argument("--skip-single-targets", action="store_true", help="only the four-target run")
    parser.add_argument("--four-target-run", choices=FOUR_TARGET_IDS, default="9",
                        help="which four-target run of training.json (default 9: targets alternate every episode)")
    args = parser.parse_args()
    for flag in ("seeds", "jobs", "threads", "assess", "max_episodes"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    print(f"machine: {describe_machine()}; {args.jobs} run(s) at a time, {threads} torch thread(s) each")
    print(f"{'target':<22}{'seed':>5}{'episodes':>10}{'seconds':>9}  program found (first solve)")
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        if not args.skip_single_targets:
            single_targets(args, threads, folder)
        if not args.skip_four_targets:
            four = tasks_for([args.four_target_run], [0], args.assess, folder, args.max_episodes)
            result = run_in_processes(four, 1, threads=threads)
            print_rows(four, result)
            for solved in result[0].programs or []:
                print(f"    {str(solved['target']):<20} {'; '.join(solved['program'])}")
            verdict = "solved" if result[0].first_solve is not None else "not solved"
            print(f"four-target run {args.four_target_run}: {verdict} (required ≤ 100,000 episodes)")


if __name__ == "__main__":
    main()
