"""The task a search solves, as states: a constant target, or a function task (docs/reference.md §10).

A constant target's state is the registers of one run [R]. A `FunctionTask`'s state is the registers of
every example [E, R], each instruction run on all of them at once; given the `Function` the examples
come from, the state also holds the runs on its probes (zeros and each unit input), which decide what
the program computes on every input. So the goal test (every register that matters right in every run)
is correctness itself, and a state determines the program's future: the prunings of synthesis/search.py
stay sound. The scorer and the reward see the examples only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from environment.rewards import Specific_register_values
from toycorewar import ActionTable, Examples, Function, Instruction, MachineConfig, program_map


@dataclass
class SearchResult:
    program: list[Instruction] | None
    expansions: int
    correct: bool | None = None  # None for a constant target; on a function task, checked on every input

    @property
    def solved(self) -> bool:
        return self.program is not None


@dataclass(frozen=True)
class FunctionTask:
    """A function task as a search sees it: the `examples` shown to the scorer and the reward, and the
    `function` they come from, when known. With a function, a program is correct when it computes it on
    every input (decided exactly); without, when it meets every example."""

    examples: Examples
    function: Function | None = None

    @classmethod
    def drawn(cls, function: Function, count: int, rng: np.random.Generator) -> FunctionTask:
        """`function` shown through `count` examples whose inputs are drawn with `rng`."""
        inputs = function.draw_inputs(count, rng)
        matters = np.broadcast_to(function.assigned, inputs.shape).copy()
        return cls(Examples(inputs, function.outputs(inputs), matters), function)

    def is_correct(self, program: list[Instruction]) -> bool:
        computed = program_map(program, self.examples.num_registers)
        return self.function.is_computed_by(computed) if self.function is not None else self.examples.met_by(computed)


class SearchProblem:
    """What every search shares: the machine, the start state, the goal, and what the scorer sees.

    A state is the registers of one run [R] (a constant target) or of several runs [C, R]: the
    examples (the first `shown` rows, all the scorer and the reward see), then a function's probes.
    `counted` (bool [C, R], None: every register) marks the registers the goal asks for."""

    def __init__(self, machine: MachineConfig, target: list[int] | FunctionTask, reg_init: list[int] | None) -> None:
        self.table = ActionTable(machine)
        self.machine = machine
        self.instructions = np.arange(self.table.stop_action)  # stop never leads anywhere new
        self.task = target if isinstance(target, FunctionTask) else None
        if self.task is None:
            self.target = self.goal = np.asarray(target, dtype=np.int64)
            self.start = (np.zeros(machine.num_registers, dtype=np.int64) if reg_init is None
                          else np.asarray(reg_init, dtype=np.int64))
            self.counted = self.matters = None
            return
        if reg_init is not None:
            raise ValueError("reg_init does not apply to a function task: the examples give the inputs")
        examples, function = self.task.examples, self.task.function
        inputs, outputs, counted = [examples.inputs], [examples.outputs], [examples.matters]
        if function is not None:  # the probes decide correctness on every input
            probes = function.probes()
            inputs.append(probes)
            outputs.append(function.outputs(probes))
            counted.append(np.broadcast_to(function.assigned, probes.shape))
        self.start, self.goal = np.concatenate(inputs), np.concatenate(outputs)
        self.counted = np.concatenate(counted).astype(bool)
        self.shown = len(examples.inputs)
        self.target, self.matters = examples.outputs * examples.matters, examples.matters.astype(np.int8)

    def seen(self, states: np.ndarray) -> np.ndarray:
        """What the scorer and the reward see of states [..., *state]: the examples' registers."""
        return states if self.task is None else states[..., :self.shown, :]

    def children(self, registers: np.ndarray) -> np.ndarray:
        """The state after each instruction, from one state: [n_instructions, *state]."""
        return children(self.table, registers)

    def wrong_registers(self, states: np.ndarray) -> np.ndarray:
        """How many registers of states [..., *state] are wrong in some run: each needs a write."""
        wrong = states != self.goal
        if self.counted is None:
            return wrong.sum(axis=-1)
        return (wrong & self.counted).any(axis=-2).sum(axis=-1)

    def can_finish(self, after: np.ndarray, slots_left: int) -> np.ndarray:
        """Which states could still reach the goal with `slots_left` instructions."""
        return self.wrong_registers(after) <= slots_left

    def solves(self, registers: np.ndarray) -> bool:
        return bool(self.wrong_registers(registers) == 0)

    def solved_by(self, after: np.ndarray) -> int | None:
        hits = np.flatnonzero(self.wrong_registers(after) == 0)
        return int(hits[0]) if len(hits) else None

    def scorer_inputs(self, registers: np.ndarray) -> tuple[np.ndarray, ...]:
        """What a scorer is given at a node besides the actions: registers and target, and on a function
        task the examples' registers and matters (a scorer of constant targets need not know of matters)."""
        if self.task is None:
            return registers, self.target
        return self.seen(registers), self.target, self.matters

    def distance(self, reward: Specific_register_values, states: np.ndarray) -> np.ndarray:
        return reward.distance(self.seen(states), self.target, self.matters)

    def step_reward(self, reward: Specific_register_values, before: np.ndarray, after: np.ndarray,
                    length: int) -> np.ndarray:
        return step_reward(reward, self.seen(before), self.seen(after), self.target, self.matters, length,
                           self.machine.max_length)

    def found(self, actions: list[int], expansions: int) -> SearchResult:
        program = [self.table.instructions[a] for a in actions]
        return SearchResult(program, expansions, None if self.task is None else self.task.is_correct(program))

    def not_found(self, expansions: int) -> SearchResult:
        return SearchResult(None, expansions, None if self.task is None else False)


def step_reward(reward: Specific_register_values, before: np.ndarray, after: np.ndarray, target: np.ndarray,
                matters: np.ndarray | None, length: int, max_length: int) -> np.ndarray:
    """The reward of the instruction leading from `before` to `after` (one state, or [n, ...] children),
    the program then `length` long, never stopped: done when it fills the program. The run's own
    reward, so a non-positive one ranks as the network was trained."""
    return reward.step_reward(reward.distance(before, target, matters), reward.distance(after, target, matters),
                              length >= max_length, max_length - length)


def children(table: ActionTable, registers: np.ndarray) -> np.ndarray:
    """The registers after each instruction (not stop), from one state [R] or [C, R]: [n_instructions, ...]."""
    instructions = np.arange(table.stop_action)
    after = np.repeat(registers[np.newaxis], len(instructions), axis=0)
    runs = after.reshape(-1, registers.shape[-1])  # a view: every run of every child, one row each
    table.execute_batch(runs, np.repeat(instructions, len(runs) // len(instructions)))
    return after
