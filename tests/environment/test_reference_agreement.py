"""Both environments agree, step by step, with a reference written here from docs/reference.md §3-4.

The reference runs each instruction on the plain-Python machine (`toycorewar.machine.execute`) and
computes the reward from the words of docs/reference.md §4, padding an early stop with real no-op steps, so it
shares no arithmetic with `environment.rewards`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from environment import ToyCorewarEnv, ToyCorewarVectorEnv
from toycorewar import ActionTable, Instruction, execute, final_registers

TABLE = ActionTable()
STOP = TABLE.stop_action
EMPTY_SLOT = TABLE.num_actions
MAX_LENGTH = 5
REGISTERS = 4
# Sent on the step that autoresets a copy (NextStep): it would change r4 if it were run.
IGNORED_ACTION = TABLE.encode_instruction(Instruction("ld", (19, 4)))
REWARD_FLAGS = [dict(zip(("circular", "positive", "cumulative"), flags, strict=True))
                for flags in itertools.product((False, True), repeat=3)]
FLAG_IDS = ["-".join(name if on else "not_" + name for name, on in flags.items()) for flags in REWARD_FLAGS]
HYPOTHESIS = settings(max_examples=60, deadline=None, database=None)


@dataclass(frozen=True)
class Episode:
    program: tuple[int, ...]
    target: tuple[int, ...]
    reg_init: tuple[int, ...]


# What a copy runs once its drawn episodes are used up, while the other copies finish theirs.
FILLER = Episode((STOP,), (0,) * REGISTERS, (0,) * REGISTERS)


@dataclass(frozen=True)
class ReferenceStep:
    registers: list[int]
    reward: int
    done: bool
    program: list[int]  # the observation's slots after the step


def reference_episode(episode: Episode, circular: bool, positive: bool,
                      cumulative: bool) -> tuple[list[ReferenceStep], int]:
    """Every step of `episode` and its performance, from docs/reference.md §3-4 and the plain-Python machine."""

    def distance(registers: list[int]) -> int:
        gaps = [abs(x - t) for x, t in zip(registers, episode.target, strict=True)]
        return sum(min(gap, 256 - gap) if circular else gap for gap in gaps)

    def reward(before: int, after: int, ends: bool) -> int:
        if positive:
            return before - after
        return -after if cumulative or ends else 0

    registers, steps, after = list(episode.reg_init), [], distance(list(episode.reg_init))
    for length, action in enumerate(episode.program, start=1):
        instruction = TABLE.decode_action(action)
        before = distance(registers)
        registers = execute(instruction, registers)
        after = distance(registers)
        ends = instruction.op == "stop" or length == MAX_LENGTH
        earned = reward(before, after, ends)
        if ends and cumulative:
            # The unused slots are no-op steps (D unchanged) whose rewards the stop step collects.
            earned += sum(reward(after, after, False) for _ in range(MAX_LENGTH - length))
        slots = list(episode.program[:length]) + [EMPTY_SLOT] * (MAX_LENGTH - length)
        steps.append(ReferenceStep(registers, earned, ends, slots))
        if ends:
            break
    return steps, -after


def start_observation(episode: Episode) -> dict[str, list[int]]:
    return {"program": [EMPTY_SLOT] * MAX_LENGTH, "registers": list(episode.reg_init),
            "target": list(episode.target)}


@dataclass(frozen=True)
class Expected:
    """What one copy of the batched environment shows at one step."""

    action: int
    observation: dict[str, list[int]]
    reward: int
    terminated: bool
    info_registers: list[int]
    performance: int | None = None  # only on the step that ends an episode
    final_observation: dict[str, list[int]] | None = None  # SameStep, on the step that ends an episode
    starts: Episode | None = None  # the episode whose task the environment asks for in this step


def expected_copy_steps(episodes: list[Episode], flags: dict[str, bool], mode: str,
                        total: int) -> list[Expected]:
    later = itertools.chain(episodes[1:], itertools.repeat(FILLER))
    episode, steps = episodes[0], []
    while len(steps) < total:
        trace, performance = reference_episode(episode, **flags)
        following = next(later)
        for action, step in zip(episode.program, trace, strict=True):
            observation = {"program": step.program, "registers": step.registers,
                           "target": list(episode.target)}
            if not step.done:
                steps.append(Expected(action, observation, step.reward, False, step.registers))
            elif mode == "SameStep":
                steps.append(Expected(action, start_observation(following), step.reward, True, step.registers,
                                      performance, observation, following))
            else:
                steps.append(Expected(action, observation, step.reward, True, step.registers, performance))
        if mode == "NextStep":
            # The step after an episode's end resets the copy: its action is ignored, its reward is 0.
            steps.append(Expected(IGNORED_ACTION, start_observation(following), 0, False,
                                  list(following.reg_init), starts=following))
        episode = following
    return steps[:total]


class HandedTasks:
    """A task source handing out the episodes the test expects to start, copies in row order."""

    def __init__(self) -> None:
        self.pending: list[Episode] = []

    def __call__(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        assert count == len(self.pending), f"asked for {count} tasks, expected {len(self.pending)}"
        episodes, self.pending = self.pending, []
        targets = np.array([e.target for e in episodes], dtype=np.int64).reshape(count, REGISTERS)
        reg_inits = np.array([e.reg_init for e in episodes], dtype=np.int64).reshape(count, REGISTERS)
        return targets, reg_inits


def assert_copy_observation(observation: dict[str, np.ndarray], row: int,
                            expected: dict[str, list[int]]) -> None:
    for key in ("program", "registers", "target"):
        assert observation[key][row].tolist() == expected[key], key


@st.composite
def programs(draw: st.DrawFn) -> tuple[int, ...]:
    """MAX_LENGTH instructions, or fewer ended by stop (stop alone included)."""
    instructions = draw(st.lists(st.integers(0, STOP - 1), min_size=MAX_LENGTH, max_size=MAX_LENGTH))
    stop_at = draw(st.none() | st.integers(0, MAX_LENGTH - 1))
    return tuple(instructions if stop_at is None else instructions[:stop_at] + [STOP])


register_values = st.lists(st.integers(0, 255), min_size=REGISTERS, max_size=REGISTERS).map(tuple)
# Values near 0 and 255 make the circular distance differ from the plain one.
edgy_register_values = st.lists(st.integers(0, 20) | st.integers(235, 255) | st.integers(0, 255),
                                min_size=REGISTERS, max_size=REGISTERS).map(tuple)
episodes = st.builds(Episode, programs(), edgy_register_values, register_values | st.just((0,) * REGISTERS))


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize("flags", REWARD_FLAGS, ids=FLAG_IDS)
@HYPOTHESIS
@given(copies=st.lists(st.lists(episodes, min_size=1, max_size=3), min_size=2, max_size=4))
def test_vector_env_agrees_with_reference_machine_on_every_step(flags, mode, copies):
    tasks = HandedTasks()
    env = ToyCorewarVectorEnv(num_envs=len(copies), max_length=MAX_LENGTH, autoreset_mode=mode,
                              tasks=tasks, **flags)
    total = max(sum(len(e.program) + (mode == "NextStep") for e in copy) for copy in copies)
    streams = [expected_copy_steps(copy, flags, mode, total) for copy in copies]

    tasks.pending = [copy[0] for copy in copies]
    observation, _ = env.reset(seed=0)
    assert tasks.pending == []
    for row, copy in enumerate(copies):
        assert_copy_observation(observation, row, start_observation(copy[0]))

    for t in range(total):
        now = [stream[t] for stream in streams]
        tasks.pending = [e.starts for e in now if e.starts is not None]
        observation, rewards, terminated, truncated, info = env.step(np.array([e.action for e in now]))
        assert tasks.pending == [], "the environment did not ask for the task of every episode that starts"
        assert env.observation_space.contains(observation)
        assert rewards.tolist() == [e.reward for e in now]
        assert terminated.tolist() == [e.terminated for e in now]
        assert truncated.tolist() == [False] * len(now)
        assert info["_performance"].tolist() == info["_solved"].tolist() == [e.terminated for e in now]
        if mode == "SameStep":
            assert info.get("_final_obs", np.zeros(len(now), bool)).tolist() == [e.terminated for e in now]
        for row, expected in enumerate(now):
            assert_copy_observation(observation, row, expected.observation)
            assert info["registers"][row].tolist() == expected.info_registers
            if expected.terminated:
                assert info["performance"][row] == expected.performance
                assert info["solved"][row] == (expected.performance == 0)
            if expected.final_observation is not None:
                assert_copy_observation(info["final_obs"], row, expected.final_observation)


@pytest.mark.parametrize("flags", REWARD_FLAGS, ids=FLAG_IDS)
@HYPOTHESIS
@given(drawn=st.lists(episodes, min_size=1, max_size=3))
def test_single_env_agrees_with_reference_machine_on_every_step(flags, drawn):
    env = ToyCorewarEnv(max_length=MAX_LENGTH, **flags)
    for episode in drawn:
        task = {"target": list(episode.target), "reg_init": list(episode.reg_init)}
        observation, info = env.reset(options=task)
        assert {key: value.tolist() for key, value in observation.items()} == start_observation(episode)
        assert info["registers"] == list(episode.reg_init)
        trace, performance = reference_episode(episode, **flags)
        for length, (action, step) in enumerate(zip(episode.program, trace, strict=True), start=1):
            observation, reward, terminated, truncated, info = env.step(action)
            # Executing only the new instruction = running the whole program so far from reg_init.
            so_far = [TABLE.decode_action(a) for a in episode.program[:length]]
            assert observation["registers"].tolist() == final_registers(so_far, list(episode.reg_init))
            assert env.observation_space.contains(observation)
            assert observation["program"].tolist() == step.program
            assert observation["registers"].tolist() == step.registers == info["registers"]
            assert observation["target"].tolist() == list(episode.target)
            assert (reward, terminated, truncated) == (step.reward, step.done, False)
            if step.done:
                assert (info["performance"], info["solved"]) == (performance, performance == 0)
            else:
                assert "performance" not in info and "solved" not in info
