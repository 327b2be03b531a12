"""training/records.py alone: RunRecord fed hand-built evaluations."""

from __future__ import annotations

import io

import pytest
import torch

from training.evaluation import Evaluation, TaskResult
from training.records import RunRecord


def task(performance, program=("stop",), target=(3, 0, 0, 0), reg_init=(0, 0, 0, 0)):
    return TaskResult(list(target), list(reg_init), instructions=list(program),
                      registers=[list(reg_init)] * len(program), rewards=[0.0] * len(program), performance=performance)


def evaluation(episode, *performances):
    """An evaluation whose tasks have these performances (one task each)."""
    return Evaluation(episode, [task(p) for p in performances])


class Payloads:
    """A model_payload callable that counts its calls and hands out a fresh, mutable payload each time."""

    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"network": {"weight": torch.full((2,), float(self.calls))}, "calls": [self.calls]}


def test_the_first_evaluation_is_the_best_so_far():
    record, payloads = RunRecord(10), Payloads()
    record.observe(evaluation(0, -4, -6), payloads, elapsed=0.1)
    assert record.best_performance == -5.0
    assert record.best_episode == 0
    assert payloads.calls == 1
    assert record.best_payload["calls"] == [1]


def test_best_is_kept_only_when_strictly_better_and_the_payload_is_asked_only_then():
    record, payloads = RunRecord(10), Payloads()
    record.observe(evaluation(0, -5), payloads, elapsed=0.0)
    record.observe(evaluation(10, -5), payloads, elapsed=1.0)  # equal: not better
    record.observe(evaluation(20, -7), payloads, elapsed=2.0)  # worse
    assert payloads.calls == 1
    assert (record.best_performance, record.best_episode) == (-5.0, 0)
    assert record.best_payload["calls"] == [1]
    record.observe(evaluation(30, -2), payloads, elapsed=3.0)
    assert payloads.calls == 2
    assert (record.best_performance, record.best_episode) == (-2.0, 30)
    assert record.best_payload["calls"] == [2]


def test_the_best_payload_is_a_deep_copy_of_what_the_model_gave():
    given = {"network": {"weight": torch.zeros(3)}, "spec": {"sizes": [1, 2]}}
    record = RunRecord(10)
    record.observe(evaluation(0, -1), lambda: given, elapsed=0.0)
    given["network"]["weight"] += 5  # the agent keeps training its own tensors
    given["spec"]["sizes"].append(3)
    assert torch.equal(record.best_payload["network"]["weight"], torch.zeros(3))
    assert record.best_payload["spec"]["sizes"] == [1, 2]
    assert record.best_payload["network"]["weight"] is not given["network"]["weight"]


def test_a_partly_solved_evaluation_is_not_a_first_solve():
    record = RunRecord(10)
    record.observe(evaluation(10, 0, -3), Payloads(), elapsed=1.0)
    assert record.first_solve is None
    assert record.first_solve_seconds is None
    assert record.first_solve_programs == []
    assert record.first_solve_program == []


def test_first_solve_is_the_first_all_solved_evaluation_with_its_elapsed_seconds():
    record = RunRecord(10)
    record.observe(evaluation(0, -3, 0), Payloads(), elapsed=0.5)
    record.observe(evaluation(20, 0, 0), Payloads(), elapsed=3.5)
    record.observe(Evaluation(40, [task(0, ["ld %1, r1"]), task(0, ["ld %2, r2"])]), Payloads(), elapsed=9.0)
    assert record.first_solve == 20
    assert record.first_solve_seconds == 3.5


def test_first_solve_keeps_every_tasks_program():
    first = task(0, ["ld %3, r1", "stop"], target=(3, 0, 0, 0))
    second = task(0, ["ld %4, r2", "st r2, r3", "stop"], target=(0, 4, 4, 0), reg_init=(0, 1, 0, 0))
    record = RunRecord(10)
    record.observe(Evaluation(60, [first, second]), Payloads(), elapsed=2.0)
    assert record.first_solve_programs == [
        {"target": [3, 0, 0, 0], "reg_init": [0, 0, 0, 0], "program": ["ld %3, r1", "stop"]},
        {"target": [0, 4, 4, 0], "reg_init": [0, 1, 0, 0], "program": ["ld %4, r2", "st r2, r3", "stop"]}]
    assert record.first_solve_program == ["ld %3, r1", "stop"]


