"""Both environments on function tasks (docs/reference.md §10): the observation, the reward over every
example and every register that matters, `solved` and the exact `correct`, and the batched environment
agreeing with the single one step by step."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from environment import ToyCorewarEnv, ToyCorewarVectorEnv
from environment.function_tasks import FunctionBatch
from environment.rendering import FRAME_SHAPE
from toycorewar import ActionTable, Function, Instruction, parse_function, program_map

TABLE = ActionTable()
STOP = TABLE.stop_action
EMPTY_SLOT = TABLE.num_actions
MAX_LENGTH = 5
HYPOTHESIS = settings(max_examples=40, deadline=None, database=None)
# Sent on the step that autoresets a copy (NextStep): it would change r4 if it were run.
IGNORED_ACTION = TABLE.encode_instruction(Instruction("ld", (19, 4)))


def action(op: str, *args: int) -> int:
    return TABLE.encode_instruction(Instruction(op, args))


def batch_of(tasks: list[tuple[Function, np.ndarray]]) -> FunctionBatch:
    """The batch of episodes of these functions, each on the given inputs [E, R]."""
    inputs = np.stack([np.asarray(x, dtype=np.int64) for _, x in tasks])
    matters = np.stack([np.broadcast_to(f.assigned, x.shape) for f, x in tasks])
    outputs = np.stack([f.outputs(x) for f, x in tasks]) * matters
    stacked = [np.stack([getattr(f, name) for f, _ in tasks]) for name in ("matrix", "offset", "assigned", "inputs")]
    return FunctionBatch(inputs, outputs, matters, *stacked)


class HandedFunctions:
    """A function task source handing out the episodes a test expects to start, copies in row order."""

    def __init__(self, num_examples: int) -> None:
        self.num_examples, self.pending = num_examples, []

    def __call__(self, count: int, rng: np.random.Generator) -> FunctionBatch:
        assert count == len(self.pending), f"asked for {count} tasks, expected {len(self.pending)}"
        tasks, self.pending = self.pending, []
        return batch_of(tasks)


def test_a_function_episode_hand_worked():
    pairs = [([1, 2, 0, 0], [None, None, 3, None]), ([10, 20, 0, 0], [None, None, 30, None])]
    env = ToyCorewarEnv(examples=pairs)
    observation, info = env.reset(seed=0)
    assert observation["registers"].tolist() == info["registers"] == [[1, 2, 0, 0], [10, 20, 0, 0]]
    assert observation["target"].tolist() == [[0, 0, 3, 0], [0, 0, 30, 0]]
    assert observation["matters"].tolist() == [[0, 0, 1, 0], [0, 0, 1, 0]] and observation["matters"].dtype == np.int8
    # D = |0 − 3| + |0 − 30| = 33; ld 19 into r3: 16 + 11 = 27; add r1, r2, r3: 0 (r1, r2 and r4 never count).
    assert env.step(action("ld", 19, 3))[1:3] == (6.0, False)
    observation, reward, terminated, _, info = env.step(action("add", 1, 2, 3))
    assert (reward, terminated) == (27.0, False) and observation["registers"][:, 2].tolist() == [3, 30]
    _, reward, terminated, _, info = env.step(STOP)
    assert (reward, terminated) == (0.0, True)
    assert (info["performance"], info["solved"], info["correct"]) == (0, True, True)
    assert info["program"] == "ld %19, r3\nadd r1, r2, r3\nstop\n"


def test_correct_is_every_input_while_solved_is_the_examples_shown():
    # r1 is 0 in every example shown: copying r2 into r3 meets them, but r3 = r1 + r2 is not computed.
    function = parse_function("r3 = r1 + r2")
    env = ToyCorewarVectorEnv(2, function_tasks=(source := HandedFunctions(2)), autoreset_mode="SameStep")
    source.pending = [(function, np.array([[0, 5, 0, 0], [0, 9, 0, 0]]))] * 2
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(np.array([action("st", 2, 3), action("add", 1, 2, 3)]))
    assert not terminated.any()
    source.pending = [(function, np.array([[1, 1, 0, 0], [2, 2, 0, 0]]))] * 2  # the next episodes
    _, _, terminated, _, info = env.step(np.array([STOP, STOP]))
    assert terminated.tolist() == info["_correct"].tolist() == [True, True]
    assert info["solved"].tolist() == [True, True] and info["correct"].tolist() == [False, True]


def test_make_and_make_vec_take_function_and_examples():
    import gymnasium

    import environment  # noqa: F401  (registers ToyCorewar-v0)

    env = gymnasium.make("ToyCorewar-v0", function="r3 = r1 + r2", examples=3)
    observation, _ = env.reset(seed=0)
    assert {key: value.shape for key, value in observation.items()} == {
        "program": (5,), "registers": (3, 4), "target": (3, 4), "matters": (3, 4)}
    assert env.observation_space.contains(observation)
    vector = gymnasium.make_vec("ToyCorewar-v0", num_envs=6, vectorization_mode="vector_entry_point",
                                examples=[[[1, 2, 0, 0], [None, None, 3, None]]])
    observation, info = vector.reset(seed=0)
    assert observation["registers"].shape == info["registers"].shape == (6, 1, 4)
    assert vector.observation_space.contains(observation)
    assert observation["target"][:, 0].tolist() == [[0, 0, 3, 0]] * 6


def test_single_env_checks_its_function_keywords_and_options():
    with pytest.raises(ValueError, match="column 6: not affine"):
        ToyCorewarEnv(function="r3 = r1 * r2")
    with pytest.raises(ValueError, match="target and reg_init do not apply"):
        ToyCorewarEnv(function="r1 = r2", target=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="give either a function or examples pairs"):
        ToyCorewarEnv(function="r1 = r2", examples=[[[1, 0, 0, 0], [None, 1, None, None]]])
    with pytest.raises(ValueError, match="needs a `function`"):
        ToyCorewarEnv(examples=3)
    env = ToyCorewarEnv(function="r1 = r2", examples=2)
    with pytest.raises(ValueError, match="unknown reset option.s. target"):
        env.reset(options={"target": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match="holds 1 examples, this environment shows 2"):
        env.reset(options={"examples": [[[1, 0, 0, 0], [None, 1, None, None]]]})
    observation, _ = env.reset(options={"function": "r4 = 200"})
    assert observation["target"][:, 3].tolist() == [200, 200] and not observation["registers"].any()


def test_reset_options_set_one_episode_then_the_task_returns():
    env = ToyCorewarEnv(function="r1 = r2", examples=2)
    env.reset(seed=0, options={"examples": [[[0, 0, 0, 0], [9, None, None, None]]] * 2})
    *_, info = env.step(action("ld", 9, 1))  # meets both examples: not the env's function, but this episode's
    assert env.step(STOP)[4]["correct"]
    observation, _ = env.reset()
    assert observation["matters"][0].tolist() == [1, 0, 0, 0] and observation["registers"][:, 1].any()


def test_ansi_rendering_shows_every_example():
    env = ToyCorewarEnv(examples=[[[1, 2, 0, 0], [None, None, 3, None]]], render_mode="ansi")
    env.reset()
    env.step(action("add", 1, 2, 3))
    assert env.render() == "add r1, r2, r3\nexample 1: input [1, 2, 0, 0] registers [1, 2, 3, 0] target [_, _, 3, _]\n"
    frames = ToyCorewarEnv(function="r1 = r2", render_mode="rgb_array")
    frames.reset(seed=0)
    assert frames.render().shape == FRAME_SHAPE


# -- the batched environment against the single one ------------------------------------------------------

@dataclass(frozen=True)
class Episode:
    function: Function
    program: tuple[int, ...]


@dataclass
class Expected:
    """What one copy of the batched environment shows at one step."""

    action: int
    observation: dict
    reward: float
    terminated: bool
    registers: list
    end: dict | None = None  # performance, solved, correct: on the step that ends an episode
    final_observation: dict | None = None  # SameStep, on the step that ends an episode
    starts: tuple | None = None  # the task (function, inputs) the environment asks for in this step


def lists(observation: dict) -> dict:
    return {key: np.asarray(value).tolist() for key, value in observation.items()}


def single_env_steps(env: ToyCorewarEnv, episode: Episode) -> tuple[dict, tuple, list]:
    """The single environment's start observation, task, and steps (action, observation, reward,
    terminated, info) on `episode`."""
    observation, _ = env.reset(options={"function": episode.function})
    start, task = lists(observation), (episode.function, observation["registers"].copy())
    steps = []
    for a in episode.program:
        observation, reward, terminated, _, info = env.step(a)
        steps.append((a, lists(observation), reward, terminated, info))
        if terminated:
            break
    return start, task, steps


def expected_copy_steps(episodes: list[Episode], mode: str, total: int, num_examples: int,
                        flags: dict) -> tuple[tuple, list]:
    """The first task of a copy playing `episodes` (then stop-only ones), and what it shows at each of
    `total` steps, from the single environment on the same tasks."""
    env = ToyCorewarEnv(max_length=MAX_LENGTH, function="r1 = r1", examples=num_examples, **flags)
    env.reset(seed=len(episodes))
    later = itertools.chain(episodes[1:], itertools.repeat(Episode(episodes[0].function, (STOP,))))
    _, first_task, trace = single_env_steps(env, episodes[0])
    steps = []
    while len(steps) < total:
        following_start, following_task, following_trace = single_env_steps(env, next(later))
        for act, observation, reward, done, info in trace:
            end = {key: info[key] for key in ("performance", "solved", "correct")} if done else None
            if not done:
                steps.append(Expected(act, observation, reward, False, info["registers"]))
            elif mode == "SameStep":
                steps.append(Expected(act, following_start, reward, True, info["registers"], end, observation,
                                      following_task))
            else:
                steps.append(Expected(act, observation, reward, True, info["registers"], end))
        if mode == "NextStep":
            steps.append(Expected(IGNORED_ACTION, following_start, 0.0, False, following_start["registers"],
                                  starts=following_task))
        trace = following_trace
    return first_task, steps[:total]


@st.composite
def programs(draw: st.DrawFn) -> tuple[int, ...]:
    """MAX_LENGTH instructions, or fewer ended by stop."""
    instructions = draw(st.lists(st.integers(0, STOP - 1), min_size=MAX_LENGTH, max_size=MAX_LENGTH))
    stop_at = draw(st.none() | st.integers(0, MAX_LENGTH - 1))
    return tuple(instructions if stop_at is None else instructions[:stop_at] + [STOP])


@st.composite
def episodes(draw: st.DrawFn) -> Episode:
    """A program and a function: often the one it computes on some registers (so that it is correct),
    else the function of another program."""
    program = draw(programs())
    source = program if draw(st.booleans()) else draw(programs())
    assigned = np.array(draw(st.lists(st.booleans(), min_size=4, max_size=4)))
    assigned[draw(st.integers(0, 3))] = True
    function = Function.of_map(program_map([TABLE.instructions[a] for a in source]), assigned)
    return Episode(function, program)


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@HYPOTHESIS
@given(copies=st.lists(st.lists(episodes(), min_size=1, max_size=3), min_size=2, max_size=4),
       num_examples=st.integers(1, 3), flags=st.sampled_from([{}, {"positive": False}, {"circular": False}]))
def test_vector_env_agrees_with_single_env_on_every_step(mode, copies, num_examples, flags):
    source = HandedFunctions(num_examples)
    env = ToyCorewarVectorEnv(num_envs=len(copies), max_length=MAX_LENGTH, autoreset_mode=mode,
                              function_tasks=source, **flags)
    total = max(sum(len(e.program) + (mode == "NextStep") for e in copy) for copy in copies)
    streams = [expected_copy_steps(copy, mode, total, num_examples, flags) for copy in copies]
    source.pending = [first for first, _ in streams]
    observation, _ = env.reset(seed=0)
    assert source.pending == []
    for t in range(total):
        now = [stream[t] for _, stream in streams]
        source.pending = [e.starts for e in now if e.starts is not None]
        observation, rewards, terminated, _, info = env.step(np.array([e.action for e in now]))
        assert source.pending == [], "the environment did not ask for the task of every episode that starts"
        assert env.observation_space.contains(observation)
        assert terminated.tolist() == [e.terminated for e in now]
        assert info["_correct"].tolist() == info["_solved"].tolist() == terminated.tolist()
        for row, expected in enumerate(now):
            assert lists({k: v[row] for k, v in observation.items()}) == expected.observation
            assert rewards[row] == expected.reward
            assert info["registers"][row].tolist() == expected.registers
            if expected.end is not None:
                assert {key: info[key][row] for key in expected.end} == expected.end
            if expected.final_observation is not None:
                assert lists({k: v[row] for k, v in info["final_obs"].items()}) == expected.final_observation
