"""SigOpt-Lite's optimizer against random search: the best objective each finds in the same number of
trials over the same search space, on a short single-target DQN run.

    python benchmarks/sweep_quality.py [--trials 20] [--episodes 1500] [--run 2] [--assess 100] [--seed 0]
        [--parameters lr gamma epsilon_decay_steps learning_freq | --parameters all]

Both sweeps use sweeps.sigopt_driver.run_sweep with the SigOpt-Lite driver: one with SigOpt's own optimizer, one
with SigOpt's random search (experiment type "random"), over the same ranges of the DQN space of
search_spaces.json. Every trial trains run --run of training.json with the DQN preset of config.json,
shortened to --episodes and evaluated every --assess episodes; the objective is the mean evaluation
performance over the run (0 is best). Trials run one after another in this process (one torch thread).
Prints a line per trial, then one table: each method's best objective and the trial at which it was reached.

SigOpt-Lite suggests at random until it holds more than max(2·d, 4) valid observations (d parameters):
over all 10 DQN parameters that is 21, more than 20 trials, and the two methods would be the same
random search. Hence the default of 4 parameters (9 random suggestions, then 11 from SigOpt's model).
Both methods start from the same seed, so they share the first suggestions and differ from where the
model takes over.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.host import describe_machine  # noqa: E402
from sweeps.sigopt_driver import Sweep, SweepResult, describe, experiment_definition, make_connection, run_sweep  # noqa: E402
from sweeps.spaces import SearchSpace, Trial, best_trial, load_search_space  # noqa: E402
from training.config import Config, load_config, load_training, parse_config  # noqa: E402
from training.run import train_run  # noqa: E402

METHODS = {"SigOpt-Lite optimizer": None, "random search": "random"}
DEFAULT_PARAMETERS = ["lr", "gamma", "epsilon_decay_steps", "learning_freq"]


def prepare(run_id: str, episodes: int, assess: int) -> tuple[Config, str, dict]:
    """The shipped configuration (evaluating every `assess` episodes, no logs) and the shortened run."""
    config = load_config(ROOT / "config.json")
    runs = {run.folder: run for run in load_training(ROOT / "training.json", config)}
    if run_id not in runs:
        sys.exit(f"error: training.json has no run {run_id}")
    raw = next(e for e in json.loads((ROOT / "training.json").read_text(encoding="utf-8")) if str(e["id"]) == run_id)
    data = config.to_json()
    data["settings"].update(ASSESS_FREQ=assess, LOG_FREQ=10**9, SAVE_FREQ=0)
    return parse_config(data, "config.json (benchmark settings)"), runs[run_id].algo, {**raw, "episodes": episodes}


def space_of(config: Config, preset: str, run_data: dict, names: list[str]) -> SearchSpace:
    """The preset's agent's space in search_spaces.json, restricted to `names` ("all": every range)."""
    space = load_search_space(ROOT / "search_spaces.json", config.presets[preset].agent, run_data["episodes"])
    if names == ["all"]:
        return space
    unknown = sorted(set(names) - set(space.names))
    if unknown:
        sys.exit(f"error: --parameters: {', '.join(unknown)} not in the space (ranges: {', '.join(space.names)})")
    return SearchSpace(space.agent, [r for r in space.ranges if r.name in names])


def sweep_with(kind: str | None, config: Config, preset: str, run_data: dict, space: SearchSpace, trials: int,
               seed: int, folder: Path) -> SweepResult:
    import numpy as np
    connection, _ = make_connection("lite", {})
    np.random.seed([seed, 0])  # SigOpt-Lite draws from numpy's global generator
    sweep = Sweep(config, preset, run_data, space, folder, folder / "runs", seed=seed,
                  report=lambda trial: print(f"  {describe(trial)}", flush=True))
    folder.mkdir(parents=True)
    definition = experiment_definition(f"sweep quality {kind or 'optimizer'}", space, trials, kind=kind)
    return run_sweep(connection, sweep, definition, trials, lambda tasks: [train_run(**task) for task in tasks])


def reached_at(trials: list[Trial]) -> tuple[Trial | None, int | None]:
    """The best trial, and the number of trials it took (its position among the observed ones)."""
    best = best_trial(trials)
    if best is None:
        return None, None
    observed = [t for t in trials if t.observed]
    return best, observed.index(best) + 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20, help="trials per method (default 20)")
    parser.add_argument("--episodes", type=int, default=1500, help="episodes of each trial's run (default 1500)")
    parser.add_argument("--run", default="2", help="the run of training.json (default 2, a single target)")
    parser.add_argument("--assess", type=int, default=100, help="evaluate every so many episodes (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the runs and of SigOpt-Lite (default 0)")
    parser.add_argument("--parameters", nargs="+", default=DEFAULT_PARAMETERS,
                        help=f"the ranges swept ('all': the whole space; default {' '.join(DEFAULT_PARAMETERS)})")
    args = parser.parse_args()
    if args.trials < 1 or args.episodes < 1 or args.assess < 1:
        parser.error("--trials, --episodes and --assess must be at least 1")
    config, preset, run_data = prepare(args.run, args.episodes, args.assess)
    space = space_of(config, preset, run_data, args.parameters)
    random_phase = max(2 * len(space.ranges), 4) + 1
    print(f"machine: {describe_machine()}")
    print(f"run {args.run} ({run_data['targets']['values'] if run_data['targets'] else 'random targets'}), "
          f"{args.episodes} episodes, evaluated every {args.assess}; {args.trials} trials per method over "
          f"{', '.join(space.names)}")
    print(f"SigOpt-Lite's first {random_phase} suggestions are random"
          + (": with this few trials both methods are random search" if args.trials <= random_phase else ""))
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for method, kind in METHODS.items():
            print(f"{method}:", flush=True)
            started = time.perf_counter()
            result = sweep_with(kind, config, preset, run_data, space, args.trials, args.seed,
                                Path(temporary) / (kind or "optimizer"))
            if result.interrupted:
                sys.exit(130)
            rows.append((method, *reached_at(result.trials), time.perf_counter() - started))
    print()
    print(f"{'method':<24}{'best objective':>16}{'at trial':>10}{'best perf':>11}{'first solve':>13}{'time':>9}")
    for method, best, trial, seconds in rows:
        if best is None:
            print(f"{method:<24}{'no trial finished':>16}{'':>10}{'':>11}{'':>13}{seconds:>8.0f}s")
            continue
        solve = "-" if best.first_solve is None else str(best.first_solve)
        print(f"{method:<24}{best.objective:>16.3f}{trial:>10}{best.best_performance:>11g}{solve:>13}{seconds:>8.0f}s")


if __name__ == "__main__":
    main()
