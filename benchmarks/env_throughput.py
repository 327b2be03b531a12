"""Environment steps per second: the single environment against the batched one at 1..8192 copies.

    python benchmarks/env_throughput.py [--seconds S]

Random actions, resets included (the single environment is reset at each episode's end; the batched
one resets finished copies itself, SameStep and NextStep modes both measured). Prints a table and
the ratio batched@1024 / single; then a function task (docs/reference.md §10: `r3 = r1 + r2`, 4
examples drawn every episode, `correct` decided at every episode's end) at 1,024 copies beside the
constant task, and their ratio (required ≥ 1/4).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import gymnasium as gym
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import environment  # noqa: E402  (registers ToyCorewar-v0)
from benchmarks.host import describe_machine  # noqa: E402

TARGET = [0, 10, 30, 250]
FUNCTION = {"function": "r3 = r1 + r2", "examples": 4}


def single_env_rate(seconds: float) -> float:
    """Steps per second of gymnasium.make("ToyCorewar-v0") driven one step at a time."""
    env = gym.make(environment.ENV_ID, target=TARGET)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    steps, start = 0, time.perf_counter()
    while True:
        for action in rng.integers(0, env.action_space.n, size=1000):
            _, _, terminated, truncated, _ = env.step(int(action))
            if terminated or truncated:
                env.reset()
        steps += 1000
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return steps / elapsed


def batched_env_rate(num_envs: int, seconds: float, mode: str, task: dict | None = None) -> float:
    """Steps per second (copies × vector steps) of the native batched environment on `task` (its
    keywords; the constant TARGET by default)."""
    env = gym.make_vec(environment.ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                       autoreset_mode=mode, **(task or {"target": TARGET}))
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n_actions = int(env.single_action_space.n)
    vector_steps, start = 0, time.perf_counter()
    while True:
        for _ in range(50):
            env.step(rng.integers(0, n_actions, size=num_envs))
        vector_steps += 50
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return vector_steps * num_envs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    args = parser.parse_args()
    print(f"machine: {describe_machine()}")
    single = single_env_rate(args.seconds)
    rows = [("single (gymnasium.make)", 1, single, single)]
    for n in (1, 64, 1024, 8192):
        rows.append(("batched SameStep", n, batched_env_rate(n, args.seconds, "SameStep"), None))
        rows.append(("batched NextStep", n, batched_env_rate(n, args.seconds, "NextStep"), None))
    print(f"{'environment':<26}{'copies':>8}{'steps/s':>16}{'× single':>10}")
    for name, n, rate, _ in rows:
        print(f"{name:<26}{n:>8}{rate:>16,.0f}{rate / single:>10.1f}")
    at_1024 = next(rate for name, n, rate, _ in rows if n == 1024 and "SameStep" in name)
    at_8192 = next(rate for name, n, rate, _ in rows if n == 8192 and "SameStep" in name)
    print(f"ratio batched@1024 / single: {at_1024 / single:.0f} (required ≥ 50)")
    print(f"batched@8192: {at_8192:,.0f} steps/s (required ≥ 2,000,000)")
    print()
    print(f"{'task at 1024 copies, SameStep':<44}{'steps/s':>16}")
    constant = batched_env_rate(1024, args.seconds, "SameStep")
    function = batched_env_rate(1024, args.seconds, "SameStep", FUNCTION)
    print(f"{'constant target ' + str(TARGET):<44}{constant:>16,.0f}")
    print(f"{'function ' + repr(FUNCTION['function']) + ', 4 examples':<44}{function:>16,.0f}")
    print(f"ratio function / constant: {function / constant:.2f} (required ≥ 0.25)")


if __name__ == "__main__":
    main()
