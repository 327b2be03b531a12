"""Experience replay in small pieces: the buffer (storage), a sampler (which rows), n-step returns
(how far a reward reaches), hindsight (which goal), and `Replay`, which puts them together into a
typed `Sample`."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch

from toycorewar import MachineConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from environment.rewards import Specific_register_values


class FollowingSteps(NamedTuple):
    """For sampled rows (one column each): `rows[k]` is the row of the episode's k-th step after the
    sampled one (`rows[0]` the sampled row itself), `valid[k]` whether that step exists."""

    rows: np.ndarray
    valid: np.ndarray


class Sample(NamedTuple):
    """A batch of transitions; `rows` says where they came from (for `update_priorities`)."""

    program: np.ndarray
    registers: np.ndarray
    target: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    next_program: np.ndarray
    next_registers: np.ndarray
    terminated: np.ndarray
    discount: np.ndarray
    weight: np.ndarray
    rows: np.ndarray


class ReplayBuffer:
    """Transitions (observation, action, reward, next observation, terminated) of `num_envs` copies,
    in preallocated arrays with a wrap-around write index. Each `add` writes one row per copy, so the
    next step of row i's episode is row i + num_envs."""

    def __init__(self, capacity: int, machine: MachineConfig, num_envs: int) -> None:
        self.capacity, self.num_envs = capacity, num_envs
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
            # Prioritized replay's per-row priority lives with the rows, so a checkpoint keeps it with them;
            # a new row gets the largest priority seen so far (drawn soon).
            "priority": np.zeros(capacity, dtype=np.float64),
        }
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

    def following_steps(self, rows: np.ndarray) -> FollowingSteps:
        """The rows of each sampled row's episode from it on (up to a whole program's length), and which
        of them exist: the episode has not ended before, and the step has been written."""
        written_after = (self.index - rows - 1) % self.capacity  # rows written since each sampled row
        stride = self.num_envs
        chain = np.stack([(rows + k * stride) % self.capacity for k in range(self.max_length)])
        valid = np.zeros(chain.shape, dtype=bool)
        valid[0] = True
        for k in range(1, self.max_length):
            valid[k] = valid[k - 1] & ~self.arrays["terminated"][chain[k - 1]] & (k * stride <= written_after)
        return FollowingSteps(chain, valid)

    def unused_slots(self, rows: np.ndarray) -> np.ndarray:
        """Empty program slots after each row's step."""
        return self.max_length - (self.arrays["next_program"][rows] != self.empty_slot).sum(axis=1)

    def set_priorities(self, rows: np.ndarray, priorities: np.ndarray) -> None:
        self.arrays["priority"][rows] = priorities
        self.max_priority = max(self.max_priority, float(priorities.max()))

    def state(self) -> dict:
        """The filled part of the buffer as tensors (a checkpoint holds tensors and numbers only)."""
        return {"index": self.index, "size": self.size,
                "arrays": {name: torch.from_numpy(np.ascontiguousarray(array[:self.size]))
                           for name, array in self.arrays.items()}}

    def load_state(self, state: dict) -> None:
        self.index, self.size = int(state["index"]), int(state["size"])
        for name, array in state["arrays"].items():
            self.arrays[name][:len(array)] = array.cpu().numpy() if isinstance(array, torch.Tensor) else array
        self.max_priority = max(1.0, float(self.arrays["priority"][:self.size].max(initial=0.0)))


