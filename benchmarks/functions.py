"""Function tasks (docs/functions.md): a generalist trained on random functions, measured on held-out ones.

    python benchmarks/functions.py [--preset Generalist] [--set NAME=VALUE] [--minutes 30 | --episodes N]
        [--max-length 5] [--length L] [--hard 0] [--per-tier 100] [--examples 4] [--budgets 1,10,100,1000] [--seed 2026]
        [--synth-limit 10] [--synth-budget 120] [--draw-budget S] [--suite examples/function_suite.json]
        [--overfit-functions 200] [--overfit-budget 100] [--png PATH] [--threads N] [--device cpu|cuda|auto]

Draws the held-out tiers first: --per-tier functions of each optimal length 1..MAX_LENGTH (the function
synthesizer's, each candidate proved within --synth-limit seconds by --threads processes at once;
synthesis/function_tiers.py, seed --seed; a tier whose draw takes --draw-budget seconds keeps the
functions found by then, as printed), with what drawing them cost. Trains --preset on random functions
(`{"functions": {"solvable": L, "held_out": "tiers"}}`: the function of a random program of L
instructions each episode, never a held-out one) for --minutes or --episodes. Then, per tier, every
method scored *correct on every input* (decided exactly, never by sampling), each function shown
--examples examples drawn from the seed: the greedy program, guided search at each budget (expansions),
the no-network ablation (best-first on the reward), random search and beam search on the reward; mean
length above optimal; the expansions guided search and the ablation need at an equal solve rate; the
exact synthesizer's time per function (median, 95th percentile; --synth-limit a function, --synth-budget
a tier). Then the named suite (--suite): each function's optimum proved by the synthesizer and guided
search's program at the largest budget, and whether it is correct. Last, over-fitting: for K = 1..6
examples, of the programs guided search (and the ablation) find that meet the K examples shown
(--overfit-budget expansions, no function given to the search), the share wrong on some input. The
figure (solve rate against budget, one panel per tier) goes to --png.
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
from benchmarks.generalization import (  # noqa: E402
    check_training_and_budgets,
    mean_extra,
    plot,
    print_table,
    rates,
    synthesizer_times,
)
from benchmarks.host import describe_machine  # noqa: E402
from benchmarks.options import parameter_overrides  # noqa: E402
from environment import make_reward  # noqa: E402
from environment.function_tasks import functions_batch  # noqa: E402
from synthesis.function_exact import FunctionSynthesizer  # noqa: E402
from synthesis.function_tiers import FUNCTION_TIER_LIMIT, heldout_function_tiers, load_suite, suite_optima  # noqa: E402
from synthesis.search import FunctionTask, beam_search, guided_search, random_search, reward_first_search  # noqa: E402
from toycorewar import Function, program_map  # noqa: E402
from training.checkpoints import load_network  # noqa: E402
from training.config import ConfigError, load_config, parse_config  # noqa: E402
from training.context import select_device  # noqa: E402
from training.evaluation import evaluate_functions  # noqa: E402
from training.run import train_run  # noqa: E402

HELDOUT_SEED = 2026
EXAMPLES_SEED = 7  # the examples each held-out function shows: default_rng([EXAMPLES_SEED, tier])
REWARD_SETTINGS = {"circular": True, "positive": True, "cumulative": True}
NO_CAP = 10**8  # the episodes of a run trained for --minutes: its clock ends it
OVERFIT_EXAMPLES = (1, 2, 3, 4, 5, 6)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="Generalist", help="preset of config.json to train (default Generalist)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the preset changed for this benchmark (a JSON value; repeatable), "
                        "e.g. --set learning_freq=32")
    parser.add_argument("--episodes", type=int, help="training episodes (default 30000)")
    parser.add_argument("--minutes", type=float, help="training time instead of a number of episodes")
    parser.add_argument("--length", type=int, help="length of the training programs (default MAX_LENGTH)")
    parser.add_argument("--hard", type=float, default=0.0, help="share of training functions redrawn until they "
                        "look hard (the 'hard' key of random functions; default 0)")
    parser.add_argument("--per-tier", type=int, default=100, help="held-out functions per tier (default 100)")
    parser.add_argument("--examples", type=int, default=4, help="examples an episode shows (EXAMPLES, default 4)")
    parser.add_argument("--budgets", default="1,10,100,1000", help="search budgets (default 1,10,100,1000)")
    parser.add_argument("--seed", type=int, default=HELDOUT_SEED, help=f"seed of the tiers (default {HELDOUT_SEED})")
    parser.add_argument("--max-length", type=int, default=5, help="MAX_LENGTH of the machine (default 5)")
    parser.add_argument("--synth-limit", type=float, default=FUNCTION_TIER_LIMIT,
                        help=f"synthesizer seconds per function (default {FUNCTION_TIER_LIMIT:g})")
    parser.add_argument("--synth-budget", type=float, default=120.0, help="synthesizer seconds per tier (default 120)")
    parser.add_argument("--draw-budget", type=float, default=None,
                        help="seconds each held-out tier's draw may take (default: no limit)")
    parser.add_argument("--suite", default=str(ROOT / "examples" / "function_suite.json"),
                        help="the named functions (default examples/function_suite.json)")
    parser.add_argument("--overfit-functions", type=int, default=200,
                        help="held-out functions of the over-fitting table (default 200)")
    parser.add_argument("--overfit-budget", type=int, default=100, help="expansions of its searches (default 100)")
    parser.add_argument("--png", default=str(Path(tempfile.gettempdir()) / "functions.png"),
                        help="where the figure goes (default functions.png in the temporary folder)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="torch threads, and processes proving the held-out tiers (default: all cores)")
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="cpu", help="device (default cpu)")
    args = parser.parse_args(argv)
    for flag in ("episodes", "length", "per_tier", "examples", "max_length", "threads", "overfit_functions",
                 "overfit_budget"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    for flag in ("minutes", "synth_limit", "synth_budget", "draw_budget"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            parser.error(f"--{flag.replace('_', '-')} must be positive, got {value}")
    check_training_and_budgets(parser, args)
    if not Path(args.suite).is_file():
        parser.error(f"--suite {args.suite}: no such file")
    if not Path(args.png).parent.is_dir():
        parser.error(f"--png {args.png}: no such folder")
    args.overrides = parameter_overrides(parser, args.set)
    try:
        parse_config(benchmark_config(args))  # the preset exists, and its changed parameters are valid
    except ConfigError as error:
        parser.error(f"--set {' '.join(args.set)}: {error}" if args.overrides and not str(error).startswith("--")
                     else str(error))
    return args


def benchmark_config(args: argparse.Namespace) -> dict:
    """config.json with the benchmark's machine, its held-out tiers as the evaluation set, no logs, and the
    preset's parameters changed by --set."""
    config = load_config(ROOT / "config.json").to_json()
    if args.preset not in config["presets"]:
        raise ConfigError(f"--preset: unknown preset {args.preset}; config.json has {', '.join(config['presets'])}")
    config["presets"][args.preset]["parameters"].update(args.overrides)
    config["settings"]["toy_corewar"].update(MAX_LENGTH=args.max_length)
    config["settings"].update(EVAL_TARGETS=args.per_tier, EVAL_SEED=args.seed, EXAMPLES=args.examples,
                              LOG_FREQ=10**9, SAVE_FREQ=0, DEVICE=args.device)
    return config


def train(config: dict, args: argparse.Namespace, folder: Path) -> Path:
    """Train the preset on random functions; its evaluation set is the held-out tiers, which training never
    draws (evaluated at the start and the end only). Returns the last model (never chosen on held-out data)."""
    episodes = NO_CAP if args.minutes is not None else (args.episodes or 30000)
    config = {**config, "settings": {**config["settings"], "ASSESS_FREQ": episodes}}
    run = {"id": "functions", "algo": args.preset, "episodes": episodes, "reward_func": "Specific_register_values",
           "reward_settings": REWARD_SETTINGS,
           "targets": {"functions": {"solvable": args.length, "held_out": "tiers", "hard": args.hard}}}
    result = train_run(run, config, str(folder / "run"), str(folder / "tensorboard"), seed=0, threads=args.threads,
                       max_seconds=None if args.minutes is None else args.minutes * 60)
    if result.status != "finished":
        raise SystemExit(f"training failed: {result.error}")
    changed = "".join(f", {name} {value}" for name, value in args.overrides.items())
    print(f"trained {args.preset}{changed}: {result.episodes} episodes in {result.seconds:.0f} s", flush=True)
    return folder / "run" / "models" / "last"


def shown(functions: list[Function], count: int, seed: list[int]) -> list[FunctionTask]:
    """Each function with `count` examples drawn from `seed`."""
    rng = np.random.default_rng(seed)
    return [FunctionTask.drawn(function, count, rng) for function in functions]


def searched(search, tasks: list[FunctionTask], tier: int, budgets: list[int], name: str) -> dict:
    """One search per function at the largest budget (best-first is deterministic): solved within b iff
    it needed at most b expansions. A search given the function reports only correct programs."""
    found = [search(i, task) for i, task in enumerate(tasks)]
    assert all(f.correct for f in found if f.solved), f"{name} reported a program that is not correct"
    return {"method": name, "budgets": rates([f.expansions if f.solved else None for f in found], budgets),
            "extra": mean_extra([len(f.program) if f.solved else None for f in found], tier),
            "needed": sorted(f.expansions for f in found if f.solved), "count": len(found)}


