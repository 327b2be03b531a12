"""The networks: an LSTM reads the program, a small MLP reads registers and target, a middle layer joins them."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from environment.rewards import make_reward
from toycorewar import ActionTable, MachineConfig


def observation_tensors(obs: dict[str, np.ndarray], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The batched observation as (program, registers, target) tensors, in one transfer each."""
    return (torch.as_tensor(np.asarray(obs["program"]), dtype=torch.long, device=device),
            torch.as_tensor(np.asarray(obs["registers"]), dtype=torch.float32, device=device),
            torch.as_tensor(np.asarray(obs["target"]), dtype=torch.float32, device=device))


class ObservationEncoder(nn.Module):
    """(program [B, L], registers [B, R], target [B, R]) -> features [B, middle_size]."""

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None) -> None:
        super().__init__()
        register_size = register_size or h_size
        # One token per action, plus one for an empty slot.
        self.embedding = nn.Embedding(machine.num_actions + 1, h_size)
        self.lstm = nn.LSTM(h_size, h_size, num_layers=lstm_layers, batch_first=True)
        r = machine.num_registers
        self.register_offsets = nn.Parameter(torch.arange(r) * 256, requires_grad=False)
        # Exact values matter (a register is right or it is not): each register's value, target and
        # gap get a learned vector per value, as a one-hot input would, besides the scaled numbers.
        self.value_embedding = nn.Embedding(3 * r * 256, register_size)
        self.registers_mlp = nn.Sequential(nn.Linear(5 * r + 3 * r * register_size, register_size), nn.ReLU(),
                                           nn.Linear(register_size, register_size), nn.ReLU())
        self.middle = nn.Sequential(nn.Linear(h_size + register_size, middle_size), nn.ReLU())

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


def register_action_table(module: nn.Module, machine: MachineConfig) -> ActionTable:
    """Give `module` the action table as (non-saved) tensors: action a writes into register `dest[a]`
    the value (registers @ mixing + const)[a] mod 256 (the table's coef_a·r[src_a] + coef_b·r[src_b]
    + const as one product, exact in float32); see `written_values`."""
    table = ActionTable(machine)
    mixing = np.zeros((machine.num_registers, machine.num_actions), dtype=np.float32)
    np.add.at(mixing, (table.src_a, np.arange(machine.num_actions)), table.coef_a)
    np.add.at(mixing, (table.src_b, np.arange(machine.num_actions)), table.coef_b)
    module.register_buffer("dest", torch.tensor(np.array(table.dest), dtype=torch.long), persistent=False)
    module.register_buffer("mixing", torch.from_numpy(mixing), persistent=False)
    module.register_buffer("const", torch.tensor(np.array(table.const), dtype=torch.float32), persistent=False)
    return table


def written_values(module: nn.Module, registers: torch.Tensor) -> torch.Tensor:
    """[B, NUM_ACTIONS] (long): the value each action writes into its register `dest[a]`, for a
    module given the action table by `register_action_table`."""
    return torch.remainder(registers.float() @ module.mixing + module.const, 256.0).long()


