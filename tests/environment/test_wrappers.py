"""environment/wrappers.py: each wrapper passes Gymnasium's and SB3's checkers, its observation
determines the registers and the target exactly, and SB3 trains on it; and SB3's own `make_vec_env`
builds, steps and trains on `ToyCorewar-v0`."""

from __future__ import annotations

import warnings

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import environment
from environment.wrappers import WRAPPERS, CircularGapObservation

TARGETS = [[0, 10, 30, 250], [255, 20, 255, 1], [128, 0, 127, 129]]


@pytest.fixture(autouse=True)
def sb3_logs_in_tmp(tmp_path, monkeypatch):
    monkeypatch.setenv("SB3_LOGDIR", str(tmp_path))  # SB3's logger makes a folder, by default in /tmp


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_each_wrapper_passes_gymnasium_and_sb3_checkers(name):
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = WRAPPERS[name](gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250]).unwrapped)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version.*")
        check_env(env, skip_render_check=True)
    sb3_check_env(env)


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_the_wrapped_observation_determines_registers_and_target(name):
    env = WRAPPERS[name](gymnasium.make("ToyCorewar-v0"))
    env.action_space.seed(0)
    seen = 0
    for episode, target in enumerate([*TARGETS, None, None]):
        observation, info = env.reset(seed=episode, options={"target": target})
        done = False
        while True:
            registers, goal = env.registers_and_target(observation)
            assert env.observation_space.contains(observation)
            assert registers.tolist() == info["registers"]
            assert goal.tolist() == env.unwrapped.target
            seen += 1
            if done:
                break
            observation, _, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
    assert seen >= 10


def test_the_gap_wrapper_shows_the_signed_circular_gap_and_which_registers_are_right():
    env = CircularGapObservation(gymnasium.make("ToyCorewar-v0", target=[255, 0, 130, 2], reg_init=[0, 0, 2, 250]))
    observation, _ = env.reset(seed=0)
    features = observation["registers"].reshape(5, 4)
    np.testing.assert_allclose(features[2] * 128, [-1, 0, -128, 8])  # 255 is one below 0; 130 − 2 wraps to −128
    np.testing.assert_allclose(features[3] * 128, [1, 0, 128, 8])
    np.testing.assert_array_equal(features[4], [0, 1, 0, 0])


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_sb3_dqn_trains_on_each_wrapper(name):
    from stable_baselines3 import DQN

    env = WRAPPERS[name](gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250]))
    model = DQN("MultiInputPolicy", env, learning_starts=50, seed=0, device="cpu")
    model.learn(total_timesteps=200)
    assert model.num_timesteps >= 200


def test_sb3_make_vec_env_builds_steps_and_trains_ppo():
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env(environment.ENV_ID, n_envs=4, seed=0, env_kwargs={"target": [0, 10, 30, 250]},
                       wrapper_class=CircularGapObservation)
    assert env.get_attr("render_mode") == ["rgb_array"] * 4  # what make_vec_env asks for
    observation = env.reset()
    assert observation["registers"].shape == (4, 20)
    observation, rewards, dones, infos = env.step(np.zeros(4, dtype=np.int64))  # ld %0, r1 in every copy
    assert rewards.shape == (4,) and not dones.any() and infos[0]["registers"] == [0, 0, 0, 0]
    assert env.render().ndim == 3  # SB3 tiles the copies' rgb_array frames into one image
    model = PPO("MultiInputPolicy", env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=512)
    assert model.num_timesteps >= 512
    raw = make_vec_env(environment.ENV_ID, n_envs=2, seed=0, env_kwargs={"target": [0, 10, 30, 250]})
    assert raw.reset()["registers"].dtype == np.int64
