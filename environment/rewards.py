"""Reward functions, chosen by name from a training file (SPEC §4).

Each works on numpy arrays over many copies at once (the last axis holds the registers), so the
single environment and the batched one share the arithmetic.
"""

from __future__ import annotations

import numpy as np

from toycorewar.machine import MODULUS


class Specific_register_values:
    """Reward for bringing every register to its target value.

    Distance of a register x to its target t: |x − t|, or min(|x − t|, 256 − |x − t|) when `circular`.
    D(registers) is the sum over registers, and an episode's performance is −D(final registers).

    - positive: a step earns D(before) − D(after), so the return telescopes to D(start) − D(end).
    - not positive: a step earns −D(after) when `cumulative` or when it ends the episode, else 0.
    - cumulative and an early stop: the unused slots count as steps that change nothing, their
      rewards added to the stop step, so a program's return does not depend on where it stopped.
    """

    name = "Specific_register_values"

    def __init__(self, circular: bool = True, positive: bool = True, cumulative: bool = True) -> None:
        for switch, value in (("circular", circular), ("positive", positive), ("cumulative", cumulative)):
            if not isinstance(value, bool | np.bool_):
                raise TypeError(f"reward setting '{switch}' must be true or false, got {value!r}")
        self.circular, self.positive, self.cumulative = bool(circular), bool(positive), bool(cumulative)

    @property
    def settings(self) -> dict[str, bool]:
        return {"circular": self.circular, "positive": self.positive, "cumulative": self.cumulative}

    def distance(self, registers: np.ndarray, target: np.ndarray) -> np.ndarray:
        """D over the last axis: one integer per copy."""
        gap = np.abs(np.asarray(registers, dtype=np.int64) - np.asarray(target, dtype=np.int64))
        if self.circular:
            gap = np.minimum(gap, MODULUS - gap)
        return gap.sum(axis=-1)

    def step_reward(self, distance_before: np.ndarray, distance_after: np.ndarray, done: np.ndarray,
                    unused_slots: np.ndarray) -> np.ndarray:
        """Reward of one step for each copy; `unused_slots` = MAX_LENGTH − program length after it."""
        before, after = np.asarray(distance_before), np.asarray(distance_after)
        if self.positive:
            # Padding no-ops change nothing, so they add D − D = 0 here.
            return (before - after).astype(np.float64)
        if self.cumulative:
            repeats = 1 + np.where(done, unused_slots, 0)
            return (-after * repeats).astype(np.float64)
        return np.where(done, -after, 0).astype(np.float64)


REWARD_FUNCTIONS = {"Specific_register_values": Specific_register_values}


def make_reward(name: str, settings: dict | None = None) -> Specific_register_values:
    """Build the reward function `name` with its `reward_settings`; unknown names and keys are errors."""
    if name not in REWARD_FUNCTIONS:
        raise ValueError(f"unknown reward function '{name}': expected one of {', '.join(REWARD_FUNCTIONS)}")
    settings = dict(settings or {})
    reward_class = REWARD_FUNCTIONS[name]
    allowed = ("circular", "positive", "cumulative")
    unknown = sorted(set(settings) - set(allowed))
    if unknown:
        raise ValueError(f"unknown reward setting(s) {', '.join(unknown)} for {name}: "
                         f"expected {', '.join(allowed)}")
    return reward_class(**settings)
