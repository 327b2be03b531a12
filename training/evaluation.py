"""Evaluation of a policy on a set of tasks (greedy, or the programs guided search finds), and the
`NNNNNNN_Evaluation` log files (docs/training.md, "Outputs")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.passes import in_chunks, rows_per_pass
from environment import Specific_register_values
from environment.function_tasks import FunctionBatch
from environment.vector_env import same_step_env
from synthesis.search import check_stop
from toycorewar import ActionTable, MachineConfig
from training.files import write_atomic

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass
class TaskResult:
    target: list[int]
    reg_init: list[int]
    instructions: list[str] = field(default_factory=list)
    registers: list[list[int]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    performance: int = 0
    # A function task's (docs/reference.md §10): what it asks (an expression, or its examples), the
    # examples shown, and whether the program computes the function on every input (decided exactly).
    function: str | None = None
    examples: str | None = None
    correct: bool | None = None

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def solved(self) -> bool:
        """The target reached; on a function task, the function computed on every input (not only on
        the examples shown)."""
        return self.performance == 0 and self.correct is not False


@dataclass
class Evaluation:
    episode: int
    tasks: list[TaskResult]

    @property
    def mean_performance(self) -> float:
        return float(np.mean([t.performance for t in self.tasks]))

    @property
    def mean_reward(self) -> float:
        return float(np.mean([t.total_reward for t in self.tasks]))

    @property
    def solved_fraction(self) -> float:
        return float(np.mean([t.solved for t in self.tasks]))


@dataclass(frozen=True)
class Pacing:
    """How an evaluation goes through its tasks: at most `rows(observation)` of them a call of the policy
    (None: all at once; agents/passes.py bounds it by bytes), and `should_stop`, asked between calls and
    between searches (a stop asked for raises StopRequested, synthesis/search.py: the evaluation is dropped)."""

    rows: Callable[[dict[str, np.ndarray]], int] | None = None
    should_stop: Callable[[], bool] | None = None


def evaluate(policy: Policy, machine: MachineConfig, reward: Specific_register_values,
             targets: np.ndarray, reg_inits: np.ndarray, episode: int = 0, pacing: Pacing = Pacing()) -> Evaluation:
    """Run `policy` (observations -> actions) greedily once on every (target, reg_init) pair, all at once."""
    count = len(targets)
    env = same_step_env(count, machine, reward)
    obs, _ = env.reset(seed=0, options={"target": targets, "reg_init": reg_inits})
    return Evaluation(episode, roll_out(policy, env, obs, lambda: [
        TaskResult(target, reg_init) for target, reg_init in zip(targets.tolist(), reg_inits.tolist(), strict=True)],
        pacing))


def roll_out(policy: Policy, env: Any, obs: dict[str, np.ndarray], make_results: Callable[[], list[TaskResult]],
             pacing: Pacing = Pacing()) -> list[TaskResult]:
    """Play `policy` on every copy of `env` (just reset to `obs`) until each episode ends, then write each
    copy's program, registers, rewards and performance (and, on a function task, `correct`) into its result
    (`make_results()`, one per copy, made only then). The policy sees the copies whose episode goes on,
    with their indices under "task", `pacing.rows` at most at a time; a copy whose episode has ended stops
    (the environment restarts it, and nothing of it is recorded)."""
    active = np.ones(env.num_envs, dtype=bool)
    steps = []  # per step, the rows still writing, and what each wrote and got: kept as arrays, recorded at the end
    while active.any():
        check_stop(pacing.should_stop)
        rows = np.flatnonzero(active)
        actions = np.full(env.num_envs, env.table.stop_action, dtype=np.int64)
        observed = {**{name: value[rows] for name, value in obs.items()}, "task": rows}
        size = len(rows) if pacing.rows is None or len(rows) <= 4 else pacing.rows(observed)
        actions[rows] = in_chunks(observed, lambda part: np.asarray(policy(part)), size, pacing.should_stop)
        obs, rewards, terminated, _, info = env.step(actions)
        ended = terminated[rows]
        steps.append((rows, actions[rows], info["registers"][rows], rewards[rows], ended, info["performance"][rows],
                      info["correct"][rows] if "correct" in info else None))
        active &= ~terminated
    check_stop(pacing.should_stop)
    results = make_results()
    names = [str(instruction) for instruction in env.table.instructions]
    for rows, written, registers, rewarded, ended, performance, correct in steps:
        check_stop(pacing.should_stop)
        for i, action, after, reward in zip(rows.tolist(), written.tolist(), registers.tolist(), rewarded.tolist(),
                                            strict=True):
            result = results[i]
            result.instructions.append(names[action])
            result.registers.append(after)
            result.rewards.append(reward)
        for k in np.flatnonzero(ended).tolist():
            results[rows[k]].performance = int(performance[k])
            if correct is not None:
                results[rows[k]].correct = bool(correct[k])
    return results


class FixedFunctionTasks:
    """A function task source that hands out the rows of one batch in turn: evaluation's tasks, copy i
    taking task i at the seeded reset."""

    def __init__(self, batch: FunctionBatch) -> None:
        self.batch, self.num_examples, self.given = batch, batch.inputs.shape[1], 0

    def __call__(self, count: int, rng: np.random.Generator) -> FunctionBatch:
        index = (self.given + np.arange(count)) % len(self.batch.offset)
        self.given += count
        return FunctionBatch(*(array[index] for array in self.batch))


def describe_functions(batch: FunctionBatch) -> list[tuple[str, str]]:
    """Each task of a batch as (what it asks, the examples it shows), in the task syntax."""
    described = []
    for i in range(len(batch.offset)):
        examples, function = str(batch.examples(i)), batch.function(i)
        described.append((f"examples {examples}" if function is None else str(function), examples))
    return described


def evaluate_functions(policy: Policy, machine: MachineConfig, reward: Specific_register_values,
                       tasks: FunctionBatch, episode: int = 0, pacing: Pacing = Pacing()) -> Evaluation:
    """Run `policy` greedily once on every function task of `tasks`, all at once; each result says
    whether the program met the examples shown (performance 0) and computes the function on every
    input (`correct`)."""
    count = len(tasks.offset)
    env = same_step_env(count, machine, reward, function_tasks=FixedFunctionTasks(tasks))
    obs, _ = env.reset(seed=0)
    return Evaluation(episode, roll_out(policy, env, obs, lambda: [
        TaskResult([], [], function=asked, examples=shown) for asked, shown in describe_functions(tasks)], pacing))


def search_policy(network: torch.nn.Module, machine: MachineConfig, reward: Specific_register_values,
                  targets: np.ndarray, reg_inits: np.ndarray, budget: int, reward_scale: float = 1.0,
                  device: torch.device | str = "cpu", should_stop: Callable[[], bool] | None = None) -> Policy:
    """A policy for `evaluate` that writes, for each task, the program guided tree search finds with
    `budget` expansions (then stop), or the greedy program when the search finds none. `should_stop` is
    asked during each search (StopRequested ends them all)."""
    from agents.networks import greedy_policy, network_scorer
    from synthesis.search import guided_search
    scorer = network_scorer(network, machine, device)  # the network's device, for the search as for greedy
    plans = []
    for target, reg_init in zip(targets, reg_inits, strict=True):
        check_stop(should_stop)
        plans.append(guided_search(scorer, machine, reward, target.tolist(), reg_init.tolist(), budget, reward_scale,
                                   should_stop=should_stop).program)
    return planned_policy(greedy_policy(network, device), plans, ActionTable(machine))


def format_evaluation(evaluation: Evaluation, elapsed: float | None = None) -> str:
    """The text of an evaluation log: each task's program with the registers and reward after each
    instruction, its total reward and performance; then the means."""
    lines = [f"Evaluation at episode {evaluation.episode}"]
    if elapsed is not None:
        lines.append(f"Elapsed time: {elapsed:.1f} s")
    for number, task in enumerate(evaluation.tasks, start=1):
        if task.function is not None:
            lines += ["", f"Task {number}: {task.function}", f"    examples shown {task.examples}"]
        else:
            lines += ["", f"Task {number}: target {task.target}, initial registers {task.reg_init}"]
        for instruction, registers, reward in zip(task.instructions, task.registers, task.rewards, strict=True):
            lines.append(f"    {instruction:<18} registers {registers}  reward {reward:g}")
        verdict = " (solved)" if task.solved else ""
        if task.correct is not None:
            verdict = (" (correct on every input)" if task.correct else
                       " (meets the examples, wrong on some input)" if task.performance == 0 else "")
        lines.append(f"    total reward {task.total_reward:g}, performance {task.performance}{verdict}")
    lines += ["", f"Mean performance: {evaluation.mean_performance:g}",
              f"Mean reward: {evaluation.mean_reward:g}",
              f"Solved: {sum(t.solved for t in evaluation.tasks)}/{len(evaluation.tasks)}", ""]
    return "\n".join(lines)


def write_evaluation_log(folder: Path, evaluation: Evaluation, elapsed: float | None = None) -> Path:
    path = folder / f"{evaluation.episode:07d}_Evaluation"
    write_atomic(path, format_evaluation(evaluation, elapsed))
    return path


def function_search_policy(network: torch.nn.Module, machine: MachineConfig, reward: Specific_register_values,
                           tasks: FunctionBatch, budget: int, reward_scale: float = 1.0,
                           device: torch.device | str = "cpu", should_stop: Callable[[], bool] | None = None) -> Policy:
    """`search_policy` for function tasks: for each task, the program guided search finds with `budget`
    expansions on the examples shown, checked on every input (synthesis/search.py), or the greedy one."""
    from agents.networks import greedy_policy, network_scorer
    from synthesis.search import FunctionTask, guided_search
    scorer = network_scorer(network, machine, device)
    plans = []
    for i in range(len(tasks.offset)):
        check_stop(should_stop)
        plans.append(guided_search(scorer, machine, reward, FunctionTask(tasks.examples(i), tasks.function(i)), None,
                                   budget, reward_scale, should_stop=should_stop).program)
    return planned_policy(greedy_policy(network, device), plans, ActionTable(machine))


def planned_policy(greedy: Policy, plans: list, table: ActionTable) -> Policy:
    """The policy that writes each task's planned program (then stop), or the greedy one where none."""
    from synthesis.search import plan_action

    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        """The actions of the tasks obs["task"] (roll_out's indices; every task, in order, without them),
        each at the step its program has reached (its instructions written so far)."""
        actions = greedy(obs)
        written = (obs["program"] != table.num_actions).sum(axis=1)
        for row, task in enumerate(obs.get("task", range(len(plans)))):
            if plans[task] is not None:
                actions[row] = plan_action(table, plans[task], int(written[row]))
        return actions

    return policy


