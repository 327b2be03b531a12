"""The afterstate Q-network: Q(s, a) = r(s, a) + V(s_a), where s_a is the state instruction a leads to.

The machine is known and deterministic, so the state after each of the 225 actions is computed
exactly (an action writes one value into one register), and so is its reward (the run's reward
function, `environment/rewards.py`). What is left to learn is V: how much of the distance can still
be closed from a register state with k instructions left. That depends on the registers, the target
and k only, not on the instructions that led there, so V reads no program: it reads, per register,
learned vectors of its value, its target and their gap, whether it is right, whether one instruction
can make it right from the registers as they are (a load, a copy, or a sum or difference of two
registers), whether its target is a sum, difference or copy of other targets (so it is one
instruction away once those are right), and the number of instructions left. As in afterstate
methods for board games (TD-Gammon), one value function scores every move, so what is learnt about a
register state serves every action that reaches it.

Cost: V runs on every afterstate of every state, [B·225] rows, through a small MLP; the reachability
features are a few comparisons per row.
"""

from __future__ import annotations

import torch
from torch import nn

from agents.networks import register_action_table, written_values
from environment import make_reward
from toycorewar import MachineConfig

TIE_BREAK = 1e-3  # the cost of an instruction, in units of distance


class AfterstateQNetwork(nn.Module):
    def __init__(self, machine: MachineConfig, hidden_size: int, embedding_size: int, reward_settings: dict,
                 reward_scale: float, reward_func: str = "Specific_register_values") -> None:
        super().__init__()
        table = register_action_table(self, machine)
        r = self.num_registers = machine.num_registers
        self.n_vals, self.max_length = machine.n_vals, machine.max_length
        self.stop_action, self.empty_slot = table.stop_action, machine.num_actions
        self.reward = make_reward(reward_func, reward_settings)
        self.reward_scale = float(reward_scale)
        self.register_buffer("all_actions", torch.arange(machine.num_actions), persistent=False)
        self.register_buffer("offsets", torch.arange(r) * 256, persistent=False)
        pairs = torch.cartesian_prod(torch.arange(r), torch.arange(r))
        self.register_buffer("pair_a", pairs[:, 0].contiguous(), persistent=False)
        self.register_buffer("pair_b", pairs[:, 1].contiguous(), persistent=False)
        registers = torch.arange(r)
        # without[d, p]: pair p uses neither register d (so it survives d being overwritten).
        without = ((pairs[:, 0].unsqueeze(0) != registers.unsqueeze(1))
                   & (pairs[:, 1].unsqueeze(0) != registers.unsqueeze(1)))
        self.register_buffer("pairs_without", without.float(), persistent=False)
        self.register_buffer("others", (1 - torch.eye(r)), persistent=False)
        h = hidden_size
        # The first layer of V as learned vectors (a linear layer over one-hot inputs): per register, of
        # its value, of its gap to the target (gap 0: right), of its target; then the flags and counts.
        self.value_vectors = nn.Embedding(r * 256, h)
        self.gap_vectors = nn.Embedding(r * 256, h)
        self.target_vectors = nn.Embedding(r * 256, h)
        self.slot_vectors = nn.Embedding(machine.max_length + 1, h)
        self.flags = nn.Linear(3 * r + 1, h)  # reachable, target < N_VALS, target related, wrong count
        self.embedding_size = embedding_size
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(h, embedding_size * 8), nn.ReLU(),
                                  nn.Linear(embedding_size * 8, 1))
        for vectors in (self.value_vectors, self.gap_vectors, self.target_vectors, self.slot_vectors):
            nn.init.normal_(vectors.weight, std=0.1)

    def rewards(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor, actions: torch.Tensor,
                written: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The scaled reward of each action [B, K] (writing `written` [B, K] into its register), whether
        it ends the program, the distance after it and the steps left after it. Only the written
        register's term of the distance changes."""
        dest = self.dest[actions]
        goal_dest = target.gather(1, dest)
        before = self.reward.distance(registers, target).unsqueeze(1)
        now = before - self.reward.register_distance(registers.gather(1, dest), goal_dest) \
            + self.reward.register_distance(written, goal_dest)
        length = (program != self.empty_slot).sum(dim=1, keepdim=True) + 1  # the program after the action
        done = (actions == self.stop_action) | (length >= self.max_length)
        reward = self.reward.step_reward(before, now, done, self.max_length - length)
        return reward.float() * self.reward_scale, done, now, (self.max_length - length).expand_as(now)

    def reachable(self, registers: torch.Tensor, target: torch.Tensor, dest: torch.Tensor,
                  written: torch.Tensor) -> torch.Tensor:
        """[B, K, R]: after writing `written` into `dest` ([B, K]), whether one instruction can make
        each register right: its target is a load value, a register's value, or a sum or difference
        of two registers' values."""
        r = self.num_registers
        goal = target.unsqueeze(2)  # [B, R(j), 1]
        # Candidates that do not involve register d survive its being overwritten: [B, j, d].
        sums = torch.remainder(registers[:, self.pair_a] + registers[:, self.pair_b], 256).unsqueeze(1)
        differences = torch.remainder(registers[:, self.pair_a] - registers[:, self.pair_b], 256).unsqueeze(1)
        pair_hits = ((sums == goal) | (differences == goal)).float()  # [B, j, P]
        kept = (pair_hits @ self.pairs_without.T > 0) | ((registers.unsqueeze(1) == goal).float() @ self.others > 0)
        kept = kept | (target < self.n_vals).unsqueeze(2)
        old = kept.transpose(1, 2).gather(1, dest.unsqueeze(2).expand(-1, -1, r))  # [B, K, j]
        # Candidates that involve the written value.
        goal_k = target.unsqueeze(1)  # [B, 1, j]
        v = written.unsqueeze(2)  # [B, K, 1]
        new = (v == goal_k) | (torch.remainder(2 * v, 256) == goal_k) | (goal_k == 0)
        for b in range(r):
            other = registers[:, b].view(-1, 1, 1)
            hit = ((torch.remainder(v + other, 256) == goal_k) | (torch.remainder(v - other, 256) == goal_k)
                   | (torch.remainder(other - v, 256) == goal_k))
            new = new | (hit & (dest != b).unsqueeze(2))
        return old | new

    def related(self, target: torch.Tensor) -> torch.Tensor:
        """[B, R]: whether a register's target is a copy, sum or difference of other registers' targets
        (it is one instruction away once those are right)."""
        goal = target.unsqueeze(2)
        sums = torch.remainder(target[:, self.pair_a] + target[:, self.pair_b], 256).unsqueeze(1)
        differences = torch.remainder(target[:, self.pair_a] - target[:, self.pair_b], 256).unsqueeze(1)
        pair_hits = ((sums == goal) | (differences == goal)).float()
        copies = (target.unsqueeze(1) == goal).float() * self.others  # [B, j, a]: t_a = t_j, a ≠ j
        return (pair_hits * self.pairs_without.unsqueeze(0) > 0).any(dim=2) | (copies > 0).any(dim=2)

    def action_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                      actions: torch.Tensor | None = None) -> torch.Tensor:
        """Q [B, K] of `actions` [B, K] (every action when None): the exact reward + V of the state the
        action leads to (0 when it ends the program).

        An action changes one register, so V's first layer is the state's, with the written register's
        vectors swapped: [B, K, hidden] gathers, not a pass over a copy of the registers per action.
        """
        registers, target = registers.long(), target.long()
        batch = registers.shape[0]
        if actions is None:
            actions = self.all_actions.expand(batch, -1)
        dest = self.dest[actions]
        written = written_values(self, registers).gather(1, actions)
        reward, done, distance, steps_left = self.rewards(program, registers, target, actions, written)
        r = self.num_registers
        gap = torch.remainder(target - registers, 256)
        value_vectors = self.value_vectors(registers + self.offsets)  # [B, R, h]
        gap_vectors = self.gap_vectors(gap + self.offsets)
        length = (program != self.empty_slot).sum(dim=1) + 1
        static = self.target_vectors(target + self.offsets).sum(dim=1) + self.slot_vectors(
            (self.max_length - length).clamp(min=0))  # [B, h]
        state = value_vectors.sum(dim=1) + gap_vectors.sum(dim=1) + static
        # The state's first layer without register d's own value and gap: [B, R(d), h].
        without_dest = state.unsqueeze(1) - value_vectors - gap_vectors
        goal_dest = target.gather(1, dest)
        first = (without_dest.gather(1, dest.unsqueeze(2).expand(-1, -1, without_dest.shape[2]))
                 + self.value_vectors(written + dest * 256) + self.gap_vectors(torch.remainder(goal_dest - written, 256)
                                                                              + dest * 256))
        wrong_after = (registers != target).sum(dim=1, keepdim=True) - (registers.gather(1, dest) != goal_dest).long() \
            + (written != goal_dest).long()
        flags = torch.cat([self.reachable(registers, target, dest, written).float(),
                           (target < self.n_vals).float().unsqueeze(1).expand(-1, actions.shape[1], -1),
                           self.related(target).float().unsqueeze(1).expand(-1, actions.shape[1], -1),
                           wrong_after.float().unsqueeze(2) / r], dim=2)
        # V within what the reward allows from the afterstate (environment/rewards.py return_bounds):
        # a solved register state then cannot look better than stopping, whatever the network says.
        low, high = self.reward.return_bounds(distance.float(), steps_left.clamp(min=1).float())
        fraction = torch.sigmoid(self.head(first + self.flags(flags)).squeeze(2))
        values = (low + (high - low) * fraction) * self.reward_scale
        # Of programs that score the same, the shorter: a solved program stops rather than marking time
        # with no-ops, which tie with stop (a cost far below one unit of distance, so no other choice moves).
        cost = TIE_BREAK * self.reward_scale * (actions != self.stop_action)
        return reward + torch.where(done, torch.zeros_like(values), values) - cost

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.action_values(program, registers, target)

    def state_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """V [B] of the states themselves (their registers, with the instructions left that their
        programs leave): the critic of the on-policy agents' afterstate network. The same first layer
        and flags as an afterstate, with nothing written."""
        registers, target = registers.long(), target.long()
        r = self.num_registers
        gap = torch.remainder(target - registers, 256)
        length = (program != self.empty_slot).sum(dim=1)
        steps_left = (self.max_length - length).clamp(min=0)
        first = (self.value_vectors(registers + self.offsets).sum(dim=1)
                 + self.gap_vectors(gap + self.offsets).sum(dim=1)
                 + self.target_vectors(target + self.offsets).sum(dim=1) + self.slot_vectors(steps_left))
        # Writing register 0's own value into it leaves the registers as they are.
        same = torch.zeros_like(registers[:, :1])
        flags = torch.cat([self.reachable(registers, target, same, registers[:, :1].clone()).float().squeeze(1),
                           (target < self.n_vals).float(), self.related(target).float(),
                           (registers != target).sum(dim=1, keepdim=True).float() / r], dim=1)
        distance = self.reward.distance(registers, target).float()
        low, high = self.reward.return_bounds(distance, steps_left.clamp(min=1).float())
        fraction = torch.sigmoid(self.head(first + self.flags(flags)).squeeze(1))
        return (low + (high - low) * fraction) * self.reward_scale


