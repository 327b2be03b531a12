"""A SigOpt sweep: the connection (SigOpt-Lite or the SigOpt API), the experiment, and the loop that
turns suggestions into training runs and their results into observations. Shared by
`parameter_search.py` and `benchmarks/sweep_quality.py`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweeps.spaces import METRIC, SearchSpace, Trial, apply_assignments, objective, trial_config, write_trials
from training.config import Config, ConfigError, parse_config, parse_training
from training.result import RunResult


# -- SigOpt --------------------------------------------------------------------------------------------
def choose_driver(driver: str | None, environ: Mapping[str, str]) -> str:
    """'api' or 'lite': the one asked for, else the API when SIGOPT_API_TOKEN is set, else Lite."""
    if driver is None:
        return "api" if environ.get("SIGOPT_API_TOKEN") else "lite"
    if driver == "api" and not environ.get("SIGOPT_API_TOKEN"):
        raise ConfigError("--driver api needs the SIGOPT_API_TOKEN environment variable (or use --driver lite)")
    return driver


def make_connection(driver: str | None, environ: Mapping[str, str]) -> tuple[Any, str]:
    """A SigOpt connection and its driver name ('lite' or 'api'); contacts nothing.

    The API token and a self-hosted server's URL come from `environ` only (SIGOPT_API_TOKEN,
    SIGOPT_API_URL). Never print the connection: its driver holds the token."""
    import sigopt
    from sigopt.request_driver import DEFAULT_API_URL

    name = choose_driver(driver, environ)
    if name == "lite":
        return sigopt.Connection(driver="lite"), name
    connection = sigopt.Connection(client_token=environ["SIGOPT_API_TOKEN"])
    connection.set_api_url(environ.get("SIGOPT_API_URL") or DEFAULT_API_URL)
    return connection, name


def experiment_definition(title: str, space: SearchSpace, budget: int, parallel: int = 1,
                          kind: str | None = None) -> dict[str, Any]:
    """The arguments of `experiments().create`: maximise METRIC over the space. `kind="random"` asks
    for SigOpt's random search over the same space."""
    definition = {"name": title[:100], "parameters": [r.to_sigopt() for r in space.ranges],
                  "metrics": [{"name": METRIC, "objective": "maximize"}], "observation_budget": budget,
                  "parallel_bandwidth": parallel}
    return definition | ({"type": kind} if kind else {})


def typed_assignments(space: SearchSpace, assignments: Mapping[str, Any]) -> dict[str, int | float]:
    """A suggestion's assignments with the space's types (the API may send 3.0 for an int)."""
    return {r.name: int(assignments[r.name]) if r.type == "int" else float(assignments[r.name])
            for r in space.ranges if r.name in assignments}


