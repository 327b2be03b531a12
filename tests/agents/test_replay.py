"""Replay in pieces: the buffer (wrap-around, following steps, state), the uniform and prioritized
samplers, n-step returns, hindsight relabelling, and `Replay`, which puts them together."""

import numpy as np
import pytest
import torch

from agents.replay import (
    FollowingSteps,
    Hindsight,
    PrioritizedSampler,
    Replay,
    ReplayBuffer,
    Sample,
    UniformSampler,
    n_step_returns,
)
from environment.rewards import Specific_register_values
from toycorewar import MachineConfig

MACHINE = MachineConfig(num_registers=2, n_vals=4, max_length=3)
EMPTY = MACHINE.num_actions
# -D(after) on every step here: not positive, cumulative, and the last step fills the program (no unused slots).
NEGATIVE_DISTANCE_AFTER = Specific_register_values(circular=False, positive=False, cumulative=True)


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


def uniform(buffer, n_step=1, gamma=1.0, hindsight=None):
    return Replay(buffer, UniformSampler(buffer), n_step, gamma, hindsight)


def test_add_wraps_around_its_capacity():
    buffer = ReplayBuffer(4, MACHINE, num_envs=1)
    for step in range(6):
        buffer.add(obs([(step, step)]), np.array([step]), np.array([1.0]), obs([(step, step)]), np.array([False]))
    assert buffer.size == 4 and buffer.index == 2
    assert sorted(buffer.arrays["action"].tolist()) == [2, 3, 4, 5]


def test_following_steps_go_num_envs_rows_on_until_the_episode_ends_or_is_not_written():
    buffer = ReplayBuffer(16, MACHINE, num_envs=2)
    # Copy 0's episode ends at its second step; copy 1's goes on, its third step not written yet.
    buffer.add(obs([(0, 0), (0, 0)]), np.array([0, 1]), np.zeros(2), obs([(1, 0), (2, 0)], length=1),
               np.array([False, False]))
    buffer.add(obs([(1, 0), (2, 0)], length=1), np.array([2, 3]), np.zeros(2), obs([(1, 1), (2, 2)], length=2),
               np.array([True, False]))
    steps = buffer.following_steps(np.array([0, 1, 3]))
    assert steps.valid.tolist() == [[True, True, True], [True, True, False], [False, False, False]]
    assert steps.rows[steps.valid].tolist() == [0, 1, 3, 2, 3]  # valid rows, step by step


def test_one_step_sample_returns_stored_transition():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [5.0], [(1, 2)])
    batch = uniform(buffer, n_step=1, gamma=0.5).sample(4, np.random.default_rng(0))
    assert isinstance(batch, Sample)
    assert batch.reward.tolist() == [5.0] * 4
    assert batch.discount.tolist() == [0.5] * 4
    assert batch.terminated.all()
    assert batch.next_registers.tolist() == [[1, 2]] * 4


def test_n_step_returns_by_hand():
    # Two sampled rows: row 0's episode has three steps (rows 0, 2, 4), row 1's one step (then not written).
    steps = FollowingSteps(rows=np.array([[0, 1], [2, 3], [4, 5]]),
                           valid=np.array([[True, True], [True, False], [True, False]]))
    stored = np.array([1.0, 10.0, 2.0, 20.0, 4.0, 40.0], dtype=np.float32)
    reward, discount, last = n_step_returns(steps, 3, 0.5, lambda rows: stored[rows])
    assert reward.tolist() == [1 + 0.5 * 2 + 0.25 * 4, 10.0]
    assert discount.tolist() == [0.125, 0.5]
    assert last.tolist() == [4, 1]
    reward, discount, last = n_step_returns(steps, 2, 0.5, lambda rows: stored[rows])
    assert (reward.tolist(), discount.tolist(), last.tolist()) == ([2.0, 10.0], [0.25, 0.5], [2, 1])


def test_n_step_sums_discounted_rewards_until_the_episode_ends():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [1.0, 2.0, 4.0], [(1, 0), (1, 1), (2, 1)])
    batch = uniform(buffer, n_step=3, gamma=0.5).sample(64, np.random.default_rng(1))
    by_action = {int(a): (float(r), float(d), bool(t)) for a, r, d, t in
                 zip(batch.action, batch.reward, batch.discount, batch.terminated, strict=True)}
    # From step 0: 1 + 0.5·2 + 0.25·4 = 3, ending the episode; from step 1: 2 + 0.5·4 = 4; step 2: 4.
    assert by_action[0] == (3.0, 0.125, True)
    assert by_action[1] == (4.0, 0.25, True)
    assert by_action[2] == (4.0, 0.5, True)


