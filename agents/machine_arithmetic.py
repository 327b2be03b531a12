"""What the agents' networks compute exactly rather than learn: an observation as tensors, the inputs of a
network of examples, the action table as tensors (the value each action writes, the register it writes),
the distance after each action, and the rewards an agent learns from (the environment's, less the
instruction cost). Shared by the networks of agents/networks.py and agents/afterstate.py, which import it
and not each other's helpers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from toycorewar import ActionTable, MachineConfig


def observation_tensors(obs: dict[str, np.ndarray], device: torch.device) -> tuple[torch.Tensor, ...]:
    """The batched observation as (program, registers, target) tensors, in one transfer each, and
    `matters` fourth on a function task (an observation with "matters")."""
    names = ("program", "registers", "target") + (("matters",) if obs.get("matters") is not None else ())
    return tuple(torch.as_tensor(np.asarray(obs[name]), dtype=torch.long if name == "program" else torch.float32,
                                 device=device) for name in names)


def state_and_matters(inputs: tuple[torch.Tensor, ...]) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
    """Network inputs (program, registers, target[, matters]) split as the exact parts take them: the state
    positionally, `matters` (a function task's) by keyword."""
    return inputs[:3], ({"matters": inputs[3]} if len(inputs) > 3 else {})


def example_inputs(examples: bool, registers: torch.Tensor, target: torch.Tensor,
                   matters: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The inputs a network built with or without `examples` reads: a constant task given to an examples
    network is one example where every register matters; examples given to a constant network are an error."""
    if not examples:
        if matters is not None:
            raise ValueError("this network reads constant targets: build it with examples=True for a function task")
        return registers, target, None
    if matters is None:
        return registers.unsqueeze(1), target.unsqueeze(1), torch.ones_like(target).unsqueeze(1)
    return registers, target, matters.to(target.dtype)


def distances_after(reward: Any, registers: torch.Tensor, target: torch.Tensor, dest: torch.Tensor,
                    written: torch.Tensor, matters: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The distance before [B, 1] and after each action [B, K] that writes `written` into `dest` [B, K]
    (integer tensors). An action changes one register, so only that register's term changes: [B, K]
    arithmetic, no copy of the registers per action. On a function task (registers, target, matters
    [B, E, R], written [B, E, K]) it writes the same register in every example, a value per example,
    and the distance sums over the examples and the registers that matter."""
    if matters is None:
        old, goal_dest = registers.gather(1, dest), target.gather(1, dest)
        before = reward.distance(registers, target).unsqueeze(1)
        return before, before - reward.register_distance(old, goal_dest) + reward.register_distance(written, goal_dest)
    index = dest.unsqueeze(1).expand(-1, registers.shape[1], -1)  # [B, E, K]
    old, goal_dest, counted = registers.gather(2, index), target.gather(2, index), matters.gather(2, index)
    before = reward.distance(registers, target, matters).unsqueeze(1)
    change = (reward.register_distance(written, goal_dest) - reward.register_distance(old, goal_dest)) * counted
    return before, before + change.sum(dim=1)


def learning_rewards(rewards: Any, actions: Any, stop_action: int, reward_scale: float,
                     instruction_cost: float = 0.0) -> Any:
    """The rewards an agent learns from: the environment's, less `instruction_cost` units of distance for
    each instruction (every action but stop; docs/shortest_programs.md), times `reward_scale`. numpy
    or torch, elementwise; the one place the cost is written."""
    if instruction_cost:
        rewards = rewards - instruction_cost * (actions != stop_action)
    return rewards * reward_scale


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
    module given the action table by `register_action_table`; [B, E, NUM_ACTIONS] for registers
    [B, E, R] (each example's)."""
    return torch.remainder(registers.float() @ module.mixing + module.const, 256.0).long()
