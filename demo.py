"""`make demo`: the batched environment at work — random search writes a program for a target."""

from __future__ import annotations

import numpy as np

from environment import ToyCorewarVectorEnv

TARGET = [0, 10, 30, 250]


def main() -> None:
    env = ToyCorewarVectorEnv(num_envs=65536, target=TARGET, circular=True, autoreset_mode="SameStep")
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    best_performance, best_program = -10**9, None
    for _ in range(40):
        actions = rng.integers(0, env.config.num_actions, size=env.num_envs)
        obs, _, terminated, _, info = env.step(actions)
        if terminated.any():
            final = info["final_obs"]["program"]
            ended = np.flatnonzero(terminated)
            i = ended[np.argmax(info["performance"][ended])]
            if info["performance"][i] > best_performance:
                best_performance, best_program = int(info["performance"][i]), final[i]
    print(f"random search over {40 * env.num_envs:,} environment steps, target {TARGET}")
    print(f"best program (performance {best_performance}):")
    for action in best_program:
        if action < env.config.num_actions:
            print(f"  {env.table.instructions[action]}")


if __name__ == "__main__":
    main()