def test_n_step_stops_at_steps_not_yet_written():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    buffer.add(obs([(0, 0)]), np.array([0]), np.array([1.0]), obs([(1, 0)], length=1), np.array([False]))
    batch = uniform(buffer, n_step=3, gamma=0.5).sample(8, np.random.default_rng(2))
    assert batch.reward.tolist() == [1.0] * 8
    assert batch.discount.tolist() == [0.5] * 8  # bootstrap after one step
    assert not batch.terminated.any()


def test_n_step_follows_each_copy_with_the_buffers_num_envs():
    buffer = ReplayBuffer(16, MACHINE, num_envs=2)
    # Two copies per step: copy 0 earns 1 then 10, copy 1 earns 100 then 1000.
    buffer.add(obs([(0, 0), (0, 0)]), np.array([0, 1]), np.array([1.0, 100.0]), obs([(1, 0), (2, 0)], length=1),
               np.array([False, False]))
    buffer.add(obs([(1, 0), (2, 0)], length=1), np.array([2, 3]), np.array([10.0, 1000.0]),
               obs([(1, 1), (2, 2)], length=2), np.array([True, True]))
    batch = uniform(buffer, n_step=2, gamma=1.0).sample(64, np.random.default_rng(3))
    sums = {int(a): float(r) for a, r in zip(batch.action, batch.reward, strict=True)}
    assert sums == {0: 11.0, 1: 1100.0, 2: 10.0, 3: 1000.0}


def test_hindsight_step_rewards_are_the_runs_reward_for_the_given_target_times_the_scale():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [0.0, 0.0], [(3, 0), (3, 2)])
    hindsight = Hindsight(Specific_register_values(circular=False, positive=True, cumulative=True), 0.5, 1.0)
    target = np.array([[3, 3], [3, 3]])
    # Row 0: D((0,0)) − D((3,0)) = 6 − 3 = 3; row 1: D((3,0)) − D((3,2)) = 3 − 1 = 2; times 0.5.
    assert hindsight.step_rewards(buffer, np.array([0, 1]), target).tolist() == [1.5, 1.0]
    circular = Hindsight(Specific_register_values(circular=True, positive=True, cumulative=True), 1.0, 1.0)
    # Circular distance to 255: from 0 it is 1 per register, from 3 it is 4.
    assert circular.step_rewards(buffer, np.array([0]), np.array([[255, 255]])).tolist() == [2 - 5]


def test_hindsight_relabels_its_fraction_with_a_goal_reached_at_this_or_a_later_step():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    reached = [(1, 0), (1, 1), (2, 1)]
    fill_one_episode(buffer, [0.0, 0.0, 0.0], reached)
    rows = np.array([0, 1, 2] * 100)
    targets = Hindsight(NEGATIVE_DISTANCE_AFTER, 1.0, 1.0).relabel(buffer, buffer.following_steps(rows),
                                                                   np.random.default_rng(5))
    for row, target in zip(rows, targets, strict=True):
        assert tuple(target) in reached[row:]
    assert {tuple(t) for t in targets[rows == 0]} == set(reached)
    none = Hindsight(NEGATIVE_DISTANCE_AFTER, 1.0, 0.0).relabel(buffer, buffer.following_steps(rows),
                                                                np.random.default_rng(5))
    assert none.tolist() == [[9, 9]] * len(rows)  # the stored target
    half = Hindsight(NEGATIVE_DISTANCE_AFTER, 1.0, 0.5).relabel(buffer, buffer.following_steps(rows),
                                                                np.random.default_rng(5))
    assert (half != 9).any(axis=1).mean() == pytest.approx(0.5, abs=0.1)


def test_relabelled_targets_are_registers_the_episode_reached_and_rewards_follow_them():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    reached = [(1, 0), (1, 1), (2, 1)]
    fill_one_episode(buffer, [0.0, 0.0, 0.0], reached)
    hindsight = Hindsight(NEGATIVE_DISTANCE_AFTER, 1.0, 1.0)
    batch = uniform(buffer, n_step=1, hindsight=hindsight).sample(200, np.random.default_rng(4))
    for action, target, reward in zip(batch.action, batch.target, batch.reward, strict=True):
        assert tuple(target) in reached[action:]  # this step's result or a later one of the same episode
        assert reward == -np.abs(np.array(reached[action]) - target).sum()
    assert {tuple(t) for t in batch.target[batch.action == 0]} == set(reached)


