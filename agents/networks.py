"""The networks: an LSTM reads the program, a small MLP reads registers and target, a middle layer joins them."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from toycorewar import MachineConfig


def observation_tensors(obs: dict[str, np.ndarray], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The batched observation as (program, registers, target) tensors, in one transfer each."""
    return (torch.as_tensor(np.asarray(obs["program"]), dtype=torch.long, device=device),
            torch.as_tensor(np.asarray(obs["registers"]), dtype=torch.float32, device=device),
            torch.as_tensor(np.asarray(obs["target"]), dtype=torch.float32, device=device))


class ObservationEncoder(nn.Module):
    """(program [B, L], registers [B, R], target [B, R]) -> features [B, middle_size]."""

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int) -> None:
        super().__init__()
        # One token per action, plus one for an empty slot.
        self.embedding = nn.Embedding(machine.num_actions + 1, h_size)
        self.lstm = nn.LSTM(h_size, h_size, num_layers=lstm_layers, batch_first=True)
        r = machine.num_registers
        self.register_offsets = nn.Parameter(torch.arange(r) * 256, requires_grad=False)
        # Exact values matter (a register is right or it is not): each register's value, target and
        # gap get a learned vector per value, as a one-hot input would, besides the scaled numbers.
        self.value_embedding = nn.Embedding(3 * r * 256, h_size)
        self.registers_mlp = nn.Sequential(nn.Linear(5 * r + 3 * r * h_size, h_size), nn.ReLU(),
                                           nn.Linear(h_size, h_size), nn.ReLU())
        self.middle = nn.Sequential(nn.Linear(2 * h_size, middle_size), nn.ReLU())

    @staticmethod
    def register_features(registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # The signed circular gap and an exact-match flag make "this register is done" easy to see.
        gap = torch.remainder(target - registers + 128.0, 256.0) - 128.0
        return torch.cat([registers / 255.0, target / 255.0, gap / 128.0, gap.abs() / 128.0,
                          (gap == 0).float()], dim=1)

    def value_features(self, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        values, goal = registers.long(), target.long()
        gap = torch.remainder(goal - values, 256)
        r = registers.shape[1]
        index = torch.cat([values, goal + 256 * r, gap + 512 * r], dim=1) + self.register_offsets.repeat(3)
        return self.value_embedding(index).flatten(1)

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.lstm(self.embedding(program))
        program_features = outputs[:, -1]
        inputs = torch.cat([self.register_features(registers, target), self.value_features(registers, target)], dim=1)
        return self.middle(torch.cat([program_features, self.registers_mlp(inputs)], dim=1))


class DuelingQNetwork(nn.Module):
    """Q(s, a) = V(s) + A(s, a) − mean_a A(s, a)."""

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(machine, h_size, middle_size, lstm_layers)
        self.value = nn.Linear(middle_size, 1)
        self.advantage = nn.Linear(middle_size, machine.num_actions)

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        features = self.encoder(program, registers, target)
        advantage = self.advantage(features)
        # Centring the advantages per state makes V and A identifiable (the dueling architecture).
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


class PolicyValueNetwork(nn.Module):
    """Action logits and a state value from one shared encoder (the critic head is unused by PG's policy)."""

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(machine, h_size, middle_size, lstm_layers)
        self.policy = nn.Linear(middle_size, machine.num_actions)
        self.value = nn.Linear(middle_size, 1)

    def forward(self, program: torch.Tensor, registers: torch.Tensor,
                target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(program, registers, target)
        return self.policy(features), self.value(features).squeeze(1)


NETWORKS = {"dueling_q": DuelingQNetwork, "policy_value": PolicyValueNetwork}


def build_network(spec: dict) -> nn.Module:
    """Rebuild a network from the spec saved beside its weights."""
    machine = MachineConfig(spec["num_registers"], spec["n_vals"], spec["max_length"])
    return NETWORKS[spec["kind"]](machine, spec["h_size"], spec["middle_size"], spec["lstm_layers"])


def network_spec(kind: str, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int) -> dict:
    return {"kind": kind, "num_registers": machine.num_registers, "n_vals": machine.n_vals,
            "max_length": machine.max_length, "h_size": h_size, "middle_size": middle_size,
            "lstm_layers": lstm_layers}


def greedy_policy(network: nn.Module, device: torch.device | str = "cpu"):
    """observations -> the action of highest Q-value (DQN) or highest probability (actor)."""

    @torch.no_grad()
    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        output = network(*observation_tensors(obs, torch.device(device)))
        scores = output[0] if isinstance(output, tuple) else output
        return scores.argmax(dim=1).cpu().numpy()

    return policy
