"""training/schedule.py alone: which boundaries a move of the episode count crosses, and what falls due."""

from __future__ import annotations

from training.schedule import EventSchedule, crossed


def test_crossed_lists_every_boundary_of_a_jump_over_several():
    assert crossed(15, 47, 10) == [20, 30, 40]


def test_crossed_includes_the_new_count_but_not_the_previous_one():
    assert crossed(19, 20, 10) == [20]
    assert crossed(20, 29, 10) == []
    assert crossed(0, 10, 10) == [10]


def test_crossed_is_empty_when_the_count_does_not_move():
    assert crossed(0, 0, 10) == []
    assert crossed(30, 30, 10) == []


def test_a_jump_over_several_boundaries_evaluates_each_logs_and_saves():
    due = EventSchedule(assess_freq=10, log_freq=20, save_freq=20).due(15, 47)
    assert due.evaluations == [20, 30, 40]
    assert due.logged == frozenset({20, 40})
    assert due.save is True
    assert due


def test_a_log_boundary_that_is_not_an_assess_boundary_is_still_evaluated():
    # ASSESS_FREQ 30 does not divide LOG_FREQ 50: 50 and 100 are log boundaries only.
    due = EventSchedule(assess_freq=30, log_freq=50, save_freq=0).due(0, 100)
    assert due.evaluations == [30, 50, 60, 90, 100]
    assert due.logged == frozenset({50, 100})


def test_evaluations_are_sorted_and_each_boundary_is_listed_once():
    # 60 is both an assess and a log boundary.
    due = EventSchedule(assess_freq=30, log_freq=20, save_freq=0).due(35, 80)
    assert due.evaluations == [40, 60, 80]
    assert due.logged == frozenset({40, 60, 80})


def test_save_freq_zero_means_no_save_during_the_run():
    schedule = EventSchedule(assess_freq=10, log_freq=20, save_freq=0)
    assert schedule.due(0, 1000).save is False
    assert schedule.due(999, 1000).save is False


def test_a_save_alone_is_due_and_makes_the_result_true():
    due = EventSchedule(assess_freq=100, log_freq=100, save_freq=7).due(5, 8)
    assert due.evaluations == []
    assert due.logged == frozenset()
    assert due.save is True
    assert due


def test_nothing_is_due_when_no_boundary_is_crossed():
    due = EventSchedule(assess_freq=10, log_freq=20, save_freq=20).due(41, 49)
    assert due.evaluations == []
    assert due.logged == frozenset()
    assert due.save is False
    assert not due


def test_an_assess_boundary_alone_is_evaluated_without_a_log_or_save():
    due = EventSchedule(assess_freq=10, log_freq=20, save_freq=20).due(25, 30)
    assert due.evaluations == [30]
    assert due.logged == frozenset()
    assert due.save is False
    assert due