class AfterstatePolicyValueNetwork(nn.Module):
    """The afterstate network of the on-policy agents (AC_Agent, PG_Agent with `afterstate`).

    The actor's logits are action preferences of the afterstate form, (r(s, a) + W(s_a)) / τ: the
    exact reward of each instruction plus a learnt, bounded worth of the registers it leads to
    (an `AfterstateQNetwork`'s output, trained by the policy gradient rather than by TD), at
    temperature τ = `temperature` units of distance. Before any learning the policy prefers the
    instructions that close the most distance; learning moves the preference to those whose
    afterstates lead further. The critic is a second network of the same kind: V(s) of the state
    itself (`AfterstateQNetwork.state_values`), fitted to the returns; it is the baseline of PG and
    the bootstrap of AC.
    """

    def __init__(self, machine: MachineConfig, hidden_size: int, embedding_size: int, reward_settings: dict,
                 reward_scale: float, temperature: float, reward_func: str = "Specific_register_values") -> None:
        super().__init__()
        args = (machine, hidden_size, embedding_size, reward_settings, reward_scale, reward_func)
        self.actor, self.critic = AfterstateQNetwork(*args), AfterstateQNetwork(*args)
        self.scale = 1.0 / (float(temperature) * float(reward_scale))

    def forward(self, program: torch.Tensor, registers: torch.Tensor,
                target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.actor.action_values(program, registers, target) * self.scale
        return logits, self.critic.state_values(program, registers, target)
