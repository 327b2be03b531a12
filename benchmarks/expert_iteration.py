"""Expert iteration against the same DQN preset without it, at equal training time, on held-out tiers.

    python benchmarks/expert_iteration.py [--preset DQN] [--config config.json] [--seconds 600] [--seeds 0,1,2]
        [--length L] [--hard 0] [--per-tier 100] [--seed 2026] [--search-every 250] [--search-tasks 32]
        [--search-expansions 100] [--demo-fraction 0.25] [--demo-margin 0.1] [--demo-weight 1.0] [--threads 1]

Trains --preset (a DQN preset of --config, default the shipped config.json; e.g. DQN, or Generalist,
the afterstate one) twice per seed of --seeds: as it is, and with expert iteration (agents/expert_iteration.py:
the same preset with search_every, search_tasks, search_expansions, demo_fraction, demo_margin and
demo_weight added — every --search-every episodes, guided search with the online network on
--search-tasks training tasks, the programs found learned from). Both train on random solvable targets
with the held-out tiers as their evaluation set (`{"solvable": L, "held_out": "tiers", "hard": H}`,
docs/synthesis.md, "Solvable targets"; L is --length, default MAX_LENGTH, H --hard): --per-tier targets of each
optimal length 1..MAX_LENGTH (synthesis/tiers.py, EVAL_TARGETS and EVAL_SEED from --per-tier and
--seed), which training never draws. Both runs end once they have trained --seconds
(`train_run(..., max_seconds=S)`, wall clock: the search rounds count against the run that makes them).

Then each run's last model (never chosen on held-out data) is measured on every tier (the same draw
as the runs', `synthesis.tiers.heldout_tiers`): the solve rate of its greedy policy and of guided
search (`network_scorer`) at 10 and 100 expansions. Printed: one table of the runs (episodes,
training seconds, search rounds, their seconds and the last round's solve rate on its training
tasks), then one table per tier, a row per (run, seed), then the mean over seeds when there are
several. With episodes unbounded (the clock ends a run), a preset giving epsilon_decay_steps as a
fraction of the episodes (a float) would never decay: such a preset is refused.

Best-first search is deterministic, so one search at 100 expansions tells the result at 10 as well
(solved within b iff it needed ≤ b expansions).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.networks import greedy_policy, network_scorer  # noqa: E402
from agents.parameters import DQNParameters  # noqa: E402
from benchmarks.host import describe_machine  # noqa: E402
from environment import make_reward  # noqa: E402
from synthesis.search import guided_search  # noqa: E402
from synthesis.tiers import heldout_tiers  # noqa: E402
from training.checkpoints import load_network  # noqa: E402
from training.config import ConfigError, load_config, parse_config  # noqa: E402
from training.evaluation import evaluate  # noqa: E402
from training.run import train_run  # noqa: E402

BUDGETS = (10, 100)
HELDOUT_SEED = 2026
NO_CAP = 10**8  # a run's episodes: its clock ends it
REWARD_SETTINGS = {"circular": True, "positive": True, "cumulative": True}
RATES = ("greedy", *(f"@{b}" for b in BUDGETS))
RUN_COLUMNS = ("run", "seed", "episodes", "seconds", "rounds", "search s", "round solved")
TIER_COLUMNS = ("run", "seed", *RATES)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="DQN", help="DQN preset of the config both runs train (default DQN)")
    parser.add_argument("--config", default=str(ROOT / "config.json"), help="config file (default config.json)")
    parser.add_argument("--seconds", type=float, default=600.0, help="training time of every run (default 600)")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    parser.add_argument("--length", type=int, help="length of the training programs (default MAX_LENGTH)")
    parser.add_argument("--hard", type=float, default=0.0, help="share of training targets redrawn until they "
                        "look hard (the solvable targets' 'hard' key; default 0)")
    parser.add_argument("--per-tier", type=int, default=100, help="held-out targets per tier (default 100)")
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED, help=f"seed of the tiers (default {HELDOUT_SEED})")
    parser.add_argument("--search-every", type=int, default=250, help="episodes between search rounds (default 250)")
    defaults = DQNParameters()  # the option's own defaults, but for how often it searches
    parser.add_argument("--search-tasks", type=int, default=defaults.search_tasks)
    parser.add_argument("--search-expansions", type=int, default=defaults.search_expansions)
    parser.add_argument("--demo-fraction", type=float, default=defaults.demo_fraction)
    parser.add_argument("--demo-margin", type=float, default=defaults.demo_margin)
    parser.add_argument("--demo-weight", type=float, default=defaults.demo_weight)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run (default 1)")
    args = parser.parse_args()
    if not args.seconds > 0:
        parser.error(f"--seconds must be positive, got {args.seconds:g}")
    for flag in ("per_tier", "search_every", "search_tasks", "search_expansions", "threads"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.seed < 0:
        parser.error(f"--seed must be at least 0, got {args.seed}")
    if not 0 <= args.hard <= 1:
        parser.error(f"--hard must be between 0 and 1, got {args.hard:g}")
    try:
        args.seeds = list(dict.fromkeys(int(s) for s in args.seeds.split(",")))
    except ValueError:
        parser.error(f"--seeds must be integers separated by commas, got {args.seeds!r}")
    if min(args.seeds) < 0:
        parser.error("--seeds must be at least 0")
    try:
        config = load_config(args.config)
    except (ConfigError, OSError, ValueError) as error:
        parser.error(f"--config: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    if args.preset not in config.presets:
        parser.error(f"--preset: unknown preset {args.preset!r}; {args.config} has {', '.join(config.presets)}")
    if config.presets[args.preset].agent != "DQN_Agent":
        parser.error(f"--preset: {args.preset} is a {config.presets[args.preset].agent} preset; expert iteration "
                     f"is an option of DQN_Agent")
    if isinstance(config.presets[args.preset].parameters.epsilon_decay_steps, float):
        parser.error(f"--preset: {args.preset} gives epsilon_decay_steps as a fraction of the episodes, which are "
                     f"unbounded here; give it in episodes (an integer)")
    max_length = config.machine.max_length
    args.length = max_length if args.length is None else args.length
    if not 1 <= args.length <= max_length:
        parser.error(f"--length must be between 1 and MAX_LENGTH ({max_length}), got {args.length}")
    args.configs = {expert: benchmark_config(args, expert) for expert in (False, True)}
    try:
        parse_config(args.configs[True])  # the search options, checked by the preset's own rules
    except ConfigError as error:
        parser.error(str(error).splitlines()[0])
    return args


def benchmark_config(args: argparse.Namespace, expert: bool) -> dict:
    """The config with the held-out tiers' size and seed, no logs and no models saved on the way, and
    for the expert-iteration run the search options added to the preset."""
    config = load_config(args.config).to_json()
    # Evaluation at the start and the end only (ASSESS_FREQ beyond the episodes).
    config["settings"].update(EVAL_TARGETS=args.per_tier, EVAL_SEED=args.seed, ASSESS_FREQ=10 * NO_CAP,
                              LOG_FREQ=10 * NO_CAP, SAVE_FREQ=0)
    if expert:
        config["presets"][args.preset]["parameters"].update(
            search_every=args.search_every, search_tasks=args.search_tasks,
            search_expansions=args.search_expansions, demo_fraction=args.demo_fraction,
            demo_margin=args.demo_margin, demo_weight=args.demo_weight)
    return config


def train(args: argparse.Namespace, expert: bool, seed: int, folder: Path) -> dict:
    name = f"{'expert' if expert else 'plain'}-{seed}"
    run = {"id": name, "algo": args.preset, "episodes": NO_CAP, "reward_func": "Specific_register_values",
           "reward_settings": REWARD_SETTINGS,
           "targets": {"solvable": args.length, "held_out": "tiers", "hard": args.hard}, "reg_inits": None}
    result = train_run(run, args.configs[expert], str(folder / name), str(folder / "runs" / name), seed=seed,
                       threads=args.threads, max_seconds=args.seconds)
    if result.status != "finished":
        raise SystemExit(f"training {name} failed: {result.error}\n{result.traceback}")
    last = folder / name / "models" / "last"
    state = torch.load(last, weights_only=True)["training"].get("expert_iteration")
    print(f"trained {name}: {result.episodes} episodes in {result.seconds:.0f} s", flush=True)
    return {"run": f"{args.preset} + expert iteration" if expert else args.preset, "seed": seed,
            "episodes": result.episodes, "seconds": result.seconds, "model": last,
            "rounds": state["rounds"] if state else 0,
            "search s": state["total_seconds"] if state else 0.0,
            "round solved": state["solved"] if state and state["rounds"] else float("nan")}


def solve_rates(model: Path, machine, targets: np.ndarray) -> dict[str, float]:
    """The greedy and guided-search solve rates of a model on targets (from zero registers)."""
    network, checkpoint = load_network(model)
    scale = float(checkpoint.get("reward_scale", 1.0))
    reward = make_reward("Specific_register_values", REWARD_SETTINGS)
    greedy = evaluate(greedy_policy(network), machine, reward, targets, np.zeros_like(targets))
    rates = {"greedy": greedy.solved_fraction}
    scorer = network_scorer(network, machine)
    needed = []
    for target in targets:
        found = guided_search(scorer, machine, reward, target.tolist(), None, max(BUDGETS), scale)
        needed.append(found.expansions if found.solved else None)
    for budget in BUDGETS:
        rates[f"@{budget}"] = float(np.mean([n is not None and n <= budget for n in needed]))
    return rates


def cell(value: object, rate: bool = False) -> str:
    if isinstance(value, float):
        if value != value:  # NaN: no round
            return "—"
        if rate:
            return f"{value:.1%}"
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value > 1 else f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[dict], columns: tuple[str, ...], rates: tuple[str, ...] = ()) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c], c in rates) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def with_means(rows: list[dict], columns: tuple[str, ...]) -> list[dict]:
    """The rows, then for each run the mean over seeds when there are several."""
    if len({row["seed"] for row in rows}) < 2:
        return rows
    means = []
    for name in dict.fromkeys(row["run"] for row in rows):
        group = [row for row in rows if row["run"] == name]
        means.append({"run": f"{name} (mean)", "seed": "all",
                      **{c: float(np.nanmean([row[c] for row in group]))
                         if any(row[c] == row[c] for row in group) else float("nan") for c in columns[2:]}})
    return rows + means


def main() -> None:
    args = parse_args()
    machine = parse_config(args.configs[False]).machine
    print(f"machine: {describe_machine()}", flush=True)
    print(f"preset {args.preset} of {args.config}; targets {{'solvable': {args.length}, 'held_out': 'tiers', "
          f"'hard': {args.hard:g}}}; {args.seconds:g} s of training per run, {args.threads} torch thread(s), one "
          f"run at a time; training seeds {args.seeds}", flush=True)
    print(f"expert iteration: every {args.search_every} episodes {args.search_tasks} tasks × "
          f"{args.search_expansions} expansions, demo_fraction {args.demo_fraction:g}, demo_margin "
          f"{args.demo_margin:g}, demo_weight {args.demo_weight:g}", flush=True)
    started = time.perf_counter()
    # The runs' own evaluation set: heldout_tiers remembers the draw for the process, so the runs get it too.
    tiers = heldout_tiers(machine, args.per_tier, args.seed)
    print(f"held-out tiers (seed {args.seed}, {args.per_tier} per optimal length 1..{machine.max_length}, never "
          f"drawn by training) drawn in {time.perf_counter() - started:.1f} s; measured: greedy, guided search at "
          f"{', '.join(map(str, BUDGETS))} expansions", flush=True)
    runs: list[dict] = []
    by_tier: dict[int, list[dict]] = {tier: [] for tier, draw in tiers.items() if len(draw.targets)}
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            for expert in (False, True):
                row = train(args, expert, seed, Path(folder))
                runs.append(row)
                for tier in by_tier:
                    by_tier[tier].append({"run": row["run"], "seed": seed,
                                          **solve_rates(row["model"], machine, tiers[tier].targets)})
    print("\nruns:")
    print(table(with_means(runs, RUN_COLUMNS), RUN_COLUMNS))
    for tier, rows in by_tier.items():
        print(f"\ntier {tier}: {len(tiers[tier].targets)} held-out targets of optimal length {tier}")
        print(table(with_means(rows, TIER_COLUMNS), TIER_COLUMNS, RATES))
    for tier in sorted(set(tiers) - set(by_tier)):
        print(f"\ntier {tier}: no held-out target drawn")


if __name__ == "__main__":
    main()
