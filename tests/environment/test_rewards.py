"""Reward arithmetic of `Specific_register_values` (docs/environment.md, "Rewards"), worked by hand,
and the same arithmetic on torch tensors (the known-reward network's)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from environment import Specific_register_values, ToyCorewarEnv, ToyCorewarVectorEnv, make_reward
from toycorewar import ActionTable

TABLE = ActionTable()
STOP = TABLE.stop_action

# From registers [0, 0, 0, 0] towards target [3, 0, 0, 2]:
#   step  instruction        registers         D plain   D circular
#   -     (start)            [0, 0, 0, 0]        5          5
#   1     ld %3, r1          [3, 0, 0, 0]        2          2
#   2     ld %5, r2          [3, 5, 0, 0]        7          7
#   3     sub r1, r2, r4     [3, 5, 0, 254]    5+252=257    5+4=9
#   4     stop               [3, 5, 0, 254]     257          9      (one slot unused)
PROGRAM = [3, 25, 212, STOP]
TARGET = [3, 0, 0, 2]
EXPECTED = {
    # (circular, positive, cumulative): rewards of the four steps
    # positive: D(before) − D(after); the unused slot adds D − D = 0.
    (False, True, False): [5 - 2, 2 - 7, 7 - 257, 0],
    (False, True, True): [3, -5, -250, 0],
    (True, True, False): [3, -5, 7 - 9, 0],
    (True, True, True): [3, -5, -2, 0],
    # not positive, cumulative: −D(after); the stop step also collects one unused no-op step.
    (False, False, True): [-2, -7, -257, -257 * 2],
    (True, False, True): [-2, -7, -9, -9 * 2],
    # not positive, not cumulative: −D(after) on the last step only.
    (False, False, False): [0, 0, 0, -257],
    (True, False, False): [0, 0, 0, -9],
}


def run_episode(kind: str, program: list[int], target: list[int], **flags) -> tuple[list[float], dict]:
    """Rewards of `program` from zero registers, and the info of its last step, in either environment."""
    if kind == "single":
        env = ToyCorewarEnv(target=target, **flags)
        env.reset(seed=0)
        rewards = []
        for action in program:
            _, reward, terminated, _, info = env.step(action)
            rewards.append(reward)
        assert terminated
        return rewards, info
    env = ToyCorewarVectorEnv(num_envs=2, target=target, **flags)
    env.reset(seed=0)
    rewards = []
    for action in program:
        # The second copy only stops, again and again; the first runs `program`.
        _, reward, terminated, _, info = env.step(np.array([action, STOP]))
        rewards.append(float(reward[0]))
    assert terminated[0] and info["_performance"][0]
    return rewards, {"performance": int(info["performance"][0]), "solved": bool(info["solved"][0])}


def test_worked_example_decodes_as_written():
    assert [str(TABLE.decode_action(a)) for a in PROGRAM] == ["ld %3, r1", "ld %5, r2", "sub r1, r2, r4",
                                                              "stop"]


@pytest.mark.parametrize("kind", ["single", "vector"])
@pytest.mark.parametrize(("circular", "positive", "cumulative"), list(EXPECTED))
def test_rewards_of_worked_example_for_each_setting(kind, circular, positive, cumulative):
    flags = {"circular": circular, "positive": positive, "cumulative": cumulative}
    rewards, info = run_episode(kind, PROGRAM, TARGET, **flags)
    assert rewards == EXPECTED[(circular, positive, cumulative)]
    assert info["performance"] == (-9 if circular else -257)
    assert info["solved"] is False


@pytest.mark.parametrize("kind", ["single", "vector"])
def test_early_stop_adds_noop_rewards(kind):
    # ld %7, r1 then stop, target zeros, MAX_LENGTH 5: D = 7 after both steps; stop is the 2nd of 5 slots,
    # so it earns its own −7 and that of 3 unused no-op slots: −7·4 = −28.
    rewards, _ = run_episode(kind, [7, STOP], [0, 0, 0, 0], circular=False, positive=False, cumulative=True)
    assert rewards == [-7, -28]
    # The same program padded with no-ops (st r1, r1) to 5 instructions earns the same return.
    noop = 80
    assert str(TABLE.decode_action(noop)) == "st r1, r1"
    padded, _ = run_episode(kind, [7, noop, noop, noop, noop], [0, 0, 0, 0],
                            circular=False, positive=False, cumulative=True)
    assert padded == [-7, -7, -7, -7, -7]
    assert sum(padded) == sum(rewards) == -35


@pytest.mark.parametrize("kind", ["single", "vector"])
def test_early_stop_without_cumulative_earns_final_distance_once(kind):
    rewards, _ = run_episode(kind, [7, STOP], [0, 0, 0, 0], circular=False, positive=False, cumulative=False)
    assert rewards == [0, -7]


@pytest.mark.parametrize("kind", ["single", "vector"])
def test_positive_return_telescopes_to_distance_gained(kind):
    # ld %7, r1 towards target [10, 0, 0, 0]: D goes 10 -> 3, then stop; padding adds nothing.
    rewards, info = run_episode(kind, [7, STOP], [10, 0, 0, 0],
                                circular=False, positive=True, cumulative=True)
    assert rewards == [7, 0]
    assert info["performance"] == -3


@pytest.mark.parametrize("kind", ["single", "vector"])
def test_reaching_the_target_is_solved_with_performance_zero(kind):
    # ld %3, r1; ld %5, r2; stop reaches [3, 5, 0, 0] exactly.
    rewards, info = run_episode(kind, [3, 25, STOP], [3, 5, 0, 0],
                                circular=True, positive=False, cumulative=True)
    assert rewards == [-5, 0, 0]
    assert info["performance"] == 0
    assert info["solved"] is True


def test_circular_distance_wraps_around_256():
    registers, target = np.array([250, 0, 128, 10]), np.array([0, 0, 0, 12])
    assert Specific_register_values(circular=True).distance(registers, target) == 6 + 0 + 128 + 2
    assert Specific_register_values(circular=False).distance(registers, target) == 250 + 0 + 128 + 2


def test_distance_is_computed_per_copy_over_the_last_axis():
    reward = Specific_register_values(circular=True)
    registers = np.array([[250, 0, 0, 0], [0, 0, 0, 0]])
    assert reward.distance(registers, np.zeros(4, dtype=np.int64)).tolist() == [6, 0]


@pytest.mark.parametrize("settings", [dict(zip(("circular", "positive", "cumulative"), flags, strict=True))
                                      for flags in itertools.product((False, True), repeat=3)])
def test_tensors_get_the_numbers_numpy_gets(settings):
    # One arithmetic for both libraries: numpy keeps the environment's dtypes, tensors stay tensors.
    torch = pytest.importorskip("torch")
    reward = make_reward("Specific_register_values", settings)
    rng = np.random.default_rng(0)
    registers, target = rng.integers(0, 256, size=(64, 4)), rng.integers(0, 256, size=(64, 4))
    registers[:4] = target[:4] + np.array([[128], [129], [127], [-128]])  # gaps about half the circle
    registers %= 256
    per_register = reward.register_distance(registers, target)
    assert per_register.dtype == np.int64
    assert torch.equal(reward.register_distance(torch.as_tensor(registers), torch.as_tensor(target)),
                       torch.as_tensor(per_register))
    distance = reward.distance(registers, target)
    assert distance.dtype == np.int64 and distance.tolist() == per_register.sum(axis=1).tolist()
    tensor_distance = reward.distance(torch.as_tensor(registers), torch.as_tensor(target))
    assert isinstance(tensor_distance, torch.Tensor) and tensor_distance.tolist() == distance.tolist()
    before, after = distance, np.roll(distance, 1)
    done, unused = rng.random(64) < 0.5, rng.integers(0, 5, size=64)
    rewards = reward.step_reward(before, after, done, unused)
    assert rewards.dtype == np.float64
    tensor_rewards = reward.step_reward(*(torch.as_tensor(x) for x in (before, after, done, unused)))
    assert isinstance(tensor_rewards, torch.Tensor) and tensor_rewards.double().tolist() == rewards.tolist()


def test_circular_register_distance_is_the_shorter_way_round():
    reward = Specific_register_values(circular=True)
    gaps = np.arange(256)
    shorter = np.minimum(gaps, 256 - gaps)
    assert reward.register_distance(gaps, np.zeros(256, dtype=np.int64)).tolist() == shorter.tolist()
    assert Specific_register_values(circular=False).register_distance(gaps, 0).tolist() == gaps.tolist()


def test_make_reward_passes_the_settings():
    settings = {"circular": False, "positive": True, "cumulative": False}
    reward = make_reward("Specific_register_values", settings)
    assert isinstance(reward, Specific_register_values)
    assert reward.settings == settings
    assert make_reward("Specific_register_values").settings == {"circular": True, "positive": True,
                                                                 "cumulative": True}


def test_unknown_reward_function_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown reward function 'Register_values': .*Specific_register_v"):
        make_reward("Register_values")
    with pytest.raises(ValueError, match="unknown reward function 'Register_values'"):
        ToyCorewarEnv(reward_func="Register_values")
    with pytest.raises(ValueError, match="unknown reward function 'Register_values'"):
        ToyCorewarVectorEnv(reward_func="Register_values")


def test_unknown_reward_setting_is_an_error_naming_it():
    with pytest.raises(ValueError, match="unknown reward setting.*circulr.*expected circular, positive, cum"):
        make_reward("Specific_register_values", {"circulr": True})


def test_reward_setting_must_be_a_boolean():
    with pytest.raises(TypeError, match="'positive' must be true or false, got 'yes'"):
        make_reward("Specific_register_values", {"positive": "yes"})


def test_return_bounds_hold_the_best_return_still_to_come_between_marking_time_and_the_target():
    # Distance 7 with 3 steps to go, worked by hand for each form of the reward.
    positive = make_reward("Specific_register_values", {"positive": True})
    assert positive.return_bounds(7, 3) == (0, 7)  # D − D(final), 0 ≤ D(final) ≤ 7
    cumulative = make_reward("Specific_register_values", {"positive": False, "cumulative": True})
    assert cumulative.return_bounds(7, 3) == (-21, 0)  # three steps of −7 at worst
    final_only = make_reward("Specific_register_values", {"positive": False, "cumulative": False})
    assert final_only.return_bounds(7, 3) == (-7, 0)  # only −D(final) counts
    low, high = positive.return_bounds(np.array([0, 4]), np.array([1, 2]))
    assert low.tolist() == [0, 0] and high.tolist() == [0, 4]
