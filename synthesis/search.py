"""Search over programs: RL-guided best-first search, and the baselines random search and beam search.

The unit of budget is the *expansion*: one partial program whose one-instruction extensions are all
generated (on the batched machine) and checked against the task. Every search returns the first
program found that solves the task (stop not included), or None.

A task is a constant target (registers to reach from `reg_init`) or a `FunctionTask` (docs/reference.md
§10; its states are in synthesis/search_problem.py): input-output examples, shown to the scorer and the
reward, and optionally the `Function` they come from. A node's state is then the registers of every
example, [E, R], each instruction run on all of them at once. With a `Function`, the state also holds
the runs on its probes (zeros and each unit input), which decide what the program computes on every
input: so a program that meets the examples but is wrong on some input is never returned (the search
goes on), and the prunings below stay sound for correctness. Every result says whether its program is
`correct` (None for a constant target).

Guided search (after "Program Synthesis Through Reinforcement Learning Guided Tree Search",
arXiv 1806.02932): first the greedy program, whose prefixes are expanded for free, since the policy
computes them anyway (so a budget of 0 is the greedy policy); then, best first, the most promising
partial programs. The search is guided by a `Scorer`, which needs no agent or network type: for
action values (a Q-network, or the reward itself in `reward_first_search`) a child's priority is the
return gathered so far, with the run's own reward, plus Q(s, a) (the estimated return of the whole
program); for log-probabilities (a policy), the sum of log-probabilities of its actions. Children
enter the queue lazily, best sibling first, so an expansion costs one scorer call and a few heap
operations. Two sound prunings keep the queue to prefixes that can still succeed, as in the
exact synthesizer: a child with more wrong registers (a register that matters and is wrong in any run)
than instructions left after it is never queued (each instruction writes one register, in every run),
and a state is searched once, from the shortest prefix that reached it (the machine's future depends on
the registers alone). `prune=False` turns them off, to measure what they contribute.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Literal, Protocol

import numpy as np

from environment.rewards import Specific_register_values
from synthesis.search_problem import FunctionTask, SearchProblem, SearchResult, children, step_reward
from toycorewar import ActionTable, Instruction, MachineConfig

__all__ = ["FunctionTask", "RewardScorer", "Scorer", "SearchResult", "StopRequested", "beam_search", "guided_search",
           "plan_action", "random_search", "reward_first_search"]

CHECK_EVERY = 16  # expansions between two looks at `should_stop`: a few milliseconds of search


class StopRequested(Exception):  # noqa: N818 (a request, like KeyboardInterrupt, not an error)
    """A stop (Ctrl-C, SIGTERM) asked for in the middle of work that is then dropped whole: a search, an
    evaluation, a round of expert iteration. Whoever started the work ends as if it had not begun, so
    that the checkpoint written next resumes exactly (docs/guarantees.md)."""


def check_stop(should_stop: Callable[[], bool] | None) -> None:
    """Raise StopRequested when `should_stop` says so (None: never)."""
    if should_stop is not None and should_stop():
        raise StopRequested


class Scorer(Protocol):
    """What guides best-first search: a score for every action at a node.

    `kind` "q": action values, the estimated return of the whole program from here, in the units of
    the reward times `reward_scale` (a DQN's Q-network; the reward itself, for `reward_first_search`);
    "policy": log-probabilities (an actor's policy). A network becomes one with
    agents.networks.network_scorer; the search itself needs no agent or network. On a constant target
    it is called with registers and target [R] and no `matters`; on a function task with registers,
    target and matters (int8) [E, R]. `instruction_cost`: what the Q-values charge for each instruction
    (units of distance, docs/shortest_programs.md), charged by the search to the returns it gathers.
    """

    kind: Literal["q", "policy"]
    instruction_cost: float

    def scores(self, actions: list[int], registers: np.ndarray, target: np.ndarray,
               matters: np.ndarray | None = None) -> np.ndarray:
        """[NUM_ACTIONS] scores at the node reached by `actions` (registers after them), stop last."""
        ...


def plan_action(table: ActionTable, program: list[Instruction], step: int) -> int:
    """The action of step `step` (from 0) when writing `program` then stop: how a found program is replayed."""
    return table.encode_instruction(program[step]) if step < len(program) else table.stop_action


def guided_search(scorer: Scorer, machine: MachineConfig, reward: Specific_register_values,
                  target: list[int] | FunctionTask, reg_init: list[int] | None = None, budget: int = 0,
                  reward_scale: float = 1.0, prune: bool = True,
                  should_stop: Callable[[], bool] | None = None) -> SearchResult:
    """Best-first search guided by `scorer` for a constant `target` (from `reg_init`) or a FunctionTask;
    returns are gathered with `reward` (the run's, scaled by `reward_scale` as in training, over every
    example and register that matters), so they add up in the units of the scorer's Q-values.
    `should_stop` is asked every CHECK_EVERY expansions; when it answers True the search raises
    StopRequested."""
    return _best_first(SearchProblem(machine, target, reg_init), scorer, reward, budget, reward_scale, prune,
                       should_stop)


class RewardScorer:
    """The reward as a scorer: each instruction scored by the (unscaled) reward it earns, as a Q-value
    that expects nothing after it; stop scores −inf, so the greedy program never stops early."""

    kind: Literal["q", "policy"] = "q"
    instruction_cost: float = 0.0

    def __init__(self, machine: MachineConfig, reward: Specific_register_values) -> None:
        self.table, self.max_length, self.reward = ActionTable(machine), machine.max_length, reward

    def scores(self, actions: list[int], registers: np.ndarray, target: np.ndarray,
               matters: np.ndarray | None = None) -> np.ndarray:
        after = children(self.table, registers)
        return np.append(step_reward(self.reward, registers, after, target, matters, len(actions) + 1,
                                     self.max_length), -np.inf)


def reward_first_search(machine: MachineConfig, reward: Specific_register_values, target: list[int] | FunctionTask,
                        reg_init: list[int] | None = None, budget: int = 0, prune: bool = True) -> SearchResult:
    """The same best-first search with no network: the reward is the scorer, so a child's priority is
    the return of its program. An ablation: what guided search owes to the network rather than to the
    search and its prunings."""
    problem = SearchProblem(machine, target, reg_init)
    return _best_first(problem, RewardScorer(machine, reward), reward, budget, 1.0, prune)


def _best_first(problem: SearchProblem, scorer: Scorer, reward: Specific_register_values, budget: int,
                reward_scale: float, prune: bool, should_stop: Callable[[], bool] | None = None) -> SearchResult:
    """Greedy program first, then best-first expansions, ranked by `scorer`."""
    is_policy = scorer.kind == "policy"
    cost = getattr(scorer, "instruction_cost", 0.0)  # scorers written before it charge nothing
    max_length = problem.machine.max_length
    if problem.solves(problem.start):
        return problem.found([], 0)
    queue: list = []
    counter = itertools.count()
    expanded: set[tuple[int, ...]] = set()
    shallowest: dict[bytes, int] = {problem.start.tobytes(): 0}  # state -> shortest prefix length

    def worth_queueing(after: np.ndarray, order: np.ndarray, length: int) -> np.ndarray:
        """The children (in `order`) that can still finish and reach a state first."""
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
        node_scores = scorer.scores(actions, *problem.scorer_inputs(registers))
        after = problem.children(registers)
        priority = value + node_scores[problem.instructions]
        order = np.argsort(-priority, kind="stable")
        if prune:
            order = worth_queueing(after, order, len(actions) + 1)
        if len(order):
            entry = (actions, registers, after, priority, order, value)
            heapq.heappush(queue, (-priority[order[0]], next(counter), entry, 0))
        return node_scores, after

    def scaled_step(before: np.ndarray, after: np.ndarray, length: int) -> float:
        """An instruction's reward as the scorer's Q-values count it: less its cost, times reward_scale."""
        return (float(problem.step_reward(reward, before, after, length)) - cost) * reward_scale

    # The greedy program first: it is what the policy writes, and its nodes are queued on the way.
    actions, registers, value = [], problem.start, 0.0
    greedy_nodes = []
    for _ in range(max_length):
        node_scores, after = expand(actions, registers, value)
        greedy_nodes.append((actions, after))
        choice = int(np.argmax(node_scores))
        if choice == problem.table.stop_action:
            break
        value += float(node_scores[choice]) if is_policy else scaled_step(registers, after[choice], len(actions) + 1)
        actions, registers = actions + [choice], after[choice]
        if problem.solves(registers):
            return problem.found(actions, 0)
    if budget > 0:
        # The children of the greedy nodes were generated on the way; checking them is the first expansion.
        for node_actions, after in greedy_nodes:
            hit = problem.solved_by(after)
            if hit is not None:
                return problem.found(node_actions + [int(problem.instructions[hit])], 1)
    expansions = 0
    while queue and expansions < budget:
        _, _, (parent_actions, parent_registers, after, priority, order, gathered), rank = heapq.heappop(queue)
        if rank + 1 < len(order):  # the next sibling takes this one's place in the queue
            heapq.heappush(queue, (-priority[order[rank + 1]], next(counter),
                                   (parent_actions, parent_registers, after, priority, order, gathered), rank + 1))
        child = int(order[rank])
        child_actions, child_registers = parent_actions + [int(problem.instructions[child])], after[child]
        if problem.solves(child_registers):
            return problem.found(child_actions, expansions)
        if len(child_actions) >= max_length or tuple(child_actions) in expanded:
            continue
        if prune and shallowest[child_registers.tobytes()] < len(child_actions):
            continue  # a shorter prefix reached this state since this child was queued
        child_value = priority[child] if is_policy else gathered + scaled_step(
            parent_registers, child_registers, len(child_actions))  # log π, or returns
        expansions += 1
        if expansions % CHECK_EVERY == 0:
            check_stop(should_stop)
        _, child_after = expand(child_actions, child_registers, float(child_value))
        hit = problem.solved_by(child_after)
        if hit is not None:
            return problem.found(child_actions + [int(problem.instructions[hit])], expansions)
    return problem.not_found(expansions)


def random_search(machine: MachineConfig, target: list[int] | FunctionTask, reg_init: list[int] | None = None,
                  budget: int = 0, rng: np.random.Generator | None = None) -> SearchResult:
    """Expand `budget` random partial programs (random length, random instructions)."""
    problem = SearchProblem(machine, target, reg_init)
    rng = rng or np.random.default_rng(0)
    if problem.solves(problem.start):
        return problem.found([], 0)
    for expansion in range(1, budget + 1):
        length = int(rng.integers(0, machine.max_length))
        actions = [int(a) for a in rng.integers(0, problem.table.stop_action, size=length)]
        registers = problem.start.copy()
        for depth, action in enumerate(actions):
            registers = problem.children(registers)[action]
            if problem.solves(registers):
                return problem.found(actions[:depth + 1], expansion)
        hit = problem.solved_by(problem.children(registers))
        if hit is not None:
            return problem.found(actions + [int(problem.instructions[hit])], expansion)
    return problem.not_found(budget)


def beam_search(machine: MachineConfig, reward: Specific_register_values, target: list[int] | FunctionTask,
                reg_init: list[int] | None = None, budget: int = 0) -> SearchResult:
    """Beam search on the reward alone: a beam of budget // MAX_LENGTH partial programs, kept by their
    distance to the target (over the examples, on a function task), each depth expanding every member."""
    problem = SearchProblem(machine, target, reg_init)
    width = max(1, budget // machine.max_length)
    if problem.solves(problem.start):
        return problem.found([], 0)
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
                return problem.found(actions + [int(problem.instructions[hit])], expansions)
            distance = problem.distance(reward, after)
            for child in np.argsort(distance, kind="stable")[:width]:
                candidates.append((int(distance[child]), actions + [int(problem.instructions[child])], after[child]))
        if not candidates:
            break
        candidates.sort(key=lambda c: c[0])
        beam = [(actions, registers) for _, actions, registers in candidates[:width]]
    return problem.not_found(expansions)