def test_state_round_trip_restores_contents():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [1.0, 2.0], [(1, 0), (1, 1)])
    copy = ReplayBuffer(8, MACHINE, num_envs=1)
    copy.load_state(buffer.state())
    assert copy.size == 2 and copy.index == 2
    for name, array in buffer.arrays.items():
        assert np.array_equal(copy.arrays[name], array), name


def test_a_buffer_state_saved_before_the_split_loads():
    # The checkpoint format: index, size, and the filled part of every array (priority included) as tensors.
    saved = {"index": 2, "size": 2, "arrays": {
        "program": torch.tensor([[EMPTY] * 3, [0, EMPTY, EMPTY]], dtype=torch.int16),
        "registers": torch.tensor([[0, 0], [1, 0]], dtype=torch.uint8),
        "target": torch.tensor([[9, 9], [9, 9]], dtype=torch.uint8),
        "next_program": torch.tensor([[0, EMPTY, EMPTY], [0, 0, EMPTY]], dtype=torch.int16),
        "next_registers": torch.tensor([[1, 0], [1, 1]], dtype=torch.uint8),
        "action": torch.tensor([0, 1]), "reward": torch.tensor([1.0, 2.0]),
        "terminated": torch.tensor([False, True]), "priority": torch.tensor([0.5, 2.5], dtype=torch.float64)}}
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    buffer.load_state(saved)
    assert (buffer.index, buffer.size, buffer.max_priority) == (2, 2, 2.5)
    assert buffer.arrays["priority"][:2].tolist() == [0.5, 2.5]
    assert buffer.arrays["next_registers"][:2].tolist() == [[1, 0], [1, 1]]
    batch = uniform(buffer, n_step=2, gamma=0.5).sample(32, np.random.default_rng(0))
    assert {int(a): float(r) for a, r in zip(batch.action, batch.reward, strict=True)} == {0: 2.0, 1: 2.0}
    state = buffer.state()  # ... and is saved again with the same fields, now with the links and max priority
    assert state.keys() == saved.keys() | {"links", "max_priority"}
    assert state["arrays"].keys() == saved["arrays"].keys()
    assert all(state["arrays"][name].equal(array) for name, array in saved["arrays"].items())
    again = ReplayBuffer(8, MACHINE, num_envs=1)
    again.load_state(state)
    assert np.array_equal(again.following, buffer.following) and again.max_priority == 2.5


@pytest.mark.parametrize("fraction", [0.0, 0.5])
def test_sample_shapes(fraction):
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [1.0, 2.0], [(1, 0), (1, 1)])
    hindsight = Hindsight(NEGATIVE_DISTANCE_AFTER, 1.0, fraction) if fraction else None
    batch = uniform(buffer, hindsight=hindsight).sample(5, np.random.default_rng(0))
    assert batch.program.shape == (5, 3) and batch.target.shape == (5, 2)
    assert batch.matters is None and all(len(field) == 5 for field in batch if field is not None)


def test_uniform_sampler_draws_every_row_alike_and_weighs_it_one():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [1.0, 2.0, 3.0], [(1, 0), (1, 1), (2, 1)])
    rows, weight = UniformSampler(buffer).draw(30000, np.random.default_rng(0))
    assert np.bincount(rows, minlength=3) / 30000 == pytest.approx([1 / 3] * 3, abs=0.01)
    assert weight.tolist() == [1.0] * 30000


def test_uniform_sampling_weighs_every_row_one():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [1.0, 2.0, 3.0], [(1, 0), (1, 1), (2, 1)])
    batch = uniform(buffer).sample(16, np.random.default_rng(0))
    assert batch.weight.tolist() == [1.0] * 16


def test_prioritized_sampler_by_hand():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [1.0, 2.0], [(1, 0), (1, 1)])
    sampler = PrioritizedSampler(buffer, alpha=0.5, beta=1.0)
    sampler.update_priorities(np.array([0, 1]), np.array([3.99, -0.99]))  # priorities 4 and 1
    # priority^0.5 = 2 and 1: P = 2/3 and 1/3, so a uniform draw u picks row 0 when 3u < 2;
    # weights (N·P)^−1 = 3/4 and 3/2, over the largest: 1/2 and 1.
    rows, weight = sampler.draw(1000, np.random.default_rng(7))
    assert rows.tolist() == (np.random.default_rng(7).random(1000) * 3 >= 2).astype(int).tolist()
    assert weight[rows == 0].tolist() == [0.5] * int((rows == 0).sum())
    assert weight[rows == 1].tolist() == [1.0] * int((rows == 1).sum())
    assert buffer.max_priority == pytest.approx(4.0)


