"""Stable-Baselines3's DQN and PPO beside the project's DQN, AC and PG presets: episodes and seconds to
the first solve of each single-target run, on the same budget and the same greedy evaluation.

    python benchmarks/baselines.py [--methods DQN,AC,PG,SB3-DQN,SB3-DQN+gap,SB3-PPO,SB3-PPO+gap]
                                   [--runs 1-5] [--seeds 3] [--episodes 20000] [--assess 100]
                                   [--jobs 2] [--threads 1] [--reps 2000] [--png PATH]
                                   [--save RESULTS.json] [--load RESULTS.json ...]

Every method trains each run of `--runs` (ids of training.json) with seeds 0 .. `--seeds` − 1 for at
most `--episodes` episodes, is evaluated greedily (one deterministic episode on the run's target)
at episode 0 and every `--assess` episodes, and stops at its first solve. The methods:

- `DQN`, `AC`, `PG`: the presets of config.json, trained by the project's harness (train_run).
- `SB3-DQN`: `stable_baselines3.DQN("MultiInputPolicy", env)` with SB3's defaults except what a
  five-step episode needs: the target network updated every 1,000 steps (default 10,000: 2,000
  episodes) and ε decayed from 1 to 0.05 over the first 5,000 steps, 1,000 five-step episodes (default:
  10% of the run).
- `SB3-PPO`: `stable_baselines3.PPO("MultiInputPolicy", env)` on 8 environments built by SB3's
  `make_vec_env` with `n_steps` 128 (default 2,048: 3,300 episodes between updates); all else default.
- `+gap` / `+scaled`: the same on `environment.wrappers.CircularGapObservation` (the features the
  project's encoder computes) / `ScaledObservation` (values / 255), instead of the raw registers 0..255.

Per method: runs solved, median, worst and interquartile mean (IQM, with its 95% stratified-bootstrap
interval, rliable) of episodes and seconds to the first solve, a run never solved counting as its
budget (the IQM is then a lower bound, and says so); then each SB3 method's median beside the project
DQN's. The PNG draws the fraction of runs solved against episodes, one line per method. Runs go
`--jobs` at a time, each in its own process with `--threads` torch threads.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.host import describe_machine  # noqa: E402
from benchmarks.time_to_solve import (  # noqa: E402
    HEADER,
    Outcome,
    check_arguments,
    draw,
    outcome_of,
    print_saved,
    print_summaries,
    row,
    run_ids,
    save_outcomes,
    targets_of,
    tasks_for,
    training_entries,
)
from training.processes import run_in_processes  # noqa: E402
from training.result import RunResult  # noqa: E402

PROJECT = ("DQN", "AC", "PG")
SB3 = ("SB3-DQN", "SB3-DQN+gap", "SB3-DQN+scaled", "SB3-PPO", "SB3-PPO+gap", "SB3-PPO+scaled")
DEFAULT_METHODS = ["DQN", "AC", "PG", "SB3-DQN", "SB3-DQN+gap", "SB3-PPO", "SB3-PPO+gap"]
PPO_ENVS = 8


def methods(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in PROJECT + SB3]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r}: the methods are {', '.join(PROJECT + SB3)}")
    return names


def greedy_episode(model, env) -> dict:
    """One deterministic episode of `model` on `env`: the last step's info (performance, solved, program)."""
    observation, _ = env.reset()
    while True:
        action, _ = model.predict(observation, deterministic=True)
        observation, _, terminated, truncated, info = env.step(int(action))
        if terminated or truncated:
            return info


