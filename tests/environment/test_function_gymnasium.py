"""Function tasks in the Gymnasium and Stable-Baselines3 ecosystems, and the batched environment's
run machinery on them: exact budgets, idle copies, checkpoints (docs/reference.md §6, §10)."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import environment
from environment import ToyCorewarVectorEnv
from environment.function_tasks import FunctionTasks, RandomFunctions
from environment.rewards import make_reward
from environment.vector_env import same_step_env
from toycorewar import ActionTable, Instruction, MachineConfig, parse_function

TABLE = ActionTable()
STOP = TABLE.stop_action
PAIRS = [[[1, 2, 0, 0], [None, None, 3, None]], [[200, 100, 0, 0], [None, None, 44, None]]]
FUNCTION_KWARGS = [{"function": "r3 = r1 + r2", "examples": 4}, {"function": "r1 = r2; r2 = r1"},
                   {"examples": PAIRS}]


@pytest.fixture(autouse=True)
def sb3_logs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path))  # SB3's logger makes a folder, by default in /tmp


def random_actions(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random instructions, with stop one time in five so that episodes of every length occur."""
    return np.where(rng.random(count) < 0.2, STOP, rng.integers(0, STOP, size=count))


@pytest.mark.parametrize("kwargs", FUNCTION_KWARGS)
def test_gymnasium_and_sb3_env_checkers_pass_on_function_tasks(kwargs):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning fails the test too
        check_env(gymnasium.make("ToyCorewar-v0", **kwargs).unwrapped)
        check_env(gymnasium.make("ToyCorewar-v0", render_mode="ansi", **kwargs).unwrapped)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(gymnasium.make("ToyCorewar-v0", **kwargs).unwrapped)
    # SB3 only recommends 1-D vectors: its MultiInputPolicy flattens the [E, R] parts (trained below).
    assert all("unconventional shape" in str(w.message) for w in caught), [str(w.message) for w in caught]


def test_sb3_ppo_trains_on_a_function_task_through_make_vec_env():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(environment.ENV_ID, n_envs=2, seed=0, env_kwargs={"function": "r3 = r1 + r2", "examples": 3})
    observation = env.reset()
    assert observation["registers"].shape == observation["matters"].shape == (2, 3, 4)
    add = TABLE.encode_instruction(Instruction("add", (1, 2, 3)))
    env.step(np.array([add, add]))
    _, _, dones, infos = env.step(np.array([STOP, STOP]))
    assert dones.tolist() == [True, True]
    assert [(i["solved"], i["correct"], i["performance"]) for i in infos] == [(True, True, 0)] * 2
    assert len(infos[0]["registers"]) == 3 and "terminal_observation" in infos[0]
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
def test_native_vector_env_matches_sync_vector_env_on_given_examples(mode):
    native = gymnasium.make_vec("ToyCorewar-v0", num_envs=3, vectorization_mode="vector_entry_point",
                                examples=PAIRS, autoreset_mode=mode)
    sync = gymnasium.vector.SyncVectorEnv([lambda: gymnasium.make("ToyCorewar-v0", examples=PAIRS)] * 3,
                                          autoreset_mode=mode)
    rng, episodes_ended = np.random.default_rng(0), 0
    for env in (native, sync):
        env.reset(seed=0)
    for _ in range(30):
        actions = random_actions(rng, 3)
        a, b = native.step(actions), sync.step(actions)
        for key in ("program", "registers", "target", "matters"):
            assert np.array_equal(a[0][key], b[0][key]), key
        assert np.array_equal(a[1], b[1]) and np.array_equal(a[2], b[2])
        ending = b[4].get("final_info", {}) if mode == "SameStep" else b[4]  # SameStep: the reset's info is b[4]
        for key in ("performance", "solved", "correct"):
            ended = ending.get("_" + key, np.zeros(3, dtype=bool))
            assert np.array_equal(a[4]["_" + key], ended)
            if ended.any():
                assert np.array_equal(a[4][key][ended], ending[key][ended])
        episodes_ended += int(a[2].sum())
    assert episodes_ended > 10


def test_max_episodes_plays_exactly_that_many_function_episodes():
    env = ToyCorewarVectorEnv(num_envs=4, function="r3 = r1 + r2", autoreset_mode="SameStep", max_episodes=10)
    env.reset(seed=0)
    rng, ended = np.random.default_rng(0), 0
    while not env.idle.all():
        before = env.observation()
        idle = env.idle.copy()
        observation, rewards, terminated, _, info = env.step(random_actions(rng, 4))
        ended += int(terminated.sum())
        assert not (terminated & idle).any() and not rewards[idle].any()
        for key in ("registers", "target", "matters", "program"):  # idle copies keep their last state
            assert np.array_equal(observation[key][idle], before[key][idle]), key
    assert ended == 10 and env.episodes_started == 10


def test_state_and_load_state_resume_function_episodes_exactly():
    machine, reward = MachineConfig(), make_reward("Specific_register_values")
    first = same_step_env(3, machine, reward, RandomFunctions(3, machine, num_examples=2), max_episodes=40)
    first.reset(seed=5)
    rng = np.random.default_rng(1)
    for _ in range(7):
        first.step(random_actions(rng, 3))
    saved = first.state()
    actions = [random_actions(rng, 3) for _ in range(12)]
    expected = [first.step(a) for a in actions]
    second = same_step_env(3, machine, reward, RandomFunctions(3, machine, num_examples=2), max_episodes=40)
    second.load_state(saved)
    assert second.function_tasks.episode == saved["function_tasks"][0]
    for a, (observation, rewards, terminated, _, info) in zip(actions, expected, strict=True):
        again = second.step(a)
        for key in observation:
            assert np.array_equal(again[0][key], observation[key]), key
        assert np.array_equal(again[1], rewards) and np.array_equal(again[2], terminated)
        assert np.array_equal(again[4]["correct"], info["correct"])


def test_same_step_env_takes_a_function_task_source_as_its_tasks():
    source = FunctionTasks([parse_function("r2 = 5 * r1")], num_examples=3)
    env = same_step_env(2, MachineConfig(), make_reward("Specific_register_values"), source)
    observation, _ = env.reset(seed=0)
    assert env.function_tasks is source and observation["matters"][0].tolist() == [[0, 1, 0, 0]] * 3


def test_a_function_env_refuses_constant_target_options():
    with pytest.raises(ValueError, match="do not apply to a function task"):
        ToyCorewarVectorEnv(2, function="r1 = r2", target=[1, 2, 3, 4])
    env = ToyCorewarVectorEnv(2, function="r1 = r2")
    with pytest.raises(ValueError, match="options 'target' and 'reg_init' do not apply"):
        env.reset(options={"target": [1, 2, 3, 4]})


def test_constant_target_observations_have_no_matters():
    assert "matters" not in ToyCorewarVectorEnv(2).reset(seed=0)[0]
    assert "matters" not in gymnasium.make("ToyCorewar-v0").reset(seed=0)[0]
    env = ToyCorewarVectorEnv(2, autoreset_mode="SameStep")
    env.reset(seed=0)
    assert "correct" not in env.step(np.array([STOP, STOP]))[4]
