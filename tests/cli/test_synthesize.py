"""`python synthesize.py NAME RUN_ID --target A,B,C,D`: the program a trained model writes for a target."""

from __future__ import annotations

import re

import pytest
import torch
from experiment_files import (
    STEP_LINE,
    LoggedTask,
    assert_one_line_error,
    assert_task_is_consistent,
    evaluation_logs,
    parse_evaluation,
    run_synthesize,
)

TOTAL_LINE = re.compile(r"^total reward (?P<total>\S+), performance (?P<performance>-?\d+)(?P<solved> \(solved\))?$")


def printed_task(stdout: str, target: list[int], reg_init: list[int]) -> LoggedTask:
    """The program printed by synthesize.py: instruction lines, then the total and performance line last."""
    task = LoggedTask(target, reg_init)
    lines = stdout.splitlines()
    assert f"target {target}, initial registers {reg_init}" in lines
    for line in lines:
        if match := STEP_LINE.match(line):
            assert task.performance is None, "instruction after the performance"
            task.steps.append((match["instruction"], [int(v) for v in match["registers"].split(",")],
                               float(match["reward"])))
    end = TOTAL_LINE.match(lines[-1])
    assert end, f"the last line must give the performance: {lines[-1]!r}"
    task.total_reward, task.performance, task.solved_mark = float(end["total"]), int(end["performance"]), \
        bool(end["solved"])
    return task


def test_synthesize_prints_the_program_that_the_last_evaluation_log_shows(trained):
    run = trained.runs[0]  # DQN, evaluated from initial registers [1, 2, 3, 4]
    logs = evaluation_logs(trained.run_dir(run))
    logged = parse_evaluation(logs[max(logs)]).tasks[1]
    target, reg_init = ",".join(map(str, logged.target)), ",".join(map(str, logged.reg_init))
    result = run_synthesize(trained.cwd, trained.name, str(run["id"]), "--model", "last",
                            "--target", target, "--init", reg_init)
    assert result.returncode == 0, result.stderr
    printed = printed_task(result.stdout, logged.target, logged.reg_init)
    assert_task_is_consistent(printed, trained.config)
    assert printed.steps == logged.steps
    assert (printed.total_reward, printed.performance) == (logged.total_reward, logged.performance)
    assert f"episode {max(logs)}" in result.stdout.splitlines()[0]


def test_synthesize_writes_a_program_for_a_new_target_with_the_best_model(trained):
    run = trained.runs[1]  # AC, trained on [0, 10, 30, 250] only
    result = run_synthesize(trained.cwd, trained.name, str(run["id"]), "--target", "17,0,12,29")
    assert result.returncode == 0, result.stderr
    printed = printed_task(result.stdout, [17, 0, 12, 29], [0, 0, 0, 0])
    assert_task_is_consistent(printed, trained.config)
    best = torch.load(trained.run_dir(run) / "models" / "best", weights_only=True)
    assert f"episode {best['episode']}" in result.stdout.splitlines()[0]


def test_synthesize_of_a_missing_experiment_exits_2_with_one_line(tmp_path):
    line = assert_one_line_error(run_synthesize(tmp_path, "nothing", "1", "--target", "0,10,30,250"))
    assert "experiments/nothing/1/models/best" in line


def test_synthesize_of_a_damaged_model_file_exits_2_with_one_line(tmp_path):
    models = tmp_path / "experiments" / "broken" / "1" / "models"
    models.mkdir(parents=True)
    (models / "best").write_text("not a model\n", encoding="utf-8")
    line = assert_one_line_error(run_synthesize(tmp_path, "broken", "1", "--target", "0,10,30,250"))
    assert "experiments/broken/1/models/best" in line and "not a model file" in line


@pytest.mark.parametrize(("args", "named"), [(["/tmp", "1"], "NAME"), (["x", "../1"], "RUN_ID"),
                                             (["n" * 300, "1"], "NAME")])
def test_synthesize_checks_name_and_run_id_as_main_does(tmp_path, args, named):
    line = assert_one_line_error(run_synthesize(tmp_path, *args, "--target", "0,10,30,250"))
    assert named in line and "folder" in line


def test_synthesize_refuses_a_target_of_double_minus_in_one_line(trained):
    run = trained.runs[1]
    line = assert_one_line_error(run_synthesize(trained.cwd, trained.name, str(run["id"]), "--target=--1,0,0,0"))
    assert "--target '--1,0,0,0'" in line
