"""What an agent is given by the run harness, and what it gives back.

An agent knows nothing of files, logs or evaluation: it receives an `AgentSetup` (its parameters,
the machine, the task source, the reward, the seed and the device), trains until `Progress.done`,
telling `Progress.update` how many episodes have ended, and offers its network, its greedy policy
and its state as plain tensors (the harness saves and restores them; docs/training.md, "Outputs").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch

from environment import ToyCorewarVectorEnv
from environment.rewards import Specific_register_values
from environment.tasks import TaskSource
from environment.vector_env import same_step_env
from toycorewar import MachineConfig


@dataclass(frozen=True)
class AgentSetup:
    """Everything an agent needs to train one run, decided once by the harness."""

    params: Any  # the preset's parameters: an instance of a class of agents/parameters.py
    machine: MachineConfig
    tasks: TaskSource
    reward: Specific_register_values
    episodes: int  # the run's budget (epsilon_decay_steps may be a fraction of it)
    seed: int = 0
    device: torch.device = torch.device("cpu")
    examples: int = 0  # a function task's examples per episode (docs/reference.md §10); 0: constant targets

    def network_extra(self) -> dict[str, bool]:
        """What a network spec adds for this run's tasks: `examples` on a function task (the network reads a
        set of examples), nothing on constant targets (their specs stay as they were)."""
        return {"examples": True} if self.examples else {}

    def task_targets(self) -> np.ndarray | None:
        """The run's targets when it trains on a fixed list of them (None: drawn afresh each episode)."""
        targets = getattr(self.tasks, "targets", None)
        return targets.values if targets is not None and targets.kind == "fixed" else None

    def make_env(self, num_envs: int) -> ToyCorewarVectorEnv:
        """The batched environment of this run, SameStep autoreset (a finished copy restarts at once),
        that starts exactly the run's `episodes` episodes (copies left without one sit idle)."""
        return same_step_env(num_envs, self.machine, self.reward, self.tasks, max_episodes=self.episodes)


class Progress(Protocol):
    """The harness's side of a training loop: how far the run is, and whether it must stop."""

    @property
    def episode(self) -> int: ...

    @property
    def done(self) -> bool: ...

    @property
    def stopping(self) -> bool:
        """A stop was asked for (Ctrl-C): long work in the middle of a step (a round of searches, the
        gradient steps a step earned) ends early and is left to be done on resume."""

    def update(self, episodes_done: int, **scalars: float) -> None:
        """`episodes_done` episodes have ended in all; `scalars` (loss, exploration_rate) are logged."""


class Agent(Protocol):
    agent_name: str
    network: torch.nn.Module

    def train(self, progress: Progress) -> None: ...
    def greedy_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray: ...
    def model_payload(self) -> dict[str, Any]: ...
    def training_state(self) -> dict[str, Any]: ...
    def load_training_state(self, state: dict[str, Any]) -> None: ...


def network_payload(spec: dict[str, Any], network: torch.nn.Module) -> dict[str, Any]:
    """A model file's content: the spec that rebuilds the network, and its weights on the CPU."""
    return {"network_spec": spec, "network": {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}}


def first_observation(env: ToyCorewarVectorEnv, rng: np.random.Generator, restored: bool) -> dict[str, np.ndarray]:
    """Where a training loop starts: the environment as a checkpoint left it (every copy's episode
    where it stood), or a reset seeded from the agent's generator."""
    if restored:
        return env.observation()
    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    return obs


def observation_keys(obs: dict[str, np.ndarray]) -> tuple[str, ...]:
    """The parts of an observation a network reads: program, registers and target, and on a function task
    (docs/reference.md §10) which registers matter."""
    return ("program", "registers", "target") + (("matters",) if obs.get("matters") is not None else ())


def active_rows(obs: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The observation of the copies `rows` only."""
    return {name: value[rows] for name, value in obs.items()}


def rng_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def restore_rng(state: dict) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng
