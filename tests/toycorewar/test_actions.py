"""The action table: count, layout and decoding of docs/reference.md §2, encoding back, and the batched executor."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toycorewar.actions import ActionTable
from toycorewar.machine import STOP, Instruction, MachineConfig, execute

CONFIGS = [MachineConfig(), MachineConfig(2, 3), MachineConfig(3, 5), MachineConfig(1, 1),
           MachineConfig(5, 7)]


def spec_decode(action: int, r: int, v: int) -> Instruction:
    """docs/reference.md §2's table, written out block by block (independent of the package's code)."""
    blocks = [("ld", r * v), ("st", r * r), ("add", r**3), ("sub", r**3), ("stop", 1)]
    start = 0
    for op, size in blocks:
        if action < start + size:
            k = action - start
            if op == "ld":
                return Instruction("ld", (k % v, k // v + 1))
            if op == "st":
                return Instruction("st", (k % r + 1, k // r + 1))
            if op in ("add", "sub"):
                return Instruction(op, (k % r + 1, (k // r) % r + 1, k // (r * r) + 1))
            return STOP
        start += size
    raise AssertionError(f"action {action} lies beyond the table")


def test_default_table_has_225_actions():
    assert ActionTable().num_actions == 225


@pytest.mark.parametrize(("r", "v", "expected"),
                         [(4, 20, 225), (2, 3, 27), (3, 5, 79), (1, 1, 5), (5, 7, 311)])
def test_num_actions_is_rv_plus_r2_plus_2r3_plus_1(r, v, expected):
    # e.g. R=2, V=3: 6 + 4 + 16 + 1 = 27; R=3, V=5: 15 + 9 + 54 + 1 = 79
    assert r * v + r * r + 2 * r**3 + 1 == expected
    assert ActionTable(MachineConfig(r, v)).num_actions == expected
    assert MachineConfig(r, v).num_actions == expected


def test_default_block_starts():
    table = ActionTable()
    assert (table.st_start, table.add_start, table.sub_start, table.stop_action) == (80, 96, 160, 224)


@pytest.mark.parametrize(("action", "text"), [
    (0, "ld %0, r1"),
    (1, "ld %1, r1"),
    (19, "ld %19, r1"),
    (20, "ld %0, r2"),
    (79, "ld %19, r4"),
    (80, "st r1, r1"),
    (81, "st r2, r1"),
    (84, "st r1, r2"),
    (95, "st r4, r4"),
    (96, "add r1, r1, r1"),
    (97, "add r2, r1, r1"),
    (100, "add r1, r2, r1"),
    (112, "add r1, r1, r2"),
    (159, "add r4, r4, r4"),
    (160, "sub r1, r1, r1"),
    (161, "sub r2, r1, r1"),
    (223, "sub r4, r4, r4"),
    (224, "stop"),
])
def test_decode_specific_actions_of_the_default_table(action, text):
    assert str(ActionTable().decode_action(action)) == text


def test_decode_gives_structured_instructions():
    table = ActionTable()
    assert table.decode_action(45) == Instruction("ld", (5, 3))      # k=45: 45 mod 20 = 5, 45 div 20 + 1 = 3
    assert table.decode_action(80 + 6) == Instruction("st", (3, 2))  # k=6: 6 mod 4 + 1 = 3, 6 div 4 + 1 = 2
    # k = 27: A = 27 mod 4 + 1 = 4, B = (27 div 4) mod 4 + 1 = 3, C = 27 div 16 + 1 = 2
    assert table.decode_action(160 + 27) == Instruction("sub", (4, 3, 2))
    assert table.decode_action(224) == STOP


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_every_action_decodes_as_the_spec_formulas_say(config):
    table = ActionTable(config)
    for action in range(table.num_actions):
        assert table.decode_action(action) == spec_decode(action, config.num_registers, config.n_vals)


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_every_instruction_appears_exactly_once_and_stop_is_last(config):
    table = ActionTable(config)
    instructions = [table.decode_action(a) for a in range(table.num_actions)]
    assert len(set(instructions)) == table.num_actions
    assert instructions[-1] == STOP
    assert instructions.count(STOP) == 1


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_encode_inverts_decode_for_every_action(config):
    table = ActionTable(config)
    for action in range(table.num_actions):
        assert table.encode_instruction(table.decode_action(action)) == action


def test_encode_accepts_args_given_as_a_list():
    assert ActionTable().encode_instruction(Instruction("ld", [19, 1])) == 19


def test_decode_accepts_numpy_integers():
    assert ActionTable().decode_action(np.int64(224)) == STOP


@pytest.mark.parametrize("action", [-1, 225, 1000])
def test_decode_rejects_an_action_out_of_range(action):
    with pytest.raises(ValueError, match=r"out of range 0\.\.224"):
        ActionTable().decode_action(action)


def test_decode_range_follows_the_configuration():
    table = ActionTable(MachineConfig(2, 3))
    assert table.decode_action(26) == STOP
    with pytest.raises(ValueError, match=r"out of range 0\.\.26"):
        table.decode_action(27)


@pytest.mark.parametrize("action", [3.0, "3", None, True])
def test_decode_rejects_a_non_integer_action(action):
    with pytest.raises(TypeError, match="integer"):
        ActionTable().decode_action(action)


@pytest.mark.parametrize("instruction", [
    Instruction("ld", (3, 5)),        # register r5 on a 4-register machine
    Instruction("ld", (25, 1)),       # value 25 with load values 0..19
    Instruction("ld", (20, 1)),
    Instruction("st", (0, 1)),        # registers count from 1
    Instruction("add", (1, 2, 5)),
    Instruction("sub", (5, 1, 1)),
    Instruction("add", (1, 2)),       # wrong operand count
    Instruction("jmp", (1,)),
])
def test_encode_rejects_an_instruction_the_machine_cannot_run(instruction):
    with pytest.raises(ValueError, match="not an instruction of this machine"):
        ActionTable().encode_instruction(instruction)


def test_encode_of_a_register_valid_elsewhere_fails_on_a_smaller_machine():
    with pytest.raises(ValueError):
        ActionTable(MachineConfig(2, 3)).encode_instruction(Instruction("st", (3, 1)))
    with pytest.raises(ValueError):
        ActionTable(MachineConfig(2, 3)).encode_instruction(Instruction("ld", (3, 1)))


def test_execute_batch_on_hand_worked_rows():
    table = ActionTable()
    registers = np.array([[200, 100, 0, 0], [0, 0, 0, 6], [1, 2, 3, 4], [1, 2, 3, 4]], dtype=np.int64)
    actions = np.array([
        table.encode_instruction(Instruction("add", (1, 2, 4))),   # 200 + 100 = 44 (mod 256)
        table.encode_instruction(Instruction("sub", (1, 4, 4))),   # 0 - 6 = 250 (mod 256)
        table.encode_instruction(Instruction("st", (4, 1))),
        table.stop_action,
    ])
    table.execute_batch(registers, actions)
    assert registers.tolist() == [[200, 100, 0, 44], [0, 0, 0, 250], [4, 2, 3, 4], [1, 2, 3, 4]]


@pytest.mark.parametrize("config", CONFIGS, ids=str)
def test_execute_batch_agrees_with_execute_for_every_action(config):
    table = ActionTable(config)
    rng = np.random.default_rng(12345)
    for _ in range(4):
        registers = rng.integers(0, 256, size=(table.num_actions, config.num_registers), dtype=np.int64)
        before = registers.copy()
        table.execute_batch(registers, np.arange(table.num_actions))
        for action in range(table.num_actions):
            expected = execute(table.decode_action(action), before[action].tolist())
            assert registers[action].tolist() == expected, str(table.decode_action(action))


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 224), st.lists(st.integers(0, 255), min_size=4, max_size=4)),
        min_size=1, max_size=20,
    ),
)
def test_execute_batch_agrees_with_execute_on_random_registers(rows):
    table = ActionTable()
    actions = np.array([action for action, _ in rows])
    registers = np.array([regs for _, regs in rows], dtype=np.int64)
    table.execute_batch(registers, actions)
    for (action, regs), after in zip(rows, registers.tolist(), strict=True):
        assert after == execute(table.decode_action(action), regs)


def test_execute_batch_works_on_uint8_registers():
    table = ActionTable()
    registers = np.array([[0, 0, 0, 6], [200, 100, 0, 0]], dtype=np.uint8)
    actions = np.array([table.encode_instruction(Instruction("sub", (1, 4, 4))),
                        table.encode_instruction(Instruction("add", (1, 2, 3)))])
    table.execute_batch(registers, actions)
    assert registers.tolist() == [[0, 0, 0, 250], [200, 100, 44, 0]]
