"""Assembly text: parsing, printing back, and errors that name the file's own line (docs/reference.md §1)."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toycorewar.actions import ActionTable
from toycorewar.assembly import AssemblyError, format_program, parse_program
from toycorewar.machine import STOP, Instruction, MachineConfig

TABLE = ActionTable()
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "target_0_10_30_250.s"


def programs(table: ActionTable = TABLE, max_length: int = 5):
    """Random programs built from the action table: up to `max_length` instructions, maybe a final stop."""
    instruction = st.integers(0, table.num_actions - 2).map(table.decode_action)
    body = st.lists(instruction, max_size=max_length)
    return st.tuples(body, st.booleans()).map(lambda pair: pair[0] + [STOP] if pair[1] else pair[0])


def parse_error(text: str, config: MachineConfig | None = None) -> AssemblyError:
    with pytest.raises(AssemblyError) as caught:
        parse_program(text, config)
    return caught.value


@settings(max_examples=300, deadline=None)
@given(program=programs())
def test_parse_of_format_gives_back_the_program(program):
    assert parse_program(format_program(program)) == program


@settings(max_examples=100, deadline=None)
@given(program=programs(ActionTable(MachineConfig(3, 5)), 7))
def test_round_trip_holds_for_another_machine(program):
    config = MachineConfig(3, 5, 7)
    assert parse_program(format_program(program), config) == program


def test_format_program_writes_one_instruction_a_line():
    program = [Instruction("ld", (6, 4)), Instruction("sub", (1, 4, 4)), STOP]
    assert format_program(program) == "ld %6, r4\nsub r1, r4, r4\nstop\n"


def test_format_of_the_empty_program_is_empty_and_parses_back():
    assert format_program([]) == ""
    assert parse_program("") == []


def test_parse_every_opcode():
    text = "ld %19, r1\nst r2, r3\nadd r1, r2, r3\nsub r4, r3, r2\nstop\n"
    assert parse_program(text) == [Instruction("ld", (19, 1)), Instruction("st", (2, 3)),
                                   Instruction("add", (1, 2, 3)), Instruction("sub", (4, 3, 2)), STOP]


def test_comments_and_blank_lines_are_ignored():
    text = "# header comment\n\n   \nld %3, r1   # load three\n\t\n# another\nstop # the end\n"
    assert parse_program(text) == [Instruction("ld", (3, 1)), STOP]


def test_mnemonics_and_registers_are_case_insensitive():
    assert parse_program("LD %3,R1\nSt R1, r2\nADD r1,R2,r3\nSuB R1, R1, R4\nSTOP") == [
        Instruction("ld", (3, 1)), Instruction("st", (1, 2)), Instruction("add", (1, 2, 3)),
        Instruction("sub", (1, 1, 4)), STOP]


@pytest.mark.parametrize("text",
                         ["add r1,r2,r3", "add r1 , r2 , r3", "add r1 ,r2,  r3", "  add r1, r2, r3  "])
def test_spaces_around_commas_are_optional(text):
    assert parse_program(text) == [Instruction("add", (1, 2, 3))]


def test_tab_may_separate_mnemonic_and_operands():
    # Corewar assembly files conventionally put a tab after the mnemonic.
    program = [Instruction("ld", (3, 1)), Instruction("st", (1, 2))]
    assert parse_program("ld\t%3,\tr1\nst\tr1, r2\n") == program


def test_stop_ends_the_program_and_later_lines_are_not_part_of_it():
    assert parse_program("ld %1, r1\nstop\nld %2, r2\nadd r1, r1, r1\n") == [Instruction("ld", (1, 1)), STOP]


def test_lines_after_stop_are_still_checked():
    error = parse_error("ld %1, r1\nstop\n# fine\nld %25, r1\n")
    assert error.line_number == 4
    assert str(error) == "line 4: 'ld %25, r1': value 25 is out of range 0..19"


def test_every_line_after_stop_is_checked_not_only_the_next():
    error = parse_error("stop\nld %1, r1\n\nst r1, r2\njmp r1\n")
    assert str(error).startswith("line 5: 'jmp r1': unknown instruction 'jmp'")


def test_value_out_of_range_gives_the_spec_message():
    error = parse_error("# comment\n\nld %25, r1\n")
    assert str(error) == "line 3: 'ld %25, r1': value 25 is out of range 0..19"
    assert (error.line_number, error.line) == (3, "ld %25, r1")


def test_value_range_follows_the_configuration():
    error = parse_error("ld %5, r1", MachineConfig(3, 5))
    assert str(error) == "line 1: 'ld %5, r1': value 5 is out of range 0..4"
    assert parse_program("ld %4, r1", MachineConfig(3, 5)) == [Instruction("ld", (4, 1))]


def test_negative_value_is_out_of_range():
    assert "value -1 is out of range 0..19" in str(parse_error("ld %-1, r1"))


def test_unknown_mnemonic_names_the_line_and_the_known_ones():
    error = parse_error("ld %1, r1\n\n# x\njmp r1\n")
    assert error.line_number == 4
    assert str(error).startswith("line 4: 'jmp r1': unknown instruction 'jmp'")
    assert "ld, st, add, sub, stop" in str(error)


@pytest.mark.parametrize(("line", "expected"), [
    ("ld %1", "expected 'ld %V, rX', got 1 operand"),
    ("ld %1, r1, r2", "expected 'ld %V, rX', got 3 operands"),
    ("st r1", "expected 'st rA, rB', got 1 operand"),
    ("add r1, r2", "expected 'add rA, rB, rC', got 2 operands"),
    ("sub", "expected 'sub rA, rB, rC', got 0 operands"),
    ("stop r1", "expected 'stop' with no operands, got 1 operand"),
])
def test_wrong_operand_count_says_what_was_expected(line, expected):
    error = parse_error(f"\n# c\n{line}\n")
    assert str(error) == f"line 3: '{line}': {expected}"


@pytest.mark.parametrize("line", ["ld 3, r1", "ld r3, r1", "ld %x, r1", "ld %, r1"])
def test_value_without_percent_or_number_is_an_error(line):
    error = parse_error(f"stop\n{line}")
    assert error.line_number == 2
    assert str(error).startswith(f"line 2: '{line}': expected a value '%V' with V in 0..19, got ")


@pytest.mark.parametrize(("line", "operand"), [
    ("st x1, r2", "x1"), ("st r1, 2", "2"), ("add r1, r2, rr", "rr"), ("ld %3, r", "r"),
    ("sub r1, r-1, r2", "r-1"),
])
def test_bad_register_name_is_an_error(line, operand):
    error = parse_error(f"ld %0, r1\n{line}")
    assert str(error) == f"line 2: '{line}': expected a register r1..r4, got '{operand}'"


@pytest.mark.parametrize(("line", "operand"),
                         [("st r5, r1", "r5"), ("ld %1, r0", "r0"), ("add r1, r2, R9", "R9")])
def test_register_out_of_range_is_an_error(line, operand):
    error = parse_error(f"\n\n\n{line}")
    assert str(error) == f"line 4: '{line}': register '{operand}' does not exist: expected r1..r4"


def test_register_range_follows_the_configuration():
    assert "expected r1..r2" in str(parse_error("st r3, r1", MachineConfig(2, 3)))


def test_error_line_is_reported_without_its_surrounding_spaces():
    assert parse_error("   ld %25, r1   ").line == "ld %25, r1"


def test_program_longer_than_max_length_is_an_error_on_the_extra_line():
    text = "# five loads, then one too many\n" + "ld %1, r1\n" * 5 + "\nld %2, r2\n"
    error = parse_error(text)
    assert str(error) == "line 8: 'ld %2, r2': the program is longer than 5 instructions"


def test_max_length_follows_the_configuration():
    assert parse_error("ld %1, r1\nld %1, r1\n", MachineConfig(max_length=1)).line_number == 2


def test_max_length_instructions_then_stop_is_accepted():
    # As in examples/target_0_10_30_250.s: five instructions may run before the stop.
    text = "ld %1, r1\n" * 5 + "stop\n"
    assert parse_program(text) == [Instruction("ld", (1, 1))] * 5 + [STOP]


def test_max_length_instructions_without_stop_is_accepted():
    assert len(parse_program("ld %1, r1\n" * 5)) == 5


def test_lines_after_stop_do_not_count_towards_max_length():
    text = "stop\n" + "ld %1, r1\n" * 10
    assert parse_program(text) == [STOP]


def test_first_error_in_the_file_is_the_one_reported():
    assert parse_error("ld %1, r1\nfoo\nld %99, r1\n").line_number == 2


def test_assembly_error_is_a_value_error():
    assert isinstance(parse_error("foo"), ValueError)


def test_example_file_parses_to_its_program():
    program = parse_program(EXAMPLE.read_text(encoding="utf-8"))
    assert format_program(program) == (
        "ld %6, r4\nsub r1, r4, r4\nld %10, r2\nld %15, r3\nadd r3, r3, r3\nstop\n")
