"""Self-imitation for DQN: the programs with which the agent itself solved a task are replayed.

Every training episode that ends on its target (distance 0) is compared with the solution kept for
its task (target and initial registers): the first one, or a shorter one, becomes the task's
solution. With an `instruction_cost` (docs/shortest_programs.md) the program is kept in its
shortest form: its dead instructions dropped (toycorewar.without_dead_instructions, run on the
agent's own program with the machine, no search), then stop. That form ends where the program ended
and earns more of the return the agent learns, so it is the better demonstration of the two.

The solutions form a demonstration buffer; each learning step draws `demo_fraction` of its batch
from it, under the TD loss and DQfD's large-margin loss (as expert iteration's demonstrations,
agents/expert_iteration.py), so that the greedy policy is pulled to a program that solves and held
there while the rest of the replay keeps changing: what is solved stays solved
(docs/keeping_every_task.md). The on-policy agents imitate them instead (a cross-entropy loss on the
demonstrated actions, self-imitation's original use in actor-critic). The programs are the agent's
own, played while it explored (self-imitation learning, Oh et al. 2018); no search and no
synthesizer teaches.

One solution is kept per task, for at most demo_buffer_size // MAX_LENGTH tasks (the oldest task's
goes first when a new task is solved beyond that).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.base import AgentSetup
from agents.expert_iteration import play_episode, store_episode
from agents.replay import Replay, ReplayBuffer, UniformSampler
from environment import ToyCorewarEnv
from toycorewar import ActionTable, Examples, final_registers, without_dead_instructions

# (actions, target, initial registers, matters): flat tuples of ints; on a function task (docs/reference.md
# §10) target, initial registers and matters hold the [E, R] arrays of its examples, row after row.
Solution = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]


class SelfImitation:
    """The solutions of one DQN run, their demonstration buffer and its replay (uniform rows, the
    agent's n-step returns)."""

    def __init__(self, setup: AgentSetup, params: Any, num_envs: int) -> None:
        self.params, self.machine, self.setup = params, setup.machine, setup
        m, self.examples = setup.machine, setup.examples
        self.env = ToyCorewarEnv(max_length=m.max_length, num_registers=m.num_registers, n_vals=m.n_vals,
                                 reward_func=setup.reward.name, **setup.reward.settings) if not self.examples else None
        self.max_tasks = max(1, params.demo_buffer_size // m.max_length)
        self.table, self.cost = ActionTable(m), getattr(params, "instruction_cost", 0.0)
        self.last_played: dict[tuple[int, ...], tuple[int, ...]] = {}  # task -> its latest solving program
        self.solutions: dict[tuple[int, ...], Solution] = {}  # task (target + initial registers) -> solution
        shape = (num_envs, self.examples, m.num_registers) if self.examples else (num_envs, m.num_registers)
        self.starts = np.zeros(shape, dtype=np.int64)  # each copy's initial registers
        self.changed = False  # a solution came or changed since the buffer was filled
        self._fill()

    def started(self, obs: dict[str, np.ndarray], rows: np.ndarray | None = None) -> None:
        """Note the initial registers of the copies whose episodes start now (every copy when None)."""
        if rows is None:
            self.starts[:] = obs["registers"]
        else:
            self.starts[rows] = obs["registers"][rows]

    def ended(self, final_obs: dict[str, np.ndarray], solved: np.ndarray, rows: np.ndarray) -> None:
        """The episodes of copies `rows` ended with `final_obs`; those that `solved` are candidates."""
        empty = self.machine.num_actions
        matters = final_obs.get("matters")
        for i in rows[solved[rows]].tolist():
            actions = tuple(int(a) for a in final_obs["program"][i] if a != empty)
            target, start = tuple(final_obs["target"][i].ravel().tolist()), tuple(self.starts[i].ravel().tolist())
            mask = () if matters is None else tuple(matters[i].ravel().tolist())
            task = target + start + mask
            played = actions
            if self.cost:
                if self.last_played.get(task) == played:  # the same program again (the greedy copies'): no news
                    continue
                actions = self.shortest_form(played, target, start, mask)
            kept = self.solutions.get(task)
            if kept is None or self.length(actions) < self.length(kept[0]):
                if kept is None and len(self.solutions) >= self.max_tasks:
                    self.last_played.pop(oldest := next(iter(self.solutions)), None)
                    self.solutions.pop(oldest)
                self.solutions[task] = (actions, target, start, mask)
                self.changed = True
            if self.cost:
                self.last_played[task] = played

    def length(self, actions: tuple[int, ...]) -> int:
        """A program's length: its instructions, stop not counted; without an instruction cost its actions,
        stop counted (as self-imitation compared them before the cost existed, so that the figures of the
        presets without one stand)."""
        if not self.cost:
            return len(actions)
        return sum(action != self.table.stop_action for action in actions)

    def shortest_form(self, actions: tuple[int, ...], target: tuple[int, ...], start: tuple[int, ...],
                      mask: tuple[int, ...]) -> tuple[int, ...]:
        """The solving program `actions` without its dead instructions, then stop where it is shorter than
        MAX_LENGTH: it still ends on the target (every example's, where the register matters)."""
        r = self.machine.num_registers
        rows = [(list(start[k:k + r]), target[k:k + r], mask[k:k + r] if mask else (1,) * r)
                for k in range(0, len(target), r)]

        def solves(program: list) -> bool:
            return all(all(value == goal or not counted for value, goal, counted in
                           zip(final_registers(program, begin, r), goal_row, counted_row, strict=True))
                       for begin, goal_row, counted_row in rows)

        program = without_dead_instructions([self.table.instructions[a] for a in actions], solves)
        shorter = tuple(self.table.encode_instruction(instruction) for instruction in program)
        return shorter + ((self.table.stop_action,) if len(shorter) < self.machine.max_length else ())

    def _fill(self) -> None:
        self.buffer = ReplayBuffer(self.params.demo_buffer_size, self.machine, 1, examples=self.examples)
        self.replay = Replay(self.buffer, UniformSampler(self.buffer), getattr(self.params, "n_step", 1),
                             self.params.gamma)
        for actions, target, start, mask in self.solutions.values():
            store_episode(self.buffer, self._play(list(actions), target, start, mask))
        self.changed = False

    def _play(self, actions: list[int], target: tuple[int, ...], start: tuple[int, ...],
              mask: tuple[int, ...]) -> dict[str, np.ndarray]:
        """A kept solution's episode, stepped on the environment (so it carries the run's rewards)."""
        scale = self.params.reward_scale
        if not self.examples:
            return play_episode(self.env, actions, list(target), list(start), scale, instruction_cost=self.cost)
        shape = (self.examples, self.machine.num_registers)
        examples = Examples(np.reshape(start, shape), np.reshape(target, shape), np.reshape(mask, shape).astype(bool))
        if self.env is None:
            m, reward = self.machine, self.setup.reward
            self.env = ToyCorewarEnv(max_length=m.max_length, num_registers=m.num_registers, n_vals=m.n_vals,
                                     reward_func=reward.name, examples=examples, **reward.settings)
        return play_episode(self.env, actions, None, None, scale, options={"examples": examples},
                            instruction_cost=self.cost)

    def batch_share(self, batch_size: int) -> int:
        """Rows of a learning batch drawn from the solutions (none before the first)."""
        if self.changed:
            self._fill()
        if not self.buffer.size:
            return 0
        return min(batch_size - 1, int(round(batch_size * self.params.demo_fraction)))

    def scalars(self) -> dict[str, float]:
        """How many tasks have a solution, for TensorBoard."""
        return {"solutions_kept": float(len(self.solutions))}

    # -- checkpoints ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"solutions": [[list(a), list(t), list(s)] + ([list(m)] if m else []) for a, t, s, m in
                              self.solutions.values()],
                "starts": self.starts.copy()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.solutions = {}
        for entry in state["solutions"]:
            actions, target, start = (tuple(int(x) for x in part) for part in entry[:3])
            mask = tuple(int(x) for x in entry[3]) if len(entry) > 3 else ()
            self.solutions[target + start + mask] = (actions, target, start, mask)
        self.starts[...] = np.asarray(state["starts"])
        self._fill()
