"""Solvable targets: registers after a random program, reproducible from a seed, never a held-out one."""

import numpy as np
import pytest

from environment import ScheduledTasks, TaskSchedule, schedule_from_spec
from environment.tasks import heldout_solvable_targets
from synthesis.exact import Synthesizer
from toycorewar import MachineConfig
from toycorewar.actions import encode_registers

MACHINE = MachineConfig()


def draws(seed, count=50, length=3):
    schedule = schedule_from_spec({"solvable": length}, "targets", 4, 1000, np.random.default_rng(0), "random")
    tasks = ScheduledTasks(schedule, TaskSchedule("zeros", 4))
    return tasks(count, np.random.default_rng(seed))[0]


def test_solvable_draws_are_reproducible_from_a_seed():
    assert np.array_equal(draws(7), draws(7))
    assert not np.array_equal(draws(7), draws(8))


@pytest.mark.parametrize("length", [1, 3, 5])
def test_every_draw_has_a_program_within_its_length(length):
    synthesizer = Synthesizer(MACHINE)
    for target in draws(1, count=20, length=length):
        result = synthesizer.shortest_program(target.tolist(), max_length=length)
        assert result.program is not None and result.length <= length


def test_training_never_draws_a_heldout_target():
    heldout, _ = heldout_solvable_targets(30, 1, MACHINE, np.zeros((1, 4), dtype=np.int64))
    assert len(heldout) == 30
    schedule = TaskSchedule.solvable(1, MACHINE, excluded=heldout)
    drawn = schedule.solvable_targets(np.zeros((3000, 4), dtype=np.int64), np.random.default_rng(0))
    assert not np.isin(encode_registers(drawn), encode_registers(heldout)).any()


def test_heldout_tasks_are_distinct_and_reproducible():
    a, inits = heldout_solvable_targets(100, 5, MACHINE, np.zeros((1, 4), dtype=np.int64), seed=100)
    b, _ = heldout_solvable_targets(100, 5, MACHINE, np.zeros((1, 4), dtype=np.int64), seed=100)
    assert np.array_equal(a, b) and len(np.unique(encode_registers(a))) == 100
    assert (inits == 0).all()


def test_heldout_set_is_smaller_when_short_programs_reach_few_targets():
    # From zeros one instruction reaches only the 80 loads (plus zeros itself): 81 distinct targets.
    heldout, _ = heldout_solvable_targets(500, 1, MACHINE, np.zeros((1, 4), dtype=np.int64))
    assert 50 < len(heldout) <= 81
    assert len(np.unique(encode_registers(heldout))) == len(heldout)


def test_drawing_fails_clearly_when_everything_reachable_is_held_out():
    heldout, _ = heldout_solvable_targets(500, 1, MACHINE, np.zeros((1, 4), dtype=np.int64))
    schedule = TaskSchedule.solvable(1, MACHINE, excluded=heldout)
    with pytest.raises(RuntimeError, match="held-out targets only"):
        schedule.solvable_targets(np.zeros((4, 4), dtype=np.int64), np.random.default_rng(0))


def test_bad_solvable_specs_name_the_field():
    with pytest.raises(ValueError, match=r"targets\.solvable must be a program length in 1\.\.5"):
        schedule_from_spec({"solvable": 6}, "targets", 4, 10, np.random.default_rng(0), "random")
    with pytest.raises(ValueError, match="targets has unknown key"):
        schedule_from_spec({"solvable": 2, "values": 3}, "targets", 4, 10, np.random.default_rng(0), "random")
