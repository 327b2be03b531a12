"""The plain-Python machine: every instruction's effect, worked by hand (docs/reference.md §1)."""

import pytest

from toycorewar.machine import STOP, Instruction, MachineConfig, execute, final_registers, run


def test_ld_sets_the_register_to_the_value():
    assert execute(Instruction("ld", (7, 3)), [1, 2, 3, 4]) == [1, 2, 7, 4]


def test_ld_overwrites_whatever_the_register_held():
    assert execute(Instruction("ld", (0, 1)), [255, 0, 0, 0]) == [0, 0, 0, 0]


def test_st_copies_source_into_destination_and_keeps_the_source():
    assert execute(Instruction("st", (2, 4)), [1, 42, 3, 9]) == [1, 42, 3, 42]


def test_st_register_onto_itself_changes_nothing():
    assert execute(Instruction("st", (3, 3)), [1, 2, 3, 4]) == [1, 2, 3, 4]


def test_add_writes_the_sum_into_the_third_register():
    assert execute(Instruction("add", (1, 2, 3)), [5, 7, 0, 0]) == [5, 7, 12, 0]


def test_add_wraps_modulo_256():
    # 200 + 100 = 300 = 256 + 44
    assert execute(Instruction("add", (1, 2, 4)), [200, 100, 0, 0]) == [200, 100, 0, 44]


def test_add_of_a_register_with_itself_doubles_it():
    assert execute(Instruction("add", (3, 3, 3)), [0, 0, 15, 0]) == [0, 0, 30, 0]


def test_sub_writes_the_difference_a_minus_b():
    assert execute(Instruction("sub", (1, 2, 3)), [9, 4, 0, 0]) == [9, 4, 5, 0]


def test_sub_wraps_below_zero_modulo_256():
    # 0 - 6 = -6 = 250 (mod 256)
    assert execute(Instruction("sub", (1, 4, 4)), [0, 0, 0, 6]) == [0, 0, 0, 250]


def test_sub_order_of_operands_matters():
    assert execute(Instruction("sub", (2, 1, 3)), [9, 4, 0, 0]) == [9, 4, 251, 0]


def test_stop_changes_nothing():
    assert execute(STOP, [1, 2, 3, 250]) == [1, 2, 3, 250]


def test_execute_leaves_its_input_list_unchanged():
    registers = [1, 2, 3, 4]
    execute(Instruction("ld", (9, 1)), registers)
    assert registers == [1, 2, 3, 4]


def test_execute_rejects_an_unknown_opcode():
    with pytest.raises(ValueError, match="unknown instruction"):
        execute(Instruction("jmp", (1,)), [0, 0, 0, 0])


def test_run_starts_from_zeros_and_lists_registers_after_each_instruction():
    program = [Instruction("ld", (6, 4)), Instruction("sub", (1, 4, 4)), Instruction("ld", (10, 2))]
    assert run(program) == [[0, 0, 0, 6], [0, 0, 0, 250], [0, 10, 0, 250]]


def test_run_stops_at_the_first_stop_and_lists_it():
    program = [Instruction("ld", (3, 1)), STOP, Instruction("ld", (5, 2)), STOP]
    assert run(program) == [[3, 0, 0, 0], [3, 0, 0, 0]]


def test_run_uses_reg_init_as_the_starting_registers():
    program = [Instruction("add", (1, 2, 3))]
    assert run(program, [100, 200, 0, 7]) == [[100, 200, 44, 7]]


def test_run_does_not_modify_reg_init():
    reg_init = [1, 2, 3, 4]
    run([Instruction("ld", (0, 1))], reg_init)
    assert reg_init == [1, 2, 3, 4]


def test_run_with_other_register_count_starts_from_that_many_zeros():
    assert run([Instruction("ld", (1, 2))], num_registers=2) == [[0, 1]]


def test_final_registers_of_the_example_program_reach_its_target():
    program = [Instruction("ld", (6, 4)), Instruction("sub", (1, 4, 4)), Instruction("ld", (10, 2)),
               Instruction("ld", (15, 3)), Instruction("add", (3, 3, 3)), STOP]
    assert final_registers(program) == [0, 10, 30, 250]


def test_final_registers_ignores_instructions_after_stop():
    program = [Instruction("ld", (4, 2)), STOP, Instruction("ld", (9, 2))]
    assert final_registers(program, [1, 1, 1, 1]) == [1, 4, 1, 1]


def test_final_registers_of_the_empty_program_is_reg_init():
    assert final_registers([], [5, 6, 7, 8]) == [5, 6, 7, 8]
    assert final_registers([]) == [0, 0, 0, 0]


def test_instruction_prints_in_corewar_syntax():
    assert str(Instruction("ld", (19, 1))) == "ld %19, r1"
    assert str(Instruction("st", (2, 1))) == "st r2, r1"
    assert str(Instruction("add", (1, 2, 3))) == "add r1, r2, r3"
    assert str(Instruction("sub", (4, 4, 1))) == "sub r4, r4, r1"
    assert str(STOP) == "stop"


def test_machine_config_defaults_are_those_of_the_spec():
    config = MachineConfig()
    assert (config.num_registers, config.n_vals, config.max_length) == (4, 20, 5)
    assert config.num_actions == 225


@pytest.mark.parametrize("field", ["num_registers", "n_vals", "max_length"])
@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_machine_config_rejects_a_non_positive_integer(field, bad):
    with pytest.raises(ValueError, match=field):
        MachineConfig(**{field: bad})


def test_machine_config_rejects_load_values_beyond_a_register():
    with pytest.raises(ValueError, match="n_vals"):
        MachineConfig(n_vals=257)
