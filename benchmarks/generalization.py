"""Generalization by difficulty: one network for every target, measured on held-out targets of each optimal length.

    python benchmarks/generalization.py [--agents DQN,AC] [--episodes 30000 | --minutes M] [--ac-episodes N]
        [--length L] [--hard 0] [--per-tier 200] [--budgets 1,10,100,1000] [--seed 2026]
        [--max-length 5] [--registers 4] [--values 20] [--synth-limit 30] [--synth-budget 300]
        [--png PATH] [--threads N] [--device cpu|cuda|auto]

Trains each preset of --agents (config.json) on random solvable targets (registers after a random
program of --length instructions, default MAX_LENGTH, a fresh one every episode) with the held-out
tiers as its evaluation set (`{"solvable": L, "held_out": "tiers"}`, docs/synthesis.md, "Solvable targets"):
--per-tier targets of each optimal length 1..MAX_LENGTH (synthesis/tiers.py, seed --seed), which
training never draws. --episodes per agent (--ac-episodes for the on-policy ones), or --minutes of
training each. Then, for every tier, one table: each agent's greedy policy and guided search, the
no-network best-first ablation (`reward_first_search`), random search and beam search on the reward,
solve rate at each budget (expansions) and mean length above optimal of what each solves (at the
largest budget); and the exact synthesizer's time per target (median, 95th percentile; at most
--synth-limit seconds a target and --synth-budget seconds a tier: the targets timed and proved are
counted). The figure (solve rate against budget, one panel per tier) goes to --png, by default
generalization.png in the system's temporary folder. --max-length, --registers and --values change
the machine (NUM_ACTIONS follows: R·V + R² + 2·R³ + 1). With --minutes a run's episodes are unbounded
(train_run's max_seconds ends it), so a preset parameter given as a fraction of the episodes (a float
epsilon_decay_steps) would stretch without end: the shipped DQN preset gives its decay in episodes.

Best-first search is deterministic, and random search draws from one seeded stream per target, so one
search at the largest budget tells the result at every smaller one (solved within b iff it needed ≤ b
expansions); beam search keeps budget / MAX_LENGTH prefixes, so it runs once per budget.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.networks import greedy_policy, network_scorer  # noqa: E402
from benchmarks.host import describe_machine  # noqa: E402
from environment import make_reward  # noqa: E402
from synthesis.exact import Synthesizer  # noqa: E402
from synthesis.search import beam_search, guided_search, random_search, reward_first_search  # noqa: E402
from synthesis.tiers import heldout_tiers  # noqa: E402
from training.checkpoints import load_network  # noqa: E402
from training.config import load_config, parse_config  # noqa: E402
from training.context import select_device  # noqa: E402
from training.evaluation import evaluate  # noqa: E402
from training.run import train_run  # noqa: E402

HELDOUT_SEED = 2026
REWARD_SETTINGS = {"circular": True, "positive": True, "cumulative": True}
NO_CAP = 10**8  # the episodes of a run trained for --minutes: its clock ends it


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="DQN,AC", help="presets of config.json, comma-separated (default DQN,AC)")
    parser.add_argument("--episodes", type=int, help="training episodes per agent (default 30000)")
    parser.add_argument("--minutes", type=float, help="training time per agent instead of a number of episodes")
    parser.add_argument("--ac-episodes", type=int, help="episodes of the on-policy agents (AC, PG) when they "
                        "should differ from --episodes (an on-policy episode costs far less than a DQN one)")
    parser.add_argument("--length", type=int, help="length of the training programs (default MAX_LENGTH)")
    parser.add_argument("--hard", type=float, default=0.0, help="share of training targets redrawn until they "
                        "look hard (the solvable targets' 'hard' key, docs/synthesis.md, 'Solvable targets'; "
                        "default 0)")
    parser.add_argument("--per-tier", type=int, default=200, help="held-out targets per tier (default 200)")
    parser.add_argument("--budgets", default="1,10,100,1000",
                        help="search budgets in expansions (default 1,10,100,1000)")
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED, help=f"seed of the tiers (default {HELDOUT_SEED})")
    parser.add_argument("--max-length", type=int, default=5, help="MAX_LENGTH of the machine (default 5)")
    parser.add_argument("--registers", type=int, default=4, help="NUM_REGISTERS, at most 8 (default 4)")
    parser.add_argument("--values", type=int, default=20, help="N_VALS, load values 0..V-1 (default 20)")
    parser.add_argument("--synth-limit", type=float, default=30.0, help="synthesizer seconds per target (default 30)")
    parser.add_argument("--synth-budget", type=float, default=300.0, help="synthesizer seconds per tier (default 300)")
    parser.add_argument("--png", default=str(Path(tempfile.gettempdir()) / "generalization.png"),
                        help="where the figure goes (default generalization.png in the temporary folder)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads (default: all cores)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu",
                        help="device of training and search (default cpu)")
    args = parser.parse_args(argv)
    for flag in ("episodes", "ac_episodes", "length", "per_tier", "max_length", "registers", "values", "threads"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    for flag in ("minutes", "synth_limit", "synth_budget"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    if args.registers > 8 or args.values > 256:
        parser.error("--registers must be at most 8 and --values at most 256")
    check_training_and_budgets(parser, args)
    args.agents = [a for a in args.agents.split(",") if a]
    presets = load_config(ROOT / "config.json").presets
    unknown = [a for a in args.agents if a not in presets]
    if unknown or not args.agents:
        parser.error(f"--agents: unknown preset(s) {', '.join(unknown) or '(none given)'}; config.json has "
                     f"{', '.join(presets)}")
    return args


def check_training_and_budgets(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The flags this benchmark shares with benchmarks/functions.py: --hard, --episodes or --minutes,
    --length (default MAX_LENGTH), --budgets (parsed into a sorted list)."""
    if not 0 <= args.hard <= 1:
        parser.error(f"--hard must be a share in 0..1, got {args.hard}")
    if args.minutes is not None and args.episodes is not None:
        parser.error("give --episodes or --minutes, not both")
    args.length = args.max_length if args.length is None else args.length
    if args.length > args.max_length:
        parser.error(f"--length must be at most --max-length ({args.max_length}), got {args.length}")
    try:
        args.budgets = sorted({int(b) for b in args.budgets.split(",")})
    except ValueError:
        parser.error(f"--budgets must be integers separated by commas, got {args.budgets!r}")
    if args.budgets[0] < 1:
        parser.error("--budgets must be at least 1")


