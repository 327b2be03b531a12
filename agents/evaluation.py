"""Greedy evaluation of a policy on a set of tasks, and the `NNNNNNN_Evaluation` log files (SPEC §8)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from environment import ToyCorewarVectorEnv, make_reward
from toycorewar import ActionTable, MachineConfig

Policy = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass
class TaskResult:
    target: list[int]
    reg_init: list[int]
    instructions: list[str] = field(default_factory=list)
    registers: list[list[int]] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    performance: int = 0

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def solved(self) -> bool:
        return self.performance == 0


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


def evaluate(policy: Policy, machine: MachineConfig, reward_func: str, reward_settings: dict,
             targets: np.ndarray, reg_inits: np.ndarray, episode: int = 0) -> Evaluation:
    """Run `policy` (observations -> actions) greedily once on every (target, reg_init) pair, all at once."""
    count = len(targets)
    settings = make_reward(reward_func, reward_settings).settings
    env = ToyCorewarVectorEnv(count, max_length=machine.max_length, num_registers=machine.num_registers,
                              n_vals=machine.n_vals, reward_func=reward_func, autoreset_mode="SameStep", **settings)
    obs, _ = env.reset(seed=0, options={"target": targets, "reg_init": reg_inits})
    results = [TaskResult(t.tolist(), r.tolist()) for t, r in zip(targets, reg_inits, strict=True)]
    active = np.ones(count, dtype=bool)
    while active.any():
        actions = np.asarray(policy(obs))
        obs, rewards, terminated, _, info = env.step(actions)
        for i in np.flatnonzero(active):
            results[i].instructions.append(str(env.table.instructions[actions[i]]))
            results[i].registers.append(info["registers"][i].tolist())
            results[i].rewards.append(float(rewards[i]))
            if terminated[i]:
                results[i].performance = int(info["performance"][i])
        active &= ~terminated
    return Evaluation(episode, results)


def search_policy(network: torch.nn.Module, machine: MachineConfig, reward_func: str, reward_settings: dict,
                  targets: np.ndarray, reg_inits: np.ndarray, budget: int, reward_scale: float = 1.0) -> Policy:
    """A policy for `evaluate` that writes, for each task, the program guided tree search finds with
    `budget` expansions (then stop), or the greedy program when the search finds none."""
    from agents.networks import greedy_policy
    from agents.tree_search import guided_search
    reward = make_reward(reward_func, reward_settings)
    greedy = greedy_policy(network)
    plans = []
    for target, reg_init in zip(targets, reg_inits, strict=True):
        found = guided_search(network, machine, reward, target.tolist(), reg_init.tolist(), budget, reward_scale)
        plans.append(None if found.program is None else found.program)
    table = ActionTable(machine)
    step = {"index": 0}

    def policy(obs: dict[str, np.ndarray]) -> np.ndarray:
        actions = greedy(obs)
        k = step["index"]
        for i, plan in enumerate(plans):
            if plan is not None:
                actions[i] = table.encode_instruction(plan[k]) if k < len(plan) else table.stop_action
        step["index"] += 1
        return actions

    return policy


def format_evaluation(evaluation: Evaluation, elapsed: float | None = None) -> str:
    """The text of an evaluation log: each task's program with the registers and reward after each
    instruction, its total reward and performance; then the means."""
    lines = [f"Evaluation at episode {evaluation.episode}"]
    if elapsed is not None:
        lines.append(f"Elapsed time: {elapsed:.1f} s")
    for number, task in enumerate(evaluation.tasks, start=1):
        lines += ["", f"Task {number}: target {task.target}, initial registers {task.reg_init}"]
        for instruction, registers, reward in zip(task.instructions, task.registers, task.rewards, strict=True):
            lines.append(f"    {instruction:<18} registers {registers}  reward {reward:g}")
        lines.append(f"    total reward {task.total_reward:g}, performance {task.performance}"
                     f"{' (solved)' if task.solved else ''}")
    lines += ["", f"Mean performance: {evaluation.mean_performance:g}",
              f"Mean reward: {evaluation.mean_reward:g}",
              f"Solved: {sum(t.solved for t in evaluation.tasks)}/{len(evaluation.tasks)}", ""]
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def write_evaluation_log(folder: Path, evaluation: Evaluation, elapsed: float | None = None) -> Path:
    path = folder / f"{evaluation.episode:07d}_Evaluation"
    write_atomic(path, format_evaluation(evaluation, elapsed))
    return path
