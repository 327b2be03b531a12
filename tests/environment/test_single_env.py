"""The single ToyCorewar environment: episodes, info, seeding, reset options and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from environment import ToyCorewarEnv
from toycorewar import ActionTable, parse_program

TABLE = ActionTable()
STOP = TABLE.stop_action


def test_reset_gives_an_empty_program_zero_registers_and_the_target():
    env = ToyCorewarEnv(target=[0, 10, 30, 250])
    observation, info = env.reset(seed=0)
    assert observation["program"].tolist() == [TABLE.num_actions] * 5
    assert observation["registers"].tolist() == [0, 0, 0, 0]
    assert observation["target"].tolist() == [0, 10, 30, 250]
    assert info == {"registers": [0, 0, 0, 0], "program": ""}


def test_info_holds_registers_and_program_text_ending_with_stop():
    env = ToyCorewarEnv(target=[3, 5, 0, 0])
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(3)
    assert not terminated
    assert info["registers"] == [3, 0, 0, 0]
    assert all(type(value) is int for value in info["registers"])
    assert info["program"] == "ld %3, r1\n"
    assert "performance" not in info and "solved" not in info
    env.step(25)
    observation, _, terminated, truncated, info = env.step(STOP)
    assert terminated and not truncated
    assert observation["program"].tolist() == [3, 25, STOP, TABLE.num_actions, TABLE.num_actions]
    assert info["program"].splitlines() == ["ld %3, r1", "ld %5, r2", "stop"]
    assert parse_program(info["program"]) == [TABLE.decode_action(a) for a in (3, 25, STOP)]
    assert info["registers"] == [3, 5, 0, 0]
    assert info["performance"] == 0 and info["solved"] is True


def test_full_program_ends_the_episode_without_stop():
    env = ToyCorewarEnv(target=[1, 0, 0, 0], max_length=3)
    env.reset(seed=0)
    for action in (3, 25):
        assert env.step(action)[2] is False
    _, _, terminated, truncated, info = env.step(45)  # ld %5, r3
    assert terminated is True and truncated is False
    assert info["program"].splitlines() == ["ld %3, r1", "ld %5, r2", "ld %5, r3"]
    assert info["registers"] == [3, 5, 5, 0]
    assert info["performance"] == -(2 + 5 + 5) and info["solved"] is False


def test_reset_seed_makes_random_targets_reproducible():
    env = ToyCorewarEnv()
    first = env.reset(seed=42)[0]["target"].tolist()
    following = env.reset()[0]["target"].tolist()
    assert env.reset(seed=42)[0]["target"].tolist() == first
    assert env.reset()[0]["target"].tolist() == following
    assert ToyCorewarEnv().reset(seed=42)[0]["target"].tolist() == first
    assert following != first
    assert ToyCorewarEnv().reset(seed=43)[0]["target"].tolist() != first
    assert all(0 <= value <= 255 for value in first + following)


def test_reset_options_set_target_and_reg_init_for_one_episode():
    env = ToyCorewarEnv(target=[1, 2, 3, 4], reg_init=[5, 6, 7, 8])
    observation, info = env.reset(options={"target": [10, 20, 30, 40], "reg_init": [250, 0, 0, 1]})
    assert observation["target"].tolist() == [10, 20, 30, 40]
    assert observation["registers"].tolist() == [250, 0, 0, 1] == info["registers"]
    _, _, _, _, info = env.step(STOP)
    assert info["performance"] == -(16 + 20 + 30 + 39)  # circular by default: 250 vs 10 is 16
    observation, _ = env.reset()
    assert observation["target"].tolist() == [1, 2, 3, 4]
    assert observation["registers"].tolist() == [5, 6, 7, 8]


def test_reset_options_accept_numpy_arrays():
    env = ToyCorewarEnv()
    observation, _ = env.reset(options={"target": np.array([1, 2, 3, 4]), "reg_init": np.array([4, 3, 2, 1])})
    assert observation["target"].tolist() == [1, 2, 3, 4]
    assert observation["registers"].tolist() == [4, 3, 2, 1]


def test_ansi_render_shows_program_and_registers():
    env = ToyCorewarEnv(target=[1, 2, 3, 4], render_mode="ansi")
    env.reset(seed=0)
    env.step(3)
    assert env.render() == "ld %3, r1\nregisters [3, 0, 0, 0] target [1, 2, 3, 4]\n"


@pytest.mark.parametrize("action", [-1, 225, np.int64(225)])
def test_action_out_of_range_is_an_error(action):
    env = ToyCorewarEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"action {int(action)} is out of range 0\.\.224"):
        env.step(action)


@pytest.mark.parametrize("action", [3.0, "3", None, True, np.array([3])])
def test_non_integer_action_is_an_error(action):
    env = ToyCorewarEnv()
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"action must be an integer in 0\.\.224"):
        env.step(action)


def test_numpy_integer_actions_are_accepted():
    env = ToyCorewarEnv(target=[0, 0, 0, 0])
    env.reset(seed=0)
    assert env.step(np.int64(3))[0]["registers"].tolist() == [3, 0, 0, 0]
    assert env.step(np.array(25))[0]["registers"].tolist() == [3, 5, 0, 0]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("target", [1, 2, 3], r"target must be a list of 4 integers in 0\.\.255, got \[1, 2, 3\]"),
    ("target", [1, 2, 3, 256], r"target .*but 256 is out of range"),
    ("target", [1, 2, 3, -1], r"target .*but -1 is out of range"),
    ("target", [1, 2, 3, 4.0], r"target must be a list of 4 integers"),
    ("target", "1234", r"target must be a list of 4 integers"),
    ("reg_init", [0, 0, 0, 0, 0], r"reg_init must be a list of 4 integers in 0\.\.255"),
    ("reg_init", [300, 0, 0, 0], r"reg_init .*but 300 is out of range"),
])
def test_bad_target_or_reg_init_is_an_error_naming_it(field, value, message):
    with pytest.raises(ValueError, match=message):
        ToyCorewarEnv(**{field: value})
    env = ToyCorewarEnv()
    with pytest.raises(ValueError, match=message):
        env.reset(options={field: value})


def test_unknown_reset_option_is_an_error():
    with pytest.raises(ValueError, match="unknown reset option.*targets"):
        ToyCorewarEnv().reset(options={"targets": [1, 2, 3, 4]})


def test_step_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match=r"before reset\(\)"):
        ToyCorewarEnv().step(0)


def test_step_after_the_end_of_an_episode_is_an_error():
    env = ToyCorewarEnv()
    env.reset(seed=0)
    env.step(STOP)
    with pytest.raises(RuntimeError, match=r"after the episode ended; call reset\(\)"):
        env.step(0)
    env.reset()
    assert env.step(0)[2] is False


def test_bad_render_mode_is_an_error():
    with pytest.raises(ValueError, match="render_mode must be None or one of 'ansi', 'rgb_array', 'human'"):
        ToyCorewarEnv(render_mode="rgb")
