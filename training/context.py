"""A run's context: its validated run and configuration, its folders, its seed, the device it trains
on, the tasks it trains on and the held-out tasks it is evaluated on (docs/synthesis.md, "Solvable targets":
for `{"solvable": L, "held_out": "tiers"}` the targets of each optimal length, synthesis/tiers.py).
Built once per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.base import AgentSetup
from environment import ScheduledTasks, TaskSchedule, heldout_targets, make_reward, schedule_from_spec
from environment.function_tasks import (
    ExamplesTasks,
    FunctionBatch,
    FunctionTasks,
    FunctionTaskSource,
    RandomFunctions,
    examples_batch,
    functions_batch,
    heldout_random_functions,
)
from environment.rewards import Specific_register_values
from environment.tasks import (
    CustomTasks,
    function_schedule_from_spec,
    heldout_solvable_targets,
    is_custom_spec,
    is_function_spec,
)
from synthesis.tiers import tier_tasks
from toycorewar import MachineConfig
from training.config import Config, Run


def select_device(name: str) -> torch.device:
    """The torch device of DEVICE (cpu, cuda or auto); cuda without a CUDA device is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("DEVICE is 'cuda' but no CUDA device is available (use 'cpu' or 'auto')")
    return torch.device(name)


@dataclass
class RunContext:
    """Everything the harness knows about a run, decided once from the validated files: the device is
    chosen here and used by training, evaluation and search alike."""

    run: Run
    config: Config
    run_dir: Path
    tensorboard_dir: Path
    seed: int = 0
    quiet: bool = True
    position: int = 0
    resume: bool = False
    machine: MachineConfig = field(init=False)
    device: torch.device = field(init=False)
    reward: Specific_register_values = field(init=False)
    tasks: ScheduledTasks | CustomTasks = field(init=False)
    eval_targets: np.ndarray = field(init=False)
    eval_reg_inits: np.ndarray = field(init=False)
    eval_tiers: np.ndarray | None = field(init=False, default=None)  # each task's optimal length (held-out tiers)
    # A function task's (docs/reference.md §10): the examples an episode shows, and the evaluation tasks.
    examples: int = field(init=False, default=0)
    eval_functions: FunctionBatch | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.machine = self.config.machine
        self.device = select_device(self.config.settings.DEVICE)
        self.reward = make_reward(self.run.reward_func, self.run.reward_settings)
        if is_function_spec(self.run.targets):
            self._function_tasks()
            return
        r, episodes = self.machine.num_registers, self.run.episodes
        seeds = np.random.SeedSequence(self.seed).spawn(2)
        settings = self.config.settings
        if is_custom_spec(self.run.targets):  # a task source of your own: its tasks and its held-out ones
            self.tasks = CustomTasks(self.run.targets, "targets", self.machine, episodes,
                                     np.random.default_rng(seeds[0]))
            self.eval_targets, self.eval_reg_inits = self.tasks.heldout(settings.EVAL_TARGETS, settings.EVAL_SEED)
            return
        targets = schedule_from_spec(self.run.targets, "targets", r, episodes, np.random.default_rng(seeds[0]),
                                     "random", self.machine)
        reg_inits = schedule_from_spec(self.run.reg_inits, "reg_inits", r, episodes,
                                       np.random.default_rng(seeds[1]), "zeros", self.machine)
        eval_inits = reg_inits.distinct_values()
        if eval_inits is None:  # random initial registers: held out too, from the next seed
            eval_inits = heldout_targets(settings.EVAL_TARGETS, r, settings.EVAL_SEED + 1)
        if targets.kind == "solvable":
            # Held-out solvable tasks, which training never draws: generalization is measured on them.
            if targets.held_out == "tiers":
                if reg_inits.distinct_values() is None:
                    raise ValueError("targets.held_out 'tiers' needs reg_inits null or fixed values: the tiers are "
                                     "optimal lengths from given initial registers")
                self.eval_targets, self.eval_reg_inits, self.eval_tiers = tier_tasks(
                    self.machine, settings.EVAL_TARGETS, settings.EVAL_SEED, eval_inits)
            else:
                self.eval_targets, self.eval_reg_inits = heldout_solvable_targets(
                    settings.EVAL_TARGETS, targets.length, self.machine, eval_inits, settings.EVAL_SEED)
            targets = TaskSchedule.solvable(targets.length, self.machine, excluded=self.eval_targets,
                                            held_out=targets.held_out, hard=targets.hard)
        else:
            eval_targets = targets.distinct_values()
            if eval_targets is None:
                eval_targets = heldout_targets(settings.EVAL_TARGETS, r, settings.EVAL_SEED)
            pairs = [(t, i) for t in eval_targets for i in eval_inits]
            self.eval_targets = np.array([p[0] for p in pairs], dtype=np.int64)
            self.eval_reg_inits = np.array([p[1] for p in pairs], dtype=np.int64)
        self.tasks = ScheduledTasks(targets, reg_inits)

    def _function_tasks(self) -> None:
        """A function task's training source and its evaluation tasks, each with its examples drawn once
        from EVAL_SEED: the run's functions, or its given examples, or, for random functions, held-out
        ones (by tier of optimal length with `"held_out": "tiers"`), which training never draws."""
        settings = self.config.settings
        rng = np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[0])
        source: FunctionTaskSource = function_schedule_from_spec(self.run.targets, "targets", self.machine,
                                                                 self.run.episodes, rng, settings.EXAMPLES)
        self.examples = source.num_examples
        eval_rng = np.random.default_rng(settings.EVAL_SEED)
        if isinstance(source, ExamplesTasks):
            self.eval_functions = examples_batch(source.examples)
        elif isinstance(source, FunctionTasks):
            self.eval_functions = functions_batch(source.functions, self.examples, eval_rng)
        elif isinstance(source, RandomFunctions):
            if source.held_out == "tiers":
                from synthesis.function_tiers import function_tier_tasks
                functions, self.eval_tiers = function_tier_tasks(self.machine, settings.EVAL_TARGETS,
                                                                 settings.EVAL_SEED)
            else:
                functions = heldout_random_functions(settings.EVAL_TARGETS, source.length, self.machine,
                                                     settings.EVAL_SEED)
            source.exclude(functions)
            self.eval_functions = functions_batch(functions, self.examples, eval_rng)
        self.tasks = source
        count = len(self.eval_functions.offset)
        # The evaluation tasks as the constant ones are kept (summaries count them): no target, no reg_init.
        self.eval_targets = np.zeros((count, self.machine.num_registers), dtype=np.int64)
        self.eval_reg_inits = self.eval_targets.copy()

    @property
    def params(self) -> Any:
        return self.config.presets[self.run.algo].parameters

    @property
    def agent_name(self) -> str:
        return self.config.presets[self.run.algo].agent

    def agent_setup(self) -> AgentSetup:
        return AgentSetup(self.params, self.machine, self.tasks, self.reward, self.run.episodes, self.seed,
                          self.device, self.examples)