class DuelingQNetwork(nn.Module):
    """Q(s, a) = V(s) + A(s, a) − mean_a A(s, a).

    With `effect_size` > 0 the advantage also reads what each action does: action a writes the
    value v' into register d (computed exactly from the machine), and A(s, a) gains
    ⟨query_d(s), E_d[v'] + E_d[gap of v' to d's target]⟩ with learned vectors E of that size. A plain
    linear head has to learn, action by action, which instruction brings which register where; this
    term reads it, and learns only what the value written is worth in this state.
    """

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None, effect_size: int = 0) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(machine, h_size, middle_size, lstm_layers, register_size)
        self.value = nn.Linear(middle_size, 1)
        self.advantage = nn.Linear(middle_size, machine.num_actions)
        self.effect_size = effect_size
        if effect_size:
            register_action_table(self, machine)
            r = machine.num_registers
            self.effect_query = nn.Linear(middle_size, r * effect_size)
            # Per register: a vector per value written (rows 0-255) and per gap left (rows 256-511).
            self.effect_vectors = nn.Parameter(0.1 * torch.randn(r, 512, effect_size))

    def effect_advantage(self, features: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """[B, NUM_ACTIONS]: the bilinear term of the written value and its gap to the target.

        Scored for every (register, value written or gap left) at once, one batched product per
        register ([R, B, k] @ [R, k, 512]), then read at each action's (dest, value) and (dest, gap):
        far cheaper than a vector per action.
        """
        written = written_values(self, registers)
        gap = torch.remainder(target.long()[:, self.dest] - written, 256)
        batch, n = registers.shape
        query = self.effect_query(features).view(batch, n, self.effect_size).transpose(0, 1)
        scores = torch.bmm(query, self.effect_vectors.transpose(1, 2))  # [R, B, 512], contiguous
        # Flat index of (dest[a], row b, column): value columns 0-255, gap columns 256-511.
        base = self.dest * (batch * 512) + torch.arange(batch, device=written.device).unsqueeze(1) * 512
        return scores.take(base + written) + scores.take(base + 256 + gap)

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        features = self.encoder(program, registers, target)
        advantage = self.advantage(features)
        if self.effect_size:
            advantage = advantage + self.effect_advantage(features, registers, target)
        # Centring the advantages per state makes V and A identifiable (the dueling architecture).
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


class KnownRewardQNetwork(nn.Module):
    """Q(s, a) = r(s, a) + a learned dueling residual, where r(s, a) is the reward of instruction a,
    computed exactly from the machine and the reward function (scaled by `reward_scale`).

    The machine is known and deterministic, so the immediate reward of every action needs no
    learning; the network learns only what follows it (the value of the registers a leads to). The
    last instruction of a program, which must be exact, then rests on exact arithmetic rather than on
    an approximation that cannot tell one unit of distance from noise. The reward function is the
    run's (`reward_func` with its `reward_settings`, saved in the network spec), and its arithmetic is
    the environment's own (environment/rewards.py), run here on tensors.
    """

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 reward_settings: dict, reward_scale: float, register_size: int | None = None,
                 effect_size: int = 0, reward_func: str = "Specific_register_values") -> None:
        super().__init__()
        self.residual = DuelingQNetwork(machine, h_size, middle_size, lstm_layers, register_size, effect_size)
        table = register_action_table(self, machine)
        self.register_buffer("all_actions", torch.arange(machine.num_actions), persistent=False)
        self.stop_action, self.empty_slot, self.max_length = table.stop_action, machine.num_actions, machine.max_length
        self.reward = make_reward(reward_func, reward_settings)
        self.reward_scale = float(reward_scale)

    def rewards(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                actions: torch.Tensor | None = None) -> torch.Tensor:
        """[B, K]: the scaled reward each action would earn (as the environment gives it), for every
        action (K = NUM_ACTIONS) or for the given `actions` [B, K] only.

        An action changes one register, its `dest`, so the distance after it is the distance before
        it with that register's term replaced: [B, K] arithmetic, no copy of the registers per action.
        """
        r, goal = registers.long(), target.long()
        values = written_values(self, registers)  # every action's (one product), read where needed
        if actions is None:
            actions = self.all_actions.expand(len(r), -1)
        else:
            values = values.gather(1, actions)
        dest = self.dest[actions]
        old, goal_dest = r.gather(1, dest), goal.gather(1, dest)
        before = self.reward.distance(r, goal).unsqueeze(1)
        now = before - self.reward.register_distance(old, goal_dest) + self.reward.register_distance(values, goal_dest)
        length = (program != self.empty_slot).sum(dim=1, keepdim=True) + 1  # the program after the action
        done = (actions == self.stop_action) | (length >= self.max_length)
        reward = self.reward.step_reward(before, now, done, self.max_length - length)
        return reward.float() * self.reward_scale

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.rewards(program, registers, target) + self.residual(program, registers, target)


