"""Task schedules (docs/reference.md §5): which target and which initial registers each episode uses."""

from __future__ import annotations

import numpy as np
import pytest

from environment import ScheduledTasks, TaskSchedule, ToyCorewarVectorEnv, heldout_targets, schedule_from_spec
from toycorewar import ActionTable, MachineConfig

STOP = ActionTable().stop_action
A, B, C = [1, 1, 1, 1], [2, 2, 2, 2], [3, 3, 3, 3]


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def fixed(values: list, alternate_freq: int = 0, episodes: int = 1) -> TaskSchedule:
    return TaskSchedule("fixed", 4, np.asarray(values), alternate_freq, episodes)


def test_fixed_values_cycle_every_alternate_freq_episodes():
    schedule = fixed([A, B, C], alternate_freq=2)
    assert schedule.next(7, rng()).tolist() == [A, A, B, B, C, C, A]
    # The schedule carries on where it stopped, however the episodes are asked for.
    assert schedule.next(1, rng()).tolist() == [A]
    assert schedule.next(3, rng()).tolist() == [B, B, C]


def test_alternate_freq_zero_gives_one_block_of_episodes_per_value():
    schedule = fixed([A, B, C], alternate_freq=0, episodes=12)
    assert schedule.next(12, rng()).tolist() == [A] * 4 + [B] * 4 + [C] * 4


def test_spec_with_a_list_of_values_uses_exactly_those():
    spec = {"values": [A, B], "alternate_freq": 1}
    schedule = schedule_from_spec(spec, "targets", 4, 10, rng(), null="random")
    assert schedule.next(5, rng()).tolist() == [A, B, A, B, A]
    assert schedule.distinct_values().tolist() == [A, B]


def test_spec_alternate_freq_zero_splits_the_run_episodes():
    spec = {"values": [A, B], "alternate_freq": 0}
    schedule = schedule_from_spec(spec, "targets", 4, 6, rng(), null="random")
    assert schedule.next(6, rng()).tolist() == [A, A, A, B, B, B]


def test_spec_with_a_count_draws_that_many_targets_once_from_the_seed():
    spec = {"values": 3, "alternate_freq": 1}
    first = schedule_from_spec(spec, "targets", 4, 30, rng(7), null="random")
    again = schedule_from_spec(spec, "targets", 4, 30, rng(7), null="random")
    other = schedule_from_spec(spec, "targets", 4, 30, rng(8), null="random")
    values = first.distinct_values()
    assert values.shape == (3, 4)
    assert values.min() >= 0 and values.max() <= 255
    assert np.array_equal(values, again.distinct_values())
    assert not np.array_equal(values, other.distinct_values())
    # Drawn once: the episodes cycle through those three, whatever the episode rng does.
    assert first.next(6, rng(1)).tolist() == values[[0, 1, 2, 0, 1, 2]].tolist()


def test_null_targets_are_fresh_random_targets_every_episode():
    schedule = schedule_from_spec(None, "targets", 4, 100, rng(), null="random")
    assert schedule.distinct_values() is None
    episode_rng = rng(3)
    targets = schedule.next(50, episode_rng)
    assert targets.shape == (50, 4)
    assert targets.min() >= 0 and targets.max() <= 255
    assert len({tuple(t) for t in targets}) == 50
    assert not np.array_equal(schedule.next(50, episode_rng), targets)
    assert np.array_equal(schedule_from_spec(None, "targets", 4, 100, rng(), null="random").next(50, rng(3)),
                          targets)


def test_null_reg_inits_are_zeros():
    schedule = schedule_from_spec(None, "reg_inits", 4, 100, rng(), null="zeros")
    assert schedule.next(3, rng()).tolist() == [[0, 0, 0, 0]] * 3
    assert schedule.distinct_values().tolist() == [[0, 0, 0, 0]]


