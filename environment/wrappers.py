"""Observation wrappers that give a generic agent (Stable-Baselines3, CleanRL, ...) a fair chance.

`ToyCorewarEnv` observes the registers and the target as raw integers 0..255; an off-the-shelf network
fed those numbers sees 250 and 0 as far apart, though `sub` makes them two steps apart, and must learn
from scratch that "register equals target" matters. The project's own networks see better encodings
(agents/networks.py); these wrappers give the same to any agent. Both keep the Dict observation
(`MultiInputPolicy` reads it; `gymnasium.wrappers.FlattenObservation` on top gives one vector) and keep
`program` as it is (SB3 one-hot encodes a MultiDiscrete), and both determine the registers and the
target exactly (`registers_and_target` reads them back).

- `ScaledObservation`: `registers` and `target` divided by 255, float32 in [0, 1].
- `CircularGapObservation`: one float32 vector `registers` of 5 × NUM_REGISTERS numbers, as the
  project's encoder has them: registers / 255, target / 255, the signed circular gap
  ((target − registers + 128) mod 256 − 128) / 128, its size |gap| / 128, and 1 where the register
  already holds its target.

    env = CircularGapObservation(gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250]))
    model = stable_baselines3.DQN("MultiInputPolicy", env)
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


def _registers_of(env: gym.Env) -> int:
    return env.observation_space["registers"].shape[0]


class ScaledObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """`registers` and `target` as float32 in [0, 1] (value / 255); `program` unchanged."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # so that env.spec can remake the wrapped env
        gym.ObservationWrapper.__init__(self, env)
        r = _registers_of(env)
        self.observation_space = spaces.Dict({
            "program": env.observation_space["program"],
            "registers": spaces.Box(0.0, 1.0, shape=(r,), dtype=np.float32),
            "target": spaces.Box(0.0, 1.0, shape=(r,), dtype=np.float32),
        })

    def observation(self, observation: dict) -> dict:
        return {"program": observation["program"],
                "registers": (observation["registers"] / 255.0).astype(np.float32),
                "target": (observation["target"] / 255.0).astype(np.float32)}

    @staticmethod
    def registers_and_target(observation: dict) -> tuple[np.ndarray, np.ndarray]:
        """The integer registers and target a wrapped observation shows."""
        return (np.rint(observation["registers"] * 255.0).astype(np.int64),
                np.rint(observation["target"] * 255.0).astype(np.int64))


class CircularGapObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """`registers`: [value / 255, target / 255, signed gap / 128, |gap| / 128, right] per register,
    5 × NUM_REGISTERS float32 in [−1, 1], in that order (all registers' values, then all targets, ...);
    `program` unchanged."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)  # so that env.spec can remake the wrapped env
        gym.ObservationWrapper.__init__(self, env)
        self.num_registers = r = _registers_of(env)
        self.observation_space = spaces.Dict({
            "program": env.observation_space["program"],
            "registers": spaces.Box(-1.0, 1.0, shape=(5 * r,), dtype=np.float32),
        })

    def observation(self, observation: dict) -> dict:
        registers, target = observation["registers"], observation["target"]
        gap = np.mod(target - registers + 128, 256) - 128
        features = np.concatenate([registers / 255.0, target / 255.0, gap / 128.0, np.abs(gap) / 128.0,
                                   (gap == 0).astype(np.float64)])
        return {"program": observation["program"], "registers": features.astype(np.float32)}

    def registers_and_target(self, observation: dict) -> tuple[np.ndarray, np.ndarray]:
        """The integer registers and target a wrapped observation shows."""
        r, features = self.num_registers, observation["registers"]
        return (np.rint(features[:r] * 255.0).astype(np.int64),
                np.rint(features[r:2 * r] * 255.0).astype(np.int64))


WRAPPERS = {"scaled": ScaledObservation, "gap": CircularGapObservation}