def train_sb3(task: dict) -> RunResult:
    """One SB3 run: `task` names the method, run, target, seed, budget, assess and threads."""
    import gymnasium as gym
    import torch
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import environment
    from environment.wrappers import WRAPPERS

    torch.set_num_threads(task["threads"])
    method, target, seed, budget, assess = task["method"], task["target"], task["seed"], task["budget"], task["assess"]
    wrapper = WRAPPERS[method.split("+")[1]] if "+" in method else None

    def make_env():
        env = gym.make(environment.ENV_ID, target=target)
        return wrapper(env) if wrapper else env

    steps = budget * 5  # every episode has at most 5 steps: enough steps for the budget's episodes
    if method.startswith("SB3-DQN"):
        model = DQN("MultiInputPolicy", make_env(), target_update_interval=1000, exploration_fraction=5000 / steps,
                    seed=seed, device="cpu", verbose=0)
    else:
        env = make_vec_env(environment.ENV_ID, n_envs=PPO_ENVS, seed=seed, env_kwargs={"target": target},
                           wrapper_class=wrapper)
        model = PPO("MultiInputPolicy", env, n_steps=128, seed=seed, device="cpu", verbose=0)
    evaluation_env = make_env()
    evaluation_env.reset(seed=seed)
    result = RunResult(id=task["run_id"], algo=method, agent=f"stable-baselines3 {type(model).__name__}",
                       status="finished")
    started = time.perf_counter()

    def evaluate(episode: int) -> bool:
        info = greedy_episode(model, evaluation_env)
        performance = float(info["performance"])
        result.curve.append((episode, performance))
        if result.best_performance is None or performance > result.best_performance:
            result.best_performance, result.best_episode = performance, episode
        if info["solved"] and result.first_solve is None:
            result.first_solve, result.first_solve_seconds = episode, time.perf_counter() - started
            result.program = info["program"].splitlines()
        return bool(info["solved"])

    class EvaluateEvery(BaseCallback):
        """Counts ended episodes; evaluates at each multiple of `assess`; stops at a solve or the budget."""

        def __init__(self) -> None:
            super().__init__()
            self.episodes = 0

        def _on_step(self) -> bool:
            before = self.episodes
            self.episodes = min(budget, before + int(self.locals["dones"].sum()))
            result.episodes = self.episodes
            for boundary in range(before // assess * assess + assess, self.episodes + 1, assess):
                if evaluate(boundary):
                    return False
            if self.episodes >= budget:
                if result.curve[-1][0] != budget:
                    evaluate(budget)
                return False
            return True

    if not evaluate(0):
        model.learn(total_timesteps=steps, callback=EvaluateEvery())
    result.seconds = time.perf_counter() - started
    return result


def sb3_tasks(method: str, ids: list[str], seeds: list[int], budget: int, assess: int, threads: int) -> list[dict]:
    entries = training_entries()
    return [{"method": method, "run_id": run_id, "target": entries[run_id]["targets"]["values"][0], "seed": seed,
             "budget": min(budget, entries[run_id]["episodes"]), "assess": assess, "threads": threads,
             "targets": targets_of(entries[run_id])}
            for run_id in ids for seed in seeds]


def run_sb3(tasks: list[dict], jobs: int) -> list[Outcome]:
    """Every SB3 task, `jobs` at a time in fresh processes; each outcome printed as it ends."""
    outcomes: list[Outcome | None] = [None] * len(tasks)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        futures = {pool.submit(train_sb3, task): index for index, task in enumerate(tasks)}
        for future in as_completed(futures):
            index, task = futures[future], tasks[futures[future]]
            outcome = Outcome(task["method"], task["run_id"], task["seed"], task["targets"], task["budget"],
                              future.result())
            print(row(outcome), flush=True)
            outcomes[index] = outcome
    return outcomes


def run_project(algo: str, ids: list[str], seeds: list[int], budget: int, assess: int, jobs: int, threads: int,
                folder: Path) -> list[Outcome]:
    tasks = tasks_for(algo, ids, seeds, assess, folder, budget, after_solve=0)
    ended: dict[int, Outcome] = {}

    def show(i: int, result: RunResult) -> None:
        ended[i] = outcome_of(tasks[i], result)  # the final program is measured once, here
        print(row(ended[i]), flush=True)

    results = run_in_processes(tasks, jobs, show, threads=threads)
    return [ended.get(i) or outcome_of(task, result)
            for i, (task, result) in enumerate(zip(tasks, results, strict=True))]


def comparison(everything: dict[str, list[Outcome]]) -> list[str]:
    """Each SB3 method's median episodes to first solve beside the project DQN's."""
    if "DQN" not in everything:
        return []
    reference = statistics.median(o.episodes for o in everything["DQN"])
    lines = []
    for method, outcomes in everything.items():
        if not method.startswith("SB3"):
            continue
        median = statistics.median(o.episodes for o in outcomes)
        # The median reads an unsolved run's budget (so is a lower bound) once half the runs are unsolved.
        unsolved = sum(not o.solved for o in outcomes) >= (len(outcomes) + 1) // 2
        ratio = median / max(reference, 1)
        lines.append(f"{method}: median {'>' if unsolved else ''}{median:,.0f} episodes to first solve, "
                     f"{'more than ' if unsolved else ''}{ratio:,.1f}× the project DQN's {reference:,.0f}")
    return lines


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", type=methods, default=DEFAULT_METHODS,
                        help=f"methods to train (default {','.join(DEFAULT_METHODS)})")
    parser.add_argument("--runs", type=run_ids, default=["1", "2", "3", "4", "5"],
                        help="runs of training.json (default 1-5, the single targets)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per run: 0 .. N-1 (default 3)")
    parser.add_argument("--episodes", type=int, default=20000, help="episode budget of every run (default 20000)")
    parser.add_argument("--assess", type=int, default=100, help="evaluate every so many episodes (default 100)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--png", type=Path, default=Path("baselines.png"), help="the figure (default baselines.png)")
    parser.add_argument("--save", type=Path, help="write every run's outcome to this JSON file")
    parser.add_argument("--load", type=Path, nargs="+", help="report the outcomes of --save files, training nothing")
    args = parser.parse_args(argv)
    check_arguments(parser, args, ("seeds", "episodes", "assess", "jobs", "threads", "reps"))
    return args


def report(everything: dict[str, list[Outcome]], reps: int, png: Path) -> None:
    print_summaries(everything, reps)
    print()
    print("\n".join(comparison(everything)))
    draw(everything, png, "time to first solve: the project's agents and Stable-Baselines3")
    print(f"figure: {png}")


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    everything: dict[str, list[Outcome]] = {}
    if args.load:
        report(print_saved(args.load), args.reps, args.png)
        return
    seeds = list(range(args.seeds))
    print(f"machine: {describe_machine()}; {args.jobs} run(s) at a time, {args.threads} torch thread(s) each")
    print(f"runs {','.join(args.runs)}, seeds 0-{args.seeds - 1}, at most {args.episodes:,} episodes, greedy "
          f"evaluation every {args.assess} episodes, each run stopped at its first solve")
    print(HEADER)
    with tempfile.TemporaryDirectory() as temporary:
        for method in args.methods:
            if method in PROJECT:
                everything[method] = run_project(method, args.runs, seeds, args.episodes, args.assess, args.jobs,
                                                 args.threads, Path(temporary))
            else:
                everything[method] = run_sb3(sb3_tasks(method, args.runs, seeds, args.episodes, args.assess,
                                                       args.threads), args.jobs)
    if args.save:
        save_outcomes(args.save, everything)
    report(everything, args.reps, args.png)


if __name__ == "__main__":
    main()
