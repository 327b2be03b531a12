"""Expert iteration against the same DQN without it, at equal training time.

    python benchmarks/expert_iteration.py [--seconds 600] [--seeds 0,1,2] [--targets 200] [--length 5]
        [--search-every 250] [--search-tasks 32] [--search-expansions 100] [--demo-fraction 0.25]
        [--demo-margin 0.1] [--demo-weight 1.0] [--threads 1] [--tiers 40]

Trains the shipped DQN preset of config.json on random solvable targets (`"targets": {"solvable": L}`)
twice per seed: as it is, and with expert iteration (agents/expert_iteration.py: every --search-every
episodes, guided search with the online network on --search-tasks training tasks, the programs found
learned from). Both runs end once they have trained --seconds (`train_run(..., max_seconds=S)`, wall
clock: the search rounds count against the run that makes them). Then, on the run's held-out solvable
targets (its evaluation set, which training never draws), each last model is measured: the solve
rate of its greedy policy and of guided search at 10 and 100 expansions. One table, one row per run,
then the mean over seeds when there are several; then the same rates by optimal length
(`synthesis.tiers.heldout_tiers`, --tiers targets per length 1..5; the exact synthesizer only judges
which tier a target belongs to).

Best-first search is deterministic, so one search at 100 expansions tells the result at 10 as well
(solved within b iff it needed ≤ b expansions).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.networks import greedy_policy, network_scorer  # noqa: E402
from agents.parameters import DQNParameters  # noqa: E402
from benchmarks.host import describe_machine  # noqa: E402
from environment import make_reward  # noqa: E402
from environment.tasks import heldout_solvable_targets  # noqa: E402
from synthesis.search import guided_search  # noqa: E402
from synthesis.tiers import heldout_tiers  # noqa: E402
from training.checkpoints import load_network  # noqa: E402
from training.config import load_config  # noqa: E402
from training.evaluation import evaluate  # noqa: E402
from training.run import train_run  # noqa: E402

BUDGETS = (10, 100)
HELDOUT_SEED = 2026
REWARD_SETTINGS = {"circular": True, "positive": True, "cumulative": True}
COLUMNS = ("run", "seed", "episodes", "seconds", "rounds", "search s", "round solved", "greedy",
           *(f"search@{b}" for b in BUDGETS))
TIER_COLUMNS = ("run", "seed", "optimal length", "targets", "greedy", *(f"search@{b}" for b in BUDGETS))


def config_for(args: argparse.Namespace, expert: bool) -> dict:
    config = load_config(ROOT / "config.json").to_json()
    # The only evaluation is the final one (on the held-out set); no models saved on the way.
    config["settings"].update(EVAL_TARGETS=args.targets, EVAL_SEED=HELDOUT_SEED, ASSESS_FREQ=10**9,
                              LOG_FREQ=10**9, SAVE_FREQ=0)
    if expert:
        config["presets"]["DQN"]["parameters"].update(
            search_every=args.search_every, search_tasks=args.search_tasks,
            search_expansions=args.search_expansions, demo_fraction=args.demo_fraction,
            demo_margin=args.demo_margin, demo_weight=args.demo_weight)
    return config


def train(args: argparse.Namespace, expert: bool, seed: int, folder: Path) -> dict:
    name = f"{'expert' if expert else 'plain'}-{seed}"
    run = {"id": name, "algo": "DQN", "episodes": 10**8, "reward_func": "Specific_register_values",
           "reward_settings": REWARD_SETTINGS, "targets": {"solvable": args.length}, "reg_inits": None}
    result = train_run(run, config_for(args, expert), str(folder / name), str(folder / "runs" / name), seed=seed,
                       threads=args.threads, max_seconds=args.seconds)
    if result.status != "finished":
        raise SystemExit(f"training {name} failed: {result.error}\n{result.traceback}")
    last = folder / name / "models" / "last"
    state = torch.load(last, weights_only=True)["training"].get("expert_iteration")
    print(f"trained {name}: {result.episodes} episodes in {result.seconds:.0f} s", flush=True)
    return {"run": "expert iteration" if expert else "plain DQN", "seed": seed, "episodes": result.episodes,
            "seconds": result.seconds, "model": last,
            "rounds": state["rounds"] if state else 0,
            "search s": state["total_seconds"] if state else 0.0,
            "round solved": state["solved"] if state else float("nan")}


def solve_rates(model: Path, targets: np.ndarray) -> dict[str, float]:
    """The greedy and guided-search solve rates of a model on targets (from zero registers)."""
    network, checkpoint = load_network(model)
    scale = float(checkpoint["reward_scale"])
    machine, reward = load_config(ROOT / "config.json").machine, make_reward("Specific_register_values",
                                                                              REWARD_SETTINGS)
    greedy = evaluate(greedy_policy(network), machine, reward, targets, np.zeros_like(targets))
    rates = {"greedy": float(np.mean([task.solved for task in greedy.tasks]))}
    scorer = network_scorer(network, machine)
    needed = []
    for target in targets:
        found = guided_search(scorer, machine, reward, target.tolist(), None, max(BUDGETS), scale)
        needed.append(found.expansions if found.solved else None)
    for budget in BUDGETS:
        rates[f"search@{budget}"] = float(np.mean([n is not None and n <= budget for n in needed]))
    return rates


def cell(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # NaN: no round
            return "—"
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}" if value > 1 else f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[dict], columns: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def mean_rows(rows: list[dict]) -> list[dict]:
    means = []
    for name in dict.fromkeys(row["run"] for row in rows):
        group = [row for row in rows if row["run"] == name]
        mean = {"run": f"{name} (mean)", "seed": "all"}
        for column in COLUMNS[2:]:
            mean[column] = float(np.mean([row[column] for row in group]))
        means.append(mean)
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=600.0, help="training time of every run")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--targets", type=int, default=200, help="held-out targets")
    parser.add_argument("--length", type=int, default=5, help="solvable targets: random programs of this length")
    parser.add_argument("--search-every", type=int, default=250)
    defaults = DQNParameters()  # the option's own defaults, but for how often it searches
    parser.add_argument("--search-tasks", type=int, default=defaults.search_tasks)
    parser.add_argument("--search-expansions", type=int, default=defaults.search_expansions)
    parser.add_argument("--demo-fraction", type=float, default=defaults.demo_fraction)
    parser.add_argument("--demo-margin", type=float, default=defaults.demo_margin)
    parser.add_argument("--demo-weight", type=float, default=defaults.demo_weight)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each run")
    parser.add_argument("--tiers", type=int, default=40,
                        help="also measure on this many targets per optimal length 1..5 (0: not)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(describe_machine(), flush=True)
    print(f"DQN preset of config.json, targets {{'solvable': {args.length}}}, {args.seconds:g} s of training per "
          f"run, {args.threads} torch thread(s), one run at a time; seeds {seeds}; expert iteration: every "
          f"{args.search_every} episodes {args.search_tasks} tasks × {args.search_expansions} expansions, "
          f"demo_fraction {args.demo_fraction}, demo_margin {args.demo_margin}, demo_weight {args.demo_weight}",
          flush=True)
    machine = load_config(ROOT / "config.json").machine
    targets, _ = heldout_solvable_targets(args.targets, args.length, machine,
                                          np.zeros((1, machine.num_registers), dtype=np.int64), HELDOUT_SEED)
    print(f"held-out: {len(targets)} solvable targets (seed {HELDOUT_SEED}, the runs' evaluation set); "
          f"search budgets {BUDGETS}", flush=True)
    tiers = heldout_tiers(machine, args.tiers, HELDOUT_SEED) if args.tiers else {}
    rows: list[dict] = []
    tier_rows: list[dict] = []
    with tempfile.TemporaryDirectory() as folder:
        for seed in seeds:
            for expert in (False, True):
                row = train(args, expert, seed, Path(folder))
                row.update(solve_rates(row["model"], targets))
                for length, draw in tiers.items():
                    tier_rows.append({"run": row["run"], "seed": seed, "optimal length": length,
                                      "targets": len(draw.targets), **solve_rates(row["model"], draw.targets)})
                rows.append(row)
    print(table(rows + (mean_rows(rows) if len(seeds) > 1 else []), COLUMNS))
    if tier_rows:
        print(f"\nBy optimal length (synthesis.tiers.heldout_tiers, {args.tiers} targets per tier, seed "
              f"{HELDOUT_SEED}; not excluded from training, which draws them rarely):")
        print(table(tier_rows, TIER_COLUMNS))


if __name__ == "__main__":
    main()
