"""The networks: an LSTM reads the program, a small MLP reads registers and target, a middle layer joins them.

On a function task (docs/reference.md §10) the registers and target are a set of examples, [B, E, R], with
`matters` [B, E, R] (1 where a register matters, the target 0 where it does not): every network is then
built with `examples=True` and reads the set as DeepSets do, a shared encoder per example pooled by mean
and max over the examples, so that nothing depends on their order. Without `examples` the networks,
their parameters and their outputs are those of the constant-target task, unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.afterstate import AfterstatePolicyValueNetwork, AfterstateQNetwork
from agents.machine_arithmetic import (
    distances_after,
    example_inputs,
    learning_rewards,
    observation_tensors,
    register_action_table,
    state_and_matters,
    written_values,
)
from agents.passes import network_pass
from environment.rewards import make_reward
from toycorewar import MachineConfig


class ObservationEncoder(nn.Module):
    """(program [B, L], registers [B, R], target [B, R]) -> features [B, middle_size].

    With `examples`: (program, registers, target, matters [B, E, R]) -> [B, middle_size]; the register
    reader runs on each example (its inputs also say which registers matter, and the target's and
    gap's are zero where one does not), then its mean and max over the examples join the program's."""

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None, examples: bool = False) -> None:
        super().__init__()
        self.examples = examples
        register_size = register_size or h_size
        # One token per action, plus one for an empty slot.
        self.embedding = nn.Embedding(machine.num_actions + 1, h_size)
        self.lstm = nn.LSTM(h_size, h_size, num_layers=lstm_layers, batch_first=True)
        r = machine.num_registers
        self.register_offsets = nn.Parameter(torch.arange(r) * 256, requires_grad=False)
        # Exact values matter (a register is right or it is not): each register's value, target and
        # gap get a learned vector per value, as a one-hot input would, besides the scaled numbers.
        self.value_embedding = nn.Embedding(3 * r * 256, register_size)
        flags = 6 * r if examples else 5 * r  # with examples, which registers matter too
        self.registers_mlp = nn.Sequential(nn.Linear(flags + 3 * r * register_size, register_size), nn.ReLU(),
                                           nn.Linear(register_size, register_size), nn.ReLU())
        pooled = 2 * register_size if examples else register_size  # the mean and the max over the examples
        self.middle = nn.Sequential(nn.Linear(h_size + pooled, middle_size), nn.ReLU())

    @staticmethod
    def register_features(registers: torch.Tensor, target: torch.Tensor,
                          matters: torch.Tensor | None = None) -> torch.Tensor:
        # The signed circular gap and an exact-match flag make "this register is done" easy to see.
        gap = torch.remainder(target - registers + 128.0, 256.0) - 128.0
        if matters is None:
            return torch.cat([registers / 255.0, target / 255.0, gap / 128.0, gap.abs() / 128.0,
                              (gap == 0).float()], dim=-1)
        # A register that does not matter has no gap: it is done whatever it holds.
        return torch.cat([registers / 255.0, target * matters / 255.0, gap * matters / 128.0,
                          gap.abs() * matters / 128.0, ((gap == 0) | (matters == 0)).float(), matters], dim=-1)

    def value_features(self, registers: torch.Tensor, target: torch.Tensor,
                       matters: torch.Tensor | None = None) -> torch.Tensor:
        values, goal = registers.long(), target.long()
        gap = torch.remainder(goal - values, 256)
        r = registers.shape[-1]
        index = torch.cat([values, goal + 256 * r, gap + 512 * r], dim=-1) + self.register_offsets.repeat(3)
        vectors = self.value_embedding(index)  # [..., 3R, register_size]
        if matters is not None:  # no target and no gap where a register does not matter
            vectors = vectors * torch.cat([torch.ones_like(matters), matters, matters], dim=-1).unsqueeze(-1)
        return vectors.flatten(-2)

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                matters: torch.Tensor | None = None) -> torch.Tensor:
        registers, target, matters = example_inputs(self.examples, registers, target, matters)
        outputs, _ = self.lstm(self.embedding(program))
        program_features = outputs[:, -1]
        inputs = torch.cat([self.register_features(registers, target, matters),
                            self.value_features(registers, target, matters)], dim=-1)
        features = self.registers_mlp(inputs)
        if matters is not None:  # [B, E, size]: pooled over the examples, whatever their order
            features = torch.cat([features.mean(dim=1), features.amax(dim=1)], dim=1)
        return self.middle(torch.cat([program_features, features], dim=1))


class DuelingQNetwork(nn.Module):
    """Q(s, a) = V(s) + A(s, a) − mean_a A(s, a).

    With `effect_size` > 0 the advantage also reads what each action does: action a writes the
    value v' into register d (computed exactly from the machine), and A(s, a) gains
    ⟨query_d(s), E_d[v'] + E_d[gap of v' to d's target]⟩ with learned vectors E of that size. A plain
    linear head has to learn, action by action, which instruction brings which register where; this
    term reads it, and learns only what the value written is worth in this state. With `examples`, the
    term is the mean over the examples of each example's (the gap's only where the register matters).
    """

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None, effect_size: int = 0, examples: bool = False) -> None:
        super().__init__()
        self.examples = examples
        self.encoder = ObservationEncoder(machine, h_size, middle_size, lstm_layers, register_size, examples)
        self.value = nn.Linear(middle_size, 1)
        self.advantage = nn.Linear(middle_size, machine.num_actions)
        self.effect_size = effect_size
        if effect_size:
            register_action_table(self, machine)
            r = machine.num_registers
            self.effect_query = nn.Linear(middle_size, r * effect_size)
            # Per register: a vector per value written (rows 0-255) and per gap left (rows 256-511).
            self.effect_vectors = nn.Parameter(0.1 * torch.randn(r, 512, effect_size))

    def effect_advantage(self, features: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                         matters: torch.Tensor | None = None) -> torch.Tensor:
        """[B, NUM_ACTIONS]: the bilinear term of the written value and its gap to the target.

        Scored for every (register, value written or gap left) at once, one batched product per
        register ([R, B, k] @ [R, k, 512]), then read at each action's (dest, value) and (dest, gap):
        far cheaper than a vector per action. With examples, read per example ([B, E, K]) and averaged.
        """
        written = written_values(self, registers)
        gap = torch.remainder(target.long()[..., self.dest] - written, 256)
        batch, n = registers.shape[0], registers.shape[-1]
        query = self.effect_query(features).view(batch, n, self.effect_size).transpose(0, 1)
        scores = torch.bmm(query, self.effect_vectors.transpose(1, 2))  # [R, B, 512], contiguous
        # Flat index of (dest[a], row b, column): value columns 0-255, gap columns 256-511.
        base = self.dest * (batch * 512) + torch.arange(batch, device=written.device).unsqueeze(1) * 512
        if matters is None:
            return scores.take(base + written) + scores.take(base + 256 + gap)
        base = base.unsqueeze(1)  # the same register in every example, a value per example
        gap_scores = scores.take(base + 256 + gap) * matters[..., self.dest]
        return (scores.take(base + written) + gap_scores).mean(dim=1)

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                matters: torch.Tensor | None = None) -> torch.Tensor:
        registers, target, matters = example_inputs(self.examples, registers, target, matters)
        features = self.encoder(program, registers, target, matters)
        advantage = self.advantage(features)
        if self.effect_size:
            advantage = advantage + self.effect_advantage(features, registers, target, matters)
        # Centring the advantages per state makes V and A identifiable (the dueling architecture).
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)

    # -- as the Q-network of DQN_Agent's double-DQN loss (agents/dqn.py) --------------------------------
    def taken_values(self, inputs: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        """Q(s, a) of the sampled states `inputs` and actions [B], differentiable."""
        return self(*inputs).gather(1, actions.unsqueeze(1)).squeeze(1)

    @torch.no_grad()
    def bootstrap_values(self, target_network: nn.Module, next_inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Double DQN: this (online) network picks the next action, `target_network` values it (a no-grad
        pass: backpropagating through the next states too costs more)."""
        best_next = self(*next_inputs).argmax(dim=1, keepdim=True)
        return target_network(*next_inputs).gather(1, best_next).squeeze(1)


class KnownRewardQNetwork(nn.Module):
    """Q(s, a) = r(s, a) + a learned dueling residual, where r(s, a) is the reward of instruction a,
    computed exactly from the machine and the reward function (scaled by `reward_scale`).

    The machine is known and deterministic, so the immediate reward of every action needs no
    learning; the network learns only what follows it (the value of the registers a leads to). The
    last instruction of a program, which must be exact, then rests on exact arithmetic rather than on
    an approximation that cannot tell one unit of distance from noise. The reward function is the
    run's (`reward_func` with its `reward_settings`, saved in the network spec), and its arithmetic is
    the environment's own (environment/rewards.py), run here on tensors; on a function task, over every
    example and every register that matters.
    """

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 reward_settings: dict, reward_scale: float, register_size: int | None = None,
                 effect_size: int = 0, reward_func: str = "Specific_register_values", examples: bool = False,
                 instruction_cost: float = 0.0) -> None:
        super().__init__()
        self.examples, self.instruction_cost = examples, float(instruction_cost)
        self.residual = DuelingQNetwork(machine, h_size, middle_size, lstm_layers, register_size, effect_size,
                                        examples)
        table = register_action_table(self, machine)
        self.register_buffer("all_actions", torch.arange(machine.num_actions), persistent=False)
        self.stop_action, self.empty_slot, self.max_length = table.stop_action, machine.num_actions, machine.max_length
        self.reward = make_reward(reward_func, reward_settings)
        self.reward_scale = float(reward_scale)

    def rewards(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                matters: torch.Tensor | None = None, actions: torch.Tensor | None = None) -> torch.Tensor:
        """[B, K]: the scaled reward each action would earn (as the environment gives it), for every
        action (K = NUM_ACTIONS) or for the given `actions` [B, K] only (`distances_after`). `matters`
        comes fourth, as in `observation_tensors`, so that `rewards(*observation)` reads a function task."""
        registers, target, matters = example_inputs(self.examples, registers, target, matters)
        r, goal = registers.long(), target.long()
        values = written_values(self, registers)  # every action's (one product), read where needed
        if actions is None:
            actions = self.all_actions.expand(len(r), -1)
        elif matters is None:
            values = values.gather(1, actions)
        else:
            values = values.gather(2, actions.unsqueeze(1).expand(-1, r.shape[1], -1))
        dest = self.dest[actions]
        before, now = distances_after(self.reward, r, goal, dest, values, None if matters is None else matters.long())
        length = (program != self.empty_slot).sum(dim=1, keepdim=True) + 1  # the program after the action
        done = (actions == self.stop_action) | (length >= self.max_length)
        reward = self.reward.step_reward(before, now, done, self.max_length - length)
        return learning_rewards(reward.float(), actions, self.stop_action, self.reward_scale, self.instruction_cost)

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                matters: torch.Tensor | None = None) -> torch.Tensor:
        return (self.rewards(program, registers, target, matters)
                + self.residual(program, registers, target, matters))

    # -- as the Q-network of DQN_Agent's double-DQN loss (agents/dqn.py) --------------------------------
    def taken_values(self, inputs: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        """Q(s, a) of the sampled states and actions [B], differentiable: only the taken action's exact
        reward is computed, not all 225."""
        action = actions.unsqueeze(1)
        state, extra = state_and_matters(inputs)
        return (self.rewards(*state, actions=action, **extra) + self.residual(*inputs).gather(1, action)).squeeze(1)

    @torch.no_grad()
    def bootstrap_values(self, target_network: nn.Module, next_inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Double DQN with the exact rewards, the same for both networks, computed once: this network's
        residual picks the next action, `target_network`'s values it."""
        known = self.rewards(*next_inputs)
        best_next = (known + self.residual(*next_inputs)).argmax(dim=1, keepdim=True)
        return (known + target_network.residual(*next_inputs)).gather(1, best_next).squeeze(1)


class PolicyValueNetwork(nn.Module):
    """Action logits and a state value from one shared encoder (the critic head is unused by PG's policy)."""

    def __init__(self, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None, examples: bool = False) -> None:
        super().__init__()
        self.examples = examples
        self.encoder = ObservationEncoder(machine, h_size, middle_size, lstm_layers, register_size, examples)
        self.policy = nn.Linear(middle_size, machine.num_actions)
        self.value = nn.Linear(middle_size, 1)

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                matters: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.encoder(program, registers, target, matters)
        return self.policy(features), self.value(features).squeeze(1)


NETWORKS = {"dueling_q": DuelingQNetwork, "policy_value": PolicyValueNetwork, "known_reward_q": KnownRewardQNetwork}


def build_network(spec: dict) -> nn.Module:
    """Rebuild a network from the spec saved beside its weights."""
    machine = MachineConfig(spec["num_registers"], spec["n_vals"], spec["max_length"])
    examples = bool(spec.get("examples", False))  # models saved before function tasks read constant targets
    if spec["kind"] == "afterstate_q":
        return AfterstateQNetwork(machine, spec["middle_size"], spec["effect_size"], spec["reward_settings"],
                                  spec["reward_scale"], spec["reward_func"], examples,
                                  spec.get("instruction_cost", 0.0))
    if spec["kind"] == "afterstate_policy_value":
        return AfterstatePolicyValueNetwork(machine, spec["middle_size"], spec["effect_size"], spec["reward_settings"],
                                            spec["reward_scale"], spec["temperature"], spec["reward_func"], examples,
                                            spec.get("instruction_cost", 0.0))
    extra: dict = {"examples": examples}
    if spec["kind"] == "known_reward_q":
        # Models saved before reward_func was in the spec used the only reward there was then.
        extra |= {"reward_settings": spec["reward_settings"], "reward_scale": spec["reward_scale"],
                  "reward_func": spec.get("reward_func", "Specific_register_values"),
                  "instruction_cost": spec.get("instruction_cost", 0.0)}  # none before it existed
    # Models saved before register_size and effect_size existed: registers read at h_size, no effect term.
    if spec["kind"] != "policy_value":
        extra["effect_size"] = spec.get("effect_size", 0)
    return NETWORKS[spec["kind"]](machine, spec["h_size"], spec["middle_size"], spec["lstm_layers"],
                                  register_size=spec.get("register_size"), **extra)


def network_spec(kind: str, machine: MachineConfig, h_size: int, middle_size: int, lstm_layers: int,
                 register_size: int | None = None, **extra: object) -> dict:
    """What build_network needs (saved with the weights); `extra`: effect_size of a Q-network,
    reward_func, reward_settings, reward_scale and instruction_cost of a known_reward_q or afterstate_q
    network, `examples` (true) for a
    network of a function task."""
    return {"kind": kind, "num_registers": machine.num_registers, "n_vals": machine.n_vals,
            "max_length": machine.max_length, "h_size": h_size, "middle_size": middle_size,
            "lstm_layers": lstm_layers, "register_size": register_size or h_size, **extra}


def q_network_spec(params: Any, machine: MachineConfig, reward: Any, extra: dict) -> dict:
    """The spec of DQN's Q-network, of the kind the preset chooses: `afterstate` (exact reward + learnt V of
    the afterstate), `known_rewards` (exact reward + learnt dueling residual) or neither (a dueling
    network). The kinds that compute rewards get the run's reward and scale, and its instruction cost
    when set (so that the specs of runs without one stay as they were); `extra`: the run's
    (AgentSetup.network_extra)."""
    p = params
    exact = {"reward_func": reward.name, "reward_settings": reward.settings, "reward_scale": p.reward_scale,
             **({"instruction_cost": p.instruction_cost} if p.instruction_cost else {})}
    if p.afterstate:
        return network_spec("afterstate_q", machine, p.h_size, p.middle_size, p.lstm_layers, p.register_size,
                            effect_size=max(1, p.effect_size), **exact, **extra)
    if p.known_rewards:
        return network_spec("known_reward_q", machine, p.h_size, p.middle_size, p.lstm_layers, p.register_size,
                            effect_size=p.effect_size, **exact, **extra)
    return network_spec("dueling_q", machine, p.h_size, p.middle_size, p.lstm_layers, p.register_size,
                        effect_size=p.effect_size, **extra)


def policy_network_spec(params: Any, machine: MachineConfig, reward: Any, extra: dict) -> dict:
    """The spec of the on-policy agents' network: `afterstate` (exact reward + learnt worth of the
    afterstate as the actor's logits, agents/afterstate.py) or a policy-value network; `extra`: the
    run's (AgentSetup.network_extra)."""
    p = params
    if p.afterstate:
        return network_spec("afterstate_policy_value", machine, p.h_size, p.middle_size, p.lstm_layers,
                            p.register_size, effect_size=max(1, p.effect_size), reward_func=reward.name,
                            reward_settings=reward.settings, reward_scale=p.reward_scale,
                            temperature=p.policy_temperature,
                            **({"instruction_cost": p.instruction_cost} if p.instruction_cost else {}), **extra)
    return network_spec("policy_value", machine, p.h_size, p.middle_size, p.lstm_layers, p.register_size, **extra)


def greedy_policy(network: nn.Module, device: torch.device | str = "cpu") -> Callable[[dict], np.ndarray]:
    """observations -> the action of highest Q-value (DQN) or highest probability (actor), for any
    number of observations (a pass takes as many as fit its memory bound, agents/passes.py)."""

    @torch.no_grad()
    def best(obs: dict[str, np.ndarray]) -> np.ndarray:
        output = network(*observation_tensors(obs, torch.device(device)))
        scores = output[0] if isinstance(output, tuple) else output
        return scores.argmax(dim=1).cpu().numpy()

    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        return network_pass(network, obs, best, device)  # in chunks of bounded bytes (agents/passes.py)

    return policy


class NetworkScorer:
    """A network as the scorer of guided search (synthesis/search.py `Scorer`): Q-values of a
    DuelingQNetwork or KnownRewardQNetwork, log-probabilities of a PolicyValueNetwork, computed on
    `device` (the run's), returned on the CPU."""

    def __init__(self, network: nn.Module, machine: MachineConfig, device: torch.device | str = "cpu") -> None:
        self.network, self.machine, self.device = network, machine, torch.device(device)
        # The cost per instruction the network's Q-values count (in units of distance), for the returns
        # the search gathers to count it too.
        self.instruction_cost = float(getattr(network, "instruction_cost", 0.0))
        zeros = np.zeros(machine.num_registers, dtype=np.int64)  # a network of examples reads it as one example
        # A policy network answers (logits, value): one call tells which kind this is, whatever its class.
        with torch.no_grad():
            output = network(*observation_tensors(self.observation([], zeros, zeros, None), self.device))
        self.kind = "policy" if isinstance(output, tuple) else "q"

    def observation(self, actions: list[int], registers: np.ndarray, target: np.ndarray,
                    matters: np.ndarray | None) -> dict[str, np.ndarray]:
        """One node's observation, batched by one: registers and target [R], or [E, R] with matters."""
        program = np.full((1, self.machine.max_length), self.machine.num_actions, dtype=np.int64)
        program[0, :len(actions)] = actions
        obs = {"program": program, "registers": np.asarray(registers)[np.newaxis],
               "target": np.asarray(target)[np.newaxis]}
        if matters is not None:
            obs["matters"] = np.asarray(matters)[np.newaxis]
        return obs

    @torch.no_grad()
    def scores(self, actions: list[int], registers: np.ndarray, target: np.ndarray,
               matters: np.ndarray | None = None) -> np.ndarray:
        """[NUM_ACTIONS] at the node reached by `actions`; on a function task registers, target and
        matters are [E, R]."""
        obs = self.observation(actions, registers, target, matters)
        output = self.network(*observation_tensors(obs, self.device))
        if self.kind == "policy":
            return torch.log_softmax(output[0], dim=1)[0].cpu().numpy()
        return output[0].cpu().numpy()


def network_scorer(network: nn.Module, machine: MachineConfig, device: torch.device | str = "cpu") -> NetworkScorer:
    """The scorer that lets `network` guide synthesis.search.guided_search, run on `device`."""
    return NetworkScorer(network, machine, device)
