"""The replay buffer: preallocated arrays of fixed capacity, a write index, sampling by index arrays."""

from __future__ import annotations

import numpy as np

from toycorewar import MachineConfig


class ReplayBuffer:
    """Transitions (observation, action, reward, next observation, terminated) of many copies at once."""

    def __init__(self, capacity: int, machine: MachineConfig) -> None:
        self.capacity = capacity
        length, r = machine.max_length, machine.num_registers
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
        self.index = (self.index + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        rows = rng.integers(0, self.size, size=batch_size)
        return {name: array[rows] for name, array in self.arrays.items()}

    def state(self) -> dict:
        return {"index": self.index, "size": self.size,
                "arrays": {name: array[:self.size] for name, array in self.arrays.items()}}

    def load_state(self, state: dict) -> None:
        self.index, self.size = int(state["index"]), int(state["size"])
        for name, array in state["arrays"].items():
            self.arrays[name][:len(array)] = array