def agent_rows(network, checkpoint, machine, reward, tasks: list[FunctionTask], tier: int, budgets: list[int],
               device: torch.device, examples: int) -> list[dict]:
    batch = functions_batch([t.function for t in tasks], examples, np.random.default_rng(0))
    batch = batch._replace(inputs=np.stack([t.examples.inputs for t in tasks]),
                           outputs=np.stack([t.examples.outputs for t in tasks]),
                           matters=np.stack([t.examples.matters for t in tasks]))
    greedy = evaluate_functions(greedy_policy(network, device), machine, reward, batch)
    lengths = [sum(i != "stop" for i in t.instructions) if t.solved else None for t in greedy.tasks]
    scorer, scale = network_scorer(network, machine, device), checkpoint.get("reward_scale", 1.0)
    guided = searched(lambda i, t: guided_search(scorer, machine, reward, t, None, budgets[-1], scale),
                      tasks, tier, budgets, "guided search")
    return [{"method": "greedy", "greedy": greedy.solved_fraction, "extra": mean_extra(lengths, tier)}, guided]


def baseline_rows(machine, reward, tasks: list[FunctionTask], tier: int, budgets: list[int], seed: int) -> list[dict]:
    ablation = searched(lambda i, t: reward_first_search(machine, reward, t, None, budgets[-1]),
                        tasks, tier, budgets, "best-first, no network")
    randomly = searched(lambda i, t: random_search(machine, t, None, budgets[-1],
                                                   np.random.default_rng([seed, tier, i])),
                        tasks, tier, budgets, "random search")
    beams = {b: [beam_search(machine, reward, t, None, b) for t in tasks] for b in budgets}
    beam = {"method": "beam search (reward)",
            "budgets": {b: float(np.mean([f.solved for f in beams[b]])) for b in budgets},
            "extra": mean_extra([len(f.program) if f.solved else None for f in beams[budgets[-1]]], tier)}
    return [ablation, randomly, beam]


def equal_rate(guided: dict, ablation: dict) -> str:
    """The expansions each needs to solve the same number of functions: the most both solve."""
    both = min(len(guided["needed"]), len(ablation["needed"]))
    if not both:
        return "equal solve rate: not reached by both"
    g, a = guided["needed"][both - 1], ablation["needed"][both - 1]
    if g == a:
        ratio = "the same"
    elif g < a:
        ratio = f"{a / g:.1f}× fewer with the network" if g else "none at all with the network"
    else:
        ratio = f"{g / a:.1f}× more with the network" if a else "none at all without the network"
    return (f"at equal solve rate {both / guided['count']:.0%}: guided search {g} expansions, no network {a} "
            f"({ratio})")


def suite_table(machine, reward, network, checkpoint, args: argparse.Namespace, device: torch.device) -> None:
    suite = load_suite(args.suite, machine.num_registers)
    optima = suite_optima(machine, suite, args.synth_limit)
    scorer, scale = network_scorer(network, machine, device), checkpoint.get("reward_scale", 1.0)
    budget = args.budgets[-1]
    print(f"\nnamed suite ({args.suite}): optimum proved by the synthesizer (≤ {args.synth_limit:g} s each), guided "
          f"search at {budget} expansions on {args.examples} examples")
    header = f"{'name':<26}{'function':<40}{'optimum':>9}{'synth s':>9}{'search':>8}{'expans.':>9}  verdict"
    print(header)
    print("-" * len(header))
    rng = np.random.default_rng([args.seed, 99])
    wrong_claims = 0
    for optimum in optima:
        task = FunctionTask.drawn(optimum.function, args.examples, rng)
        found = guided_search(scorer, machine, reward, task, None, budget, scale)
        really = found.solved and optimum.function.is_computed_by(program_map(found.program, machine.num_registers))
        wrong_claims += int(bool(found.correct) and not really)
        best = (str(optimum.length) if optimum.length is not None else
                f"> {machine.max_length}" if optimum.proved else "unproved")
        verdict = ("correct on every input" if really else "not found" if not found.solved else "WRONG")
        length = str(len(found.program)) if found.solved else "—"
        print(f"{optimum.name:<26}{str(optimum.function):<40}{best:>9}{optimum.seconds:>9.2f}{length:>8}"
              f"{found.expansions:>9}  {verdict}")
    print(f"programs claimed correct that are not: {wrong_claims}")