@pytest.mark.parametrize(("spec", "message"), [
    ({"values": [[1, 2, 3]], "alternate_freq": 1}, r"reg_inits\.values\[0\] must be a list of 4 integers"),
    ({"values": [A, [1, 2, 3, 4, 5]]}, r"reg_inits\.values\[1\] must be a list of 4 integers"),
    ({"values": [[1, 2, 3, 256]]}, r"reg_inits\.values\[0\] .*256 is out of range"),
    ({"values": [[-1, 2, 3, 4]]}, r"reg_inits\.values\[0\] .*-1 is out of range"),
    ({"values": [[1, 2, 3, 4.5]]}, r"reg_inits\.values\[0\] must be a list of 4 integers"),
    ({"values": 2, "alternate_frq": 1}, r"reg_inits has unknown key\(s\) alternate_frq"),
    ({"values": 2, "alternate_freq": -1}, r"reg_inits\.alternate_freq must be an integer in 0\.\.1e\+09, got -1"),
    ({"values": 2, "alternate_freq": 10**30}, r"reg_inits\.alternate_freq must be an integer in 0\.\.1e\+09"),
    ({"values": 2, "alternate_freq": 1.5}, r"reg_inits\.alternate_freq must be an integer"),
    ({"values": 0}, r"reg_inits\.values must be a count in 1\.\.100000"),
    ({"values": 10**12}, r"reg_inits\.values must be a count in 1\.\.100000"),
    ({"values": []}, r"reg_inits\.values must be a count in 1\.\.100000 or a list of 1\.\.100000 lists"),
    ({"alternate_freq": 1}, r"reg_inits needs 'values'"),
    ([A, B], r"reg_inits must be null or an object"),
])
def test_bad_schedule_spec_is_an_error_naming_the_field(spec, message):
    with pytest.raises(ValueError, match=message):
        schedule_from_spec(spec, "reg_inits", 4, 10, rng(), null="zeros")


def test_heldout_targets_are_reproducible_from_seed_100():
    targets = heldout_targets(20)
    assert targets.shape == (20, 4)
    assert targets.min() >= 0 and targets.max() <= 255
    assert np.array_equal(targets, heldout_targets(20))
    assert np.array_equal(targets, heldout_targets(20, seed=100))
    assert not np.array_equal(targets, heldout_targets(20, seed=101))
    assert heldout_targets(5, num_registers=3).shape == (5, 3)


def test_vector_env_takes_scheduled_target_and_reg_init_at_every_autoreset():
    # Targets change every 2 episodes, initial registers every episode.
    tasks = ScheduledTasks(fixed([A, B, C], alternate_freq=2),
                           fixed([[9, 9, 9, 9], [8, 8, 8, 8]], alternate_freq=1))
    env = ToyCorewarVectorEnv(num_envs=1, autoreset_mode="SameStep", tasks=tasks)
    observation, _ = env.reset(seed=0)
    seen = [(observation["target"][0].tolist(), observation["registers"][0].tolist())]
    for _ in range(6):
        observation, _, terminated, _, _ = env.step(np.array([STOP]))
        assert terminated[0]
        seen.append((observation["target"][0].tolist(), observation["registers"][0].tolist()))
    nine, eight = [9] * 4, [8] * 4
    assert seen == [(A, nine), (A, eight), (B, nine), (B, eight), (C, nine), (C, eight), (A, nine)]


def test_vector_env_next_step_autoreset_takes_the_next_scheduled_target():
    tasks = ScheduledTasks(fixed([A, B], alternate_freq=1), TaskSchedule("zeros", 4))
    env = ToyCorewarVectorEnv(num_envs=1, autoreset_mode="NextStep", tasks=tasks)
    observation, _ = env.reset(seed=0)
    targets = [observation["target"][0].tolist()]
    for _ in range(3):
        observation, _, terminated, _, _ = env.step(np.array([STOP]))
        assert terminated[0] and observation["target"][0].tolist() == targets[-1]
        observation, reward, terminated, _, _ = env.step(np.array([STOP]))  # the autoreset step
        assert not terminated[0] and reward[0] == 0
        targets.append(observation["target"][0].tolist())
    assert targets == [A, B, A, B]


