"""A SigOpt sweep over the hyperparameters of a preset: each trial trains one run of training.json.

    python parameter_search.py NAME [-f] [--training FILE --id ID] [--episodes N] [--budget N] [--parallel N]
        [--driver lite|api] [--resume] [--seed S] [--search-space FILE] [-c config.json] [--quiet] [--ray ADDRESS]

Each trial maximises the mean evaluation performance over the run (the area under its learning
curve; see sweeps/spaces.py). Outputs: experiments/NAME/ (config.json, Training_descriptions.json,
search_space.json, sweep.json, trials.csv, best_preset.json, one folder NNN per trial) and TensorBoard
curves under runs/NAME/NNN/. Exit status: 0 done, 1 no trial finished or SigOpt failed, 2 bad input
(nothing written), 130 interrupted (trials.csv kept).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeps.sigopt_driver import choose_driver, make_connection
from sweeps.spaces import SearchSpace, Trial, best_preset, best_trial, load_search_space, read_trials
from training.cli import ArgumentParser, check_name, exit_promptly, fail, stop_on_signals
from training.config import Config, ConfigError, load_config, load_training, parse_training
from training.files import ExperimentLock, claim_experiment_folders, write_json

EXIT_FAILED, EXIT_INTERRUPTED = 1, 130
DEFAULT_BUDGET = 300
TRIAL_FOLDER = re.compile(r"\d{3,}")  # a trial's folder: its number, three digits at least (Trial.folder)
# These define what every trial trains: a resumed sweep takes them from experiments/NAME.
SWEEP_DEFINING = {"training": "--training", "run_id": "--id", "episodes": "--episodes", "config": "-c",
                  "search_space": "--search-space", "seed": "--seed"}


def parse_arguments(argv: list[str] | None) -> Any:
    parser = ArgumentParser(prog="python parameter_search.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="sweep name: outputs go to experiments/NAME and runs/NAME")
    parser.add_argument("-f", "--force", action="store_true", help="replace an existing experiments/NAME")
    parser.add_argument("-t", "--training", help="training file (default training.json)")
    parser.add_argument("--id", dest="run_id", help="the run every trial trains (default: the file's first)")
    parser.add_argument("--episodes", type=int, help="shorten (or lengthen) the run to N episodes")
    parser.add_argument("--budget", type=int, help=f"observations in all (default {DEFAULT_BUDGET})")
    parser.add_argument("--parallel", type=int, default=1, help="trials at once (SigOpt API driver only)")
    parser.add_argument("--driver", choices=["lite", "api"],
                        help="default: api when SIGOPT_API_TOKEN is set, else lite (offline)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted sweep (trials.csv)")
    parser.add_argument("--seed", type=int, help="seed of the run if it gives none, and of SigOpt-Lite (default 0)")
    parser.add_argument("--search-space", help="search-space file (default search_spaces.json)")
    parser.add_argument("-c", "--config", help="configuration file (default config.json)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars and no line per trial")
    parser.add_argument("--ray", metavar="ADDRESS", help="run the trials as Ray tasks on this cluster")
    args = parser.parse_args(argv)
    check_name(parser, args.name)
    for flag, value, least in (("--episodes", args.episodes, 1), ("--budget", args.budget, 1),
                               ("--parallel", args.parallel, 1), ("--seed", args.seed, 0)):
        if value is not None and value < least:
            parser.error(f"{flag} must be at least {least}, got {value}")
    if args.force and args.resume:
        parser.error("-f replaces the sweep and --resume continues it: give one of them")
    if args.resume:
        given = [flag for key, flag in SWEEP_DEFINING.items() if getattr(args, key) is not None]
        if given:
            parser.error(f"--resume continues with the run, configuration and search space saved in "
                         f"experiments/{args.name}: drop {', '.join(given)}")
    return args


@dataclass
class Plan:
    """What a sweep trains and how long: validated from the input files, or read back from experiments/NAME."""

    config: Config
    preset: str
    run_data: dict  # the run every trial trains, --episodes applied
    space: SearchSpace
    seed: int
    budget: int
    previous: list[Trial] = field(default_factory=list)  # trials of the sweep being resumed


def new_sweep(args: Any) -> Plan:
    """Validate the inputs of a new sweep: config, the run (with --episodes), its agent's search space."""
    training = args.training or "training.json"
    config = load_config(args.config or "config.json")
    runs = load_training(training, config)
    run = runs[0] if args.run_id is None else next((r for r in runs if r.folder == args.run_id), None)
    if run is None:
        raise ConfigError(f"{training}: --id: no run with id {args.run_id} "
                          f"(ids: {', '.join(r.folder for r in runs)})")
    raw = next(e for e in json.loads(Path(training).read_text(encoding="utf-8")) if str(e["id"]) == run.folder)
    run_data = {**raw, "episodes": args.episodes or run.episodes}
    parse_training([run_data], config, f"{training} (run {run.folder} with {run_data['episodes']} episodes)")
    space = load_search_space(args.search_space or "search_spaces.json", config.presets[run.algo].agent,
                              run_data["episodes"])
    return Plan(config, run.algo, run_data, space, args.seed or 0, args.budget or DEFAULT_BUDGET)


