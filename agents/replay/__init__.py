"""Experience replay in small pieces, one module a job: the buffer (`buffer.py`, storage), a sampler
(`samplers.py`, which rows), n-step returns and hindsight (`targets.py`, how far a reward reaches and
which goal), and `Replay` here, which puts them together into a typed `Sample`."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from agents.replay.buffer import FollowingSteps, ReplayBuffer
from agents.replay.samplers import PrioritizedSampler, UniformSampler
from agents.replay.targets import Hindsight, n_step_returns

__all__ = ["FollowingSteps", "Hindsight", "PrioritizedSampler", "Replay", "ReplayBuffer", "Sample", "UniformSampler",
           "n_step_returns"]


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
    matters: np.ndarray | None = None  # a function task's (docs/reference.md §10): registers that matter [B, E, R]

    def inputs(self) -> tuple[np.ndarray, ...]:
        """What a network reads of the sampled states: (program, registers, target), and matters on
        function tasks."""
        return (self.program, self.registers, self.target) + (() if self.matters is None else (self.matters,))


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
                      discount=discount, weight=weight, rows=rows,
                      matters=a["matters"][rows] if self.buffer.examples else None)