def benchmark_config(args: argparse.Namespace) -> dict:
    """config.json with the benchmark's machine, its held-out tiers as the evaluation set, no logs."""
    config = load_config(ROOT / "config.json").to_json()
    r, v = args.registers, args.values
    config["settings"]["toy_corewar"].update(NUM_REGISTERS=r, N_TARGETS=r, N_VALS=v, MAX_LENGTH=args.max_length,
                                             NUM_ACTIONS=r * v + r * r + 2 * r**3 + 1)
    config["settings"].update(EVAL_TARGETS=args.per_tier, EVAL_SEED=args.seed, LOG_FREQ=10**9, SAVE_FREQ=0,
                              DEVICE=args.device)
    return config


def train(preset: str, config: dict, args: argparse.Namespace, folder: Path) -> tuple[Path, int, float]:
    """Train `preset`; evaluation (at the start and the end only) is on the held-out tiers, which
    training never draws. Returns the last model (never chosen on held-out data), episodes, seconds."""
    on_policy = config["presets"][preset]["agent"] != "DQN_Agent"
    episodes = (args.ac_episodes if on_policy and args.ac_episodes else args.episodes) or 30000
    if args.minutes is not None:
        episodes = NO_CAP
    config = {**config, "settings": {**config["settings"], "ASSESS_FREQ": episodes}}
    run = {"id": preset, "algo": preset, "episodes": episodes, "reward_func": "Specific_register_values",
           "reward_settings": REWARD_SETTINGS,
           "targets": {"solvable": args.length, "held_out": "tiers", "hard": args.hard},
           "reg_inits": None}
    result = train_run(run, config, str(folder / preset), str(folder / "runs" / preset), seed=0,
                       threads=args.threads, max_seconds=None if args.minutes is None else args.minutes * 60)
    if result.status != "finished":
        raise SystemExit(f"training {preset} failed: {result.error}")
    print(f"trained {preset}: {result.episodes} episodes in {result.seconds:.0f} s", flush=True)
    return folder / preset / "models" / "last", result.episodes, result.seconds


