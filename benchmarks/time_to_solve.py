"""Episodes and seconds until a shipped preset first solves each run of training.json, whether it stays
solved, and interval estimates of both.

    python benchmarks/time_to_solve.py [--algo DQN[,AC,PG]] [--runs 1-5] [--seeds 5] [--jobs 1]
                                       [--threads CORES] [--assess 100] [--max-episodes N]
                                       [--after-solve 1000 | --full] [--reps 2000] [--png PATH]
                                       [--save RESULTS.json] [--load RESULTS.json ...] [--set NAME=VALUE]

Trains each preset of `--algo` (presets of config.json; every run of training.json is trained with
that preset in place of its own `algo`) on the runs `--runs` names (ids of training.json: `5`,
`1,3`, `2-4`, `1-10`) with seeds 0 .. `--seeds` − 1, evaluating greedily every `--assess` episodes.
A run goes on `--after-solve` episodes past its first solve (`--full`: to its budget), so that the
table can say whether it stayed solved: per run, the episodes and seconds to the first solve, the
fraction of the later evaluations that solved too ("kept"), and the final evaluation's performance
(the model at the run's end, `models/last`). Per preset: runs solved, median and worst, and the
interquartile mean (IQM) of episodes and seconds to first solve with its 95% stratified-bootstrap
confidence interval (rliable, Agarwal et al. 2021: the runs of training.json are the tasks, the seeds
the samples); a run never solved counts as its budget (so the IQM is then a lower bound, and says
so). The PNG draws the fraction of runs solved against episodes, one line per preset.

Runs go `--jobs` at a time, each in its own process with `--threads` torch threads (default: one run
at a time on every core). `--save` writes every run's outcome to a JSON file; `--load` reads such
files (several measurements, each on its own terms, such as DQN alone and AC and PG side by side)
and prints their table, summaries and figure without training. `--set NAME=VALUE` changes a parameter
of every preset trained (an ablation, e.g. `--set instruction_cost=0`), validated as config.json is.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.host import describe_machine  # noqa: E402
from benchmarks.options import SET_HELP, parameter_overrides  # noqa: E402
from synthesis.exact import Synthesizer  # noqa: E402
from toycorewar import MachineConfig  # noqa: E402
from training.config import ConfigError, load_config, parse_config  # noqa: E402
from training.processes import run_in_processes  # noqa: E402
from training.result import RunResult  # noqa: E402

SINGLE_TARGET_IDS = ["1", "2", "3", "4", "5"]


@dataclass
class Outcome:
    """One (preset, run, seed) of the benchmark and its result."""

    algo: str
    run_id: str
    seed: int
    targets: str
    budget: int
    result: RunResult
    # The final model's greedy programs (models/last, one per target of the run) against the optimum
    # the exact synthesizer proves: the mean of (length − optimum) over the targets they reach (None:
    # none reached, or an outcome saved before it was measured).
    length_above_optimal: float | None = None

    @property
    def solved(self) -> bool:
        return self.result.first_solve is not None

    @property
    def episodes(self) -> int:
        """Episodes to the first solve; the run's budget when never solved."""
        return self.result.first_solve if self.solved else self.budget

    @property
    def seconds(self) -> float:
        return self.result.first_solve_seconds if self.solved else self.result.seconds


def training_entries() -> dict[str, dict]:
    return {str(entry["id"]): entry for entry in json.loads((ROOT / "training.json").read_text())}


def run_ids(text: str) -> list[str]:
    """The run ids of `--runs` ("5", "1,3", "2-4"), in training.json's order."""
    known = list(training_entries())
    chosen: set[str] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"{text!r}: expected ids such as 5, 1,3 or 2-4")
        chosen.update(str(i) for i in range(int(low), int(high or low) + 1))
    unknown = sorted(chosen - set(known), key=int)
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: training.json has runs {known[0]}-{known[-1]}, "
                                         f"not {', '.join(unknown) or 'none'}")
    return [i for i in known if i in chosen]