def test_recent_keeps_only_the_last_perf_memory_performances_and_the_curve_keeps_all():
    record = RunRecord(3)
    for episode, performance in zip(range(0, 50, 10), (-1, -2, -3, -4, -8), strict=True):
        record.observe(evaluation(episode, performance), Payloads(), elapsed=0.0)
    assert list(record.recent) == [-3.0, -4.0, -8.0]
    assert record.global_performance == -5.0
    assert record.curve == [(0, -1.0), (10, -2.0), (20, -3.0), (30, -4.0), (40, -8.0)]
    assert record.last_performance == -8.0


def test_global_performance_is_the_mean_of_recent_mean_performances():
    record = RunRecord(10)
    record.observe(evaluation(0, -2, -4), Payloads(), elapsed=0.0)  # mean -3
    record.observe(evaluation(10, 0, -1), Payloads(), elapsed=0.0)  # mean -0.5
    assert record.global_performance == pytest.approx(-1.75)


def filled_record():
    record = RunRecord(3)
    record.observe(evaluation(0, -6), Payloads(), elapsed=0.2)
    record.observe(Evaluation(10, [task(0, ["ld %3, r1", "stop"])]), Payloads(), elapsed=1.25)
    record.observe(evaluation(20, -1), Payloads(), elapsed=2.0)
    record.observe(evaluation(30, -2), Payloads(), elapsed=3.0)
    return record


def through_a_checkpoint(state):
    """The state as models/last carries it: saved by torch and loaded back with weights_only=True."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def assert_same_record(restored, record):
    assert restored.best_performance == record.best_performance
    assert restored.best_episode == record.best_episode
    assert restored.first_solve == record.first_solve
    assert restored.first_solve_seconds == record.first_solve_seconds
    assert restored.first_solve_programs == record.first_solve_programs
    assert list(restored.recent) == list(record.recent)
    assert restored.recent.maxlen == record.recent.maxlen
    assert restored.curve == record.curve
    assert restored.best_payload.keys() == record.best_payload.keys()
    assert torch.equal(restored.best_payload["network"]["weight"], record.best_payload["network"]["weight"])
    assert restored.global_performance == record.global_performance


def test_state_then_restore_gives_the_same_record():
    record = filled_record()
    assert (record.first_solve, record.first_solve_seconds, record.best_episode) == (10, 1.25, 10)
    restored = RunRecord(3)
    restored.restore(through_a_checkpoint(record.state()))
    assert_same_record(restored, record)
    assert restored.curve == [(0, -6.0), (10, 0.0), (20, -1.0), (30, -2.0)]
    assert isinstance(restored.curve[0], tuple)


def test_a_restored_record_goes_on_as_the_original_would():
    record = filled_record()
    restored = RunRecord(3)
    restored.restore(through_a_checkpoint(record.state()))
    for r in (record, restored):
        r.observe(evaluation(40, -4), Payloads(), elapsed=4.0)
    assert list(restored.recent) == list(record.recent) == [-1.0, -2.0, -4.0]
    assert restored.curve == record.curve


def test_a_record_without_a_solve_round_trips_with_no_solve():
    record = RunRecord(5)
    record.observe(evaluation(0, -3), Payloads(), elapsed=0.0)
    state = through_a_checkpoint(record.state())
    assert state["first_solve"] == -1
    restored = RunRecord(5)
    restored.restore(state)
    assert restored.first_solve is None
    assert restored.first_solve_seconds is None
    assert restored.first_solve_programs == []


def test_restoring_an_older_checkpoint_without_first_solve_seconds_or_programs_works():
    state = filled_record().state()
    del state["first_solve_seconds"], state["first_solve_programs"]
    restored = RunRecord(3)
    restored.restore(through_a_checkpoint(state))
    assert restored.first_solve == 10
    assert restored.first_solve_seconds is None
    assert restored.first_solve_programs == []
    assert restored.first_solve_program == []
    assert restored.curve == [(0, -6.0), (10, 0.0), (20, -1.0), (30, -2.0)]