# -- the sweep -----------------------------------------------------------------------------------------
@dataclass
class Sweep:
    """What every trial of a sweep shares."""

    config: Config
    preset: str
    run_data: dict  # the run every trial trains (one entry of training.json)
    space: SearchSpace
    experiment_dir: Path  # experiments/NAME: trials.csv and one folder per trial
    tensorboard_dir: Path  # runs/NAME
    seed: int = 0
    quiet: bool = True
    report: Callable[[Trial], None] = lambda trial: None  # called as each trial ends
    # Called with a trial's number just before its suggestion is asked for. parameter_search.py seeds
    # SigOpt-Lite's generator there, so that a trial's suggestion depends only on the sweep's seed, its
    # number and the observations before it: a sweep resumed after a kill suggests what the unbroken
    # sweep would have.
    reseed: Callable[[int], None] = lambda number: None

    def task(self, trial: Trial, parameters: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of train_run for one trial. Raises ValueError (one line) when the trial's
        run is refused as a whole (more than half of the machine: training/memory.py)."""
        seed = self.run_data.get("seed")
        config_data = trial_config(self.config, self.preset, parameters)
        try:
            parse_training([self.run_data], parse_config(config_data), f"trial {trial.folder}")
        except ConfigError as error:
            raise ValueError(str(error).removeprefix(f"trial {trial.folder}: ")) from None
        return {"run_data": self.run_data, "config_data": config_data,
                "run_dir": str(self.experiment_dir / trial.folder),
                "tensorboard_dir": str(self.tensorboard_dir / trial.folder),
                "seed": self.seed if seed is None else seed, "quiet": self.quiet}


@dataclass
class SweepResult:
    trials: list[Trial]
    interrupted: bool = False
    experiment_id: str | None = None


def run_sweep(connection: Any, sweep: Sweep, definition: dict[str, Any], budget: int,
              train: Callable[[list[dict]], list[RunResult]], previous: Sequence[Trial] = (),
              parallel: int = 1) -> SweepResult:
    """Create the SigOpt experiment, replay `previous` trials into it as observations, then train
    suggestions `parallel` at a time (`train`: train_run keyword arguments -> summaries, in order)
    until `budget` observations. trials.csv is rewritten after every trial; Ctrl-C stops cleanly."""
    trials = list(previous)
    result = SweepResult(trials)
    table = sweep.experiment_dir / "trials.csv"
    try:
        experiment = connection.experiments().create(**definition)
        result.experiment_id = str(experiment.id)
        observations = connection.experiments(experiment.id).observations()
        for trial in (t for t in trials if t.observed):
            observations.create(assignments=trial.assignments, **_outcome(trial))
        while sum(t.observed for t in trials) < budget:
            count = min(parallel, budget - sum(t.observed for t in trials))
            batch = []
            for _ in range(count):
                number = max((t.number for t in trials), default=0) + 1
                sweep.reseed(number)
                suggestion = connection.experiments(experiment.id).suggestions().create()
                trial = Trial(number, str(suggestion.id), "failed",
                              typed_assignments(sweep.space, suggestion.assignments))
                trials.append(trial)
                task = None
                try:
                    task = sweep.task(trial, apply_assignments(sweep.config, sweep.preset, trial.assignments))
                except ValueError as error:
                    trial.error = f"invalid suggestion: {error}"
                    _record_failure(sweep, trial)
                batch.append((suggestion, trial, task))
            tasks = [task for _, _, task in batch if task is not None]
            summaries = iter(train(tasks) if tasks else [])
            for suggestion, trial, task in batch:
                if task is not None:
                    _take_summary(sweep, trial, next(summaries))
                if trial.observed:
                    observations.create(suggestion=suggestion.id, **_outcome(trial))
                write_trials(table, trials, sweep.space)
                sweep.report(trial)
            if any(t.status == "interrupted" for _, t, _ in batch):
                result.interrupted = True
                break
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        if sweep.experiment_dir.is_dir():
            write_trials(table, trials, sweep.space)
    return result


def _outcome(trial: Trial) -> dict[str, Any]:
    if trial.status == "finished":
        return {"values": [{"name": METRIC, "value": trial.objective}]}
    return {"failed": True}


def _take_summary(sweep: Sweep, trial: Trial, result: RunResult) -> None:
    trial.best_performance, trial.first_solve = result.best_performance, result.first_solve
    trial.seconds = result.seconds or 0.0
    trial.objective = objective(result.curve)
    trial.status = result.status if result.status in ("finished", "interrupted") else "failed"
    if result.status == "not started":
        trial.status = "interrupted"
    error = result.error
    if trial.status == "finished" and trial.objective is None:
        trial.status, error = "failed", "the run made no evaluation"
    if trial.status == "failed":
        trial.error = error or "the run failed"
        _record_failure(sweep, trial, result.traceback)


def _record_failure(sweep: Sweep, trial: Trial, details: str | None = None) -> None:
    folder = sweep.experiment_dir / trial.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "error.txt").write_text((details or trial.error or "") + "\n", encoding="utf-8")


def describe(trial: Trial) -> str:
    """One line for a finished trial."""
    objective_text = "-" if trial.objective is None else f"{trial.objective:.4g}"
    best = "-" if trial.best_performance is None else f"{trial.best_performance:g}"
    solve = "-" if trial.first_solve is None else str(trial.first_solve)
    values = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.assignments.items())
    line = (f"trial {trial.folder}  {trial.status:<11} objective {objective_text:>9}  best {best:>6}  "
            f"first solve {solve:>6}  {trial.seconds:6.1f}s  {values}")
    return line + (f"  error: {trial.error.splitlines()[0]}" if trial.error else "")