def presets(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    known = load_config(ROOT / "config.json").presets
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: the presets of config.json are {', '.join(known)}")
    return names


def tasks_for(algo: str, ids: list[str], seeds: list[int], assess: int, folder: Path,
              max_episodes: int | None = None, after_solve: int | None = 0,
              overrides: dict | None = None) -> list[dict]:
    """train_run's keyword arguments for each (run, seed), trained with preset `algo`, its parameters
    changed by `overrides`."""
    config_data = load_config(ROOT / "config.json").to_json()
    config_data["settings"].update(ASSESS_FREQ=assess, LOG_FREQ=10**9, SAVE_FREQ=0)
    config_data["presets"][algo]["parameters"].update(overrides or {})
    entries = training_entries()
    tasks = []
    for run_id in ids:
        for seed in seeds:
            name = f"{algo}-{run_id}-seed{seed}"
            run_data = {**entries[run_id], "algo": algo}
            if max_episodes:
                run_data["episodes"] = min(run_data["episodes"], max_episodes)
            tasks.append({"run_data": run_data, "config_data": config_data, "run_dir": str(folder / name),
                          "tensorboard_dir": str(folder / "runs" / name), "seed": seed, "quiet": True,
                          "after_solve": after_solve})
    return tasks


def targets_of(run_data: dict) -> str:
    values = run_data["targets"]["values"]
    return " ".join(str(v) for v in values) if len(values) == 1 else f"{len(values)} targets"


def outcome_to_json(o: Outcome) -> dict:
    return {"algo": o.algo, "run_id": o.run_id, "seed": o.seed, "targets": o.targets, "budget": o.budget,
            "result": o.result.to_json(), "length_above_optimal": o.length_above_optimal}


def final_length_above_optimal(task: dict) -> float | None:
    """The mean (length − optimum) of the greedy programs of a trained run's last model (models/last)
    over the targets of its run that they reach, from zeros; None when they reach none (or no model).
    The program is counted as the agent wrote it, stop excluded; the exact synthesizer only judges."""
    from agents.networks import greedy_policy
    from environment import make_reward
    from training.checkpoints import load_network
    from training.evaluation import evaluate
    path = Path(task["run_dir"]) / "models" / "last"
    if not path.is_file():
        return None
    network, checkpoint = load_network(path)
    spec, run = checkpoint["machine"], task["run_data"]
    machine = MachineConfig(spec["num_registers"], spec["n_vals"], spec["max_length"])
    targets = np.asarray(run["targets"]["values"], dtype=np.int64)
    reward = make_reward(run.get("reward_func", "Specific_register_values"), run.get("reward_settings"))
    evaluation = evaluate(greedy_policy(network), machine, reward, targets, np.zeros_like(targets))
    synthesizer = synthesizer_for(machine)
    excess = [sum(instruction != "stop" for instruction in task_result.instructions)
              - synthesizer.shortest_program(task_result.target).length
              for task_result in evaluation.tasks if task_result.solved]
    return statistics.mean(excess) if excess else None


@functools.lru_cache(maxsize=4)
def synthesizer_for(machine: MachineConfig) -> Synthesizer:
    """One exact synthesizer per machine: its levels, shared by every target, are built once."""
    return Synthesizer(machine)


def outcomes_from(path: Path) -> list[Outcome]:
    """The outcomes a `--save` wrote; a file that is not one is one line on stderr and exit 2."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Outcome(d["algo"], d["run_id"], d["seed"], d["targets"], d["budget"], RunResult.from_json(d["result"]),
                        d.get("length_above_optimal")) for d in data["outcomes"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"time_to_solve.py: error: --load {path}: not a file written by --save ({error})", file=sys.stderr)
        raise SystemExit(2) from None


def print_saved(paths: list[Path]) -> dict[str, list[Outcome]]:
    """The outcomes of `--save` files, grouped by preset (or method), each printed as a table row."""
    print(HEADER)
    everything: dict[str, list[Outcome]] = {}
    for path in paths:
        for outcome in outcomes_from(path):
            print(row(outcome))
            everything.setdefault(outcome.algo, []).append(outcome)
    return everything


def save_outcomes(path: Path, everything: dict[str, list[Outcome]]) -> None:
    outcomes = [outcome_to_json(o) for results in everything.values() for o in results]
    path.write_text(json.dumps({"machine": describe_machine(), "argv": sys.argv[1:], "outcomes": outcomes},
                               indent=1, allow_nan=False) + "\n", encoding="utf-8")
    print(f"outcomes: {path}")


def outcome_of(task: dict, result: RunResult) -> Outcome:
    run = task["run_data"]
    return Outcome(run["algo"], str(run["id"]), task["seed"], targets_of(run), run["episodes"], result,
                   final_length_above_optimal(task))


HEADER = (f"{'preset':<11}{'run':>4} {'target':<20}{'seed':>5}{'first solve':>12}{'seconds':>9}{'kept':>7}"
          f"{'final':>7}{'len-opt':>8}  program found (first solve)")


def row(outcome: Outcome) -> str:
    r = outcome.result
    first = f"{r.first_solve:,}" if outcome.solved else f">{r.episodes:,}"
    kept = "-" if r.later_solved_fraction is None else f"{r.later_solved_fraction:.0%}"
    final = "-" if r.final_performance is None else f"{r.final_performance:g}"
    excess = "-" if outcome.length_above_optimal is None else f"{outcome.length_above_optimal:.2f}"
    program = "; ".join(r.program) if outcome.solved else f"not solved (best {r.best_performance})"
    if r.status == "failed":
        program = f"FAILED: {r.error}"
    if outcome.solved and len(r.programs) > 1:
        program = f"{len(r.programs)} programs"
    return (f"{outcome.algo:<11}{outcome.run_id:>4} {outcome.targets:<20}{outcome.seed:>5}{first:>12}"
            f"{outcome.seconds:>9.1f}{kept:>7}{final:>7}{excess:>8}  {program}")


def score_table(outcomes: list[Outcome], value: str) -> np.ndarray:
    """[seeds, runs]: `value` ("episodes" or "seconds") of each seed (row) on each run (column), as
    rliable reads scores (runs × tasks)."""
    ids = list(dict.fromkeys(o.run_id for o in outcomes))
    seeds = sorted({o.seed for o in outcomes})
    table = np.full((len(seeds), len(ids)), np.nan)
    for o in outcomes:
        table[seeds.index(o.seed), ids.index(o.run_id)] = getattr(o, value)
    return table


def iqm_interval(table: np.ndarray, reps: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """The interquartile mean of a [samples, tasks] score table and its 95% stratified-bootstrap
    confidence interval (rliable: samples are redrawn within each task)."""
    from rliable import library as rly
    from rliable import metrics

    np.random.seed(seed)  # rliable's bootstrap draws from numpy's global generator
    points, intervals = rly.get_interval_estimates(
        {"x": table}, lambda scores: np.array([metrics.aggregate_iqm(scores)]), reps=reps)
    return float(points["x"][0]), float(intervals["x"][0, 0]), float(intervals["x"][1, 0])


def summarise(algo: str, outcomes: list[Outcome], reps: int) -> list[str]:
    solved = [o for o in outcomes if o.solved]
    kept = [o.result.later_solved_fraction for o in solved if o.result.later_solved_fraction is not None]
    final_solved = sum(o.result.final_performance == 0 for o in outcomes)
    lines = [f"{algo}: {len(solved)}/{len(outcomes)} runs solved; solved at the end {final_solved}/{len(outcomes)}"
             + (f"; after the first solve, {statistics.mean(kept):.1%} of the later evaluations solved "
                f"(lowest run {min(kept):.0%})" if kept else "")]
    censored = " (unsolved runs count as their budget: a lower bound)" if len(solved) < len(outcomes) else ""
    for value, unit in (("episodes", "episodes"), ("seconds", "s")):
        table = score_table(outcomes, value)
        iqm, low, high = iqm_interval(table, reps)
        values = [getattr(o, value) for o in outcomes]
        lines.append(f"  {value} to first solve: median {statistics.median(values):,.1f} {unit}, worst "
                     f"{max(values):,.1f}, IQM {iqm:,.1f} [95% CI {low:,.1f}, {high:,.1f}]{censored}")
    excess = [o.length_above_optimal for o in outcomes if o.length_above_optimal is not None]
    if excess:
        lines.append(f"  final programs (models/last, greedy): {statistics.mean(excess):.2f} instructions above the "
                     f"optimum on average over {len(excess)} runs that reach their targets (worst run "
                     f"{max(excess):.2f})")
    before = sum(o.solved and o.result.first_solve == 0 for o in outcomes)
    if before:
        lines.append(f"  {before} run(s) solved at the first evaluation, before any training")
    return lines


def draw(outcomes: dict[str, list[Outcome]], path: Path,
         title: str = "time to first solve (greedy evaluation)") -> None:
    """The fraction of runs solved against episodes, one line per preset (or method)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    longest = max(o.budget for results in outcomes.values() for o in results)
    # Widths and dashes differ, so that presets that solve alike stay visible on top of each other.
    styles = [("-", 4.0), ("--", 2.5), (":", 1.5), ("-.", 1.0)]
    for index, (algo, results) in enumerate(outcomes.items()):
        solves = sorted(o.episodes for o in results if o.solved)
        episodes = [0, *solves, longest]
        fraction = [sum(s <= e for s in solves) / len(results) for e in episodes]
        dash, width = styles[index % len(styles)]
        axes.step(episodes, fraction, where="post", linestyle=dash, linewidth=width,
                  label=f"{algo} ({len(solves)}/{len(results)})")
    axes.set_xscale("symlog", linthresh=100)
    axes.set_xlabel("episodes")
    axes.set_ylabel("fraction of runs solved")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", type=presets, default=["DQN"], help="presets of config.json (default DQN)")
    parser.add_argument("--runs", type=run_ids, default=SINGLE_TARGET_IDS,
                        help="runs of training.json to train (default 1-5, the single targets)")
    parser.add_argument("--seeds", type=int, default=5, help="seeds per run: 0 .. N-1 (default 5)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (default 1)")
    parser.add_argument("--threads", type=int, help="torch threads per run (default: cores / jobs)")
    parser.add_argument("--assess", type=int, default=100, help="evaluate every so many episodes (default 100)")
    parser.add_argument("--max-episodes", type=int, help="cap every run's episode budget")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--after-solve", type=int, default=1000,
                      help="episodes trained past the first solve (default 1000)")
    stop.add_argument("--full", action="store_true", help="train every run to its budget")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--png", type=Path, default=Path("time_to_solve.png"),
                        help="where the figure goes (default time_to_solve.png)")
    parser.add_argument("--save", type=Path, help="write every run's outcome to this JSON file")
    parser.add_argument("--load", type=Path, nargs="+", help="report the outcomes of --save files, training nothing")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help=SET_HELP)
    args = parser.parse_args(argv)
    check_arguments(parser, args, ("seeds", "jobs", "threads", "assess", "max_episodes", "reps"))
    if args.after_solve < 0:
        parser.error(f"--after-solve must be at least 0, got {args.after_solve}")
    args.overrides = parameter_overrides(parser, args.set)
    if args.overrides:
        config = load_config(ROOT / "config.json").to_json()
        for algo in args.algo:
            config["presets"][algo]["parameters"].update(args.overrides)
        try:
            parse_config(config)  # the changed parameters are valid for every preset trained
        except ConfigError as error:
            parser.error(f"--set {' '.join(args.set)}: {error}")
    return args


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace, counts: tuple[str, ...]) -> None:
    """Refuse (exit 2, one line) a count below 1 among `counts`, or a `--png`/`--save` in no folder."""
    for flag in counts:
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    for flag in ("png", "save"):
        path = getattr(args, flag)
        if path is not None and not path.parent.is_dir():
            parser.error(f"--{flag}: the folder {path.parent} does not exist")


