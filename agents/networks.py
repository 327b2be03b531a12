"""The networks: an LSTM reads the program, a small MLP reads registers and target, a middle layer joins them."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from toycorewar import ActionTable, MachineConfig


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


class KnownRewardQNetwork(nn.Module):
    """Q(s, a) = r(s, a) + a learned dueling residual, where r(s, a) is the reward of instruction a,
    computed exactly from the machine and the reward function (scaled by `reward_scale`).

    The machine is known and deterministic, so the immediate reward of every action needs no
    learning; the network learns only what follows it (the value of the registers a leads to). The
    last instruction of a program, which must be exact, then rests on exact arithmetic rather than on
    an approximation that cannot tell one unit of distance from noise. The reward function is the
    run's (Specific_register_values with its settings), saved in the network spec.
    """

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 reward_settings: dict, reward_scale: float) -> None:
        super().__init__()
        self.residual = DuelingQNetwork(machine, h_size, middle_size, lstm_layers)
        table = ActionTable(machine)
        for name in ("dest", "src_a", "src_b", "coef_a", "coef_b", "const"):
            self.register_buffer(name, torch.tensor(np.array(getattr(table, name)), dtype=torch.long), persistent=False)
        self.stop_action, self.empty_slot, self.max_length = table.stop_action, machine.num_actions, machine.max_length
        self.circular = bool(reward_settings.get("circular", True))
        self.positive = bool(reward_settings.get("positive", True))
        self.cumulative = bool(reward_settings.get("cumulative", True))
        self.reward_scale = float(reward_scale)

    def distance(self, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        gap = (registers - target).abs()
        if self.circular:
            gap = torch.minimum(gap, 256 - gap)
        return gap.sum(dim=-1)

    def rewards(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """[B, NUM_ACTIONS]: the scaled reward each action would earn (SPEC §4, as the environment's)."""
        r, goal = registers.long(), target.long()
        values = (self.coef_a * r[:, self.src_a] + self.coef_b * r[:, self.src_b] + self.const) & 255
        after = r.unsqueeze(1).repeat(1, len(self.dest), 1)
        after.scatter_(2, self.dest.view(1, -1, 1).expand(len(r), -1, 1), values.unsqueeze(2))
        before, now = self.distance(r, goal).unsqueeze(1), self.distance(after, goal.unsqueeze(1))
        length = (program != self.empty_slot).sum(dim=1, keepdim=True) + 1  # the program after the action
        done = (torch.arange(len(self.dest), device=r.device) == self.stop_action) | (length >= self.max_length)
        if self.positive:
            reward = before - now
        elif self.cumulative:
            reward = -now * (1 + torch.where(done, self.max_length - length, 0))
        else:
            reward = torch.where(done, -now, 0)
        return reward.float() * self.reward_scale

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.rewards(program, registers, target) + self.residual(program, registers, target)


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


NETWORKS = {"dueling_q": DuelingQNetwork, "policy_value": PolicyValueNetwork, "known_reward_q": KnownRewardQNetwork}


def build_network(spec: dict) -> nn.Module:
    """Rebuild a network from the spec saved beside its weights."""
    machine = MachineConfig(spec["num_registers"], spec["n_vals"], spec["max_length"])
    extra = {key: spec[key] for key in ("reward_settings", "reward_scale")} if spec["kind"] == "known_reward_q" else {}
    return NETWORKS[spec["kind"]](machine, spec["h_size"], spec["middle_size"], spec["lstm_layers"], **extra)


def network_spec(kind: str, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 **extra: object) -> dict:
    """What build_network needs (saved with the weights); `extra`: reward_settings and reward_scale
    of a known_reward_q network."""
    return {"kind": kind, "num_registers": machine.num_registers, "n_vals": machine.n_vals,
            "max_length": machine.max_length, "h_size": h_size, "middle_size": middle_size,
            "lstm_layers": lstm_layers, **extra}


def greedy_policy(network: nn.Module, device: torch.device | str = "cpu"):
    """observations -> the action of highest Q-value (DQN) or highest probability (actor)."""

    @torch.no_grad()
    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        output = network(*observation_tensors(obs, torch.device(device)))
        scores = output[0] if isinstance(output, tuple) else output
        return scores.argmax(dim=1).cpu().numpy()

    return policy