class PolicyValueNetwork(nn.Module):
    """Action logits and a state value from one shared encoder (the critic head is unused by PG's policy)."""

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(machine, h_size, middle_size, lstm_layers, register_size)
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
    if spec["kind"] == "afterstate_q":
        from agents.afterstate import AfterstateQNetwork  # it builds on this module's action-table helpers
        return AfterstateQNetwork(machine, spec["middle_size"], spec["effect_size"], spec["reward_settings"],
                                  spec["reward_scale"], spec["reward_func"])
    if spec["kind"] == "afterstate_policy_value":
        from agents.afterstate import AfterstatePolicyValueNetwork
        return AfterstatePolicyValueNetwork(machine, spec["middle_size"], spec["effect_size"], spec["reward_settings"],
                                            spec["reward_scale"], spec["temperature"], spec["reward_func"])
    extra: dict = {}
    if spec["kind"] == "known_reward_q":
        # Models saved before reward_func was in the spec used the only reward there was then.
        extra = {"reward_settings": spec["reward_settings"], "reward_scale": spec["reward_scale"],
                 "reward_func": spec.get("reward_func", "Specific_register_values")}
    # Models saved before register_size and effect_size existed: registers read at h_size, no effect term.
    if spec["kind"] != "policy_value":
        extra["effect_size"] = spec.get("effect_size", 0)
    return NETWORKS[spec["kind"]](machine, spec["h_size"], spec["middle_size"], spec["lstm_layers"],
                                  register_size=spec.get("register_size"), **extra)


def network_spec(kind: str, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None, **extra: object) -> dict:
    """What build_network needs (saved with the weights); `extra`: effect_size of a Q-network,
    reward_func, reward_settings and reward_scale of a known_reward_q network."""
    return {"kind": kind, "num_registers": machine.num_registers, "n_vals": machine.n_vals,
            "max_length": machine.max_length, "h_size": h_size, "middle_size": middle_size,
            "lstm_layers": lstm_layers, "register_size": register_size or h_size, **extra}


def greedy_policy(network: nn.Module, device: torch.device | str = "cpu") -> Callable[[dict], np.ndarray]:
    """observations -> the action of highest Q-value (DQN) or highest probability (actor)."""

    @torch.no_grad()
    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        output = network(*observation_tensors(obs, torch.device(device)))
        scores = output[0] if isinstance(output, tuple) else output
        return scores.argmax(dim=1).cpu().numpy()

    return policy


class NetworkScorer:
    """A network as the scorer of guided search (synthesis/search.py `Scorer`): Q-values of a
    DuelingQNetwork or KnownRewardQNetwork, log-probabilities of a PolicyValueNetwork, computed on
    `device` (the run's), returned on the CPU."""

    def __init__(self, network: nn.Module, machine: MachineConfig, device: torch.device | str = "cpu") -> None:
        self.network, self.machine, self.device = network, machine, torch.device(device)
        empty = {"program": np.full((1, machine.max_length), machine.num_actions, dtype=np.int64),
                 "registers": np.zeros((1, machine.num_registers), dtype=np.int64),
                 "target": np.zeros((1, machine.num_registers), dtype=np.int64)}
        # A policy network answers (logits, value): one call tells which kind this is, whatever its class.
        with torch.no_grad():
            self.kind = "policy" if isinstance(network(*observation_tensors(empty, self.device)), tuple) else "q"

    @torch.no_grad()
    def scores(self, actions: list[int], registers: np.ndarray, target: np.ndarray) -> np.ndarray:
        program = np.full((1, self.machine.max_length), self.machine.num_actions, dtype=np.int64)
        program[0, :len(actions)] = actions
        obs = {"program": program, "registers": np.asarray(registers)[np.newaxis],
               "target": np.asarray(target)[np.newaxis]}
        output = self.network(*observation_tensors(obs, self.device))
        if self.kind == "policy":
            return torch.log_softmax(output[0], dim=1)[0].cpu().numpy()
        return output[0].cpu().numpy()


def network_scorer(network: nn.Module, machine: MachineConfig, device: torch.device | str = "cpu") -> NetworkScorer:
    """The scorer that lets `network` guide synthesis.search.guided_search, run on `device`."""
    return NetworkScorer(network, machine, device)
