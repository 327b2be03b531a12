"""A block schedule of two tiny targets: the first is solved in its block, the second block is trained,
and the first is still solved at the end, with a replay that keeps every target it has seen. With the
old replay (one ring, `replay_per_task` false) the buffer at the end holds the second target only."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from training.run import train_run

TINY = {"NUM_ACTIONS": 29, "NUM_REGISTERS": 2, "MAX_LENGTH": 3, "N_VALS": 4, "N_TARGETS": 2}
# Neither is solved by following the reward: 255 = 0 − 1 takes a load of 1 elsewhere first (ld %1, r2;
# sub r1, r2, r1; ld %0, r2), and the two ask for opposite first instructions.
FIRST, SECOND = [255, 0], [0, 255]
BLOCK = 400


def train(tmp_path, per_task: bool):
    config = {"settings": {"ASSESS_FREQ": 50, "LOG_FREQ": BLOCK, "SAVE_FREQ": BLOCK, "toy_corewar": TINY},
              "presets": {"DQN": {"agent": "DQN_Agent", "parameters": {
                  "afterstate": True, "middle_size": 16, "effect_size": 2, "batch_size": 32, "num_envs": 8,
                  "gamma": 1.0, "learning_freq": 2, "replay_buffer_size": 200, "epsilon_decay_steps": 100,
                  "reward_scale": 0.05, "lr": 0.005, "replay_per_task": per_task}}}}
    run = {"id": 1, "algo": "DQN", "episodes": 2 * BLOCK, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [FIRST, SECOND], "alternate_freq": 0}, "reg_inits": None}
    result = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0)
    assert result.status == "finished", result.traceback
    return result


def performances(log) -> list[int]:
    """Each evaluation task's performance in an evaluation log, in the order of the run's targets."""
    return [int(p) for p in re.findall(r"performance (-?\d+)", log.read_text())]


def replay_at_the_end(tmp_path) -> tuple[int, int, bool]:
    """Of the saved replay buffer (models/last): its rows of the first target, all its rows, and whether
    it has one region per target."""
    buffer = torch.load(tmp_path / "run" / "models" / "last", weights_only=True)["training"]["buffer"]
    targets = buffer["arrays"]["target"].numpy()
    return int((targets == np.array(FIRST)).all(axis=1).sum()), len(targets), "regions" in buffer


def test_the_first_target_solved_in_its_block_is_still_solved_after_the_second(tmp_path):
    result = train(tmp_path, per_task=True)
    end_of_first_block = tmp_path / "run" / f"{BLOCK:07d}_Evaluation"
    assert performances(end_of_first_block)[0] == 0  # the first target, solved in its own block
    last_log = sorted((tmp_path / "run").glob("*_Evaluation"))[-1]
    assert performances(last_log)[0] == 0  # ... and still solved after a whole block of the second
    assert result.final_performance == 0.0 and result.solved
    assert replay_at_the_end(tmp_path) == (100, 200, True)  # half of the buffer is the first target's


def test_the_old_replay_keeps_only_the_latest_block(tmp_path):
    train(tmp_path, per_task=False)
    first, rows, regions = replay_at_the_end(tmp_path)
    # The first target's rows are only those of the few episodes started as the budget ran out, when
    # the schedule came round to it again (a run overshoots its budget by up to num_envs episodes).
    assert rows == 200 and not regions and first <= 8 * TINY["MAX_LENGTH"]


def test_a_replay_too_small_for_its_targets_is_refused_when_the_files_are_read():
    from training.config import ConfigError, parse_config, parse_training
    config = parse_config({"presets": {"DQN": {"agent": "DQN_Agent", "parameters": {
        "replay_buffer_size": 60, "num_envs": 32}}}})
    run = {"id": 1, "algo": "DQN", "episodes": 100, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [[1, 2, 3, 4], [4, 3, 2, 1]], "alternate_freq": 0}, "reg_inits": None}
    with pytest.raises(ConfigError, match=r"run 1: targets: 2 targets leave 30 replay rows each .*num_envs 32"):
        parse_training([run], config)
    single = {**run, "targets": {"values": [[1, 2, 3, 4]], "alternate_freq": 0}}
    assert parse_training([single], config)[0].id == 1  # one target: one ring, no regions
