"""Self-imitation for DQN: the programs with which the agent itself solved a task are replayed.

Every training episode that ends on its target (distance 0) is compared with the solution kept for
its task (target and initial registers): the first one, or a shorter one, becomes the task's
solution. The solutions form a demonstration buffer; each learning step draws `demo_fraction` of
its batch from it, under the TD loss and DQfD's large-margin loss (as expert iteration's
demonstrations, agents/expert_iteration.py), so that the greedy policy is pulled to a program that
solves and held there while the rest of the replay keeps changing: what is solved stays solved
(README, "Keeping every task"). The on-policy agents imitate them instead (a cross-entropy loss on
the demonstrated actions, self-imitation's original use in actor-critic). The programs are the
agent's own, played while it explored (self-imitation learning, Oh et al. 2018); no search and no
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

Solution = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # (actions, target, initial registers)


class SelfImitation:
    """The solutions of one DQN run, their demonstration buffer and its replay (uniform rows, the
    agent's n-step returns)."""

    def __init__(self, setup: AgentSetup, params: Any, num_envs: int) -> None:
        self.params, self.machine = params, setup.machine
        m = setup.machine
        self.env = ToyCorewarEnv(max_length=m.max_length, num_registers=m.num_registers, n_vals=m.n_vals,
                                 reward_func=setup.reward.name, **setup.reward.settings)
        self.max_tasks = max(1, params.demo_buffer_size // m.max_length)
        self.solutions: dict[tuple[int, ...], Solution] = {}  # task (target + initial registers) -> solution
        self.starts = np.zeros((num_envs, m.num_registers), dtype=np.int64)  # each copy's initial registers
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
        for i in rows[solved[rows]].tolist():
            actions = tuple(int(a) for a in final_obs["program"][i] if a != empty)
            target, start = tuple(int(v) for v in final_obs["target"][i]), tuple(int(v) for v in self.starts[i])
            task = target + start
            kept = self.solutions.get(task)
            if kept is not None and len(kept[0]) <= len(actions):
                continue
            if kept is None and len(self.solutions) >= self.max_tasks:
                self.solutions.pop(next(iter(self.solutions)))
            self.solutions[task] = (actions, target, start)
            self.changed = True

    def _fill(self) -> None:
        self.buffer = ReplayBuffer(self.params.demo_buffer_size, self.machine, 1)
        self.replay = Replay(self.buffer, UniformSampler(self.buffer), getattr(self.params, "n_step", 1),
                             self.params.gamma)
        for actions, target, start in self.solutions.values():
            store_episode(self.buffer, play_episode(self.env, list(actions), list(target), list(start),
                                                    self.params.reward_scale))
        self.changed = False

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
        return {"solutions": [[list(a), list(t), list(s)] for a, t, s in self.solutions.values()],
                "starts": self.starts.copy()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.solutions = {tuple(t) + tuple(s): (tuple(int(x) for x in a), tuple(int(x) for x in t),
                                                tuple(int(x) for x in s))
                          for a, t, s in state["solutions"]}
        self.starts[...] = np.asarray(state["starts"])
        self._fill()
