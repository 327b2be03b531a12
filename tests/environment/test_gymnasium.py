"""ToyCorewar-v0 in the Gymnasium and Stable-Baselines3 ecosystems (docs/reference.md §6)."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode

import environment
from toycorewar import ActionTable

STOP = ActionTable().stop_action


def test_importing_environment_registers_both_entry_points():
    spec = gymnasium.spec(environment.ENV_ID)
    assert spec.id == "ToyCorewar-v0"
    assert spec.entry_point == "environment.single_env:ToyCorewarEnv"
    assert spec.vector_entry_point == "environment.vector_env:ToyCorewarVectorEnv"


def test_make_passes_the_arguments():
    env = gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250], reg_init=[1, 2, 3, 4], max_length=3,
                         circular=False, positive=False, cumulative=False)
    assert isinstance(env.unwrapped, environment.ToyCorewarEnv)
    assert env.unwrapped.reward.settings == {"circular": False, "positive": False, "cumulative": False}
    observation, _ = env.reset(seed=0)
    assert observation["target"].tolist() == [0, 10, 30, 250]
    assert observation["registers"].tolist() == [1, 2, 3, 4]
    assert observation["program"].shape == (3,)
    assert env.action_space == gymnasium.spaces.Discrete(225)


@pytest.mark.parametrize("kwargs", [{}, {"target": [0, 10, 30, 250]},
                                    {"target": [7, 7, 7, 7], "reg_init": [1, 2, 3, 4], "positive": False}])
def test_gymnasium_env_checker_passes(kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a checker warning fails the test too
        check_env(gymnasium.make("ToyCorewar-v0", **kwargs).unwrapped)


def random_actions(rng: np.random.Generator, count: int) -> np.ndarray:
    """Random instructions, with stop one time in five so that episodes of every length occur."""
    return np.where(rng.random(count) < 0.2, STOP, rng.integers(0, STOP, size=count))


@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize("flags", [{}, {"circular": False, "positive": False, "cumulative": True},
                                   {"circular": True, "positive": False, "cumulative": False}])
def test_native_vector_env_matches_sync_vector_env_step_by_step(mode, flags):
    num_envs, target, reg_init = 4, [0, 10, 30, 250], [5, 0, 255, 1]
    native = gymnasium.make_vec("ToyCorewar-v0", num_envs=num_envs, vectorization_mode="vector_entry_point",
                                target=target, reg_init=reg_init, autoreset_mode=mode, **flags)
    assert isinstance(native, environment.ToyCorewarVectorEnv)
    assert native.metadata["autoreset_mode"] == AutoresetMode(mode)
    sync = gymnasium.vector.SyncVectorEnv(
        [lambda: gymnasium.make("ToyCorewar-v0", target=target, reg_init=reg_init, **flags)] * num_envs,
        autoreset_mode=mode)
    assert native.single_observation_space == sync.single_observation_space
    assert native.single_action_space == sync.single_action_space

    native_obs, sync_obs = native.reset(seed=1)[0], sync.reset(seed=1)[0]
    for key in ("program", "registers", "target"):
        assert np.array_equal(native_obs[key], sync_obs[key]), key
    rng = np.random.default_rng(0)
    episodes_ended = 0
    for _ in range(300):
        actions = random_actions(rng, num_envs)
        (native_obs, *native_rest, native_info), (sync_obs, *sync_rest, sync_info) = (
            native.step(actions), sync.step(actions))
        for key in ("program", "registers", "target"):
            assert np.array_equal(native_obs[key], sync_obs[key]), key
        # rewards, terminated, truncated
        for native_array, sync_array in zip(native_rest, sync_rest, strict=True):
            assert np.array_equal(native_array, sync_array)
        if mode == "NextStep":
            ended = native_info["_performance"]
            assert ended.tolist() == sync_info.get("_performance", np.zeros(num_envs, bool)).tolist()
            if ended.any():
                assert np.array_equal(native_info["performance"][ended], sync_info["performance"][ended])
                assert np.array_equal(native_info["solved"][ended], sync_info["solved"][ended])
        episodes_ended += int(native_rest[1].sum())
    assert episodes_ended > 100


def test_native_vector_env_is_the_default_vectorization():
    env = gymnasium.make_vec("ToyCorewar-v0", num_envs=3, target=[1, 2, 3, 4])
    assert isinstance(env, environment.ToyCorewarVectorEnv)
    assert env.num_envs == 3


def test_stable_baselines3_ppo_trains_with_multi_input_policy(tmp_path, monkeypatch):
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path))  # SB3's logger makes a folder, by default in /tmp
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sb3_check_env(env.unwrapped)
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=32, n_epochs=2, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    assert model.num_timesteps >= 256
    observation, _ = env.reset(seed=0)
    action, _ = model.predict(observation, deterministic=True)
    assert env.action_space.contains(int(action))
    env.step(int(action))
