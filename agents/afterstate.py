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

On a function task (`examples`: registers, target and matters [B, E, R], docs/reference.md §10) V is a
DeepSets network over the examples: each example's first layer (its registers' vectors, and the
target's and gap's of the registers that matter) and how many of its registers are wrong, through a
ReLU, pooled by mean and max, then the head. The flags are the task's, not an example's: a register
is reachable when one instruction makes it right on every example where it matters, related when
the same copy, sum or difference of other targets gives its target on every example. The reward
and its bounds are §4's over every example and every register that matters. The afterstates' first
layers are [B, E, K, hidden], summed by one embedding bag: with 4 examples a pass over every action
costs about 2.5 times the constant task's (hidden 64, batch 128, 2 CPU cores).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from agents.machine_arithmetic import (
    distances_after,
    example_inputs,
    learning_rewards,
    register_action_table,
    state_and_matters,
    written_values,
)
from environment import make_reward
from toycorewar import MachineConfig

TIE_BREAK = 1e-3  # the cost of an instruction, in units of distance, when the run sets none


def everywhere(hits: torch.Tensor, free: torch.Tensor | None) -> torch.Tensor:
    """A candidate counts when it is right on every example where the register matters (axis 1 with
    examples, `free` where it does not); on a constant task (`free` None) the hits themselves."""
    return hits if free is None else (hits | free).all(dim=1)


