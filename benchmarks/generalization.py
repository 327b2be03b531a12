"""Generalization to unseen targets: one network for every target, then search on held-out ones.

    python benchmarks/generalization.py [--episodes 30000] [--ac-episodes N] [--targets 1000] [--length 5]

Trains the DQN and AC presets of config.json on random solvable targets (registers after a random
program of --length instructions, a fresh one every episode), never drawing one of the held-out
targets. Then, on the held-out targets, reports in one table: the solve rate of the greedy policy,
of guided tree search at 10, 100 and 1,000 expansions, of random search and beam search on the reward
at the same budgets, and of the same best-first search with no network (children ordered by the
reward alone: what the search owes to the agent rather than to its prunings); the mean length above
optimal of the programs found; and the exact synthesizer's time per target (median and 95th percentile).

Best-first search is deterministic, and random search draws from one seeded stream, so one search at
the largest budget tells the result at every smaller one (solved within b iff it needed ≤ b expansions).
"""

from __future__ import annotations

import argparse
import json
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
from environment.tasks import heldout_solvable_targets  # noqa: E402
from synthesis.exact import Synthesizer  # noqa: E402
from synthesis.search import beam_search, guided_search, random_search, reward_first_search  # noqa: E402
from training.checkpoints import load_network  # noqa: E402
from training.config import load_config  # noqa: E402
from training.evaluation import evaluate  # noqa: E402
from training.run import train_run  # noqa: E402

BUDGETS = (10, 100, 1000)
HELDOUT_SEED = 2026
REWARD_SETTINGS = {"circular": True, "positive": True, "cumulative": True}