def test_prioritized_sampling_follows_the_priorities_and_corrects_with_weights():
    buffer = ReplayBuffer(8, MACHINE, num_envs=1)
    fill_one_episode(buffer, [1.0, 2.0, 3.0], [(1, 0), (1, 1), (2, 1)])
    sampler = PrioritizedSampler(buffer, alpha=1.0, beta=1.0)
    assert buffer.arrays["priority"][:3].tolist() == [1.0, 1.0, 1.0]  # new rows: the largest priority so far
    sampler.update_priorities(np.array([0, 1, 2]), np.array([0.99, -0.09, 0.0]))  # priority = |δ| + 0.01
    assert buffer.arrays["priority"][:3] == pytest.approx([1.0, 0.1, 0.01])
    batch = Replay(buffer, sampler).sample(20000, np.random.default_rng(0))
    counts = np.bincount(batch.rows, minlength=3) / 20000
    assert counts == pytest.approx([1.0 / 1.11, 0.1 / 1.11, 0.01 / 1.11], abs=0.01)
    # Importance weights (N·P)^−β, normalised by the largest: the rarest row weighs 1.
    by_row = {int(r): float(w) for r, w in zip(batch.rows, batch.weight, strict=True)}
    assert by_row[2] == pytest.approx(1.0) and by_row[0] == pytest.approx(0.01, rel=1e-5)
    assert batch.reward[batch.rows == 2].tolist() == [3.0] * int((batch.rows == 2).sum())
    # A newly added row gets the largest priority seen so far, so it is drawn soon.
    sampler.update_priorities(np.array([1]), np.array([2.99]))
    buffer.add(obs([(0, 0)]), np.array([0]), np.array([0.0], dtype=np.float32), obs([(0, 0)]), np.array([True]))
    assert buffer.arrays["priority"][3] == pytest.approx(3.0)
    # ... and a buffer restored from its state (--resume) goes on the same way.
    restored = ReplayBuffer(8, MACHINE, num_envs=1)
    restored.load_state(buffer.state())
    assert restored.max_priority == pytest.approx(3.0)
    assert restored.arrays["priority"][:4] == pytest.approx(buffer.arrays["priority"][:4])


# -- one region per target -------------------------------------------------------------------------
A, B = (1, 2), (3, 4)


def add_steps(buffer, targets, step, terminated):
    """One add: copy i plays towards targets[i]; its action records the step, its registers the copy."""
    n = len(targets)
    before = {"program": np.full((n, MACHINE.max_length), EMPTY), "registers": np.array([[i, step] for i in range(n)]),
              "target": np.array(targets)}
    after = {**before, "registers": np.array([[i, step + 1] for i in range(n)])}
    buffer.add(before, np.full(n, step), np.ones(n, dtype=np.float32), after, np.array(terminated))


def test_with_several_targets_each_has_a_region_of_its_own_that_later_targets_cannot_overwrite():
    buffer = ReplayBuffer(8, MACHINE, num_envs=2, targets=np.array([A, B]))
    assert buffer.regions == 2 and buffer.region_capacity == 4
    for step in range(3):  # a first block on A
        add_steps(buffer, [A, A], step, [False, False])
    for step in range(10):  # a long second block on B: a single ring would now hold B alone
        add_steps(buffer, [B, B], step, [False, False])
    targets = {tuple(t) for t in buffer.arrays["target"][buffer.filled_rows()]}
    assert targets == {A, B} and buffer.size == 8
    assert buffer.arrays["action"][buffer.region_of(np.array([A]))[0] * 4:][:4].tolist() == [2, 2, 1, 1]


def test_a_single_target_or_none_keeps_one_ring():
    for targets in (None, np.array([A]), np.array([A, A])):
        assert ReplayBuffer(8, MACHINE, num_envs=2, targets=targets).regions == 1


def test_stratified_draws_take_each_stored_target_evenly_however_unequal_their_shares():
    buffer = ReplayBuffer(400, MACHINE, num_envs=2, targets=np.array([A, B]))
    add_steps(buffer, [A, B], 0, [True, True])  # one transition of A, one of B ...
    for step in range(90):
        add_steps(buffer, [B, B], step, [False, False])  # ... and 180 more of B
    rows, weights = UniformSampler(buffer).draw(4000, np.random.default_rng(0))
    drawn_a = (buffer.arrays["target"][rows] == A).all(axis=1).mean()
    assert 0.45 < drawn_a < 0.55 and (weights == 1).all()
    assert set(rows.tolist()) <= set(buffer.filled_rows().tolist())


