"""What a sampled row learns toward: rewards summed over n steps of its episode (n-step returns), and,
with hindsight, a goal its episode reached in place of its own target."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from agents.machine_arithmetic import learning_rewards
from agents.replay.buffer import FollowingSteps, ReplayBuffer

if TYPE_CHECKING:
    from collections.abc import Callable

    from environment.rewards import Specific_register_values


def n_step_returns(steps: FollowingSteps, n_step: int, gamma: float,
                   step_rewards: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The discounted sum of up to `n_step` rewards of the same episode (`step_rewards(rows)` gives the
    rewards of rows), the discount γ^k of the bootstrap value, and the row whose next observation it
    bootstraps from. Steps not written yet shorten the sum (still a valid target)."""
    first = steps.rows[0]
    reward = np.zeros(len(first), dtype=np.float32)
    discount = np.ones(len(first), dtype=np.float32)
    last = first
    # An episode has at most len(steps.rows) steps; valid[k] implies valid[k - 1] (a prefix of the episode).
    for k in range(min(n_step, len(steps.rows))):
        step_rows, valid = steps.rows[k], steps.valid[k]
        reward += np.where(valid, discount * step_rewards(step_rows), 0.0).astype(np.float32)
        discount = np.where(valid, discount * gamma, discount).astype(np.float32)
        last = np.where(valid, step_rows, last)
    return reward, discount, last


class Hindsight:
    """Hindsight relabelling: `fraction` of the sampled rows get as target the registers their episode
    reached at this or a later step, and every step's reward is recomputed for the row's target (as
    the run's `reward`, less the run's instruction cost, times `reward_scale`): the same experience,
    read as a lesson on reaching that goal."""

    def __init__(self, reward: Specific_register_values, reward_scale: float, fraction: float,
                 stop_action: int | None = None, instruction_cost: float = 0.0) -> None:
        if instruction_cost and stop_action is None:
            raise ValueError("an instruction cost needs the stop action (stop costs nothing)")
        self.reward, self.reward_scale, self.fraction = reward, reward_scale, fraction
        self.stop_action, self.instruction_cost = stop_action, instruction_cost

    def relabel(self, buffer: ReplayBuffer, steps: FollowingSteps, rng: np.random.Generator) -> np.ndarray:
        """The targets of the sampled rows `steps.rows[0]`, some replaced by a reached goal."""
        rows = steps.rows[0]
        relabel = rng.random(len(rows)) < self.fraction
        pick = (rng.random(len(rows)) * steps.valid.sum(axis=0)).astype(np.int64)  # one of the existing steps
        reached = buffer.arrays["next_registers"][steps.rows[pick, np.arange(len(rows))]]
        if buffer.examples:  # a function task's goal: what the program reached on each example, where it matters
            reached = reached * buffer.arrays["matters"][rows]
            relabel = relabel[:, None]
        return np.where(relabel[:, None], reached, buffer.arrays["target"][rows])

    def step_rewards(self, buffer: ReplayBuffer, rows: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The scaled reward the rows' steps would have earned towards `target`."""
        a = buffer.arrays
        matters = a["matters"][rows] if buffer.examples else None
        before = self.reward.distance(a["registers"][rows], target, matters)
        after = self.reward.distance(a["next_registers"][rows], target, matters)
        unused = buffer.unused_slots(rows)
        reward = self.reward.step_reward(before, after, a["terminated"][rows], unused)
        return learning_rewards(reward, a["action"][rows], self.stop_action, self.reward_scale, self.instruction_cost)
