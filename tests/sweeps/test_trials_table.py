"""The pieces of a sweep: the objective, bounds that depend on the run's episodes, suggestions applied to
a preset, the trials table and the best trial."""

from __future__ import annotations

import pytest
from sweep_files import tiny_config

from sweeps.spaces import (
    TRIAL_COLUMNS,
    Trial,
    apply_assignments,
    best_preset,
    best_trial,
    objective,
    parse_space,
    read_trials,
    write_trials,
)
from training.config import parse_config


def test_the_objective_is_the_mean_evaluation_performance_over_the_run():
    # Solved at the third of four evaluations: (-20 - 8 + 0 + 0) / 4.
    assert objective([(0, -20.0), (200, -8.0), (400, 0.0), (600, 0.0)]) == -7.0
    # Solving earlier scores higher; an unsolved run that came close beats one that stayed far.
    assert objective([(0, -20.0), (200, 0.0), (400, 0.0), (600, 0.0)]) == -5.0
    assert objective([(0, -20.0), (200, -3.0), (400, -1.0), (600, -1.0)]) > objective([(0, -20.0)] * 4)
    assert objective([(0, 0.0)]) == 0.0 and objective([]) is None


def test_bounds_of_the_runs_episodes_round_inwards_for_integers():
    section = {"learning_starts": {"type": "int", "min": "episodes*0.1", "max": "episodes/2"},
               "epsilon_decay_steps": {"type": "double", "min": 0.2, "max": "episodes/ 4"}}
    space = parse_space(section, "DQN_Agent", 75, "x")
    starts, decay = space.ranges
    assert (starts.min, starts.max) == (8, 37)  # ceil(7.5), floor(37.5)
    assert (decay.type, decay.min, decay.max) == ("double", 0.2, 18.75)


def test_assignments_replace_the_presets_parameters_and_are_validated_by_the_agents_class():
    config = parse_config(tiny_config())
    parameters = apply_assignments(config, "DQN", {"lr": 0.02, "lstm_layers": 2})
    assert parameters == {**config.to_json()["presets"]["DQN"]["parameters"], "lr": 0.02, "lstm_layers": 2}
    with pytest.raises(ValueError, match="^lstm_layers: Input should be greater than or equal to 1, got 0$"):
        apply_assignments(config, "DQN", {"lstm_layers": 0})
    # PG carries the DQN keys it ignores: they stay as they were in the preset.
    assert apply_assignments(config, "PG", {"gamma": 0.5})["batch_size"] == 16


def test_trials_csv_round_trips_every_value_exactly(tmp_path):
    space = parse_space({"lr": {"type": "double", "min": 1e-5, "max": 1.0, "transformation": "log"},
                         "h_size": {"type": "int", "min": 8, "max": 64}}, "DQN_Agent", 100, "x")
    trials = [Trial(1, "1", "finished", {"lr": 0.00012345678901234567, "h_size": 17}, -3.25, 0.0, 80, 12.25),
              Trial(2, "abc", "failed", {"lr": 0.5, "h_size": 8}),
              Trial(3, "3", "interrupted", {"lr": 0.1, "h_size": 9}, seconds=4.0)]
    write_trials(tmp_path / "trials.csv", trials, space)
    header = (tmp_path / "trials.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header == ",".join(TRIAL_COLUMNS + ["lr", "h_size"])
    again = read_trials(tmp_path / "trials.csv", space)
    assert [(t.number, t.suggestion, t.status, t.assignments, t.objective, t.best_performance, t.first_solve)
            for t in again] == [(t.number, t.suggestion, t.status, t.assignments, t.objective, t.best_performance,
                                 t.first_solve) for t in trials]
    assert again[0].assignments["lr"] == 0.00012345678901234567 and isinstance(again[0].assignments["h_size"], int)
    assert not (tmp_path / "trials.csv.tmp").exists()


def test_the_best_trial_is_the_finished_one_with_the_highest_objective_the_earliest_among_equals():
    trials = [Trial(1, "1", "finished", {"lr": 0.1}, -4.0), Trial(2, "2", "failed", {"lr": 0.2}),
              Trial(3, "3", "finished", {"lr": 0.3}, -1.5), Trial(4, "4", "finished", {"lr": 0.4}, -1.5),
              Trial(5, "5", "interrupted", {"lr": 0.5})]
    assert best_trial(trials).number == 3
    assert best_trial(trials[1:2]) is None
    config = parse_config(tiny_config())
    preset = best_preset(config, "DQN", best_trial(trials))
    assert preset == {"DQN": {"agent": "DQN_Agent",
                              "parameters": {**config.to_json()["presets"]["DQN"]["parameters"], "lr": 0.3}}}