def overfitting_table(machine, reward, network, checkpoint, functions: list[Function], args: argparse.Namespace,
                      device: torch.device) -> None:
    """Of the programs that meet K examples (the search sees only the examples), the share wrong on some input."""
    scorer, scale = network_scorer(network, machine, device), checkpoint.get("reward_scale", 1.0)
    print(f"\nover-fitting: {len(functions)} held-out functions, K examples shown, searches of "
          f"{args.overfit_budget} expansions that see only the examples; a program meeting them checked on every input")
    print(f"{'K':>3}{'guided: meet K':>16}{'wrong':>8}{'share':>8}{'no network: meet K':>21}{'wrong':>8}{'share':>8}")
    for k in OVERFIT_EXAMPLES:
        rows = []
        for search in (lambda t: guided_search(scorer, machine, reward, t, None, args.overfit_budget, scale),
                       lambda t: reward_first_search(machine, reward, t, None, args.overfit_budget)):
            met = wrong = 0
            for task in shown(functions, k, [args.seed, 77, k]):
                found = search(FunctionTask(task.examples))  # the examples alone: no function to check against
                if found.solved:
                    met += 1
                    wrong += int(not task.function.is_computed_by(program_map(found.program, machine.num_registers)))
            rows.append((met, wrong))
        cells = "".join(f"{met:>{16 if i == 0 else 21}}{wrong:>8}{(wrong / met if met else 0):>8.1%}"
                        for i, (met, wrong) in enumerate(rows))
        print(f"{k:>3}{cells}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config_data = benchmark_config(args)
    machine = parse_config(config_data).machine
    reward = make_reward("Specific_register_values", REWARD_SETTINGS)
    print(f"machine: {describe_machine()}", flush=True)
    print(f"ToyCorewar: {machine.num_registers} registers, load values 0..{machine.n_vals - 1}, programs of at most "
          f"{machine.max_length} instructions; training functions of programs of {args.length}; "
          f"{args.examples} examples an episode")
    started = time.perf_counter()
    # The same draw as the training run's evaluation set (heldout_function_tiers remembers it for the process).
    tiers = heldout_function_tiers(machine, args.per_tier, args.seed, time_limit=args.synth_limit,
                                   workers=args.threads, budget=args.draw_budget)
    print(f"held-out tiers (seed {args.seed}, {args.per_tier} per tier, each proved within {args.synth_limit:g} s, "
          f"{args.threads} proving process{'es' if args.threads > 1 else ''}) drawn in "
          f"{time.perf_counter() - started:.1f} s")
    for tier, draw in tiers.items():
        proofs = (f", proofs median {np.median(draw.proofs) * 1000:.1f} ms, 95th percentile "
                  f"{np.percentile(draw.proofs, 95) * 1000:.1f} ms" if draw.proofs else "")
        print(f"  tier {tier}: {len(draw.functions)} functions from {draw.candidates} random programs in "
              f"{draw.seconds:.1f} s ({len(draw.proofs)} synthesizer searches{proofs}, {draw.unproved} unproved"
              f"{'; stopped by --draw-budget' if draw.out_of_budget else ''})")
    device = select_device(args.device)
    tasks = {tier: shown(draw.functions, args.examples, [EXAMPLES_SEED, tier])
             for tier, draw in tiers.items() if draw.functions}
    tables: dict[int, list[dict]] = {}
    with tempfile.TemporaryDirectory() as temporary:
        model = train(config_data, args, Path(temporary))
        network, checkpoint = load_network(model, device)
        for tier, tier_tasks in tasks.items():
            tables[tier] = agent_rows(network, checkpoint, machine, reward, tier_tasks, tier, args.budgets, device,
                                      args.examples)
    synthesizer = FunctionSynthesizer(machine)
    for tier, rows in tables.items():
        rows += baseline_rows(machine, reward, tasks[tier], tier, args.budgets, args.seed)
        print_table(tier, len(tasks[tier]), rows, args.budgets, "functions")
        print(equal_rate(rows[1], rows[2]))
        solve = lambda function: synthesizer.shortest_program(function, args.max_length, args.synth_limit)  # noqa: E731
        print(synthesizer_times(solve, [t.function for t in tasks[tier]], tier, args, "function"), flush=True)
    for tier in sorted(set(tiers) - set(tables)):
        print(f"\ntier {tier}: no held-out function drawn (none proved within {args.synth_limit:g} s)")
    suite_table(machine, reward, network, checkpoint, args, device)
    pool = [t.function for tier in sorted(tasks) for t in tasks[tier]]
    overfit = [pool[i] for i in np.random.default_rng(args.seed).permutation(len(pool))[:args.overfit_functions]]
    overfitting_table(machine, reward, network, checkpoint, overfit, args, device)
    plot(tables, args.budgets, args.png)
    print(f"\nfigure: {args.png}")


if __name__ == "__main__":
    main()
