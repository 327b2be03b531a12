"""Search over programs: RL-guided best-first search, and the baselines random search and beam search.

The unit of budget is the *expansion*: one partial program whose one-instruction extensions are all
generated (on the batched machine) and checked against the target. Every search returns the first
program found that takes the registers to the target (stop not included), or None.

Guided search (after "Program Synthesis Through Reinforcement Learning Guided Tree Search",
arXiv 1806.02932): first the greedy program, whose prefixes are expanded for free, since the policy
computes them anyway (so a budget of 0 is the greedy policy); then, best first, the most promising
partial programs. A child's priority is, for a Q-network, the return gathered so far plus Q(s, a) (the
estimated return of the whole program), for a policy, the sum of log-probabilities of its actions.
Children enter the queue lazily, best sibling first, so an expansion costs one network call and a
few heap operations. Two sound prunings keep the queue to prefixes that can still succeed, as in the
exact synthesizer: a child with more wrong registers than instructions left after it is never queued
(each instruction writes one register), and a register state is searched once, from the shortest
prefix that reached it (the machine's future depends on the registers alone). `prune=False` turns
them off, to measure what they contribute.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from agents.networks import observation_tensors
from environment.rewards import Specific_register_values
from toycorewar import ActionTable, Instruction, MachineConfig


@dataclass
class SearchResult:
    program: list[Instruction] | None
    expansions: int

    @property
    def solved(self) -> bool:
        return self.program is not None


class _Problem:
    """A target, initial registers and the machine: what every search shares."""

    def __init__(self, machine: MachineConfig, target: list[int], reg_init: list[int] | None) -> None:
        self.table = ActionTable(machine)
        self.machine = machine
        self.target = np.asarray(target, dtype=np.int64)
        self.start = (np.zeros(machine.num_registers, dtype=np.int64) if reg_init is None
                      else np.asarray(reg_init, dtype=np.int64))
        self.instructions = np.arange(self.table.stop_action)  # stop never leads anywhere new

    def children(self, registers: np.ndarray) -> np.ndarray:
        """The registers after each instruction, from one state: [n_instructions, R]."""
        after = np.repeat(registers[np.newaxis], len(self.instructions), axis=0)
        self.table.execute_batch(after, self.instructions)
        return after

    def can_finish(self, after: np.ndarray, slots_left: int) -> np.ndarray:
        """Which register states could still reach the target with `slots_left` instructions."""
        return (after != self.target).sum(axis=1) <= slots_left

    def solved_by(self, after: np.ndarray) -> int | None:
        hits = np.flatnonzero((after == self.target).all(axis=1))
        return int(hits[0]) if len(hits) else None

    def program(self, actions: list[int]) -> list[Instruction]:
        return [self.table.instructions[a] for a in actions]

    def observation(self, actions: list[int], registers: np.ndarray) -> dict[str, np.ndarray]:
        program = np.full((1, self.machine.max_length), self.table.num_actions, dtype=np.int64)
        program[0, :len(actions)] = actions
        return {"program": program, "registers": registers[np.newaxis], "target": self.target[np.newaxis]}


def guided_search(network: nn.Module, machine: MachineConfig, reward: Specific_register_values,
                  target: list[int], reg_init: list[int] | None = None, budget: int = 0,
                  reward_scale: float = 1.0, prune: bool = True) -> SearchResult:
    """Best-first search guided by `network` (a DuelingQNetwork or a PolicyValueNetwork)."""
    problem = _Problem(machine, target, reg_init)

    @torch.no_grad()
    def scores(actions: list[int], registers: np.ndarray) -> np.ndarray:
        output = network(*observation_tensors(problem.observation(actions, registers), torch.device("cpu")))
        if isinstance(output, tuple):  # a policy: log-probabilities
            return torch.log_softmax(output[0], dim=1)[0].numpy()
        return output[0].numpy()

    is_policy = isinstance(network(*observation_tensors(problem.observation([], problem.start), "cpu")), tuple)
    return _best_first(problem, scores, is_policy, reward, budget, reward_scale, prune)


def reward_first_search(machine: MachineConfig, reward: Specific_register_values, target: list[int],
                        reg_init: list[int] | None = None, budget: int = 0, prune: bool = True) -> SearchResult:
    """The same best-first search with no network: each child scored by the reward its instruction
    earns (its distance to the target), so the priority is the return so far. An ablation: what guided
    search owes to the network rather than to the search and its prunings."""
    problem = _Problem(machine, target, reg_init)

    def scores(actions: list[int], registers: np.ndarray) -> np.ndarray:
        gain = reward.distance(registers, problem.target) - reward.distance(problem.children(registers), problem.target)
        return np.append(gain.astype(np.float64), -np.inf)  # stop: never the greedy choice

    return _best_first(problem, scores, False, reward, budget, 1.0, prune)


def _best_first(problem: _Problem, scores, is_policy: bool, reward: Specific_register_values, budget: int,
                reward_scale: float, prune: bool) -> SearchResult:
    """Greedy program first, then best-first expansions; `scores(actions, registers)` gives every
    action's Q-value (or log-probability when `is_policy`) at a node."""
    max_length = problem.machine.max_length
    if (problem.start == problem.target).all():
        return SearchResult([], 0)
    queue: list = []
    counter = itertools.count()
    expanded: set[tuple[int, ...]] = set()
    shallowest: dict[bytes, int] = {problem.start.tobytes(): 0}  # register state -> shortest prefix length

    def worth_queueing(after: np.ndarray, order: np.ndarray, length: int) -> np.ndarray:
        """The children (in `order`) that can still finish and reach a register state first."""
        order = order[problem.can_finish(after[order], max_length - length)]
        keep = []
        for child in order:
            key = after[child].tobytes()
            if shallowest.get(key, max_length + 1) > length:
                shallowest[key] = length
                keep.append(child)
        return np.asarray(keep, dtype=np.int64)

    def expand(actions: list[int], registers: np.ndarray, value: float) -> tuple[np.ndarray, np.ndarray]:
        """Score the children of a node and queue its best child; `value` is the node's return gathered
        so far (Q-network) or its log-probability (policy), so priority = value + Q(s, a) or + log π(a|s)."""
        expanded.add(tuple(actions))
        node_scores = scores(actions, registers)
        after = problem.children(registers)
        priority = value + node_scores[problem.instructions]
        order = np.argsort(-priority, kind="stable")
        if prune:
            order = worth_queueing(after, order, len(actions) + 1)
        if len(order):
            entry = (actions, registers, after, priority, order, value)
            heapq.heappush(queue, (-priority[order[0]], next(counter), entry, 0))
        return node_scores, after

    # The greedy program first: it is what the policy writes, and its nodes are queued on the way.
    actions, registers, value = [], problem.start, 0.0
    greedy_nodes = []
    for _ in range(max_length):
        node_scores, after = expand(actions, registers, value)
        greedy_nodes.append((actions, after))
        choice = int(np.argmax(node_scores))
        if choice == problem.table.stop_action:
            break
        value = _child_value(is_policy, value, node_scores, choice, registers, after[choice], problem, reward,
                             reward_scale)
        actions, registers = actions + [choice], after[choice]
        if (registers == problem.target).all():
            return SearchResult(problem.program(actions), 0)
    if budget > 0:
        # The children of the greedy nodes were generated on the way; checking them is the first expansion.
        for node_actions, after in greedy_nodes:
            hit = problem.solved_by(after)
            if hit is not None:
                return SearchResult(problem.program(node_actions + [int(problem.instructions[hit])]), 1)
    expansions = 0
    while queue and expansions < budget:
        _, _, (parent_actions, parent_registers, after, priority, order, gathered), rank = heapq.heappop(queue)
        if rank + 1 < len(order):  # the next sibling takes this one's place in the queue
            heapq.heappush(queue, (-priority[order[rank + 1]], next(counter),
                                   (parent_actions, parent_registers, after, priority, order, gathered), rank + 1))
        child = int(order[rank])
        child_actions, child_registers = parent_actions + [int(problem.instructions[child])], after[child]
        if (child_registers == problem.target).all():
            return SearchResult(problem.program(child_actions), expansions)
        if len(child_actions) >= max_length or tuple(child_actions) in expanded:
            continue
        if prune and shallowest[child_registers.tobytes()] < len(child_actions):
            continue  # a shorter prefix reached these registers since this child was queued
        child_value = priority[child] if is_policy else gathered + _scaled_step(
            reward, parent_registers, child_registers, problem, reward_scale)  # log π sums, or returns
        expansions += 1
        _, child_after = expand(child_actions, child_registers, float(child_value))
        hit = problem.solved_by(child_after)
        if hit is not None:
            return SearchResult(problem.program(child_actions + [int(problem.instructions[hit])]), expansions)
    return SearchResult(None, expansions)


