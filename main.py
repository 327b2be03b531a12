"""Train the runs of a training file with the presets of a configuration file.

    python main.py NAME [-f] [-t training.json] [-c config.json] [-j N] [--seed S] [--resume] [--quiet]
                          [--ray ADDRESS]

Outputs (docs/training.md, "Outputs"): experiments/NAME/ (Training_descriptions.json, config.json, one folder
per run with NNNNNNN_Evaluation logs and models/best, models/last; summary.json and curves.png at the end) and
TensorBoard curves under runs/NAME/<id>/. Exit status: 0 all runs finished, 1 a run failed,
2 bad input (nothing written), 130 interrupted (checkpoints and logs written).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from training.cli import ArgumentParser, check_name, exit_promptly, fail, stop_on_signals
from training.config import Config, ConfigError, Run, load_config, parse_training
from training.files import ExperimentLock, claim_experiment_folders, read_json, write_json
from training.result import RunResult

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130


def parse_arguments(argv: list[str] | None) -> Any:
    parser = ArgumentParser(prog="python main.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="experiment name: outputs go to experiments/NAME and runs/NAME")
    parser.add_argument("-f", "--force", action="store_true", help="replace an existing experiments/NAME")
    parser.add_argument("-t", "--training", help="training file (default training.json; with --resume, the "
                        "experiment's own Training_descriptions.json)")
    parser.add_argument("-c", "--config", help="configuration file (default config.json; with --resume, the "
                        "experiment's own config.json)")
    parser.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                        help="runs trained at once, each in its own process (default: one per core)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads per run (default 1: a run then gives the same results whatever -j; "
                        "with -j 1 on a multi-core machine, more threads train one run faster)")
    parser.add_argument("--seed", type=int, default=0, help="seed of runs that give none (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted experiment from models/last")
    parser.add_argument("--only", nargs="+", metavar="ID", help="train only these run ids")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--ray", metavar="ADDRESS", help="train the runs as Ray tasks on the cluster at ADDRESS "
                        "(HOST:PORT, auto) or on a Ray instance started here (local); -j is then unused")
    args = parser.parse_args(argv)
    check_name(parser, args.name)
    if args.jobs < 1:
        parser.error(f"-j must be at least 1, got {args.jobs}")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    if args.seed < 0:
        parser.error(f"--seed must be ≥ 0, got {args.seed}")
    if args.force and args.resume:
        parser.error("-f replaces the experiment and --resume continues it: give one of them")
    return args


def read_inputs(args: Any, experiment: Path) -> tuple[Config, list[Run], list]:
    """The validated configuration, the runs and the training file's raw entries. A new experiment reads
    -t and -c; --resume reads the experiment's own saved copies, and -t or -c, if given, must say the same."""
    if not args.resume:
        training = Path(args.training or "training.json")
        config = load_config(args.config or "config.json")
        raw = read_json(training)
        return config, parse_training(raw, config, str(training)), raw
    if not experiment.is_dir():
        raise ConfigError(f"{experiment}: no such experiment to resume")
    saved_training, saved_config = experiment / "Training_descriptions.json", experiment / "config.json"
    config = load_config(saved_config)
    raw = read_json(saved_training)
    runs = parse_training(raw, config, str(saved_training))
    if args.training is not None and read_json(Path(args.training)) != raw:
        raise ConfigError(f"{args.training}: not the runs of {saved_training}, which --resume continues: "
                          "drop -t, or start a new experiment")
    if args.config is not None and load_config(args.config).to_json() != config.to_json():
        raise ConfigError(f"{args.config}: not the configuration of {saved_config}, which --resume continues: "
                          "drop -c, or start a new experiment")
    return config, runs, raw


def resume_plan(runs: list[Run], config: Config, raw_runs: dict[str, dict], experiment: Path) -> dict[str, bool]:
    """Per run, whether --resume continues it from its models/last. A models/last that cannot be
    resumed (damaged, another agent or network) is bad input, found before anything is changed; a
    missing one restarts its run from the beginning, and says so."""
    from training.run import resume_problem  # torch: only once the input files are known good

    plan = {}
    for run in runs:
        last = experiment / run.folder / "models" / "last"
        if not last.exists() and not last.is_symlink():
            print(f"note: {last} is missing: run {run.id} restarts from episode 0", file=sys.stderr)
            plan[run.folder] = False
            continue
        problem = resume_problem(raw_runs[run.folder], config.to_json(), last)
        if problem:
            raise ConfigError(f"{last}: cannot resume run {run.id}: {problem} (nothing was changed; delete the "
                              f"file to restart the run from the beginning)")
        plan[run.folder] = True
    return plan


def prepare_folders(args: Any, experiment: Path, tensorboard: Path) -> None:
    """Refuse to overwrite without -f; with -f replace only experiments/NAME and runs/NAME."""
    if not args.resume:
        claim_experiment_folders(experiment, tensorboard, args.force)


