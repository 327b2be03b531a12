"""The native batched environment: spaces, autoreset, seeding, reset options and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

from environment import ToyCorewarVectorEnv
from toycorewar import ActionTable

TABLE = ActionTable()
STOP = TABLE.stop_action
EMPTY = TABLE.num_actions


def test_spaces_batch_the_single_spaces():
    env = ToyCorewarVectorEnv(num_envs=3)
    assert env.single_action_space == spaces.Discrete(225)
    assert set(env.single_observation_space.spaces) >= {"program", "registers", "target"}
    assert env.action_space.shape == (3,)
    observation, info = env.reset(seed=0)
    assert env.observation_space.contains(observation)
    assert observation["program"].shape == (3, 5) and observation["registers"].shape == (3, 4)
    assert info["registers"].tolist() == [[0, 0, 0, 0]] * 3


@pytest.mark.parametrize(("mode", "declared"), [(None, AutoresetMode.NEXT_STEP),
                                                ("NextStep", AutoresetMode.NEXT_STEP),
                                                ("SameStep", AutoresetMode.SAME_STEP),
                                                (AutoresetMode.SAME_STEP, AutoresetMode.SAME_STEP)])
def test_metadata_declares_the_autoreset_mode(mode, declared):
    kwargs = {} if mode is None else {"autoreset_mode": mode}
    env = ToyCorewarVectorEnv(num_envs=2, **kwargs)
    assert env.metadata["autoreset_mode"] == declared
    assert ToyCorewarVectorEnv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP


def test_disabled_autoreset_is_refused():
    with pytest.raises(ValueError, match="autoreset_mode must be NextStep or SameStep"):
        ToyCorewarVectorEnv(autoreset_mode="Disabled")


def test_next_step_autoreset_resets_a_finished_copy_on_its_next_step():
    env = ToyCorewarVectorEnv(num_envs=2, target=[3, 0, 0, 0], autoreset_mode="NextStep",
                              positive=False, cumulative=False)
    env.reset(seed=0)
    observation, rewards, terminated, _, info = env.step(np.array([3, STOP]))  # copy 1 stops
    assert terminated.tolist() == [False, True]
    assert rewards.tolist() == [0, -3]
    assert info["_performance"].tolist() == [False, True] and info["performance"][1] == -3
    assert observation["program"][1].tolist() == [STOP] + [EMPTY] * 4
    observation, rewards, terminated, _, info = env.step(np.array([25, 79]))  # copy 1's action is ignored
    assert terminated.tolist() == [False, False]
    assert rewards.tolist() == [0, 0]
    assert not info["_performance"].any()
    assert observation["program"].tolist() == [[3, 25] + [EMPTY] * 3, [EMPTY] * 5]
    assert observation["registers"].tolist() == [[3, 5, 0, 0], [0, 0, 0, 0]]


def test_same_step_autoreset_returns_the_final_observation_in_info():
    env = ToyCorewarVectorEnv(num_envs=2, target=[3, 0, 0, 0], autoreset_mode="SameStep")
    env.reset(seed=0)
    env.step(np.array([3, 3]))
    observation, rewards, terminated, _, info = env.step(np.array([25, STOP]))
    assert terminated.tolist() == [False, True]
    assert info["_final_obs"].tolist() == [False, True]
    assert info["final_obs"]["program"][1].tolist() == [3, STOP] + [EMPTY] * 3
    assert info["final_obs"]["registers"][1].tolist() == [3, 0, 0, 0]
    assert info["performance"][1] == 0 and info["solved"][1]
    assert observation["program"].tolist() == [[3, 25] + [EMPTY] * 3, [EMPTY] * 5]
    assert observation["registers"].tolist() == [[3, 5, 0, 0], [0, 0, 0, 0]]
    observation, *_ = env.step(np.array([STOP, 7]))
    assert observation["registers"][1].tolist() == [7, 0, 0, 0]


def test_reset_seed_makes_random_targets_reproducible():
    first = ToyCorewarVectorEnv(num_envs=4).reset(seed=42)[0]["target"]
    assert np.array_equal(ToyCorewarVectorEnv(num_envs=4).reset(seed=42)[0]["target"], first)
    assert not np.array_equal(ToyCorewarVectorEnv(num_envs=4).reset(seed=43)[0]["target"], first)
    assert len({tuple(t) for t in first.tolist()}) == 4  # each copy draws its own
    assert first.min() >= 0 and first.max() <= 255


def test_autoreset_targets_follow_the_reset_seed():
    def targets_after_stops(seed: int) -> list:
        env = ToyCorewarVectorEnv(num_envs=2, autoreset_mode="SameStep")
        env.reset(seed=seed)
        return [env.step(np.full(2, STOP))[0]["target"].tolist() for _ in range(3)]

    assert targets_after_stops(5) == targets_after_stops(5)
    assert targets_after_stops(5) != targets_after_stops(6)


def test_reset_options_set_target_and_reg_init_per_copy_or_for_all():
    env = ToyCorewarVectorEnv(num_envs=2)
    observation, info = env.reset(options={"target": [1, 2, 3, 4], "reg_init": [[9, 9, 9, 9], [0, 1, 2, 3]]})
    assert observation["target"].tolist() == [[1, 2, 3, 4]] * 2
    assert observation["registers"].tolist() == [[9, 9, 9, 9], [0, 1, 2, 3]]
    assert info["registers"].tolist() == [[9, 9, 9, 9], [0, 1, 2, 3]]


def test_reset_mask_resets_only_the_chosen_copies():
    env = ToyCorewarVectorEnv(num_envs=2, target=[0, 0, 0, 0])
    env.reset(seed=0)
    env.step(np.array([3, 3]))
    observation, _ = env.reset(options={"reset_mask": np.array([False, True]), "target": [5, 5, 5, 5]})
    assert observation["registers"].tolist() == [[3, 0, 0, 0], [0, 0, 0, 0]]
    assert observation["target"].tolist() == [[0, 0, 0, 0], [5, 5, 5, 5]]


def test_program_text_of_a_copy():
    env = ToyCorewarVectorEnv(num_envs=2)
    env.reset(seed=0)
    env.step(np.array([3, 25]))
    env.step(np.array([STOP, 3]))
    assert env.program_text(0) == "ld %3, r1\nstop\n"
    assert env.program_text(1) == "ld %5, r2\nld %3, r1\n"


@pytest.mark.parametrize("bad", [-1, 225])
def test_action_out_of_range_is_an_error(bad):
    env = ToyCorewarVectorEnv(num_envs=3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=rf"action {bad} is out of range 0\.\.224"):
        env.step(np.array([0, bad, 1]))


def test_non_integer_actions_are_an_error():
    env = ToyCorewarVectorEnv(num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions must be an integer array of shape \(2,\), got float64"):
        env.step(np.array([0.0, 1.0]))


@pytest.mark.parametrize("actions", [np.array([0, 1, 2]), np.array([[0, 1]]), np.array(0), [0]])
def test_actions_of_the_wrong_shape_are_an_error(actions):
    env = ToyCorewarVectorEnv(num_envs=2)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be an integer array of shape \(2,\), got .* of shape"):
        env.step(actions)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("target", [1, 2, 3], r"target must be a list of 4 integers in 0\.\.255"),
    ("target", [1, 2, 3, 256], r"target .*but 256 is out of range"),
    ("reg_init", [1, 2, 3, 4, 5], r"reg_init must be a list of 4 integers in 0\.\.255"),
    ("reg_init", [-5, 2, 3, 4], r"reg_init .*but -5 is out of range"),
])
def test_bad_target_or_reg_init_is_an_error_naming_it(field, value, message):
    with pytest.raises(ValueError, match=message):
        ToyCorewarVectorEnv(num_envs=2, **{field: value})
    with pytest.raises(ValueError, match=message):
        ToyCorewarVectorEnv(num_envs=2).reset(options={field: value})


def test_bad_row_of_a_per_copy_target_is_an_error_naming_the_copy():
    with pytest.raises(ValueError, match=r"target\[1\] .*but 300 is out of range"):
        ToyCorewarVectorEnv(num_envs=2).reset(options={"target": [[1, 2, 3, 4], [1, 2, 3, 300]]})


def test_step_before_reset_is_an_error():
    with pytest.raises(RuntimeError, match=r"before reset\(\)"):
        ToyCorewarVectorEnv(num_envs=2).step(np.array([0, 0]))


@pytest.mark.parametrize("num_envs", [0, -1, 2.0])
def test_num_envs_must_be_a_positive_integer(num_envs):
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        ToyCorewarVectorEnv(num_envs=num_envs)


def test_first_reset_must_reset_every_copy():
    with pytest.raises(ValueError, match="first reset"):
        ToyCorewarVectorEnv(num_envs=2).reset(options={"reset_mask": np.array([True, False])})