def test_vector_env_copies_started_together_take_successive_scheduled_targets():
    tasks = ScheduledTasks(fixed([A, B, C], alternate_freq=1), TaskSchedule("zeros", 4))
    env = ToyCorewarVectorEnv(num_envs=3, autoreset_mode="SameStep", tasks=tasks)
    observation, _ = env.reset(seed=0)
    assert sorted(observation["target"].tolist()) == [A, B, C]
    observation, *_ = env.step(np.full(3, STOP))
    assert sorted(observation["target"].tolist()) == [A, B, C]
    assert observation["registers"].tolist() == [[0, 0, 0, 0]] * 3


def test_scheduled_tasks_state_restores_where_both_schedules_were():
    tasks = ScheduledTasks(fixed([A, B, C], alternate_freq=1), fixed([[9, 9, 9, 9], [8, 8, 8, 8]], alternate_freq=2))
    tasks(5, rng())
    state = tasks.state()
    assert state == [5, 5]
    expected = tasks(3, rng())
    again = ScheduledTasks(fixed([A, B, C], alternate_freq=1), fixed([[9, 9, 9, 9], [8, 8, 8, 8]], alternate_freq=2))
    again.restore(state)
    assert [a.tolist() for a in again(3, rng())] == [e.tolist() for e in expected]


def test_a_hard_share_of_solvable_targets_looks_hard_and_zero_changes_nothing():
    from toycorewar import MachineConfig
    machine = MachineConfig()
    zeros = np.zeros((2000, 4), dtype=np.int64)
    plain = schedule_from_spec({"solvable": 5}, "targets", 4, 10, rng(), null="random", machine=machine)
    also_plain = schedule_from_spec({"solvable": 5, "hard": 0}, "targets", 4, 10, rng(), null="random", machine=machine)
    assert np.array_equal(plain.solvable_targets(zeros, rng(3)), also_plain.solvable_targets(zeros, rng(3)))
    hard = schedule_from_spec({"solvable": 5, "hard": 0.8}, "targets", 4, 10, rng(), null="random", machine=machine)
    drawn = hard.solvable_targets(zeros, rng(3))
    share = hard.looks_hard(drawn, zeros).mean()
    assert 0.8 <= share < 0.9  # the hard share, plus the few plain draws that look hard by chance
    assert plain.looks_hard(plain.solvable_targets(zeros, rng(4)), zeros).mean() < 0.2
    # looks_hard by hand: every register changed and one beyond the load values.
    by_hand = np.array([[1, 5, 7, 30], [0, 5, 7, 30], [1, 2, 3, 4]])
    assert hard.looks_hard(by_hand, np.zeros((3, 4), np.int64)).tolist() == [True, False, False]


def test_hard_targets_follow_the_law_of_the_first_hard_random_program():
    """Hard targets are drawn in blocks of programs (HARD_BLOCK at once): the target a row takes is
    still distributed as the result of a uniform random program given that it looks hard, which is
    computed here exactly by enumerating every program of a small machine."""
    import itertools

    from toycorewar import MachineConfig
    machine = MachineConfig(num_registers=2, n_vals=4, max_length=2)
    table = ActionTable(machine)
    schedule = schedule_from_spec({"solvable": 2, "hard": 1.0}, "targets", 2, 10, rng(), null="random",
                                  machine=machine)
    counts: dict[tuple, int] = {}
    for program in itertools.product(range(table.stop_action), repeat=2):
        registers = np.zeros((1, 2), dtype=np.int64)
        for action in program:
            table.execute_batch(registers, np.array([action]))
        if schedule.looks_hard(registers, np.zeros((1, 2), np.int64))[0]:
            counts[tuple(registers[0])] = counts.get(tuple(registers[0]), 0) + 1
    exact = {target: count / sum(counts.values()) for target, count in counts.items()}
    drawn = schedule.solvable_targets(np.zeros((20_000, 2), dtype=np.int64), rng(5))
    assert schedule.looks_hard(drawn, np.zeros_like(drawn)).all()
    values, frequency = np.unique(drawn, axis=0, return_counts=True)
    seen = {tuple(value): count / len(drawn) for value, count in zip(values.tolist(), frequency, strict=True)}
    assert set(seen) <= set(exact)
    assert sum(abs(exact[t] - seen.get(t, 0.0)) for t in exact) / 2 < 0.03  # total variation