class AfterstateQNetwork(nn.Module):
    def __init__(self, machine: MachineConfig, hidden_size: int, embedding_size: int, reward_settings: dict,
                 reward_scale: float, reward_func: str = "Specific_register_values", examples: bool = False,
                 instruction_cost: float = 0.0) -> None:
        super().__init__()
        self.examples = examples
        # A run's instruction_cost is in the rewards learnt from (agents/networks.py learning_rewards);
        # without one, a cost far below one unit of distance only breaks ties (q_values).
        self.instruction_cost = float(instruction_cost)
        # The tables are built on the CPU whatever the default device, so that the network can be built on
        # torch's meta device (no memory) to count its parameters (training/memory.py).
        with torch.device("cpu"):
            table = register_action_table(self, machine)
            r = self.num_registers = machine.num_registers
            self.n_vals, self.max_length = machine.n_vals, machine.max_length
            self.stop_action, self.empty_slot = table.stop_action, machine.num_actions
            self.reward = make_reward(reward_func, reward_settings)
            self.reward_scale = float(reward_scale)
            self.register_buffer("all_actions", torch.arange(machine.num_actions), persistent=False)
            # Actions that write the same value into the same register whatever the registers (add r1, r2, r3
            # and add r2, r1, r3; sub rA, rA, rX for every A) lead to the same afterstate: Q of every action is
            # computed once per class, on its first action (stop is a class of its own).
            stop = (self.all_actions == table.stop_action).float().unsqueeze(0)
            effect = torch.cat([self.dest.float().unsqueeze(0), stop, self.mixing, self.const.unsqueeze(0)]).T
            _, action_class = torch.unique(effect, dim=0, return_inverse=True)
            first = torch.full((int(action_class.max()) + 1,), machine.num_actions).scatter_reduce(
                0, action_class, self.all_actions, reduce="amin")
            self.register_buffer("distinct_actions", first, persistent=False)
            self.register_buffer("action_class", action_class, persistent=False)
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
        # One output: V's share of its bounds. With an instruction cost, a second: the share of the
        # instructions left that the rest of the program will use (see `bounded`).
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(h, embedding_size * 8), nn.ReLU(),
                                  nn.Linear(embedding_size * 8, 2 if self.instruction_cost else 1))
        for vectors in (self.value_vectors, self.gap_vectors, self.target_vectors, self.slot_vectors):
            nn.init.normal_(vectors.weight, std=0.1)
        if examples:  # created last: a constant-target network's parameters are drawn as before
            self.wrong_vector = nn.Parameter(0.1 * torch.randn(h))  # times an example's count of wrong registers
            self.pool = nn.Linear(2 * h, h)  # the mean and the max over the examples

    def rewards(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor, actions: torch.Tensor,
                written: torch.Tensor, matters: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The scaled reward of each action [B, K] (writing `written` [B, K] into its register), whether
        it ends the program, the distance after it and the steps left after it. Only the written
        register's term of the distance changes. On a function task registers, target and matters are
        [B, E, R] and written [B, E, K] (integers)."""
        before, now = distances_after(self.reward, registers, target, self.dest[actions], written, matters)
        length = (program != self.empty_slot).sum(dim=1, keepdim=True) + 1  # the program after the action
        done = (actions == self.stop_action) | (length >= self.max_length)
        reward = self.reward.step_reward(before, now, done, self.max_length - length)
        reward = learning_rewards(reward.float(), actions, self.stop_action, self.reward_scale, self.instruction_cost)
        return reward, done, now, (self.max_length - length).expand_as(now)

    def reachable(self, registers: torch.Tensor, target: torch.Tensor, dest: torch.Tensor, written: torch.Tensor,
                  matters: torch.Tensor | None = None) -> torch.Tensor:
        """[B, K, R]: after writing `written` into `dest` ([B, K]), whether one instruction can make
        each register right: its target is a load value, a register's value, or a sum or difference
        of two registers' values. On a function task (registers, target, matters [B, E, R], written
        [B, E, K]): one instruction that makes it right on every example where it matters."""
        r = self.num_registers
        free = None if matters is None else ~matters.bool()  # a register is right where it does not matter
        loads = target < self.n_vals if free is None else self.loadable(target, matters)
        # Values as bytes: their sums and differences wrap modulo 256 as the machine's do (and cost less).
        registers, target, written = (x.to(torch.uint8) for x in (registers, target, written))

        value_free = None if free is None else free.unsqueeze(-2)
        kept = self.kept(registers, target, loads, free)
        old = kept.transpose(1, 2).gather(1, dest.unsqueeze(2).expand(-1, -1, r))  # [B, K, j]
        # Candidates that involve the written value.
        goal_k = target.unsqueeze(-2)  # [B, (E,) 1, j]
        v = written.unsqueeze(-1)  # [B, (E,) K, 1]
        new = (everywhere(v == goal_k, value_free) | everywhere(v + v == goal_k, value_free)
               | everywhere(goal_k == 0, value_free))
        for b in range(r):
            other = registers[..., b, None, None]
            hit = (everywhere(v + other == goal_k, value_free) | everywhere(v - other == goal_k, value_free)
                   | everywhere(other - v == goal_k, value_free))
            new = new | (hit & (dest != b).unsqueeze(2))
        return old | new

    def reach_masks(self, registers: torch.Tensor, target: torch.Tensor, dest: torch.Tensor,
                    written: torch.Tensor) -> torch.Tensor:
        """`reachable` of a constant task as bit masks [B, K] (bit j: register j), from tables: which
        registers one instruction makes right after writing each value v in 0..255 into each register
        d, [B, R(d), 256], then one gather per action. Cheaper than `reachable` when K is large."""
        r, device = self.num_registers, registers.device
        loads = target < self.n_vals
        registers, target = registers.to(torch.uint8), target.to(torch.uint8)  # sums wrap modulo 256 as bytes
        kept = self.kept(registers, target, loads)  # [B, j, d]
        batch, goal, other = len(target), target.unsqueeze(2), registers.unsqueeze(1)  # [B, j, 1], [B, 1, b]
        # With v written into d, one instruction makes register j right when v is one of these values:
        # by v and another register b (v + b, v − b, b − v; b not d, which now holds v) ...
        pairs = torch.zeros(batch, r, r, 256, dtype=torch.bool, device=device)  # [B, j, b, v]
        pairs.scatter_(3, torch.stack([goal - other, goal + other, other - goal], dim=3).long(), True)
        hits = pairs.sum(dim=2, keepdim=True, dtype=torch.uint8)  # how many b work, [B, j, 1, v]
        # ... or alone: a copy of v, v + v, or clearing j (its target 0: every v).
        direct = torch.zeros(batch, r, 256, dtype=torch.bool, device=device)  # [B, j, v]
        halves = torch.cat([goal // 2, goal // 2 + 128], dim=2).long()  # v + v = target when it is even
        direct.scatter_(2, halves, (goal % 2 == 0).expand(-1, -1, 2))
        direct.scatter_(2, goal.long(), True)
        direct |= goal == 0
        new = direct.unsqueeze(2) | (hits > pairs)  # [B, j, d, v]
        bits = (1 << torch.arange(r, device=device, dtype=torch.int32)).view(1, -1, 1)  # R ≤ 16 bits
        new_masks = (new.flatten(2) * bits).sum(dim=1, dtype=torch.int32)  # [B, d·256 + v]
        old_masks = (kept * bits).sum(dim=1, dtype=torch.int32)  # [B, d]
        return (old_masks.gather(1, dest) | new_masks.gather(1, dest * 256 + written)).long()

    def kept(self, registers: torch.Tensor, target: torch.Tensor, loads: torch.Tensor,
             free: torch.Tensor | None = None) -> torch.Tensor:
        """[B, j, d]: whether one instruction that does not read register d makes register j right (a
        load, a copy, a sum or difference of two registers): it still does once d is overwritten.
        Registers and target as bytes; with `free` ([B, E, R], a function task) on every example."""

        pair_free = None if free is None else free.unsqueeze(-1)
        goal = target.unsqueeze(-1)  # [B, (E,) R(j), 1]
        sums = (registers[..., self.pair_a] + registers[..., self.pair_b]).unsqueeze(-2)
        differences = (registers[..., self.pair_a] - registers[..., self.pair_b]).unsqueeze(-2)
        pair_hits = everywhere(sums == goal, pair_free) | everywhere(differences == goal, pair_free)  # [B, j, P]
        copies = everywhere(registers.unsqueeze(-2) == goal, pair_free)  # [B, j, a]
        kept = (pair_hits.float() @ self.pairs_without.T > 0) | (copies.float() @ self.others > 0)
        return kept | loads.unsqueeze(2)

    def loadable(self, target: torch.Tensor, matters: torch.Tensor) -> torch.Tensor:
        """[B, R] of targets and matters [B, E, R]: whether one load makes a register right on every
        example where it matters (the same value, below N_VALS, on each; true where it matters on none)."""
        free = ~matters.bool()
        highest = torch.where(free, -1, target).amax(dim=1)
        return (highest <= torch.where(free, 256, target).amin(dim=1)) & (highest < self.n_vals)

    def related(self, target: torch.Tensor, matters: torch.Tensor | None = None) -> torch.Tensor:
        """[B, R]: whether a register's target is a copy, sum or difference of other registers' targets
        (it is one instruction away once those are right); on a function task ([B, E, R]), the same
        copy, sum or difference on every example where it matters, of targets that matter there."""
        if matters is None:
            target = target.unsqueeze(1)
            matters = torch.ones_like(target, dtype=torch.bool)
        matters = matters.bool()
        goal, free = target.unsqueeze(3), ~matters.unsqueeze(3)  # [B, E, j, 1]
        sums = torch.remainder(target[..., self.pair_a] + target[..., self.pair_b], 256).unsqueeze(2)
        differences = torch.remainder(target[..., self.pair_a] - target[..., self.pair_b], 256).unsqueeze(2)
        known = (matters[..., self.pair_a] & matters[..., self.pair_b]).unsqueeze(2)  # [B, E, 1, P]
        pair_hits = ((((sums == goal) & known) | free).all(dim=1)
                     | (((differences == goal) & known) | free).all(dim=1))  # [B, j, P]
        copies = (((target.unsqueeze(2) == goal) & matters.unsqueeze(2)) | free).all(dim=1) & (self.others > 0)
        return (pair_hits & (self.pairs_without > 0)).any(dim=2) | copies.any(dim=2)

    def action_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                      matters: torch.Tensor | None = None, actions: torch.Tensor | None = None) -> torch.Tensor:
        """Q [B, K] of `actions` [B, K] (every action when None): the exact reward + V of the state the
        action leads to (0 when it ends the program). `matters` [B, E, R] on a function task.

        In a state with one instruction left every action ends the program: its Q is the reward alone,
        and V is computed only for the other states (each row's values are its own, so a batch gives
        every row what it would give alone); actions with the same effect share one computation.
        """
        registers, target, matters = example_inputs(self.examples, registers, target, matters)
        registers, target = registers.long(), target.long()
        matters = None if matters is None else matters.bool()
        if actions is None:  # every action: one per class of actions with the same effect
            q = self.action_values(program, registers, target, matters,
                                   self.distinct_actions.expand(registers.shape[0], -1))
            return q[:, self.action_class]
        last = (program != self.empty_slot).sum(dim=1) + 1 >= self.max_length
        if not last.any():
            return self.afterstate_values(program, registers, target, matters, actions)
        inputs = (program, registers, target, matters, actions)
        final = self.final_values(*(x if x is None else x[last] for x in inputs))
        if last.all():
            return final
        q = torch.empty(actions.shape, dtype=final.dtype, device=final.device)
        q[last] = final
        q[~last] = self.afterstate_values(*(x if x is None else x[~last] for x in inputs))
        return q

    def final_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                     matters: torch.Tensor | None, actions: torch.Tensor) -> torch.Tensor:
        """Q of `actions` in states with one instruction left: the reward, less the instruction's cost."""
        if matters is None:
            written = written_values(self, registers).gather(1, actions)
        else:
            written = written_values(self, registers).gather(2, actions.unsqueeze(1).expand(-1, registers.shape[1], -1))
        reward, done, _, _ = self.rewards(program, registers, target, actions, written,
                                          None if matters is None else matters.long())
        return self.q_values(actions, reward, done, torch.zeros_like(reward))

    def afterstate_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                          matters: torch.Tensor | None, actions: torch.Tensor) -> torch.Tensor:
        """`action_values` with V computed for every action (integer registers and targets, boolean
        `matters` on a function task). An action changes one register, so V's first layer is the
        state's with the written register's rows swapped: one embedding bag over table rows, not a
        pass over a copy of the registers per action."""
        if matters is not None:
            return self.example_action_values(program, registers, target, matters, actions)
        dest, (batch, k), r = self.dest[actions], actions.shape, self.num_registers
        written = written_values(self, registers).gather(1, actions)
        reward, done, distance, steps_left = self.rewards(program, registers, target, actions, written)
        gap = torch.remainder(target - registers, 256)
        value_vectors = self.value_vectors(registers + self.offsets)  # [B, R, h]
        gap_vectors = self.gap_vectors(gap + self.offsets)
        length = (program != self.empty_slot).sum(dim=1) + 1
        weight = self.flags.weight  # columns: reachable [R], target < N_VALS [R], related [R], wrong count
        task = torch.cat([(target < self.n_vals).float(), self.related(target).float()], dim=1)
        # The state's first layer, with what every action of the state shares: [B, h].
        state = (value_vectors.sum(dim=1) + gap_vectors.sum(dim=1)
                 + self.target_vectors(target + self.offsets).sum(dim=1)
                 + self.slot_vectors((self.max_length - length).clamp(min=0)) + self.flags.bias
                 + task @ weight[:, r:3 * r].T)
        goal_dest = target.gather(1, dest)
        wrong_after = ((registers != target).sum(dim=1, keepdim=True) - (registers.gather(1, dest) != goal_dest).long()
                       + (written != goal_dest).long())
        if k >= 16:  # bit j: register j reachable; tables over every value pay off for many actions
            masks = self.reach_masks(registers, target, dest, written)
        else:
            masks = (self.reachable(registers, target, dest, written).long()
                     << torch.arange(r, device=dest.device)).sum(dim=2)
        # Each afterstate's first layer is a sum of table rows, summed by one embedding bag (the
        # [B, K, hidden] work is one pass): the state's without register d's own value and gap; d's new
        # value and new gap; the reachable flags, four registers to a row; the count of wrong registers.
        chunks = (r + 3) // 4
        bits = (torch.arange(16, device=dest.device).unsqueeze(1) >> torch.arange(4, device=dest.device)) & 1
        padded = F.pad(weight[:, :r], (0, 4 * chunks - r)).T.reshape(chunks, 4, -1)  # [chunk, bit, h]
        reach_table = (bits.float() @ padded).flatten(0, 1)  # [chunk·16, h]
        wrong_table = torch.arange(r + 1, device=dest.device).float().unsqueeze(1) / r * weight[:, 3 * r]
        table = torch.cat([(state.unsqueeze(1) - value_vectors - gap_vectors).flatten(0, 1), self.value_vectors.weight,
                           self.gap_vectors.weight, reach_table, wrong_table])
        values_start = batch * r
        gaps_start = values_start + len(self.value_vectors.weight)
        reach_start = gaps_start + len(self.gap_vectors.weight)
        wrong_start = reach_start + len(reach_table)
        chunk = torch.arange(chunks, device=dest.device)
        reach_rows = reach_start + 16 * chunk + ((masks.unsqueeze(2) >> (4 * chunk)) & 15)
        bags = torch.cat([(torch.arange(batch, device=dest.device).unsqueeze(1) * r + dest).unsqueeze(2),
                          (values_start + dest * 256 + written).unsqueeze(2),
                          (gaps_start + dest * 256 + torch.remainder(goal_dest - written, 256)).unsqueeze(2),
                          reach_rows, (wrong_start + wrong_after).unsqueeze(2)], dim=2)
        first = F.embedding_bag(bags.view(batch * k, -1), table, mode="sum").view(batch, k, -1)
        fraction = self.fractions(self.head(first))
        return self.q_values(actions, reward, done, self.bounded(fraction, distance, steps_left))

    def fractions(self, head: torch.Tensor) -> torch.Tensor:
        """The head's outputs [..., 1 or 2] as shares in (0, 1): [...] without a cost, [..., 2] with one."""
        shares = torch.sigmoid(head)
        return shares.squeeze(-1) if shares.shape[-1] == 1 else shares

    def bounded(self, fraction: torch.Tensor, distance: torch.Tensor, steps_left: torch.Tensor) -> torch.Tensor:
        """V as a `fraction` of the way between the bounds of the return still to come (scaled).

        With an instruction cost V = A − cost·N: A, the distance still to close, within the reward's
        bounds as without a cost, and N, the instructions the rest of the program uses, a share of the
        `steps_left` (fraction [..., 2]: A's share, N's share). The two parts apart, a register state
        that can be solved keeps A at its bound whatever it costs, and N tells programs of one length
        from the next without asking A's share for digits that a sigmoid near 1 does not give."""
        # V within what the reward allows from the afterstate (environment/rewards.py return_bounds):
        # a solved register state then cannot look better than stopping, whatever the network says.
        low, high = self.reward.return_bounds(distance.float(), steps_left.clamp(min=1).float())
        if fraction.dim() == distance.dim():
            return (low + (high - low) * fraction) * self.reward_scale
        closed = low + (high - low) * fraction[..., 0]
        return (closed - self.instruction_cost * steps_left.float() * fraction[..., 1]) * self.reward_scale

    def q_values(self, actions: torch.Tensor, reward: torch.Tensor, done: torch.Tensor,
                 values: torch.Tensor) -> torch.Tensor:
        """Q = the reward (less the run's instruction cost) + V of the afterstate (none after the last
        instruction), less a tie-break when the run sets no cost."""
        value = reward + torch.where(done, torch.zeros_like(values), values)
        if self.instruction_cost:
            return value
        # Of programs that score the same, the shorter: a solved program stops rather than marking time
        # with no-ops, which tie with stop (a cost far below one unit of distance, so no other choice moves).
        return value - TIE_BREAK * self.reward_scale * (actions != self.stop_action)

    def gap_table(self) -> torch.Tensor:
        """The gap vectors of a function task, [R·256 + 1, h]: a gap other than 0 also adds `wrong_vector`
        / R (its example has one more wrong register), and the last row, zeros, stands for a register
        that does not matter (it has no gap)."""
        wrong = (torch.arange(len(self.gap_vectors.weight), device=self.offsets.device) % 256 != 0).unsqueeze(1)
        vectors = self.gap_vectors.weight + wrong * self.wrong_vector / self.num_registers
        return torch.cat([vectors, torch.zeros_like(vectors[:1])])

    def example_first_layer(self, registers: torch.Tensor, target: torch.Tensor, matters: torch.Tensor,
                            steps_left: torch.Tensor, gap_table: torch.Tensor
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each example's first layer [B, E, h], and its registers' value and gap vectors [B, E, R, h]
        (a register's gap and target count only where it matters)."""
        gap_rows = torch.where(matters, torch.remainder(target - registers, 256) + self.offsets, len(gap_table) - 1)
        value_vectors, gap_vectors = self.value_vectors(registers + self.offsets), F.embedding(gap_rows, gap_table)
        targets = self.target_vectors(target + self.offsets) * matters.unsqueeze(3)
        static = targets.sum(dim=2) + self.slot_vectors(steps_left).unsqueeze(1)
        return value_vectors.sum(dim=2) + gap_vectors.sum(dim=2) + static, value_vectors, gap_vectors

    def pooled_fraction(self, first: torch.Tensor) -> torch.Tensor:
        """V's share of its bounds from each example's first layer `first` [B, E, ..., h] (flags added):
        a ReLU per example, then the mean and the max over the examples (whatever their order), the head."""
        features = torch.relu(first)
        pooled = torch.cat([features.mean(dim=1), features.amax(dim=1)], dim=-1)
        return self.fractions(self.head(self.pool(pooled)))

    def example_action_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                              matters: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """`afterstate_values` on a function task: registers, target, matters [B, E, R]. The action writes
        the same register in every example, a value per example. Each afterstate's first layer is a sum
        of four rows (the state's without register d, the flags, d's new value and new gap), summed by
        one embedding bag: the [B, E, K, hidden] work is one pass, a ReLU and the pooling."""
        (batch, count), r = registers.shape[:2], self.num_registers
        dest, k = self.dest[actions], actions.shape[1]
        index = dest.unsqueeze(1).expand(-1, count, -1)  # [B, E, K]
        written = written_values(self, registers).gather(2, actions.unsqueeze(1).expand(-1, count, -1))
        reward, done, distance, steps_left = self.rewards(program, registers, target, actions, written, matters.long())
        length = (program != self.empty_slot).sum(dim=1) + 1
        gap_table = self.gap_table()
        state, value_vectors, gap_vectors = self.example_first_layer(registers, target, matters,
                                                                     (self.max_length - length).clamp(min=0), gap_table)
        goal_dest, counted = target.gather(2, index), matters.gather(2, index)
        # Each example's count of wrong registers after the action: d's term swapped, as for the distance.
        was_wrong, is_wrong = (registers.gather(2, index) != goal_dest) & counted, (written != goal_dest) & counted
        wrong = ((registers != target) & matters).sum(dim=2, keepdim=True) - was_wrong.long() + is_wrong.long()
        task = torch.cat([self.loadable(target, matters), self.related(target, matters)], dim=1).float()
        flags = torch.cat([self.reachable(registers, target, dest, written, matters).float(),
                           task.unsqueeze(1).expand(-1, k, -1), wrong.float().mean(dim=1).unsqueeze(2) / r], dim=2)
        # Each example's first layer without register d's own value and gap, [B·E·R(d), h], then the
        # flags [B·K, h], then the vectors of the value written and of the gap it leaves.
        table = torch.cat([(state.unsqueeze(2) - value_vectors - gap_vectors).flatten(0, 2),
                           self.flags(flags).flatten(0, 1), self.value_vectors.weight, gap_table])
        flags_start = batch * count * r
        values_start = flags_start + batch * k
        gaps_start = values_start + len(self.value_vectors.weight)
        rows, examples = torch.arange(batch, device=dest.device).view(-1, 1, 1), torch.arange(count, device=dest.device)
        state_rows = (rows * count + examples.view(1, -1, 1)) * r + index
        flag_rows = flags_start + rows * k + torch.arange(k, device=dest.device)
        dest_rows = (dest * 256).unsqueeze(1)
        value_rows = values_start + written + dest_rows
        gap_rows = gaps_start + torch.where(counted, torch.remainder(goal_dest - written, 256) + dest_rows,
                                            len(gap_table) - 1)
        bags = torch.stack([state_rows, flag_rows.expand_as(index), value_rows, gap_rows], dim=3)
        first = F.embedding_bag(bags.view(-1, 4), table, mode="sum").view(batch, count, k, -1)
        fraction = self.pooled_fraction(first)
        return self.q_values(actions, reward, done, self.bounded(fraction, distance, steps_left))

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                matters: torch.Tensor | None = None) -> torch.Tensor:
        return self.action_values(program, registers, target, matters)

    # -- as the Q-network of DQN_Agent's loss (agents/dqn.py) -------------------------------------------
    def taken_values(self, inputs: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        """Q(s, a) of the sampled states and actions [B], differentiable: V only at the taken afterstates."""
        state, extra = state_and_matters(inputs)
        return self.action_values(*state, actions=actions.unsqueeze(1), **extra).squeeze(1)

    @torch.no_grad()
    def bootstrap_values(self, target_network: nn.Module, next_inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """max_a Q of `target_network` at the next states. The target network's best action, not double
        DQN's online choice: with exact rewards and V held within the reward's bounds there is little to
        overestimate, and it halves the cost."""
        return target_network(*next_inputs).max(dim=1).values

    def state_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                     matters: torch.Tensor | None = None) -> torch.Tensor:
        """V [B] of the states themselves (their registers, with the instructions left that their
        programs leave): the critic of the on-policy agents' afterstate network. The same first layer
        and flags as an afterstate, with nothing written."""
        registers, target, matters = example_inputs(self.examples, registers, target, matters)
        if matters is not None:
            return self.example_state_values(program, registers.long(), target.long(), matters.bool())
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
        fraction = self.fractions(self.head(first + self.flags(flags)))
        return self.bounded(fraction, self.reward.distance(registers, target), steps_left)

    def example_state_values(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                             matters: torch.Tensor) -> torch.Tensor:
        """`state_values` on a function task: registers, target, matters [B, E, R]."""
        steps_left = (self.max_length - (program != self.empty_slot).sum(dim=1)).clamp(min=0)
        state, _, _ = self.example_first_layer(registers, target, matters, steps_left, self.gap_table())
        wrong = ((registers != target) & matters).sum(dim=2).float().mean(dim=1, keepdim=True) / self.num_registers
        # Writing register 0's own value into it leaves the registers as they are.
        same = torch.zeros_like(registers[:, 0, :1])
        task = torch.cat([self.reachable(registers, target, same, registers[..., :1].clone(), matters).squeeze(1),
                          self.loadable(target, matters), self.related(target, matters)], dim=1).float()
        flags = torch.cat([task, wrong], dim=1)
        fraction = self.pooled_fraction(state + self.flags(flags).unsqueeze(1))
        return self.bounded(fraction, self.reward.distance(registers, target, matters.long()), steps_left)


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
                 reward_scale: float, temperature: float, reward_func: str = "Specific_register_values",
                 examples: bool = False, instruction_cost: float = 0.0) -> None:
        super().__init__()
        self.examples = examples
        args = (machine, hidden_size, embedding_size, reward_settings, reward_scale, reward_func, examples,
                instruction_cost)
        self.actor, self.critic = AfterstateQNetwork(*args), AfterstateQNetwork(*args)
        self.scale = 1.0 / (float(temperature) * float(reward_scale))

    def forward(self, program: torch.Tensor, registers: torch.Tensor, target: torch.Tensor,
                matters: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.actor.action_values(program, registers, target, matters) * self.scale
        return logits, self.critic.state_values(program, registers, target, matters)
