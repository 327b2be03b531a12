"""training/logs.py alone: RunLogger's evaluation log files and TensorBoard points, read back with
TensorBoard's own reader."""

from __future__ import annotations

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

from training.evaluation import Evaluation, TaskResult
from training.logs import RunLogger


def hand_worked_evaluation(episode):
    """Two tasks: rewards 3+2 and performance -5, rewards 10 and solved. Means: performance -2.5,
    total reward 7.5, solved fraction 0.5."""
    unsolved = TaskResult([5, 0, 0, 0], [0, 0, 0, 0], ["ld %3, r1", "stop"], [[3, 0, 0, 0], [3, 0, 0, 0]],
                          [3.0, 2.0], performance=-5)
    solved = TaskResult([10, 0, 0, 0], [0, 0, 0, 0], ["ld %10, r1"], [[10, 0, 0, 0]], [10.0], performance=0)
    return Evaluation(episode, [unsolved, solved])


def read_events(folder):
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator


def points(accumulator, tag):
    return {event.step: event.value for event in accumulator.Scalars(tag)}


@pytest.fixture
def logger(tmp_path):
    run_dir = tmp_path / "experiment" / "run"
    run_dir.mkdir(parents=True)
    logger = RunLogger(run_dir, tmp_path / "tensorboard", total_episodes=100, label="run test", quiet=True)
    yield logger
    logger.close()


def test_write_makes_the_evaluation_log_named_by_its_episode(logger):
    logger.write(hand_worked_evaluation(20), episodes_done=20, elapsed=1.31, global_performance=-3.0)
    assert [path.name for path in logger.run_dir.iterdir()] == ["0000020_Evaluation"]
    text = (logger.run_dir / "0000020_Evaluation").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[:2] == ["Evaluation at episode 20", "Elapsed time: 1.3 s"]
    assert "Task 1: target [5, 0, 0, 0], initial registers [0, 0, 0, 0]" in lines
    assert "    total reward 5, performance -5" in lines
    assert "    total reward 10, performance 0 (solved)" in lines
    assert lines[-3:] == ["Mean performance: -2.5", "Mean reward: 7.5", "Solved: 1/2"]


def test_a_resumed_session_replaces_what_the_killed_one_logged_after_its_checkpoint(tmp_path):
    """A session killed at episode 120 after its checkpoint of episode 40 (it logged 0..120); the session
    resumed from 40 logs 80 and 120 again: each point once, the resumed session's where both logged."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    killed = RunLogger(run_dir, tmp_path / "tensorboard", total_episodes=200, label="killed", quiet=True)
    for episode in (0, 40, 80, 120):
        killed.write(hand_worked_evaluation(episode), episodes_done=episode, elapsed=0.0, global_performance=-3.0)
    killed.close()
    resumed = RunLogger(run_dir, tmp_path / "tensorboard", total_episodes=200, label="resumed", quiet=True)
    resumed.resumed_at(40)
    for episode in (80, 120, 160):
        resumed.write(hand_worked_evaluation(episode), episodes_done=episode, elapsed=0.0, global_performance=-1.0)
    resumed.close()
    curve = [(e.step, e.value) for e in read_events(tmp_path / "tensorboard").Scalars("evaluation/global_performance")]
    assert curve == [(0, -3.0), (40, -3.0), (80, -1.0), (120, -1.0), (160, -1.0)]


def test_write_adds_the_evaluation_scalars_at_the_evaluation_episode(logger, tmp_path):
    logger.write(hand_worked_evaluation(0), episodes_done=0, elapsed=0.0, global_performance=-2.5)
    logger.write(hand_worked_evaluation(40), episodes_done=40, elapsed=2.0, global_performance=-1.0)
    logger.close()
    events = read_events(tmp_path / "tensorboard")
    assert points(events, "evaluation/mean_performance") == {0: -2.5, 40: -2.5}
    assert points(events, "evaluation/mean_total_reward") == {0: 7.5, 40: 7.5}
    assert points(events, "evaluation/solved_fraction") == {0: 0.5, 40: 0.5}
    assert points(events, "evaluation/global_performance") == {0: -2.5, 40: -1.0}


def test_the_training_scalars_passed_to_advance_are_written_with_the_next_evaluation(logger, tmp_path):
    logger.advance(20, loss=0.25, exploration_rate=0.75)
    logger.write(hand_worked_evaluation(20), episodes_done=20, elapsed=1.0, global_performance=-2.5)
    logger.advance(20, loss=0.125)  # the exploration rate is kept from before
    logger.write(hand_worked_evaluation(40), episodes_done=40, elapsed=2.0, global_performance=-2.5)
    logger.close()
    events = read_events(tmp_path / "tensorboard")
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/exploration_rate", "train/episodes_per_second"} <= tags
    assert points(events, "train/loss") == {20: 0.25, 40: 0.125}
    assert points(events, "train/exploration_rate") == {20: 0.75, 40: 0.75}
    rates = points(events, "train/episodes_per_second")
    assert sorted(rates) == [20, 40] and all(rate > 0 for rate in rates.values())


def test_no_training_scalar_is_written_before_advance_gives_one(logger, tmp_path):
    logger.write(hand_worked_evaluation(0), episodes_done=0, elapsed=0.0, global_performance=-2.5)
    logger.close()
    tags = set(read_events(tmp_path / "tensorboard").Tags()["scalars"])
    assert tags == {"evaluation/mean_performance", "evaluation/mean_total_reward", "evaluation/solved_fraction",
                    "evaluation/global_performance"}


def test_the_configuration_is_text_at_step_0(logger, tmp_path):
    effective = {"run": {"id": "r", "algo": "PG", "episodes": 80, "reward_func": "Specific_register_values",
                         "targets": None, "reg_inits": None},
                 "config": {"presets": {"PG": {"agent": "PG_Agent", "parameters": {"lr": 0.01}}}}, "seed": 3}
    logger.configuration(effective)
    logger.close()
    events = read_events(tmp_path / "tensorboard")
    assert "config/text_summary" in events.Tags()["tensors"]
    [event] = events.Tensors("config/text_summary")
    assert event.step == 0
    text = tensor_util.make_ndarray(event.tensor_proto).item().decode("utf-8")
    assert text.startswith("```\n") and text.endswith("\n```")
    assert json.loads(text.removeprefix("```\n").removesuffix("\n```")) == effective