class Evaluator:
    """Evaluates an agent on its run's evaluation tasks: greedily, or, with a search budget, with the
    programs guided search finds (on the run's device)."""

    def __init__(self, agent: Any, machine: MachineConfig, reward: Specific_register_values, targets: np.ndarray,
                 reg_inits: np.ndarray, search_budget: int = 0, reward_scale: float = 1.0,
                 device: torch.device | str = "cpu", functions: FunctionBatch | None = None) -> None:
        self.agent, self.machine, self.reward = agent, machine, reward
        self.targets, self.reg_inits, self.functions = targets, reg_inits, functions
        self.search_budget, self.reward_scale, self.device = search_budget, reward_scale, device

    def __call__(self, episode: int, should_stop: Callable[[], bool] | None = None) -> Evaluation:
        """The evaluation at `episode`; `should_stop` is asked as it goes (StopRequested: dropped whole)."""
        policy: Policy = self.agent.greedy_actions
        network = getattr(self.agent, "network", None)
        # As many tasks a call as a pass of the agent's network may take (agents/passes.py).
        pacing = Pacing(None if network is None else lambda obs: rows_per_pass(network, obs, self.device),
                        should_stop)
        if self.functions is not None:
            if self.search_budget:
                policy = function_search_policy(network, self.machine, self.reward, self.functions,
                                                self.search_budget, self.reward_scale, self.device, should_stop)
            return evaluate_functions(policy, self.machine, self.reward, self.functions, episode, pacing)
        if self.search_budget:
            policy = search_policy(network, self.machine, self.reward, self.targets, self.reg_inits,
                                   self.search_budget, self.reward_scale, self.device, should_stop)
        return evaluate(policy, self.machine, self.reward, self.targets, self.reg_inits, episode, pacing)