def saved_sweep(args: Any, experiment: Path) -> Plan:
    """What a sweep saved in experiments/NAME, to continue it (--budget may raise its budget)."""
    if not (experiment / "sweep.json").is_file():
        raise ConfigError(f"{experiment}: no sweep to resume (sweep.json is missing)")
    try:
        settings = json.loads((experiment / "sweep.json").read_text(encoding="utf-8"))
        [run_data] = json.loads((experiment / "Training_descriptions.json").read_text(encoding="utf-8"))
        seed, budget = int(settings["seed"]), int(settings["budget"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"{experiment}: the saved sweep is unreadable ({type(error).__name__}: {error})") from None
    config = load_config(experiment / "config.json")
    parse_training([run_data], config, str(experiment / "Training_descriptions.json"))
    space = load_search_space(experiment / "search_space.json", config.presets[run_data["algo"]].agent,
                              run_data["episodes"])
    return Plan(config, run_data["algo"], run_data, space, seed, args.budget or budget,
                read_trials(experiment / "trials.csv", space))


def prepare_folders(args: Any, experiment: Path, tensorboard: Path) -> None:
    """Refuse to overwrite without -f; with -f replace only experiments/NAME and runs/NAME."""
    claim_experiment_folders(experiment, tensorboard, args.force)


def clear_unrecorded_trials(experiment: Path, tensorboard: Path, recorded: list) -> None:
    """Remove the folders of trials that trials.csv does not hold: a sweep killed (SIGKILL, a lost
    machine) while a trial trained leaves that trial's folders without its row. The resumed sweep trains
    that number again from nothing, as the unbroken sweep did (docs/sweeps.md, "Resume")."""
    kept = {trial.folder for trial in recorded}
    for parent in (experiment, tensorboard):
        if not parent.is_dir():
            continue
        for folder in parent.iterdir():
            if TRIAL_FOLDER.fullmatch(folder.name) and folder.name not in kept and folder.is_dir() \
                    and not folder.is_symlink():
                shutil.rmtree(folder)


def trainer(parallel: int, ray_address: str | None) -> Any:
    """How a batch of trials is trained: here, in processes, or as Ray tasks."""
    if ray_address is not None:
        from training.ray_cluster import run_on_ray
        return lambda tasks: run_on_ray(tasks, ray_address)
    if parallel > 1:
        from training.processes import run_in_processes
        return lambda tasks: run_in_processes(tasks, len(tasks))
    from training.run import train_run
    return lambda tasks: [train_run(**task) for task in tasks]


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    experiment, tensorboard = Path("experiments") / args.name, Path("runs") / args.name
    lock = ExperimentLock(experiment)
    try:
        driver = choose_driver(args.driver, os.environ)
        if args.parallel > 1 and driver == "lite":
            raise ConfigError(f"--parallel {args.parallel} needs the SigOpt API driver (SIGOPT_API_TOKEN): "
                              "SigOpt-Lite suggests one trial at a time")
        plan = saved_sweep(args, experiment) if args.resume else new_sweep(args)
        if args.ray is not None:  # Ray only when asked for; an unreachable cluster is found before anything runs
            try:
                from training.ray_cluster import connect
            except ImportError as error:
                raise ConfigError(f"--ray: {error}") from None
            connect(args.ray)
        connection, driver = make_connection(driver, os.environ)
        command = " ".join(["python parameter_search.py", *(argv if argv is not None else sys.argv[1:])])
        lock.take(command, tensorboard, args.force, args.resume)
        if args.resume:
            clear_unrecorded_trials(experiment, tensorboard, plan.previous)
        else:
            prepare_folders(args, experiment, tensorboard)
    except ConfigError as error:
        lock.release()
        fail(str(error))
    try:
        for warning in plan.space.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if not args.resume:
            experiment.mkdir(parents=True)
            write_json(experiment / "config.json", plan.config.to_json())
            write_json(experiment / "Training_descriptions.json", [plan.run_data])
            write_json(experiment / "search_space.json", plan.space.to_json())
        write_json(experiment / "sweep.json", {"seed": plan.seed, "budget": plan.budget})
        return sweep(args, plan, connection, driver, experiment, tensorboard)
    finally:
        lock.release()


def sweep(args: Any, plan: Plan, connection: Any, driver: str, experiment: Path, tensorboard: Path) -> int:
    """Run the sweep, then print and save the best preset."""
    import numpy as np
    from sigopt.exception import SigOptException

    from sweeps.sigopt_driver import Sweep, describe, experiment_definition, run_sweep

    if not args.quiet:
        print(f"sweep {args.name}: run {plan.run_data['id']} ({plan.run_data['episodes']} episodes), preset "
              f"{plan.preset} ({plan.config.presets[plan.preset].agent}), {len(plan.space.ranges)} parameters, "
              f"budget {plan.budget}, driver {driver}"
              + (f", {len(plan.previous)} earlier trials" if plan.previous else ""), flush=True)
    setup = Sweep(plan.config, plan.preset, plan.run_data, plan.space, experiment, tensorboard, seed=plan.seed,
                  quiet=args.quiet, report=(lambda trial: None) if args.quiet else
                  (lambda trial: print(describe(trial), flush=True)))
    if driver == "lite":  # SigOpt-Lite draws from numpy's global generator: seed it afresh for every trial
        setup.reseed = lambda number: np.random.seed([plan.seed, number])
    definition = experiment_definition(f"ToyCorewar {args.name}", plan.space, plan.budget, args.parallel)
    try:
        result = run_sweep(connection, setup, definition, plan.budget, trainer(args.parallel, args.ray),
                           plan.previous, args.parallel)
    except SigOptException as error:
        print(f"error: SigOpt: {str(error).strip().splitlines()[0]} (trials so far: {experiment / 'trials.csv'})",
              file=sys.stderr)
        return EXIT_FAILED
    if driver == "api" and result.experiment_id:
        print(f"SigOpt experiment {result.experiment_id}")
    best = best_trial(result.trials)
    if best is None:
        print(f"no trial finished: no best preset (trials: {experiment / 'trials.csv'})")
    else:
        preset = best_preset(plan.config, plan.preset, best)
        write_json(experiment / "best_preset.json", preset)
        print(f"best: trial {best.folder}, objective {best.objective:.4g}, best performance {best.best_performance:g}"
              f", first solve {'-' if best.first_solve is None else best.first_solve}")
        print(json.dumps(preset, indent=2))
        print(f"saved to {experiment / 'best_preset.json'}   trials: {experiment / 'trials.csv'}   "
              f"TensorBoard: tensorboard --logdir {tensorboard}")
    if result.interrupted:
        return EXIT_INTERRUPTED
    return 0 if best is not None else EXIT_FAILED


if __name__ == "__main__":
    # SIGINT or SIGTERM, however the sweep was started, stops it like Ctrl-C: exit 130, trials.csv kept.
    stop_on_signals()
    exit_promptly(main())
