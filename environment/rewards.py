"""Reward functions, chosen by name from a training file (docs/environment.md, "Rewards").

This is the only place the reward is written. Each works over many copies at once (the last axis holds
the registers) on numpy arrays, for the single and the batched environment, and on torch tensors, for
the network that adds the known reward to its Q-values (agents/networks.py KnownRewardQNetwork) and
for guided search: plain operators only, so torch is never imported here (the environment knows
nothing of networks).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toycorewar.machine import MODULUS


def _is_tensor(values: Any) -> bool:
    # Recognized by its protocol rather than its class: importing torch here would tie the environment to it.
    return hasattr(values, "__torch_function__")


def _integers(values: Any) -> Any:
    """numpy input as int64 (a gap of uint8 registers would wrap), a tensor unchanged."""
    return values if _is_tensor(values) else np.asarray(values, dtype=np.int64)


class Specific_register_values:
    """Reward for bringing every register to its target value.

    Distance of a register x to its target t: |x − t|, or min(|x − t|, 256 − |x − t|) when `circular`.
    D(registers) is the sum over registers, and an episode's performance is −D(final registers).

    - positive: a step earns D(before) − D(after), so the return telescopes to D(start) − D(end).
    - not positive: a step earns −D(after) when `cumulative` or when it ends the episode, else 0.
    - cumulative and an early stop: the unused slots count as steps that change nothing, their
      rewards added to the stop step, so a program's return does not depend on where it stopped.

    numpy in, numpy out (int64 distances, float64 rewards); tensors in, tensors out (integer tensors
    keep their dtype, the caller casts).
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

    def register_distance(self, values: Any, target: Any) -> Any:
        """Distance of each register to its target, elementwise (integers)."""
        gap = abs(_integers(values) - _integers(target))
        if self.circular:
            # min(gap, 256 − gap) for gaps in 0..255, in operators numpy and torch share: 128 − |128 − gap|.
            half = MODULUS // 2
            gap = half - abs(half - gap)
        return gap

    def distance(self, registers: Any, target: Any, matters: Any = None) -> Any:
        """D over the last axis: one integer per copy. With `matters` (a function task, docs/reference.md
        §10: registers, target and matters [..., E, R] over E examples), D sums over every example and
        every register that matters: the last two axes."""
        if matters is None:
            return self.register_distance(registers, target).sum(axis=-1)
        return (self.register_distance(registers, target) * matters).sum(axis=(-2, -1))

    def step_reward(self, distance_before: Any, distance_after: Any, done: Any, unused_slots: Any) -> Any:
        """Reward of one step for each copy; `unused_slots` = MAX_LENGTH − program length after it."""
        tensors = _is_tensor(distance_after)
        before, after, done, unused = (x if tensors else np.asarray(x)
                                       for x in (distance_before, distance_after, done, unused_slots))
        if self.positive:
            # Padding no-ops change nothing, so they add D − D = 0 here.
            reward = before - after
        elif self.cumulative:
            reward = -after * (1 + unused * done)  # `x * done`: where(done, x, 0) in both libraries
        else:
            reward = -after * done
        return reward if tensors else reward.astype(np.float64)

    def return_bounds(self, distance: Any, steps_left: Any) -> tuple[Any, Any]:
        """Bounds on the best return still to come from registers at `distance` with `steps_left`
        steps of the episode to go (at least one): marking time (no-ops to the end) is always possible,
        which gives the lower bound, and no distance is below 0, which gives the upper."""
        if self.positive:
            return 0 * distance, distance  # D − D(final), with 0 ≤ D(final) ≤ D
        if self.cumulative:
            return -distance * steps_left, 0 * distance  # the sum of −D over the steps left
        return -distance, 0 * distance  # −D(final)


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