class UniformSampler:
    """Every stored row equally likely; every weight 1."""

    def __init__(self, buffer: ReplayBuffer) -> None:
        self.buffer = buffer

    def draw(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sampled rows and their loss weights."""
        return rng.integers(0, self.buffer.size, size=batch_size), np.ones(batch_size, dtype=np.float32)


class PrioritizedSampler:
    """Prioritized replay: row i drawn with probability P(i) ∝ priority_i^alpha, its loss weighted by
    (size·P(i))^−beta / max (the importance weight that corrects the bias; the rarest row weighs 1)."""

    def __init__(self, buffer: ReplayBuffer, alpha: float, beta: float) -> None:
        self.buffer, self.alpha, self.beta = buffer, alpha, beta

    def draw(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sampled rows and their importance weights."""
        size = self.buffer.size
        scaled = self.buffer.arrays["priority"][:size] ** self.alpha
        cumulative = np.cumsum(scaled)
        draws = rng.random(batch_size) * cumulative[-1]
        rows = np.minimum(np.searchsorted(cumulative, draws, side="right"), size - 1)
        weight = (size * scaled[rows] / cumulative[-1]) ** -self.beta
        return rows, (weight / weight.max()).astype(np.float32)

    def update_priorities(self, rows: np.ndarray, td_errors: np.ndarray) -> None:
        """A sampled row's priority becomes its |TD error|, plus a floor so every row can be drawn again."""
        self.buffer.set_priorities(rows, np.abs(td_errors) + 0.01)


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
    the run's `reward` times `reward_scale`): the same experience, read as a lesson on reaching that goal."""

    def __init__(self, reward: Specific_register_values, reward_scale: float, fraction: float) -> None:
        self.reward, self.reward_scale, self.fraction = reward, reward_scale, fraction

    def relabel(self, buffer: ReplayBuffer, steps: FollowingSteps, rng: np.random.Generator) -> np.ndarray:
        """The targets of the sampled rows `steps.rows[0]`, some replaced by a reached goal."""
        rows = steps.rows[0]
        relabel = rng.random(len(rows)) < self.fraction
        pick = (rng.random(len(rows)) * steps.valid.sum(axis=0)).astype(np.int64)  # one of the existing steps
        reached = buffer.arrays["next_registers"][steps.rows[pick, np.arange(len(rows))]]
        return np.where(relabel[:, None], reached, buffer.arrays["target"][rows])

    def step_rewards(self, buffer: ReplayBuffer, rows: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The scaled reward the rows' steps would have earned towards `target`."""
        a = buffer.arrays
        before = self.reward.distance(a["registers"][rows], target)
        after = self.reward.distance(a["next_registers"][rows], target)
        unused = buffer.unused_slots(rows)
        return self.reward.step_reward(before, after, a["terminated"][rows], unused) * self.reward_scale


class Replay:
    """The pieces configured once: sampled rows from `sampler`, targets from `hindsight` (if any),
    rewards summed over `n_step` steps with discount `gamma`."""

    def __init__(self, buffer: ReplayBuffer, sampler: UniformSampler | PrioritizedSampler, n_step: int = 1,
                 gamma: float = 1.0, hindsight: Hindsight | None = None) -> None:
        self.buffer, self.sampler, self.hindsight = buffer, sampler, hindsight
        self.n_step, self.gamma = n_step, gamma

    def sample(self, batch_size: int, rng: np.random.Generator) -> Sample:
        """One batch; the draws from `rng` come in a fixed order (rows, then relabelling) for reproducible runs."""
        a = self.buffer.arrays
        rows, weight = self.sampler.draw(batch_size, rng)
        steps = self.buffer.following_steps(rows)
        if self.hindsight is None:
            target = a["target"][rows]

            def step_rewards(step_rows: np.ndarray) -> np.ndarray:
                return a["reward"][step_rows]
        else:
            hindsight = self.hindsight
            target = hindsight.relabel(self.buffer, steps, rng)

            def step_rewards(step_rows: np.ndarray) -> np.ndarray:
                return hindsight.step_rewards(self.buffer, step_rows, target)
        reward, discount, last = n_step_returns(steps, self.n_step, self.gamma, step_rewards)
        return Sample(program=a["program"][rows], registers=a["registers"][rows], target=target,
                      action=a["action"][rows], reward=reward, next_program=a["next_program"][last],
                      next_registers=a["next_registers"][last], terminated=a["terminated"][last],
                      discount=discount, weight=weight, rows=rows)