def rates(needed: list[int | None], budgets: list[int]) -> dict[int, float]:
    return {b: float(np.mean([n is not None and n <= b for n in needed])) for b in budgets}


def mean_extra(lengths: list[int | None], tier: int) -> float:
    solved = [length - tier for length in lengths if length is not None]
    return float(np.mean(solved)) if solved else float("nan")


def searched(search, targets: np.ndarray, tier: int, budgets: list[int], name: str) -> dict:
    """One search per target at the largest budget: the row of a deterministic search."""
    found = [search(i, target.tolist()) for i, target in enumerate(targets)]
    return {"method": name, "budgets": rates([f.expansions if f.solved else None for f in found], budgets),
            "extra": mean_extra([len(f.program) if f.solved else None for f in found], tier)}


def agent_rows(name: str, model: Path, machine, reward, targets: np.ndarray, tier: int, budgets: list[int],
               device: torch.device) -> list[dict]:
    network, checkpoint = load_network(model, device)
    greedy = evaluate(greedy_policy(network, device), machine, reward, targets, np.zeros_like(targets))
    lengths = [sum(i != "stop" for i in t.instructions) if t.solved else None for t in greedy.tasks]
    scorer, scale = network_scorer(network, machine, device), checkpoint.get("reward_scale", 1.0)
    guided = searched(lambda i, t: guided_search(scorer, machine, reward, t, None, budgets[-1], scale),
                      targets, tier, budgets, f"{name} guided search")
    return [{"method": f"{name} greedy", "greedy": greedy.solved_fraction, "extra": mean_extra(lengths, tier)},
            guided]


def baseline_rows(machine, reward, targets: np.ndarray, tier: int, budgets: list[int], seed: int) -> list[dict]:
    ablation = searched(lambda i, t: reward_first_search(machine, reward, t, None, budgets[-1]),
                        targets, tier, budgets, "best-first, no network")
    randomly = searched(lambda i, t: random_search(machine, t, None, budgets[-1],
                                                   np.random.default_rng([seed, tier, i])),
                        targets, tier, budgets, "random search")
    beams = {b: [beam_search(machine, reward, t.tolist(), None, b) for t in targets] for b in budgets}
    beam = {"method": "beam search (reward)", "budgets": {b: float(np.mean([f.solved for f in beams[b]]))
                                                          for b in budgets},
            "extra": mean_extra([len(f.program) if f.solved else None for f in beams[budgets[-1]]], tier)}
    return [ablation, randomly, beam]


def synthesizer_times(solve, tasks: list, tier: int, args: argparse.Namespace, what: str = "target") -> str:
    """The exact synthesizer (`solve(task)`: its result or None when not proved in time) on the tier's
    tasks in order, until --synth-budget seconds are spent."""
    seconds, proved, spent = [], 0, 0.0
    for task in tasks:
        if spent >= args.synth_budget:
            break
        start = time.perf_counter()
        result = solve(task)
        seconds.append(time.perf_counter() - start)
        spent += seconds[-1]
        if result is not None:
            proved += 1
            if result.length != tier:
                print(f"WARNING: the synthesizer gives length {result.length} to {task} of tier {tier}")
    return (f"exact synthesizer: median {np.median(seconds) * 1000:.1f} ms, 95th percentile "
            f"{np.percentile(seconds, 95) * 1000:.1f} ms per {what} ({len(seconds)} of {len(tasks)} timed, "
            f"{proved} proved within {args.synth_limit:g} s each)")