def _scaled_step(reward: Specific_register_values, before: np.ndarray, after: np.ndarray, problem: _Problem,
                 scale: float) -> float:
    return float(reward.distance(before, problem.target) - reward.distance(after, problem.target)) * scale


def _child_value(is_policy: bool, value: float, node_scores: np.ndarray, choice: int, before: np.ndarray,
                 after: np.ndarray, problem: _Problem, reward: Specific_register_values, scale: float) -> float:
    if is_policy:
        return value + float(node_scores[choice])
    return value + _scaled_step(reward, before, after, problem, scale)


def random_search(machine: MachineConfig, target: list[int], reg_init: list[int] | None = None,
                  budget: int = 0, rng: np.random.Generator | None = None) -> SearchResult:
    """Expand `budget` random partial programs (random length, random instructions)."""
    problem = _Problem(machine, target, reg_init)
    rng = rng or np.random.default_rng(0)
    if (problem.start == problem.target).all():
        return SearchResult([], 0)
    for expansion in range(1, budget + 1):
        length = int(rng.integers(0, machine.max_length))
        actions = [int(a) for a in rng.integers(0, problem.table.stop_action, size=length)]
        registers = problem.start.copy()
        for depth, action in enumerate(actions):
            registers = problem.children(registers)[action]
            if (registers == problem.target).all():
                return SearchResult(problem.program(actions[:depth + 1]), expansion)
        hit = problem.solved_by(problem.children(registers))
        if hit is not None:
            return SearchResult(problem.program(actions + [int(problem.instructions[hit])]), expansion)
    return SearchResult(None, budget)


def beam_search(machine: MachineConfig, reward: Specific_register_values, target: list[int],
                reg_init: list[int] | None = None, budget: int = 0) -> SearchResult:
    """Beam search on the reward alone: a beam of budget // MAX_LENGTH partial programs, kept by their
    distance to the target, each depth expanding every member."""
    problem = _Problem(machine, target, reg_init)
    width = max(1, budget // machine.max_length)
    if (problem.start == problem.target).all():
        return SearchResult([], 0)
    beam = [([], problem.start)]
    expansions = 0
    for _ in range(machine.max_length):
        candidates = []
        for actions, registers in beam:
            if expansions >= budget:
                break
            expansions += 1
            after = problem.children(registers)
            hit = problem.solved_by(after)
            if hit is not None:
                return SearchResult(problem.program(actions + [int(problem.instructions[hit])]), expansions)
            distance = reward.distance(after, problem.target)
            for child in np.argsort(distance, kind="stable")[:width]:
                candidates.append((int(distance[child]), actions + [int(problem.instructions[child])], after[child]))
        if not candidates:
            break
        candidates.sort(key=lambda c: c[0])
        beam = [(actions, registers) for _, actions, registers in candidates[:width]]
    return SearchResult(None, expansions)