def run_jobs(runs: list[Run], config: Config, args: Any, experiment: Path, tensorboard: Path,
             raw_runs: dict[str, dict], resumed: dict[str, bool]) -> list[RunResult]:
    """Train every run, `args.jobs` at a time; a failing run does not stop the others."""
    tasks = []
    for index, run in enumerate(runs):
        resume = resumed.get(run.folder, False)
        if args.resume and not resume:  # restarted from the beginning: its earlier files go
            for folder in (experiment / run.folder, tensorboard / run.folder):
                if folder.is_dir():
                    shutil.rmtree(folder)
        tasks.append({"run_data": raw_runs[run.folder], "config_data": config.to_json(),
                      "run_dir": str(experiment / run.folder), "tensorboard_dir": str(tensorboard / run.folder),
                      "seed": run.seed if run.seed is not None else args.seed, "quiet": args.quiet,
                      "position": index if args.jobs > 1 else 0, "resume": resume, "threads": args.threads})
    if args.ray:
        from training.ray_cluster import run_on_ray
        return run_on_ray(tasks, args.ray)
    if args.jobs == 1 or len(tasks) == 1:
        return run_here(tasks)
    from training.processes import run_in_processes
    return run_in_processes(tasks, min(args.jobs, len(tasks)))  # each task carries its threads


def run_here(tasks: list[dict]) -> list[RunResult]:
    from training.run import train_run  # torch loads here, after every check: bad input is refused at once

    results = []
    try:
        for task in tasks:
            result = train_run(**task)
            results.append(result)
            if result.status == "interrupted":
                break
    except KeyboardInterrupt:  # between two runs
        pass
    return results + [RunResult.for_task(t, "not started") for t in tasks[len(results):]]


def print_summary(results: list[RunResult]) -> None:
    """One line per run: its status, best performance, first solve, the share of evaluations after the
    first solve that solved too ("kept"), the final performance, episodes and time."""
    header = (f"{'run':<10}{'algorithm':<12}{'status':<13}{'best perf':>10}{'first solve':>13}{'kept':>7}"
              f"{'final':>10}{'episodes':>10}{'time':>9}")
    print(header)
    print("-" * len(header))
    for r in results:
        best = "-" if r.best_performance is None else f"{r.best_performance:g}"
        solve = "-" if r.first_solve is None else str(r.first_solve)
        kept = "-" if r.later_solved_fraction is None else f"{r.later_solved_fraction:.0%}"
        final = "-" if r.final_performance is None else f"{r.final_performance:g}"
        print(f"{str(r.id):<10}{r.algo:<12}{r.status:<13}{best:>10}{solve:>13}{kept:>7}{final:>10}{r.episodes:>10}"
              f"{r.seconds:>8.1f}s")
        if r.error:
            print(f"    error: {r.error}")


def draw_curves(results: list[RunResult], path: Path) -> None:
    from matplotlib.figure import Figure  # no pyplot: no global figure state, and no GUI backend to pick
    figure = Figure(figsize=(8, 5))
    axes = figure.subplots()
    for r in results:
        if r.curve:
            episodes, performance = zip(*r.curve, strict=True)
            axes.plot(episodes, performance, label=f"run {r.id} ({r.algo})")
    axes.set_xlabel("episode")
    axes.set_ylabel("mean evaluation performance (0 = solved)")
    axes.set_title(path.parent.name)
    axes.grid(alpha=0.3)
    if any(r.curve for r in results):
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    experiment, tensorboard = Path("experiments") / args.name, Path("runs") / args.name
    lock = ExperimentLock(experiment)
    try:
        config, runs, raw = read_inputs(args, experiment)
        raw_runs = {str(entry["id"]): entry for entry in raw}
        if args.only:
            unknown = sorted(set(args.only) - {run.folder for run in runs})
            if unknown:
                raise ConfigError(f"{args.training or 'training.json'}: --only: no run with id {', '.join(unknown)}")
            runs = [run for run in runs if run.folder in args.only]
        if args.ray:  # before anything is written: a bad address is bad input
            from training.ray_cluster import connect
            connect(args.ray)
        command = " ".join(["python main.py", *(argv if argv is not None else sys.argv[1:])])
        lock.take(command, tensorboard, args.force, args.resume)
        resumed = resume_plan(runs, config, raw_runs, experiment) if args.resume else {}
        prepare_folders(args, experiment, tensorboard)
    except ConfigError as error:
        lock.release()
        fail(str(error))
    try:
        return train_experiment(args, config, runs, raw, raw_runs, resumed, experiment, tensorboard)
    finally:
        lock.release()


def train_experiment(args: Any, config: Config, runs: list[Run], raw: list, raw_runs: dict[str, dict],
                     resumed: dict[str, bool], experiment: Path, tensorboard: Path) -> int:
    """Write the experiment's inputs (a new one), train its runs, write the summary and the curves."""
    experiment.mkdir(parents=True, exist_ok=True)
    if not args.resume:
        write_json(experiment / "Training_descriptions.json", raw)
        write_json(experiment / "config.json", config.to_json())
    import matplotlib.figure  # noqa: F401  (0.4 s to import: before the runs, not after a Ctrl-C)
    results = run_jobs(runs, config, args, experiment, tensorboard, raw_runs, resumed)
    print()
    print_summary(results)
    write_json(experiment / "summary.json", [r.to_json() for r in results])
    draw_curves(results, experiment / "curves.png")
    for r in results:
        if r.status == "failed" and r.traceback:
            (experiment / str(r.id)).mkdir(parents=True, exist_ok=True)
            (experiment / str(r.id) / "error.txt").write_text(r.traceback, encoding="utf-8")
    print(f"\nsummary: {experiment / 'summary.json'}   curves: {experiment / 'curves.png'}   "
          f"TensorBoard: tensorboard --logdir {tensorboard.parent}")
    if any(r.status in ("interrupted", "not started") for r in results):
        return EXIT_INTERRUPTED
    return EXIT_FAILED if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    # SIGINT or SIGTERM, however the command was started, stops every run (here or in a worker process)
    # at its next step: each writes its checkpoint and logs, and the exit status is 130.
    stop_on_signals()
    exit_promptly(main())
