"""The replay buffer: preallocated arrays of fixed capacity, a write index, sampling by index arrays."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from toycorewar import MachineConfig


class ReplayBuffer:
    """Transitions (observation, action, reward, next observation, terminated) of many copies at once."""

    def __init__(self, capacity: int, machine: MachineConfig) -> None:
        self.capacity = capacity
        length, r = machine.max_length, machine.num_registers
        self.max_length, self.empty_slot = length, machine.num_actions
        self.arrays = {
            "program": np.zeros((capacity, length), dtype=np.int16),
            "registers": np.zeros((capacity, r), dtype=np.uint8),
            "target": np.zeros((capacity, r), dtype=np.uint8),
            "next_program": np.zeros((capacity, length), dtype=np.int16),
            "next_registers": np.zeros((capacity, r), dtype=np.uint8),
            "action": np.zeros(capacity, dtype=np.int64),
            "reward": np.zeros(capacity, dtype=np.float32),
            "terminated": np.zeros(capacity, dtype=bool),
        }
        # Sampling priorities (prioritized replay); a new transition gets the largest seen so far.
        self.arrays["priority"] = np.zeros(capacity, dtype=np.float64)
        self.max_priority = 1.0
        self.index = 0
        self.size = 0

    def add(self, obs: dict[str, np.ndarray], actions: np.ndarray, rewards: np.ndarray,
            next_obs: dict[str, np.ndarray], terminated: np.ndarray) -> None:
        """Store one transition per copy (the target does not change within an episode)."""
        n = len(actions)
        slots = (self.index + np.arange(n)) % self.capacity
        a = self.arrays
        a["program"][slots], a["registers"][slots], a["target"][slots] = obs["program"], obs["registers"], obs["target"]
        a["next_program"][slots], a["next_registers"][slots] = next_obs["program"], next_obs["registers"]
        a["action"][slots], a["reward"][slots], a["terminated"][slots] = actions, rewards, terminated
        a["priority"][slots] = self.max_priority
        self.index = (self.index + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, n_step: int = 1, gamma: float = 1.0,
               stride: int = 1, relabel_fraction: float = 0.0,
               step_reward: Callable[..., np.ndarray] | None = None, priority_alpha: float = 0.0,
               priority_beta: float = 0.5) -> dict[str, np.ndarray]:
        """A batch of n-step transitions, some of them relabelled with a goal the episode reached.

        - n-step: `reward` is the discounted sum of up to `n_step` rewards of the same episode,
          `next_*` the observation after the last of them, `discount` (γ^k) the factor of the bootstrap
          value. `stride` is the number of copies `add` writes per step, so the next step of row i's
          episode is row i + stride; steps not yet written shorten the sum (still a valid target).
        - hindsight relabelling (`relabel_fraction` of the rows): the target becomes the registers the
          episode reached at this or a later step, and rewards are recomputed by `step_reward(registers,
          next_registers, target, terminated, unused_slots)`: the same experience, read as a lesson on
          reaching that goal.
        - prioritized replay (`priority_alpha` > 0): rows drawn with probability P ∝ priority^alpha,
          `weight` = (size·P)^−beta / max, and `rows` returned for `update_priorities`. Otherwise
          rows are uniform and every weight is 1.
        """
        a = self.arrays
        weight = np.ones(batch_size, dtype=np.float32)
        if priority_alpha > 0:
            scaled = a["priority"][:self.size] ** priority_alpha
            cumulative = np.cumsum(scaled)
            draws = rng.random(batch_size) * cumulative[-1]
            rows = np.minimum(np.searchsorted(cumulative, draws, side="right"), self.size - 1)
            weight = (self.size * scaled[rows] / cumulative[-1]) ** -priority_beta
            weight = (weight / weight.max()).astype(np.float32)
        else:
            rows = rng.integers(0, self.size, size=batch_size)
        written_after = (self.index - rows - 1) % self.capacity  # rows written since each sampled row
        # chain[k]: the row of the episode's k-th step after `rows`; valid[k]: that step exists.
        chain = np.stack([(rows + k * stride) % self.capacity for k in range(self.max_length)])
        valid = np.zeros(chain.shape, dtype=bool)
        valid[0] = True
        for k in range(1, self.max_length):
            valid[k] = valid[k - 1] & ~a["terminated"][chain[k - 1]] & (k * stride <= written_after)
        target = a["target"][rows]
        if relabel_fraction > 0:
            relabel = rng.random(batch_size) < relabel_fraction
            pick = (rng.random(batch_size) * valid.sum(axis=0)).astype(np.int64)
            reached = a["next_registers"][chain[pick, np.arange(batch_size)]]
            target = np.where(relabel[:, None], reached, target)
        reward = np.zeros(batch_size, dtype=np.float32)
        discount = np.ones(batch_size, dtype=np.float32)
        last = rows
        for k in range(n_step):
            step_rows = chain[k]
            if step_reward is None:
                step = a["reward"][step_rows]
            else:
                unused = self.max_length - (a["next_program"][step_rows] != self.empty_slot).sum(axis=1)
                step = step_reward(a["registers"][step_rows], a["next_registers"][step_rows], target,
                                   a["terminated"][step_rows], unused)
            reward += np.where(valid[k], discount * step, 0.0).astype(np.float32)
            discount = np.where(valid[k], discount * gamma, discount).astype(np.float32)
            last = np.where(valid[k], step_rows, last)
            if k + 1 < n_step:
                valid[k + 1] &= valid[k]
        batch = {name: a[name][rows] for name in ("program", "registers", "action")}
        batch.update(target=target, next_program=a["next_program"][last], next_registers=a["next_registers"][last],
                     reward=reward, terminated=a["terminated"][last], discount=discount, weight=weight, rows=rows)
        return batch

    def update_priorities(self, rows: np.ndarray, td_errors: np.ndarray) -> None:
        """Prioritized replay: a sampled row's priority becomes its |TD error| (plus a floor, so that
        every transition can be drawn again)."""
        priorities = np.abs(td_errors) + 0.01
        self.arrays["priority"][rows] = priorities
        self.max_priority = max(self.max_priority, float(priorities.max()))

    def state(self) -> dict:
        return {"index": self.index, "size": self.size,
                "arrays": {name: array[:self.size] for name, array in self.arrays.items()}}

    def load_state(self, state: dict) -> None:
        self.index, self.size = int(state["index"]), int(state["size"])
        for name, array in state["arrays"].items():
            self.arrays[name][:len(array)] = array
        self.max_priority = max(1.0, float(self.arrays["priority"][:self.size].max(initial=0.0)))
