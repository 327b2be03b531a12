"""What a program computes (its affine map), the task syntax for functions, and examples (docs/reference.md §10)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toycorewar import (
    ActionTable,
    AffineMap,
    Function,
    FunctionSyntaxError,
    MachineConfig,
    examples_from_pairs,
    final_registers,
    format_map,
    parse_examples,
    parse_function,
    parse_program,
    program_map,
)
from toycorewar.functions import format_form

ROOT = Path(__file__).resolve().parents[2]
TABLE = ActionTable(MachineConfig())


def program_of(text: str):
    return parse_program(text.replace(";", "\n"))


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(st.integers(0, TABLE.num_actions - 1), max_size=5),
       inputs=st.lists(st.lists(st.integers(0, 255), min_size=4, max_size=4), min_size=1, max_size=5))
def test_the_map_of_a_program_gives_its_runs_on_every_input(actions, inputs):
    program = [TABLE.instructions[a] for a in actions]
    function = program_map(program)
    for registers in inputs:
        assert function.apply(registers).tolist() == final_registers(program, registers)


def test_the_map_follows_from_the_runs_on_zeros_and_unit_inputs():
    program = program_of("add r1, r2, r3; sub r3, r4, r4; ld %7, r1; add r4, r4, r2")
    function = program_map(program)
    zeros = final_registers(program, [0, 0, 0, 0])
    assert function.offset.tolist() == zeros
    for j in range(4):
        unit = [0, 0, 0, 0]
        unit[j] = 1
        column = (np.array(final_registers(program, unit)) - zeros) % 256
        assert function.matrix[:, j].tolist() == column.tolist()


def test_the_map_stops_at_stop():
    assert program_map(program_of("ld %3, r1; stop")) == program_map(program_of("ld %3, r1"))
    assert program_map([]) == AffineMap.identity(4)


def test_printing_one_line_per_changed_register():
    assert format_map(program_map(program_of("add r1, r2, r3"))) == "r3 = r1 + r2"
    assert format_map(program_map(program_of("sub r2, r1, r1"))) == "r1 = -r1 + r2"
    assert format_map(program_map(program_of("st r1, r4; st r2, r1; st r4, r2"))) == "r1 = r2\nr2 = r1\nr4 = r1"
    assert format_map(program_map(program_of("ld %5, r2; add r1, r2, r1"))) == "r1 = r1 + 5\nr2 = 5"
    assert format_map(program_map(program_of("st r1, r1"))) == "(no register changes)"


@pytest.mark.parametrize(("coefficients", "constant", "text"), [
    ([1, 1, 0, 0], 0, "r1 + r2"), ([255, 0, 0, 0], 0, "-r1"), ([2, 255, 0, 0], 0, "2*r1 - r2"),
    ([1, 0, 0, 0], 100, "r1 + 100"), ([1, 0, 0, 0], 255, "r1 - 1"), ([0, 0, 0, 0], 250, "250"),
    ([5, 0, 0, 0], 0, "5*r1"), ([0, 0, 0, 0], 0, "0"), ([128, 0, 0, 0], 0, "128*r1"),
])
def test_forms_print_in_the_task_syntax(coefficients, constant, text):
    assert format_form(coefficients, constant) == text
    parsed = parse_function(f"r4 = {text}")
    assert parsed.matrix[3].tolist() == coefficients and parsed.offset[3] == constant


def test_a_printed_map_parses_back_to_the_same_function():
    rng = np.random.default_rng(0)
    for _ in range(200):
        program = [TABLE.instructions[a] for a in rng.integers(0, TABLE.stop_action, size=5)]
        function = program_map(program)
        if not function.changed().any():
            continue
        task = parse_function(format_map(function).replace("\n", "; "))
        assert task == Function.of_map(function)
        assert task.is_computed_by(function)


@pytest.mark.parametrize(("text", "assigned", "inputs"), [
    ("r3 = r1 + r2", [3], [1, 2]), ("r1 = r2; r2 = r1", [1, 2], [1, 2]), ("R1=-R1", [1], [1]),
    ("r1 = 256 - r1", [1], [1]), ("r4 = 7", [4], []), ("r1 = 3 * r2 - 1 ;", [1], [2]),
    ("r1 = r2 - r2", [1], [2]),  # read, so an input, though its coefficient is 0
])
def test_expression_tasks(text, assigned, inputs):
    function = parse_function(text)
    assert np.flatnonzero(function.assigned).tolist() == [a - 1 for a in assigned]
    assert np.flatnonzero(function.inputs).tolist() == [i - 1 for i in inputs]


def test_right_hand_sides_read_the_inputs():
    swap = parse_function("r1 = r2; r2 = r1")
    assert swap.outputs(np.array([3, 9, 0, 0])).tolist() == [9, 3, 0, 0]
    assert swap.is_computed_by(program_map(program_of("st r1, r3; st r2, r1; st r3, r2")))
    assert not swap.is_computed_by(program_map(program_of("st r2, r1; st r1, r2")))


def test_correctness_is_decided_exactly_with_the_first_wrong_input():
    task = parse_function("r1 = 2*r1 + r2")
    right = program_map(program_of("add r1, r1, r1; add r1, r2, r1"))
    assert task.first_wrong_input(right) is None
    # Right on zeros and on r2, wrong on r1 alone (it computes r1 + r2).
    wrong = program_map(program_of("add r1, r2, r1"))
    assert task.first_wrong_input(wrong).tolist() == [1, 0, 0, 0]
    # Registers that are not inputs start at 0: r3 = r1 + r2 needs no clearing of r3.
    assert parse_function("r3 = r1 + r2").is_computed_by(program_map(program_of("add r1, r2, r3")))
    # Only the assigned registers matter.
    assert parse_function("r3 = r1").is_computed_by(program_map(program_of("st r1, r3; ld %4, r2")))


def test_a_wrong_program_is_wrong_on_some_random_input_exactly_when_the_map_says_so():
    rng = np.random.default_rng(1)
    task = parse_function("r1 = r1 + r2; r2 = r1 - r2")
    for _ in range(300):
        program = [TABLE.instructions[a] for a in rng.integers(0, TABLE.stop_action, size=3)]
        inputs = task.draw_inputs(64, rng)
        met = all((np.array(final_registers(program, x.tolist())) == task.outputs(x))[task.assigned].all()
                  for x in inputs)
        if not task.is_computed_by(program_map(program)):
            wrong = task.first_wrong_input(program_map(program))
            assert (np.array(final_registers(program, wrong.tolist())) != task.outputs(wrong))[task.assigned].any()
        else:
            assert met


@pytest.mark.parametrize(("text", "column", "words"), [
    ("", 1, "empty task"), (" ; ", 1, "empty task"), ("r1 = r1 * r2", 6, "not affine"),
    ("r1 = 2 * r2 * r3 + 1", 6, "no program of this machine computes it"),
    ("r5 = r1", 1, "r5 does not exist"), ("r1 = r9", 6, "r9 does not exist"), ("r1 = ", 6, "expected a register"),
    ("r1 r2", 4, "expected '='"), ("r1 = (r2)", 6, "'('"), ("r1 = r2; r1 = r3", 10, "assigned twice"),
    ("r1 = r2 / 2", 9, "'/'"), ("x = 1", 1, "expected a register 'rX' to assign"),
])
def test_syntax_errors_name_the_column_and_what_was_expected(text, column, words):
    with pytest.raises(FunctionSyntaxError) as error:
        parse_function(text)
    assert error.value.column == column and words in str(error.value)
    assert str(error.value).startswith(f"column {column}: ")


def test_examples_from_text_and_from_pairs():
    text = parse_examples("1,2,3,4 -> 3,_,_,_; 5,6,0,0->11,_,_,_")
    pairs = examples_from_pairs([[[1, 2, 3, 4], [3, None, None, None]], [[5, 6, 0, 0], [11, None, None, None]]])
    for examples in (text, pairs):
        assert examples.inputs.tolist() == [[1, 2, 3, 4], [5, 6, 0, 0]]
        assert examples.matters[:, 0].all() and not examples.matters[:, 1:].any()
        assert examples.met_by(program_map(program_of("add r1, r2, r1")))
        assert not examples.met_by(program_map(program_of("add r1, r1, r1")))
    assert str(text) == "1,2,3,4->3,_,_,_; 5,6,0,0->11,_,_,_"


@pytest.mark.parametrize(("text", "words"), [
    ("1,2,3 -> 1,2,3,4", "expected 4 registers"), ("1,2,3,4 -> 1,2,3", "expected 4 registers"),
    ("1,2,3,4->5,_,_,_; 1,2,3,4->6,_,_,_", "contradictory examples 0 and 1"), ("", "empty task"),
    ("_,1,2,3->1,1,1,1", "expected an integer in 0..255"), ("1,2,3,4->_,_,_,_", "no output register matters"),
    ("1,2,3,4->256,_,_,_", "0..255"), ("1,2,3,4", "expected an example 'IN->OUT'"),
])
def test_bad_examples_are_named(text, words):
    with pytest.raises(ValueError, match=words):
        parse_examples(text)


def test_examples_of_different_lengths_are_named():
    with pytest.raises(ValueError, match=r"examples\[1\] outputs must be 4 registers"):
        examples_from_pairs([[[1, 2, 3, 4], [1, 2, 3, 4]], [[1, 2, 3, 4], [1, 2, 3]]])


def run_map(tmp_path: Path, text: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "program.s"
    path.write_text(text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "toycorewar", "map", str(path), *extra], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_map_command_prints_the_function(tmp_path):
    result = run_map(tmp_path, "add r1, r2, r3\nsub r4, r1, r1  # r1 = -r1\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "r1 = -r1 + r4\nr3 = r1 + r2\n"


def test_map_command_bad_input_is_one_line(tmp_path):
    result = run_map(tmp_path, "add r1, r2\n")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "line 1" in result.stderr