def print_summaries(everything: dict[str, list[Outcome]], reps: int) -> None:
    print()
    for algo, outcomes in everything.items():
        print("\n".join(summarise(algo, outcomes, reps)))


def report(everything: dict[str, list[Outcome]], reps: int, png: Path) -> None:
    print_summaries(everything, reps)
    draw(everything, png)
    print(f"figure: {png}")


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    everything: dict[str, list[Outcome]] = {}
    if args.load:
        report(print_saved(args.load), args.reps, args.png)
        return
    threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    after = None if args.full else args.after_solve
    print(f"machine: {describe_machine()}; {args.jobs} run(s) at a time, {threads} torch thread(s) each")
    print(f"runs {','.join(args.runs)}, seeds 0-{args.seeds - 1}, greedy evaluation every {args.assess} episodes, "
          + ("each run to its budget" if after is None else f"each run {after} episodes past its first solve")
          + "".join(f"; {name} = {json.dumps(value)}" for name, value in args.overrides.items()))
    print(HEADER)
    with tempfile.TemporaryDirectory() as temporary:
        for algo in args.algo:
            tasks = tasks_for(algo, args.runs, list(range(args.seeds)), args.assess, Path(temporary),
                              args.max_episodes, after, args.overrides)
            ended: dict[int, Outcome] = {}

            def show(i: int, result: RunResult, tasks: list[dict] = tasks, ended: dict = ended) -> None:
                ended[i] = outcome_of(tasks[i], result)
                print(row(ended[i]), flush=True)

            results = run_in_processes(tasks, args.jobs, show, threads=threads)
            everything[algo] = [ended.get(i) or outcome_of(task, result)
                                for i, (task, result) in enumerate(zip(tasks, results, strict=True))]
    if args.save:
        save_outcomes(args.save, everything)
    report(everything, args.reps, args.png)

if __name__ == "__main__":
    main()
