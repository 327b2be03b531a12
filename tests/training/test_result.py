"""training/result.py alone: RunResult's strict JSON form, its round trip, and its pickling."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from training.result import STATUSES, RunResult


def finished_result():
    return RunResult(id="dqn", algo="DQN", agent="DQN_Agent", status="finished", best_performance=-0.5,
                     first_solve=40, episodes=80, seconds=12.5, curve=[(0, -6.0), (20, -2.0), (40, 0.0)],
                     best_episode=40, first_solve_seconds=6.25, program=["ld %3, r1", "stop"],
                     programs=[{"target": [3, 0, 0, 0], "reg_init": [0, 0, 0, 0], "program": ["ld %3, r1", "stop"]}])


def test_to_json_is_strict_json_with_every_field_but_the_traceback():
    result = finished_result()
    result.traceback = "Traceback (most recent call last): ..."
    data = result.to_json()
    assert "traceback" not in data
    text = json.dumps(data, allow_nan=False)
    assert "Traceback" not in text
    assert json.loads(text) == {
        "id": "dqn", "algo": "DQN", "agent": "DQN_Agent", "status": "finished", "best_performance": -0.5,
        "first_solve": 40, "episodes": 80, "seconds": 12.5, "curve": [[0, -6.0], [20, -2.0], [40, 0.0]],
        "error": None, "best_episode": 40, "first_solve_seconds": 6.25, "program": ["ld %3, r1", "stop"],
        "programs": [{"target": [3, 0, 0, 0], "reg_init": [0, 0, 0, 0], "program": ["ld %3, r1", "stop"]}],
        "later_solved_fraction": None, "final_performance": 0.0, "unsolved": None}


def test_kept_counts_the_evaluations_that_solved_every_task_when_they_are_recorded():
    # A function task's evaluation can meet every example (mean performance 0) and still be unsolved: a
    # program wrong on some input. With `unsolved` recorded, that one is not counted as kept.
    result = finished_result()
    result.curve = [(0, -6.0), (20, 0.0), (40, 0.0), (60, 0.0), (80, 0.0)]
    result.first_solve = 20
    assert result.later_solved_fraction == 1.0
    result.unsolved = [0, 60]
    assert result.later_solved_fraction == 2 / 3


@pytest.mark.parametrize("best", [-math.inf, math.nan], ids=["-inf", "nan"])
def test_a_best_performance_that_is_not_finite_is_null_in_json(best):
    result = RunResult(id=1, algo="PG", status="interrupted", best_performance=best)
    data = result.to_json()
    assert data["best_performance"] is None
    assert json.loads(json.dumps(data, allow_nan=False))["best_performance"] is None
    assert result.best_performance is best  # the record itself is unchanged


def test_the_curve_is_written_as_plain_ints_and_floats():
    result = RunResult(id=1, algo="PG", curve=[(np.int64(10), np.float32(-2.5))])
    data = result.to_json()
    assert data["curve"] == [[10, -2.5]]
    assert type(data["curve"][0][0]) is int and type(data["curve"][0][1]) is float
    json.dumps(data, allow_nan=False)


def test_from_json_of_to_json_gives_the_same_result():
    result = finished_result()
    assert RunResult.from_json(result.to_json()) == result
    assert RunResult.from_json(json.loads(json.dumps(result.to_json()))) == result


def test_from_json_keeps_an_integer_id_an_integer():
    result = RunResult(id=7, algo="AC", status="finished", curve=[(0, -1.0)])
    back = RunResult.from_json(json.loads(json.dumps(result.to_json())))
    assert back.id == 7 and isinstance(back.id, int)
    assert back.curve == [(0, -1.0)]


def test_from_json_ignores_keys_it_does_not_know():
    data = {**finished_result().to_json(), "added_by_a_later_version": 1}
    assert RunResult.from_json(data) == finished_result()


def test_for_task_builds_the_result_of_a_run_that_never_reported():
    task = {"run_data": {"id": "r2", "algo": "PG", "episodes": 80}, "config_data": {}, "run_dir": "x",
            "tensorboard_dir": "y", "seed": 3}
    result = RunResult.for_task(task, "failed", "worker lost")
    assert (result.id, result.algo, result.status, result.error) == ("r2", "PG", "failed", "worker lost")
    assert (result.agent, result.episodes, result.curve, result.best_performance) == (None, 0, [], None)
    assert RunResult.for_task(task, "not started").error is None
    assert RunResult.for_task(task, "not started").status == "not started"


def test_an_unknown_status_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="'done'"):
        RunResult(id=1, algo="DQN", status="done")
    with pytest.raises(ValueError, match="status must be one of"):
        RunResult.for_task({"run_data": {"id": 1, "algo": "DQN"}}, "Finished")


def test_every_known_status_is_accepted():
    assert [RunResult(id=1, algo="DQN", status=s).status for s in STATUSES] == list(STATUSES)


def test_a_result_pickles_with_its_traceback():
    result = finished_result()
    result.traceback = "Traceback ..."
    back = pickle.loads(pickle.dumps(result))
    assert back == result
    assert back.traceback == "Traceback ..."


def test_solved_means_a_first_solve():
    assert finished_result().solved
    assert not RunResult(id=1, algo="DQN").solved


def test_stability_figures_from_a_hand_written_evaluation_sequence():
    # Solved first at episode 200; of the five later evaluations, four solve; the run ends at -1.
    curve = [(0, -9.0), (100, -3.0), (200, 0.0), (300, 0.0), (400, -2.0), (500, 0.0), (600, 0.0), (700, -1.0)]
    result = RunResult(id=1, algo="DQN", status="finished", first_solve=200, curve=curve)
    assert result.later_solved_fraction == 3 / 5
    assert result.final_performance == -1.0
    data = result.to_json()
    assert (data["later_solved_fraction"], data["final_performance"]) == (0.6, -1.0)
    assert RunResult.from_json(data).later_solved_fraction == 0.6  # recomputed from the curve


def test_stability_figures_of_runs_never_solved_or_solved_at_their_last_evaluation():
    never = RunResult(id=1, algo="DQN", status="finished", curve=[(0, -4.0), (100, -2.0)])
    assert never.later_solved_fraction is None and never.final_performance == -2.0
    last = RunResult(id=1, algo="DQN", status="finished", first_solve=100, curve=[(0, -4.0), (100, 0.0)])
    assert last.later_solved_fraction is None and last.final_performance == 0.0
    empty = RunResult(id=1, algo="DQN", status="failed")
    assert empty.final_performance is None and empty.to_json()["final_performance"] is None
