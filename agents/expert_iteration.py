"""Expert iteration for DQN: the network learns from the programs its own guided search finds.

Every `search_every` episodes a search round draws `search_tasks` tasks from the run's own task source,
searches each with `synthesis.search.guided_search` guided by the current online network
(`search_expansions` expansions), and turns every program found into an episode of transitions,
stepped on the environment (so they carry the run's own rewards), kept in a demonstration buffer of
their own. Each learning step then draws `demo_fraction` of its batch from that buffer: the TD loss
covers them as any transition, and a large-margin loss (DQfD, Hester et al. 2018) asks the searched
action to lead every other by `demo_margin`. The better network guides the next round's searches
(expert iteration, Anthony et al. 2017; AlphaZero and AlphaDev learn from their tree search so).
The exact synthesizer plays no part: the programs are the agent's own search's.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents.base import AgentSetup
from agents.machine_arithmetic import learning_rewards
from agents.networks import network_scorer
from agents.replay import Replay, ReplayBuffer, Sample, UniformSampler
from environment import ToyCorewarEnv
from synthesis.search import FunctionTask, StopRequested, check_stop, guided_search, plan_action
from toycorewar import ActionTable, Examples, Instruction

SEARCH_STREAM = 11  # the round's task draws come from default_rng([seed, SEARCH_STREAM, round]), no other stream


def large_margin_loss(q: torch.Tensor, expert_actions: torch.Tensor, margin: float) -> torch.Tensor:
    """DQfD's supervised loss, averaged over rows: max_a [Q(s, a) + margin·1(a ≠ a_E)] − Q(s, a_E), for
    Q [B, NUM_ACTIONS] and the searched actions a_E [B]. Zero when a_E leads every other action by at
    least `margin`; otherwise it pushes Q(s, a_E) up and the action that comes too close down."""
    expert = expert_actions.long().unsqueeze(1)
    penalty = torch.full_like(q, margin).scatter(1, expert, 0.0)
    return ((q + penalty).max(dim=1).values - q.gather(1, expert).squeeze(1)).mean()


def play_episode(env: ToyCorewarEnv, actions: list[int], target: list[int] | None, reg_init: list[int] | None,
                 reward_scale: float, options: dict | None = None,
                 instruction_cost: float = 0.0) -> dict[str, np.ndarray]:
    """`actions` played from `reg_init` towards `target` on `env` (or on the task of the reset `options`,
    a function task's examples) until the episode ends, as arrays of transitions: per step the
    observation, action, reward as learnt (agents/networks.py learning_rewards), next observation and
    terminated."""
    stop = env.action_space.n - 1
    steps: dict[str, list] = {name: [] for name in ("obs", "action", "reward", "next_obs", "terminated")}
    obs, _ = env.reset(options=options or {"target": list(target), "reg_init": list(reg_init)})
    for action in actions:
        next_obs, reward, terminated, _, _ = env.step(int(action))
        learnt = learning_rewards(reward, action, stop, reward_scale, instruction_cost)
        for name, value in zip(steps, (obs, action, learnt, next_obs, terminated), strict=True):
            steps[name].append(value)
        obs = next_obs
        if terminated:
            break
    return {"obs": {key: np.stack([o[key] for o in steps["obs"]]) for key in obs},
            "next_obs": {key: np.stack([o[key] for o in steps["next_obs"]]) for key in obs},
            "action": np.array(steps["action"], dtype=np.int64),
            "reward": np.array(steps["reward"], dtype=np.float32),
            "terminated": np.array(steps["terminated"], dtype=bool)}


def store_episode(buffer: ReplayBuffer, episode: dict[str, np.ndarray]) -> None:
    """An episode of `play_episode` into a one-copy buffer (its steps consecutive rows)."""
    buffer.add(episode["obs"], episode["action"], episode["reward"], episode["next_obs"], episode["terminated"])


def concatenate_samples(first: Sample, second: Sample) -> Sample:
    """One batch of both: the rows of `first`, then those of `second`."""
    return Sample(*(None if a is None else np.concatenate([a, b]) for a, b in zip(first, second, strict=True)))


class ExpertIteration:
    """The search rounds of one DQN run, their demonstration buffer and its replay (no hindsight, uniform
    rows, the agent's n-step returns)."""

    def __init__(self, setup: AgentSetup, params: Any, device: torch.device) -> None:
        self.setup, self.params, self.device = setup, params, device
        m = setup.machine
        self.table = ActionTable(m)
        self.env = ToyCorewarEnv(max_length=m.max_length, num_registers=m.num_registers, n_vals=m.n_vals,
                                 reward_func=setup.reward.name, **setup.reward.settings)
        self.function_env: ToyCorewarEnv | None = None  # a function task's, made with its first examples
        # num_envs=1: an episode's steps are consecutive rows, as n-step returns read them.
        self.buffer = ReplayBuffer(params.demo_buffer_size, m, 1, examples=setup.examples)
        self.replay = Replay(self.buffer, UniformSampler(self.buffer), params.n_step, params.gamma)
        self.rounds = 0  # search rounds done
        self.next_episode = -1  # the episode of the next round; -1: not placed yet (train() places it)
        self.solved = math.nan  # the last round's solve rate and its duration
        self.seconds = math.nan
        self.total_seconds = 0.0  # every round's

    # -- when ---------------------------------------------------------------------------------------
    def due(self, episode: int) -> bool:
        """Whether a round is due: rounds fall at the first step at or after each multiple of search_every."""
        if self.next_episode < 0:  # a new run, or a checkpoint from before this option
            self.next_episode = self.multiple_after(episode)
        return episode >= self.next_episode

    def multiple_after(self, episode: int) -> int:
        return (episode // self.params.search_every + 1) * self.params.search_every

    # -- a round --------------------------------------------------------------------------------------
    def search_round(self, network: torch.nn.Module, episode: int,
                     should_stop: Callable[[], bool] | None = None) -> bool:
        """Search `search_tasks` training tasks with `network`; every program found becomes an episode of
        the demonstration buffer. A stop asked for during the round (`should_stop`, asked between and
        during searches) drops the round whole and returns False: nothing stored, the round still due, so
        that a checkpoint taken then does it again on resume, as the unbroken run did."""
        started = time.perf_counter()
        p, setup = self.params, self.setup
        scorer = network_scorer(network, setup.machine, self.device)
        found: list[dict[str, np.ndarray]] = []
        try:
            if setup.examples:  # a function task (docs/reference.md §10): its examples searched, checked on every input
                batch = self.draw_tasks()
                tasks = [FunctionTask(batch.examples(i), batch.function(i)) for i in range(len(batch.offset))]
                for task in tasks:
                    check_stop(should_stop)
                    program = guided_search(scorer, setup.machine, setup.reward, task, None, p.search_expansions,
                                            p.reward_scale, should_stop=should_stop).program
                    if program is not None:
                        found.append(self.function_demonstration(program, task.examples))
            else:
                tasks, reg_inits = self.draw_tasks()
                for target, reg_init in zip(tasks.tolist(), reg_inits.tolist(), strict=True):
                    check_stop(should_stop)
                    program = guided_search(scorer, setup.machine, setup.reward, target, reg_init, p.search_expansions,
                                            p.reward_scale, should_stop=should_stop).program
                    if program is not None:
                        found.append(self.demonstration(program, target, reg_init))
        except StopRequested:
            return False
        for demonstration in found:
            self.store(demonstration)
        self.rounds += 1
        self.next_episode = self.multiple_after(episode)
        self.solved, self.seconds = len(found) / len(tasks), time.perf_counter() - started
        self.total_seconds += self.seconds
        return True

    def draw_tasks(self) -> tuple[np.ndarray, np.ndarray]:
        """Training tasks of this round, from a copy of the run's task source at its current position, so
        that the training schedule and the run's random streams are not touched; the draws come from the
        seed and the round number alone."""
        rng = np.random.default_rng([self.setup.seed, SEARCH_STREAM, self.rounds])
        return copy.deepcopy(self.setup.tasks)(self.params.search_tasks, rng)

    def demonstration(self, program: list[Instruction], target: list[int],
                      reg_init: list[int]) -> dict[str, np.ndarray]:
        """The found program, then stop if it is shorter than MAX_LENGTH, as an episode stepped on the
        environment: per step the observation, action, scaled reward, next observation and terminated."""
        actions = [plan_action(self.table, program, step) for step in range(self.setup.machine.max_length)]
        return play_episode(self.env, actions, target, reg_init, self.params.reward_scale,
                            instruction_cost=self.params.instruction_cost)

    def function_demonstration(self, program: list[Instruction], examples: Examples) -> dict[str, np.ndarray]:
        """`demonstration` on a function task's examples."""
        actions = [plan_action(self.table, program, step) for step in range(self.setup.machine.max_length)]
        if self.function_env is None:
            m, reward = self.setup.machine, self.setup.reward
            self.function_env = ToyCorewarEnv(max_length=m.max_length, num_registers=m.num_registers,
                                              n_vals=m.n_vals, reward_func=reward.name, examples=examples,
                                              **reward.settings)
        return play_episode(self.function_env, actions, None, None, self.params.reward_scale,
                            options={"examples": examples}, instruction_cost=self.params.instruction_cost)

    def store(self, episode: dict[str, np.ndarray]) -> None:
        store_episode(self.buffer, episode)

    # -- learning -----------------------------------------------------------------------------------
    def batch_share(self, batch_size: int) -> int:
        """Rows of a learning batch drawn from the demonstrations (none before the first program is found)."""
        if not self.buffer.size:
            return 0
        return min(batch_size - 1, int(round(batch_size * self.params.demo_fraction)))

    def scalars(self) -> dict[str, float]:
        """The last round's solve rate and seconds, for TensorBoard (nothing before the first round)."""
        return {} if not self.rounds else {"search_solved": self.solved, "search_seconds": self.seconds}

    # -- checkpoints ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"rounds": self.rounds, "next_episode": self.next_episode, "solved": self.solved,
                "seconds": self.seconds, "total_seconds": self.total_seconds, "buffer": self.buffer.state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rounds, self.next_episode = int(state["rounds"]), int(state["next_episode"])
        self.solved, self.seconds = float(state["solved"]), float(state["seconds"])
        self.total_seconds = float(state.get("total_seconds", 0.0))
        self.buffer.load_state(state["buffer"])

