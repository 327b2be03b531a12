"""The exact synthesizer: hand-worked shortest lengths, agreement with brute force, proofs of absence."""

import itertools

import pytest

from synthesis.exact import Synthesizer
from toycorewar import ActionTable, MachineConfig, final_registers


@pytest.mark.parametrize(("target", "length"), [
    ([0, 0, 0, 0], 0),            # already there
    ([7, 0, 0, 0], 1),            # ld %7, r1
    ([19, 19, 0, 0], 2),          # ld, then st (or a second ld)
    ([20, 0, 0, 0], 2),           # 20 > 19: ld %10, r1; add r1, r1, r1
    ([0, 0, 0, 255], 2),          # ld %1, r4; sub r1, r4, r4
    ([1, 2, 3, 4], 4),            # four different registers, four instructions at least
    ([0, 10, 30, 250], 5),        # the first single-target run: 340 programs of length 5, none shorter
])
def test_shortest_lengths_worked_by_hand(target, length):
    result = Synthesizer().shortest_program(target)
    assert result.length == length
    assert final_registers(result.program) == target


def test_no_program_within_the_bound_is_proved_absent():
    # Four registers that are all wrong need four instructions: none exists within three.
    result = Synthesizer().shortest_program([1, 2, 3, 4], max_length=3)
    assert result.program is None and result.max_length == 3


def test_initial_registers_are_used():
    result = Synthesizer().shortest_program([5, 6, 0, 0], reg_init=[5, 1, 0, 0])
    assert result.length == 1 and final_registers(result.program, [5, 1, 0, 0]) == [5, 6, 0, 0]


def brute_force_lengths(config: MachineConfig, max_length: int) -> dict[tuple[int, ...], int]:
    """Shortest length of every reachable state, by enumerating every program."""
    table = ActionTable(config)
    instructions = table.instructions[:table.stop_action]
    best = {tuple([0] * config.num_registers): 0}
    for length in range(1, max_length + 1):
        for program in itertools.product(instructions, repeat=length):
            state = tuple(final_registers(list(program), num_registers=config.num_registers))
            best.setdefault(state, length)
    return best


@pytest.mark.parametrize("n_vals", [2, 3])
def test_agrees_with_brute_force_on_a_small_machine(n_vals):
    config = MachineConfig(num_registers=2, n_vals=n_vals, max_length=3)
    truth = brute_force_lengths(config, 3)
    synthesizer = Synthesizer(config)
    for a in range(256):
        for b in range(0, 256, 5):
            result = synthesizer.shortest_program([a, b], max_length=3)
            assert result.length == truth.get((a, b)), (a, b)
            if result.program is not None:
                assert final_registers(result.program, num_registers=2) == [a, b]
