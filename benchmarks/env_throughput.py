"""Environment steps per second: the single environment against the batched one at 1..8192 copies.

    python benchmarks/env_throughput.py [--seconds S]

Random actions, resets included (the single environment is reset at each episode's end; the batched
one resets finished copies itself, SameStep and NextStep modes both measured). Prints a table and
the ratio batched@1024 / single; then a function task (docs/reference.md §10: `r3 = r1 + r2`, 4
examples drawn every episode, `correct` decided at every episode's end) at 1,024 copies beside the
constant task, and their ratio (required ≥ 1/4).

Each row also counts the minor page faults per vector step. At many copies a step's fresh arrays
were handed back to the kernel by glibc and faulted in again, which made 8,192 copies slower than
1,024; the batched environment now keeps freed memory (environment/heap.py). The rows "glibc's
default" measure the environment without that (TOYCOREWAR_KEEP_FREED_MEMORY=0, in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import environment  # noqa: E402  (registers ToyCorewar-v0)
from benchmarks.host import describe_machine  # noqa: E402
from environment.heap import OPT_OUT  # noqa: E402

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


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def batched_env_rate(num_envs: int, seconds: float, mode: str, task: dict | None = None) -> tuple[float, float]:
    """Steps per second (copies × vector steps) of the native batched environment on `task` (its
    keywords; the constant TARGET by default), and the minor page faults per vector step."""
    env = gym.make_vec(environment.ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point",
                       autoreset_mode=mode, **(task or {"target": TARGET}))
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n_actions = int(env.single_action_space.n)
    for _ in range(5):  # warm up: the first steps' arrays are new to the process in any case
        env.step(rng.integers(0, n_actions, size=num_envs))
    vector_steps, faults, start = 0, minor_faults(), time.perf_counter()
    while True:
        for _ in range(50):
            env.step(rng.integers(0, n_actions, size=num_envs))
        vector_steps += 50
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return vector_steps * num_envs / elapsed, (minor_faults() - faults) / vector_steps


def glibc_default_rates(seconds: float) -> dict[int, tuple[float, float]]:
    """SameStep at 1,024 and 8,192 copies in a fresh process whose environment leaves glibc's malloc
    as it is (environment/heap.py)."""
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--seconds", str(seconds), "--glibc-default"],
                           env={**os.environ, OPT_OUT: "0"}, capture_output=True, text=True, check=True)
    return {int(n): tuple(row) for n, row in json.loads(child.stdout.splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (default 3)")
    parser.add_argument("--glibc-default", action="store_true", help=argparse.SUPPRESS)  # glibc_default_rates
    args = parser.parse_args()
    if args.glibc_default:
        print(json.dumps({n: batched_env_rate(n, args.seconds, "SameStep") for n in (1024, 8192)}))
        return
    print(f"machine: {describe_machine()}")
    single = single_env_rate(args.seconds)
    rows = [("single (gymnasium.make)", 1, single, None)]
    for n in (1, 64, 1024, 8192):
        rows.append(("batched SameStep", n, *batched_env_rate(n, args.seconds, "SameStep")))
        rows.append(("batched NextStep", n, *batched_env_rate(n, args.seconds, "NextStep")))
    rows += [("SameStep, glibc's default", n, *row) for n, row in glibc_default_rates(args.seconds).items()]
    print(f"{'environment':<28}{'copies':>8}{'steps/s':>16}{'× single':>10}{'faults/step':>13}")
    for name, n, rate, faults in rows:
        shown = "" if faults is None else f"{faults:.0f}"
        print(f"{name:<28}{n:>8}{rate:>16,.0f}{rate / single:>10.1f}{shown:>13}")
    at_1024, at_8192 = (next(rate for name, copies, rate, _ in rows if copies == n and name == "batched SameStep")
                        for n in (1024, 8192))
    print(f"ratio batched@1024 / single: {at_1024 / single:.0f} (required ≥ 50)")
    print(f"batched@8192: {at_8192:,.0f} steps/s (required ≥ 2,000,000)")
    print(f"SameStep 8192 / 1024 copies: {at_8192 / at_1024:.2f} (required ≥ 1)")
    print()
    print(f"{'task at 1024 copies, SameStep':<44}{'steps/s':>16}")
    constant, _ = batched_env_rate(1024, args.seconds, "SameStep")
    function, _ = batched_env_rate(1024, args.seconds, "SameStep", FUNCTION)
    print(f"{'constant target ' + str(TARGET):<44}{constant:>16,.0f}")
    print(f"{'function ' + repr(FUNCTION['function']) + ', 4 examples':<44}{function:>16,.0f}")
    print(f"ratio function / constant: {function / constant:.2f} (required ≥ 0.25)")


if __name__ == "__main__":
    main()
