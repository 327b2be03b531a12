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


def test_held_out_tiers_is_a_form_of_solvable_targets():
    schedule = schedule_from_spec({"solvable": 3, "held_out": "tiers"}, "targets", 4, 10, np.random.default_rng(0),
                                  "random")
    assert schedule.kind == "solvable" and schedule.length == 3 and schedule.held_out == "tiers"
    assert schedule_from_spec({"solvable": 3}, "targets", 4, 10, np.random.default_rng(0), "random").held_out is None
    with pytest.raises(ValueError, match=r"targets\.held_out must be null or 'tiers', got 'hard'"):
        schedule_from_spec({"solvable": 3, "held_out": "hard"}, "targets", 4, 10, np.random.default_rng(0), "random")
    with pytest.raises(ValueError, match="targets has unknown key"):
        schedule_from_spec({"solvable": 3, "held_out": "tiers", "x": 1}, "targets", 4, 10, np.random.default_rng(0),
                           "random")


TINY_SETTINGS = {"DEVICE": "cpu", "ASSESS_FREQ": 40, "LOG_FREQ": 1000, "SAVE_FREQ": 0, "EVAL_TARGETS": 70,
                 "EVAL_SEED": 9}
TINY_DQN = {"agent": "DQN_Agent", "parameters": {"h_size": 8, "middle_size": 16, "num_envs": 8, "batch_size": 16,
                                                 "replay_buffer_size": 1000, "learning_freq": 8}}


def tiers_run(reg_inits=None, episodes=120):
    return {"id": "tiers", "algo": "DQN", "episodes": episodes, "reward_func": "Specific_register_values",
            "targets": {"solvable": 1, "held_out": "tiers"}, "reg_inits": reg_inits}


def test_a_run_with_held_out_tiers_never_trains_on_one(tmp_path, monkeypatch):
    from environment.tasks import ScheduledTasks
    from synthesis.tiers import tier_tasks
    from training.run import train_run
    handed_out = []
    original = ScheduledTasks.__call__

    def recording(self, count, rng):
        targets, reg_inits = original(self, count, rng)
        handed_out.append(targets.copy())
        return targets, reg_inits

    monkeypatch.setattr(ScheduledTasks, "__call__", recording)
    config = {"settings": TINY_SETTINGS, "presets": {"DQN": TINY_DQN}}
    result = train_run(tiers_run(), config, str(tmp_path / "run"), str(tmp_path / "tb"))
    assert result.status == "finished", result.error
    # Programs of one instruction reach 76 targets from zeros, and tier 1 holds 70 of them: training may
    # draw zeros and the 6 others only.
    heldout, inits, tiers = tier_tasks(MACHINE, 70, 9)
    assert np.bincount(tiers)[1] == 70 and len(heldout) == 70 + 4 * 70
    drawn = np.concatenate(handed_out)
    assert len(drawn) >= 120
    assert not np.isin(encode_registers(drawn), encode_registers(heldout)).any()
    assert len(np.unique(encode_registers(drawn))) > 1  # it did draw some of the 6


def test_the_context_evaluates_on_the_tiers_from_each_fixed_initial_registers(tmp_path):
    from synthesis.tiers import tier_tasks
    from training.config import parse_config, parse_training
    from training.context import RunContext
    config = parse_config({"settings": {**TINY_SETTINGS, "EVAL_TARGETS": 3}, "presets": {"DQN": TINY_DQN}})
    inits = [[0, 0, 0, 0], [5, 1, 0, 0]]
    [run] = parse_training([tiers_run({"values": inits, "alternate_freq": 0})], config)
    ctx = RunContext(run, config, tmp_path / "run", tmp_path / "tb")
    assert len(ctx.eval_targets) == 2 * 5 * 3
    assert ctx.eval_tiers.tolist() == 2 * [tier for tier in range(1, 6) for _ in range(3)]
    second = ctx.eval_reg_inits.tolist().index([5, 1, 0, 0])
    targets, _, _ = tier_tasks(MACHINE, 3, 9, np.array([inits[1]]))
    assert np.array_equal(ctx.eval_targets[second:], targets)
    assert np.isin(encode_registers(ctx.eval_targets), ctx.tasks.targets.excluded).all()  # training never draws one