@pytest.mark.parametrize("hard", [-0.1, 1.5, "0.5", True])
def test_a_hard_share_outside_0_to_1_is_an_error_naming_the_field(hard):
    with pytest.raises(ValueError, match="targets.hard"):
        schedule_from_spec({"solvable": 5, "hard": hard}, "targets", 4, 10, rng(), null="random")


class _Source:
    """A task source of one's own for the tests below (docs/tutorials/add_a_task_kind.md)."""

    def __init__(self, machine, episodes, rng, value=5, shape=None):
        self.value, self.shape, self.registers = value, shape, machine.num_registers

    def __call__(self, count, rng):
        targets = np.full(self.shape or (count, self.registers), self.value)
        return targets, np.zeros_like(targets)

    def heldout(self, count, seed):
        targets = np.full((min(count, 3), self.registers), self.value)
        return targets, np.zeros_like(targets)


class _NoHeldOut:
    def __init__(self, machine, episodes, rng):
        pass

    def __call__(self, count, rng):
        return np.zeros((count, 4)), np.zeros((count, 4))


def custom(**spec):
    from environment.tasks import CustomTasks
    return CustomTasks({"source": f"{__name__}:_Source", **spec}, "targets", MachineConfig(), 100,
                       np.random.default_rng(0))


def test_a_task_source_of_ones_own_gives_checked_tasks_and_at_most_count_held_out_ones():
    tasks = custom(options={"value": 7})
    targets, reg_inits = tasks(4, np.random.default_rng(0))
    assert targets.tolist() == [[7] * 4] * 4 and reg_inits.dtype == np.int64 and not reg_inits.any()
    assert tasks.heldout(100, 0)[0].shape == (3, 4)
    assert tasks.state() == [] and tasks.restore([]) is None  # no position: nothing to save


@pytest.mark.parametrize(("spec", "message"), [
    ({"options": {"value": 300}}, r"targets must be integers in 0\.\.255 of shape \(2, 4\)"),
    ({"options": {"shape": (2, 3)}}, r"of shape \(2, 4\), got int64 \(2, 3\)"),
    ({"options": {"colour": 1}}, r"targets\.source '.*:_Source': _Source\.__init__\(\) got an unexpected keyword"),
    ({"options": [1]}, r"targets\.options must be an object"),
    ({"extra": 1}, r"targets has unknown key\(s\) extra"),
])
def test_what_a_task_source_gets_wrong_is_one_line_naming_it(spec, message):
    with pytest.raises(ValueError, match=message):
        custom(**spec)(2, np.random.default_rng(0))


def test_a_task_source_needs_held_out_tasks_and_an_importable_path():
    from environment.tasks import CustomTasks
    machine, rng = MachineConfig(), np.random.default_rng(0)
    with pytest.raises(ValueError, match="has no method heldout"):
        CustomTasks({"source": f"{__name__}:_NoHeldOut"}, "targets", machine, 1, rng)
    with pytest.raises(ValueError, match="cannot import 'nowhere'"):
        CustomTasks({"source": "nowhere:Tasks"}, "targets", machine, 1, rng)
    with pytest.raises(ValueError, match="expected the import path MODULE:CLASS"):
        CustomTasks({"source": "Tasks"}, "targets", machine, 1, rng)


def test_a_run_with_a_task_source_of_its_own_leaves_reg_inits_to_it():
    from training.config import ConfigError, parse_config, parse_training
    config = parse_config({"presets": {"DQN": {"agent": "DQN_Agent"}}})
    run = {"id": 1, "algo": "DQN", "episodes": 10, "targets": {"source": f"{__name__}:_Source"}}
    assert parse_training([run], config)[0].targets == run["targets"]
    with pytest.raises(ConfigError, match=r"training.json: run 1: reg_inits does not apply to a task source"):
        parse_training([{**run, "reg_inits": {"values": [[1, 2, 3, 4]], "alternate_freq": 0}}], config)