def print_table(tier: int, count: int, rows: list[dict], budgets: list[int], what: str = "targets") -> None:
    print(f"\ntier {tier}: {count} held-out {what} of optimal length {tier}")
    header = f"{'method':<28}{'greedy':>8}" + "".join(f"{'@' + str(b):>8}" for b in budgets) + f"{'len-opt':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = f"{row['greedy']:>8.1%}" if "greedy" in row else f"{'':>8}"
        cells += "".join(f"{row['budgets'][b]:>8.1%}" if "budgets" in row else f"{'':>8}" for b in budgets)
        extra = f"{row['extra']:>9.2f}" if np.isfinite(row["extra"]) else f"{'—':>9}"  # nothing solved
        print(f"{row['method']:<28}{cells}{extra}")


def plot(tables: dict[int, list[dict]], budgets: list[int], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    columns = min(4, len(tables))
    lines = -(-len(tables) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(4 * columns, 3.4 * lines), squeeze=False, sharey=True)
    for ax, (tier, rows) in zip(axes.flat, tables.items(), strict=False):
        colours = {}
        for row in rows:
            if "budgets" in row:
                line, = ax.plot(budgets, [row["budgets"][b] for b in budgets], marker="o", label=row["method"])
                colours[row["method"]] = line.get_color()
        for row in rows:  # a greedy policy: a level line, in the colour of its agent's guided search
            if "greedy" in row:
                colour = colours.get(row["method"].replace(" greedy", " guided search"), "grey")
                ax.axhline(row["greedy"], linestyle=":", color=colour, label=row["method"])
        ax.set(xscale="log", title=f"tier {tier}", xlabel="budget (expansions)", ylim=(-0.02, 1.02))
    for ax in axes.flat[len(tables):]:
        ax.axis("off")
    axes[0][0].set_ylabel("solve rate")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)  # one thing at a time here: training, then searches
    config_data = benchmark_config(args)
    machine = parse_config(config_data).machine
    reward = make_reward("Specific_register_values", REWARD_SETTINGS)
    print(f"machine: {describe_machine()}", flush=True)
    print(f"ToyCorewar: {machine.num_registers} registers, load values 0..{machine.n_vals - 1}, programs of at most "
          f"{machine.max_length} instructions ({machine.num_actions} actions); training programs of {args.length}")
    started = time.perf_counter()
    # The same draw as the training runs' evaluation set (heldout_tiers remembers it for the process).
    tiers = heldout_tiers(machine, args.per_tier, args.seed)
    print(f"held-out tiers (seed {args.seed}, {args.per_tier} per tier) drawn in {time.perf_counter() - started:.1f} s")
    for tier, draw in tiers.items():
        proofs = f", search median {np.median(draw.proofs) * 1000:.1f} ms" if draw.proofs else ""
        print(f"  tier {tier}: {len(draw.targets)} targets from {draw.candidates} random programs in "
              f"{draw.seconds:.1f} s ({len(draw.proofs)} synthesizer searches{proofs}, {draw.unproved} unproved)")
    tables: dict[int, list[dict]] = {tier: [] for tier, draw in tiers.items() if len(draw.targets)}
    device = select_device(args.device)
    with tempfile.TemporaryDirectory() as temporary:
        for preset in args.agents:
            model, _, _ = train(preset, config_data, args, Path(temporary))
            for tier in tables:
                tables[tier] += agent_rows(preset, model, machine, reward, tiers[tier].targets, tier, args.budgets,
                                           device)
    synthesizer = Synthesizer(machine)
    started = time.perf_counter()
    synthesizer.reachable(None, max(0, args.max_length - machine.num_registers + 1))  # the shared levels, once
    print(f"\nexact synthesizer: levels shared by every target built in {time.perf_counter() - started:.1f} s")
    for tier, rows in tables.items():
        targets = tiers[tier].targets
        rows += baseline_rows(machine, reward, targets, tier, args.budgets, args.seed)
        print_table(tier, len(targets), rows, args.budgets)
        solve = lambda target: synthesizer.shortest_program(target, None, args.max_length, args.synth_limit)  # noqa: E731
        print(synthesizer_times(solve, [t.tolist() for t in targets], tier, args), flush=True)
    for tier in sorted(set(tiers) - set(tables)):
        print(f"\ntier {tier}: no held-out target drawn")
    plot(tables, args.budgets, args.png)
    print(f"\nfigure: {args.png}")


if __name__ == "__main__":
    main()
