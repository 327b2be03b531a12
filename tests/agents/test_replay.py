"""The replay buffer: preallocated arrays, wrap-around, n-step sums and hindsight relabelling."""

import numpy as np
import pytest

from agents.replay import ReplayBuffer
from toycorewar import MachineConfig

MACHINE = MachineConfig(num_registers=2, n_vals=4, max_length=3)
EMPTY = MACHINE.num_actions


def obs(registers, target=(9, 9), length=0):
    program = np.full((len(registers), MACHINE.max_length), EMPTY)
    program[:, :length] = 0
    return {"program": program, "registers": np.array(registers), "target": np.array([target] * len(registers))}


def fill_one_episode(buffer, rewards, registers):
    """One copy (stride 1) playing one episode of len(rewards) steps; registers[k] is after step k."""
    before = [(0, 0)] + registers[:-1]
    for k, reward in enumerate(rewards):
        buffer.add(obs([before[k]], length=k), np.array([k]), np.array([reward], dtype=np.float32),
                   obs([registers[k]], length=k + 1), np.array([k == len(rewards) - 1]))


def test_add_wraps_around_its_capacity():
    buffer = ReplayBuffer(4, MACHINE)
    for step in range(6):
        buffer.add(obs([(step, step)]), np.array([step]), np.array([1.0]), obs([(step, step)]), np.array([False]))
    assert buffer.size == 4 and buffer.index == 2
    assert sorted(buffer.arrays["action"].tolist()) == [2, 3, 4, 5]


def test_one_step_sample_returns_stored_transition():
    buffer = ReplayBuffer(8, MACHINE)
    fill_one_episode(buffer, [5.0], [(1, 2)])
    batch = buffer.sample(4, np.random.default_rng(0), n_step=1, gamma=0.5)
    assert batch["reward"].tolist() == [5.0] * 4
    assert batch["discount"].tolist() == [0.5] * 4
    assert batch["terminated"].all()
    assert batch["next_registers"].tolist() == [[1, 2]] * 4


def test_n_step_sums_discounted_rewards_until_the_episode_ends():
    buffer = ReplayBuffer(8, MACHINE)
    fill_one_episode(buffer, [1.0, 2.0, 4.0], [(1, 0), (1, 1), (2, 1)])
    batch = buffer.sample(64, np.random.default_rng(1), n_step=3, gamma=0.5)
    by_action = {int(a): (float(r), float(d), bool(t)) for a, r, d, t in
                 zip(batch["action"], batch["reward"], batch["discount"], batch["terminated"], strict=True)}
    # From step 0: 1 + 0.5·2 + 0.25·4 = 3, ending the episode; from step 1: 2 + 0.5·4 = 4; step 2: 4.
    assert by_action[0] == (3.0, 0.125, True)
    assert by_action[1] == (4.0, 0.25, True)
    assert by_action[2] == (4.0, 0.5, True)


def test_n_step_stops_at_steps_not_yet_written():
    buffer = ReplayBuffer(8, MACHINE)
    buffer.add(obs([(0, 0)]), np.array([0]), np.array([1.0]), obs([(1, 0)], length=1), np.array([False]))
    batch = buffer.sample(8, np.random.default_rng(2), n_step=3, gamma=0.5)
    assert batch["reward"].tolist() == [1.0] * 8
    assert batch["discount"].tolist() == [0.5] * 8  # bootstrap after one step
    assert not batch["terminated"].any()


def test_n_step_follows_each_copy_with_the_stride_of_the_batch():
    buffer = ReplayBuffer(16, MACHINE)
    # Two copies per step: copy 0 earns 1 then 10, copy 1 earns 100 then 1000.
    buffer.add(obs([(0, 0), (0, 0)]), np.array([0, 1]), np.array([1.0, 100.0]), obs([(1, 0), (2, 0)], length=1),
               np.array([False, False]))
    buffer.add(obs([(1, 0), (2, 0)], length=1), np.array([2, 3]), np.array([10.0, 1000.0]),
               obs([(1, 1), (2, 2)], length=2), np.array([True, True]))
    batch = buffer.sample(64, np.random.default_rng(3), n_step=2, gamma=1.0, stride=2)
    sums = {int(a): float(r) for a, r in zip(batch["action"], batch["reward"], strict=True)}
    assert sums == {0: 11.0, 1: 1100.0, 2: 10.0, 3: 1000.0}