def test_with_regions_the_following_steps_follow_each_copy_across_the_layout():
    buffer = ReplayBuffer(8, MACHINE, num_envs=2, targets=np.array([A, B]))
    # Copy 0 plays A for three steps (ending), copy 1 plays B; their rows interleave in no fixed stride.
    add_steps(buffer, [A, B], 0, [False, False])
    add_steps(buffer, [A, B], 1, [False, False])
    add_steps(buffer, [A, B], 2, [True, False])
    first_a = buffer.region_start[buffer.region_of(np.array([A]))[0]]
    steps = buffer.following_steps(np.array([first_a]))
    assert steps.valid[:, 0].tolist() == [True, True, True]
    assert buffer.arrays["action"][steps.rows[:, 0]].tolist() == [0, 1, 2]
    # Copy 1's episode goes on; once its region wraps, its first step's successor has been overwritten.
    add_steps(buffer, [A, B], 3, [False, False])
    add_steps(buffer, [A, B], 4, [False, False])
    b_rows = buffer.region_start[buffer.region_of(np.array([B]))[0]] + np.arange(4)
    newest_first = b_rows[np.argsort(-buffer.arrays["action"][b_rows])]
    steps = buffer.following_steps(newest_first[-1:])  # the oldest B step kept (step 1)
    assert buffer.arrays["action"][steps.rows[steps.valid[:, 0], 0]].tolist() == [1, 2, 3]


def test_an_n_step_return_with_regions_sums_the_same_episode_s_rewards():
    buffer = ReplayBuffer(16, MACHINE, num_envs=2, targets=np.array([A, B]))
    add_steps(buffer, [A, B], 0, [False, False])
    add_steps(buffer, [B, A], 1, [False, False])  # (targets do not change within an episode in real runs)
    add_steps(buffer, [B, A], 2, [True, True])
    rows = buffer.region_start[buffer.region_of(np.array([A]))[0]] + np.arange(1)  # copy 0's first step
    steps = buffer.following_steps(rows)
    reward, _, last = n_step_returns(steps, 3, 1.0, lambda r: buffer.arrays["reward"][r])
    assert reward.tolist() == [3.0] and buffer.arrays["terminated"][last].tolist() == [True]


def test_a_state_with_regions_round_trips_and_refuses_other_targets():
    buffer = ReplayBuffer(8, MACHINE, num_envs=2, targets=np.array([A, B]))
    for step in range(3):
        add_steps(buffer, [A, B], step, [False, step == 2])
    copy = ReplayBuffer(8, MACHINE, num_envs=2, targets=np.array([A, B]))
    copy.load_state(buffer.state())
    rows = buffer.filled_rows()
    assert np.array_equal(copy.filled_rows(), rows)
    for name, array in buffer.arrays.items():
        assert np.array_equal(copy.arrays[name][rows], array[rows]), name
    assert np.array_equal(copy.following_steps(rows).valid, buffer.following_steps(rows).valid)
    add_steps(buffer, [A, B], 3, [False, False])
    add_steps(copy, [A, B], 3, [False, False])
    assert np.array_equal(copy.following_steps(rows).rows, buffer.following_steps(rows).rows)
    with pytest.raises(ValueError, match="other targets"):
        ReplayBuffer(8, MACHINE, num_envs=2, targets=np.array([A, (5, 5)])).load_state(buffer.state())
    with pytest.raises(ValueError, match="one region per target"):
        ReplayBuffer(8, MACHINE, num_envs=2, targets=np.array([A, B])).load_state(
            ReplayBuffer(8, MACHINE, num_envs=2).state())


def test_a_region_smaller_than_the_copies_is_refused():
    with pytest.raises(ValueError, match="fewer than num_envs"):
        ReplayBuffer(6, MACHINE, num_envs=4, targets=np.array([A, B]))


def test_prioritized_draws_with_regions_come_from_stored_rows_only():
    buffer = ReplayBuffer(400, MACHINE, num_envs=2, targets=np.array([A, B]))
    for step in range(5):
        add_steps(buffer, [A, B], step, [False, False])
    rows, weights = PrioritizedSampler(buffer, 0.6, 0.4).draw(500, np.random.default_rng(0))
    assert set(rows.tolist()) == set(buffer.filled_rows().tolist())
    assert (weights == 1).all()  # every stored row has the same (initial) priority
