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

from toycorewar import final_registers, parse_program

LENGTH_LINE = re.compile(r"^length (?P<length>\d+) instructions?; optimum (?P<optimum>\d+), proved by the exact "
                         r"synthesizer(: (?P<more>\d+) more than needed)?$")
TOTAL_LINE = re.compile(r"^total reward (?P<total>\S+), performance (?P<performance>-?\d+)(?P<solved> \(solved\))?$")


def printed_task(stdout: str, target: list[int], reg_init: list[int]) -> LoggedTask:
    """The program printed by synthesize.py: instruction lines, then the total and performance line last."""
    task = LoggedTask(target, reg_init)
    lines = stdout.splitlines()
    if lines[-1].startswith("without dead instructions"):  # the clean-up pass: shorter, and still solving
        cleaned = parse_program(lines[-1].split(": ", 2)[2].replace("; ", "\n"))
        assert final_registers(cleaned, reg_init) == target
        lines = lines[:-1]
    assert f"target {target}, initial registers {reg_init}" in lines
    for line in lines:
        if match := STEP_LINE.match(line):
            assert task.performance is None, "instruction after the performance"
            task.steps.append((match["instruction"], [int(v) for v in match["registers"].split(",")],
                               float(match["reward"])))
    if end := TOTAL_LINE.match(lines[-2]):  # a solved target: its length and the optimum come last
        length = LENGTH_LINE.match(lines[-1])
        assert end["solved"] and length, lines[-2:]
        written = sum(1 for instruction, _, _ in task.steps if instruction != "stop")
        assert int(length["length"]) == written >= int(length["optimum"])
        assert int(length["more"] or 0) == written - int(length["optimum"])
    else:
        end = TOTAL_LINE.match(lines[-1])
        assert end and not end["solved"], f"the last line must give the performance: {lines[-1]!r}"
    task.total_reward, task.performance, task.solved_mark = float(end["total"]), int(end["performance"]), \
        bool(end["solved"])
    return task


def test_the_length_line_sets_the_program_beside_the_proven_optimum():
    from synthesis.exact import SynthesisResult
    from synthesize import OPTIMUM_LIMIT, length_line
    from toycorewar import Instruction
    three = SynthesisResult([Instruction("ld", (17, 1))] * 3, 5)
    assert length_line(5, three) == ("length 5 instructions; optimum 3, proved by the exact synthesizer: "
                                     "2 more than needed")
    assert length_line(3, three) == "length 3 instructions; optimum 3, proved by the exact synthesizer"
    assert length_line(1, None) == f"length 1 instruction; optimum not proved within {OPTIMUM_LIMIT:g} s"
    assert length_line(5, SynthesisResult(None, 5)) == ("length 5 instructions; no program of at most 5 "
                                                        "instructions does it")


def test_dead_instructions_are_dropped_while_the_task_is_still_met():
    """The demo's padded program: the load into r4 is overwritten and the last add repeats the one
    before it; the clean-up pass leaves the three instructions that matter."""
    from toycorewar import without_dead_instructions
    padded = parse_program("ld %17, r1\nld %19, r4\nld %12, r3\nadd r3, r1, r4\nadd r3, r1, r4\nstop")
    target = [17, 0, 12, 29]
    cleaned = without_dead_instructions(padded, lambda shorter: final_registers(shorter) == target)
    assert [str(i) for i in cleaned] == ["ld %17, r1", "ld %12, r3", "add r3, r1, r4"]
    assert without_dead_instructions(cleaned, lambda shorter: final_registers(shorter) == target) == cleaned
    assert without_dead_instructions(padded, lambda shorter: False) == padded[:-1]  # stop is never counted


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