def train(preset: str, episodes: int, targets: int, length: int, folder: Path) -> Path:
    """Train `preset` on random solvable targets; the held-out set is the run's evaluation set, which
    training never draws. Returns the path of the last model (the best one was chosen on held-out data)."""
    config = load_config(ROOT / "config.json").to_json()
    config["settings"].update(EVAL_TARGETS=targets, EVAL_SEED=HELDOUT_SEED, ASSESS_FREQ=max(1000, episodes // 10),
                              LOG_FREQ=10**9, SAVE_FREQ=0)
    run = {"id": preset, "algo": preset, "episodes": episodes, "reward_func": "Specific_register_values",
           "reward_settings": REWARD_SETTINGS, "targets": {"solvable": length}, "reg_inits": None}
    result = train_run(run, config, str(folder / preset), str(folder / "runs" / preset), seed=0,
                       threads=torch.get_num_threads())
    if result.status != "finished":
        raise SystemExit(f"training {preset} failed: {result.error}")
    print(f"trained {preset}: {result.episodes} episodes in {result.seconds:.0f} s", flush=True)
    return folder / preset / "models" / "last"


def measure(name: str, network, machine, reward, scale: float, targets: np.ndarray, optimal: list[int | None]
            ) -> dict:
    zeros = np.zeros_like(targets)
    greedy = evaluate(greedy_policy(network), machine, reward, targets, zeros)
    needed, extra = [], []
    scorer = network_scorer(network, machine)
    for target, best in zip(targets, optimal, strict=True):
        found = guided_search(scorer, machine, reward, target.tolist(), None, max(BUDGETS), scale)
        needed.append(found.expansions if found.solved else None)
        if found.solved and best is not None:
            extra.append(len(found.program) - best)
    row = {"method": f"{name} greedy", 0: float(np.mean([t.solved for t in greedy.tasks]))}
    guided = {"method": f"{name} guided search"}
    for budget in BUDGETS:
        guided[budget] = float(np.mean([n is not None and n <= budget for n in needed]))
    guided["extra"] = float(np.mean(extra)) if extra else float("nan")
    greedy_extra = [sum(i != "stop" for i in t.instructions) - b for t, b in zip(greedy.tasks, optimal, strict=True)
                    if t.solved and b is not None]
    row["extra"] = float(np.mean(greedy_extra)) if greedy_extra else float("nan")
    return {"greedy": row, "guided": guided}


def baselines(machine, reward, targets: np.ndarray) -> list[dict]:
    rng = np.random.default_rng(0)
    needed = []
    for target in targets:
        found = random_search(machine, target.tolist(), None, max(BUDGETS), rng)
        needed.append(found.expansions if found.solved else None)
    random_row = {"method": "random search"}
    for budget in BUDGETS:
        random_row[budget] = float(np.mean([n is not None and n <= budget for n in needed]))
    needed = []
    for target in targets:  # best-first is deterministic: one search at the largest budget tells all
        found = reward_first_search(machine, reward, target.tolist(), None, max(BUDGETS))
        needed.append(found.expansions if found.solved else None)
    ablation_row = {"method": "best-first, no network"}
    for budget in BUDGETS:
        ablation_row[budget] = float(np.mean([n is not None and n <= budget for n in needed]))
    beam_row = {"method": "beam search (reward)"}
    for budget in BUDGETS:
        beam_row[budget] = float(np.mean([beam_search(machine, reward, t.tolist(), None, budget).solved
                                          for t in targets]))
    return [random_row, beam_row, ablation_row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=30000, help="training episodes per agent (default 30000)")
    parser.add_argument("--ac-episodes", type=int,
                        help="training episodes of the on-policy agents (AC, PG) when they should differ from "
                        "--episodes (an on-policy episode costs about a thirtieth of a DQN one)")
    parser.add_argument("--targets", type=int, default=1000, help="held-out targets (default 1000)")
    parser.add_argument("--length", type=int, default=5, help="length of the random programs (default 5)")
    parser.add_argument("--agents", nargs="+", default=["DQN", "AC"], help="presets of config.json to train")
    args = parser.parse_args()
    for flag in ("episodes", "ac_episodes", "targets", "length"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    torch.set_num_threads(os.cpu_count() or 1)  # one thing at a time here: training, then searches
    print(f"machine: {describe_machine()}", flush=True)
    config = load_config(ROOT / "config.json")
    machine, reward = config.machine, make_reward("Specific_register_values", REWARD_SETTINGS)
    targets, _ = heldout_solvable_targets(args.targets, args.length, machine, np.zeros((1, machine.num_registers),
                                                                                        dtype=np.int64), HELDOUT_SEED)
    synthesizer, optimal, seconds = Synthesizer(machine), [], []
    for target in targets:
        start = time.perf_counter()
        optimal.append(synthesizer.shortest_program(target.tolist(), max_length=machine.max_length).length)
        seconds.append(time.perf_counter() - start)
    rows = []
    with tempfile.TemporaryDirectory() as temporary:
        for preset in args.agents:
            on_policy = config.presets[preset].agent != "DQN_Agent"
            episodes = args.ac_episodes if on_policy and args.ac_episodes else args.episodes
            model = train(preset, episodes, len(targets), args.length, Path(temporary))
            network, checkpoint = load_network(model)
            measured = measure(preset, network, machine, reward, checkpoint.get("reward_scale", 1.0), targets, optimal)
            rows += [measured["greedy"], measured["guided"]]
    rows += baselines(machine, reward, targets)
    print(f"\n{len(targets)} held-out targets (random programs of {args.length} instructions, seed {HELDOUT_SEED}); "
          f"optimal lengths: " + json.dumps({k: optimal.count(k) for k in sorted(set(optimal), key=str)}))
    header = f"{'method':<26}{'greedy':>8}" + "".join(f"{'@' + str(b):>8}" for b in BUDGETS) + f"{'len-opt':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = f"{row[0]:>8.1%}" if 0 in row else f"{'':>8}"
        cells += "".join(f"{row[b]:>8.1%}" if b in row else f"{'':>8}" for b in BUDGETS)
        extra = row.get("extra")
        cells += f"{extra:>9.2f}" if extra is not None else f"{'':>9}"
        print(f"{row['method']:<26}{cells}")
    print(f"exact synthesizer: median {np.median(seconds) * 1000:.1f} ms, 95th percentile "
          f"{np.percentile(seconds, 95) * 1000:.1f} ms per target (required: median ≤ 100 ms)")


if __name__ == "__main__":
    main()