def test_relabelled_targets_are_registers_the_episode_reached_and_rewards_follow_them():
    buffer = ReplayBuffer(8, MACHINE)
    reached = [(1, 0), (1, 1), (2, 1)]
    fill_one_episode(buffer, [0.0, 0.0, 0.0], reached)

    def negative_distance_after(registers, next_registers, target, terminated, unused):
        return -np.abs(next_registers.astype(int) - target.astype(int)).sum(axis=1).astype(np.float32)

    batch = buffer.sample(200, np.random.default_rng(4), n_step=1, relabel_fraction=1.0,
                          step_reward=negative_distance_after)
    for action, target, reward in zip(batch["action"], batch["target"], batch["reward"], strict=True):
        assert tuple(target) in reached[action:]  # this step's result or a later one of the same episode
        assert reward == -np.abs(np.array(reached[action]) - target).sum()
    assert {tuple(t) for t in batch["target"][batch["action"] == 0]} == set(reached)


def test_state_round_trip_restores_contents():
    buffer = ReplayBuffer(8, MACHINE)
    fill_one_episode(buffer, [1.0, 2.0], [(1, 0), (1, 1)])
    copy = ReplayBuffer(8, MACHINE)
    copy.load_state(buffer.state())
    assert copy.size == 2 and copy.index == 2
    for name, array in buffer.arrays.items():
        assert np.array_equal(copy.arrays[name], array), name


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_sample_shapes(fraction):
    buffer = ReplayBuffer(8, MACHINE)
    fill_one_episode(buffer, [1.0, 2.0], [(1, 0), (1, 1)])
    batch = buffer.sample(5, np.random.default_rng(0), relabel_fraction=fraction,
                          step_reward=lambda *args: np.zeros(5, dtype=np.float32))
    assert batch["program"].shape == (5, 3) and batch["target"].shape == (5, 2)


def test_uniform_sampling_weighs_every_row_one():
    buffer = ReplayBuffer(8, MACHINE)
    fill_one_episode(buffer, [1.0, 2.0, 3.0], [(1, 0), (1, 1), (2, 1)])
    batch = buffer.sample(16, np.random.default_rng(0))
    assert batch["weight"].tolist() == [1.0] * 16


def test_prioritized_sampling_follows_the_priorities_and_corrects_with_weights():
    buffer = ReplayBuffer(8, MACHINE)
    fill_one_episode(buffer, [1.0, 2.0, 3.0], [(1, 0), (1, 1), (2, 1)])
    assert buffer.arrays["priority"][:3].tolist() == [1.0, 1.0, 1.0]  # new rows: the largest priority so far
    buffer.update_priorities(np.array([0, 1, 2]), np.array([0.99, -0.09, 0.0]))  # priority = |δ| + 0.01
    assert buffer.arrays["priority"][:3] == pytest.approx([1.0, 0.1, 0.01])
    batch = buffer.sample(20000, np.random.default_rng(0), priority_alpha=1.0, priority_beta=1.0)
    counts = np.bincount(batch["rows"], minlength=3) / 20000
    assert counts == pytest.approx([1.0 / 1.11, 0.1 / 1.11, 0.01 / 1.11], abs=0.01)
    # Importance weights (N·P)^−β, normalised by the largest: the rarest row weighs 1.
    by_row = {int(r): float(w) for r, w in zip(batch["rows"], batch["weight"], strict=True)}
    assert by_row[2] == pytest.approx(1.0) and by_row[0] == pytest.approx(0.01, rel=1e-5)
    assert batch["reward"][batch["rows"] == 2].tolist() == [3.0] * int((batch["rows"] == 2).sum())
    # A newly added row gets the largest priority seen so far, so it is drawn soon.
    buffer.update_priorities(np.array([1]), np.array([2.99]))
    buffer.add(obs([(0, 0)]), np.array([0]), np.array([0.0], dtype=np.float32), obs([(0, 0)]), np.array([True]))
    assert buffer.arrays["priority"][3] == pytest.approx(3.0)
    # ... and a buffer restored from its state (--resume) goes on the same way.
    restored = ReplayBuffer(8, MACHINE)
    restored.load_state(buffer.state())
    assert restored.max_priority == pytest.approx(3.0)
    assert restored.arrays["priority"][:4] == pytest.approx(buffer.arrays["priority"][:4])
