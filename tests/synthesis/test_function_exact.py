"""The exact synthesizer for functions: hand-worked lengths, agreement with brute force on a small
machine, proofs of absence, examples tasks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synthesis.function_exact import FunctionSynthesizer
from toycorewar import ActionTable, Examples, Function, MachineConfig, examples_from_pairs, parse_function, program_map


def every_map(config: MachineConfig, max_length: int) -> list[np.ndarray]:
    """For each length 0..max_length, the distinct maps [n, R, R + 1] (matrix, then offset) that some
    program of exactly that length computes, by running every program on the rows of its map."""
    table = ActionTable(config)
    r, actions = config.num_registers, np.arange(table.stop_action)
    start = np.concatenate([np.eye(r, dtype=np.int64), np.zeros((r, 1), dtype=np.int64)], axis=1)[None]
    maps, by_length = start, [start]
    for _ in range(max_length):
        n = len(maps)
        parents, chosen = np.repeat(maps, len(actions), axis=0), np.tile(actions, n)
        rows = np.arange(len(chosen))
        constant = np.zeros((len(chosen), r + 1), dtype=np.int64)
        constant[:, r] = table.const[chosen]
        value = (table.coef_a[chosen, None] * parents[rows, table.src_a[chosen]]
                 + table.coef_b[chosen, None] * parents[rows, table.src_b[chosen]] + constant) % 256
        parents[rows, table.dest[chosen]] = value
        maps = np.unique(parents, axis=0)
        by_length.append(maps)
    return by_length


def brute_length(maps_by_length: list[np.ndarray], task: Function | Examples) -> int | None:
    """The shortest length of a program computing `task`, from every map of every length."""
    for length, maps in enumerate(maps_by_length):
        matrix, offset = maps[:, :, :-1], maps[:, :, -1]
        if isinstance(task, Function):
            rows = task.assigned
            ok = ((matrix[:, rows][:, :, task.inputs] == task.matrix[rows][:, task.inputs]).all(axis=(1, 2))
                  & (offset[:, rows] == task.offset[rows]).all(axis=1))
        else:
            outputs = (np.einsum("nij,ej->nei", matrix, task.inputs) + offset[:, None]) % 256
            ok = ((outputs == task.outputs) | ~task.matters).all(axis=(1, 2))
        if ok.any():
            return length
    return None


SMALL = MachineConfig(num_registers=3, n_vals=3, max_length=3)


@pytest.fixture(scope="module")
def small_maps() -> list[np.ndarray]:
    return every_map(SMALL, 3)


def random_functions(config: MachineConfig, count: int, seed: int, longest: int = 4) -> list[Function]:
    """Functions of random programs of 1..`longest` instructions, half of them with some changed
    registers left unassigned (so free registers, and fewer inputs)."""
    rng = np.random.default_rng(seed)
    table = ActionTable(config)
    functions = []
    while len(functions) < count:
        program = [table.instructions[a] for a in rng.integers(0, table.stop_action, size=rng.integers(1, longest + 1))]
        function = program_map(program, config.num_registers)
        assigned = function.changed()
        if rng.random() < 0.5:
            assigned &= rng.random(config.num_registers) < 0.7
        if assigned.any():
            functions.append(Function.of_map(function, assigned))
    return functions


def test_lengths_agree_with_brute_force_on_random_functions(small_maps):
    synthesizer = FunctionSynthesizer(SMALL)
    for function in random_functions(SMALL, 150, seed=1):
        result = synthesizer.shortest_program(function)
        assert result.length == brute_length(small_maps, function), str(function)
        if result.program is not None:
            assert function.is_computed_by(program_map(result.program, 3))


@pytest.mark.parametrize(("config", "longest"), [
    (MachineConfig(num_registers=2, n_vals=4, max_length=4), 7),  # two levels built before the last two
    (MachineConfig(num_registers=4, n_vals=20, max_length=2), 3),  # the real machine: free registers swap
])
def test_lengths_agree_with_brute_force_on_other_machines(config, longest):
    maps = every_map(config, config.max_length)
    synthesizer = FunctionSynthesizer(config)
    for function in random_functions(config, 100, seed=5, longest=longest):
        result = synthesizer.shortest_program(function)
        assert result.length == brute_length(maps, function), str(function)


def test_lengths_agree_with_brute_force_on_random_affine_forms(small_maps):
    # Random coefficients with small values: most need more than three instructions, some fewer.
    synthesizer = FunctionSynthesizer(SMALL)
    rng = np.random.default_rng(2)
    for _ in range(60):
        assigned = rng.random(3) < 0.5
        assigned[rng.integers(3)] = True
        matrix = np.where(assigned[:, None], rng.choice([0, 0, 1, 2, 255, 3], size=(3, 3)), 0)
        offset = np.where(assigned, rng.choice([0, 0, 1, 2, 4, 255], size=3), 0)
        function = Function(matrix, offset, assigned, (matrix != 0).any(axis=0))
        assert synthesizer.shortest_program(function).length == brute_length(small_maps, function), str(function)


def test_examples_agree_with_brute_force(small_maps):
    synthesizer = FunctionSynthesizer(SMALL)
    rng = np.random.default_rng(3)
    for function in random_functions(SMALL, 40, seed=4):
        inputs = rng.integers(0, 256, size=(rng.integers(1, 4), 3))
        matters = np.broadcast_to(function.assigned, inputs.shape) & (rng.random(inputs.shape) < 0.8)
        if not matters.any():
            continue
        examples = Examples(inputs, np.where(matters, function.outputs(inputs), 0), matters)
        result = synthesizer.shortest_program(examples)
        assert result.length == brute_length(small_maps, examples), str(examples)
        if result.program is not None:
            assert examples.met_by(program_map(result.program, 3))


@pytest.mark.parametrize(("text", "length"), [
    ("r3 = r1 + r2", 1),            # add r1, r2, r3
    ("r2 = r1", 1),                 # st r1, r2
    ("r1 = 7", 1),                  # ld %7, r1: no inputs, r1 starts at 0
    ("r1 = r1", 0),                 # already computed
    ("r1 = 2*r1", 1),               # add r1, r1, r1
    ("r1 = r1 + 20", 3),            # one instruction makes a constant ≤ 19 or a multiple of r1: ld, add, add
    ("r1 = r2; r2 = r1", 3),        # a swap needs a third register or add/sub tricks: three writes
    ("r1 = 5*r1", 3),               # r2 = r1 + r1; r2 = r2 + r2; r1 = r1 + r2
    ("r1 = -r1", 1),                # sub r4, r1, r1 (r4 starts at 0)
])
def test_shortest_lengths_worked_by_hand(text, length):
    function = parse_function(text)
    result = FunctionSynthesizer().shortest_program(function)
    assert result.length == length
    assert function.is_computed_by(program_map(result.program))


def test_no_program_within_the_bound_is_proved_absent():
    swap = parse_function("r1 = r2; r2 = r1")
    synthesizer = FunctionSynthesizer()
    result = synthesizer.shortest_program(swap, max_length=2)
    assert result.program is None and result.max_length == 2 and result.length is None
    assert synthesizer.shorter_than(swap, 3) is False
    assert synthesizer.shorter_than(swap, 4) is True
    assert synthesizer.shorter_than(swap, 0) is False


def test_a_search_out_of_time_is_not_a_proof():
    # 7·r1 + 3·r2 needs the whole search to depth 3 (its optimum is beyond 2 and below 6).
    assert FunctionSynthesizer().shortest_program(parse_function("r1 = 7*r1 + 3*r2"), time_limit=0.0) is None
    assert FunctionSynthesizer().shorter_than(parse_function("r1 = 7*r1 + 3*r2"), 5, time_limit=0.0) is None


def test_examples_need_only_what_they_show():
    # 3 -> 6 alone is met by doubling; with 5 -> 8 beside it, r1 + 3 is needed (no one instruction makes it).
    one = examples_from_pairs([([3, 0, 0, 0], [6, None, None, None])])
    two = examples_from_pairs([([3, 0, 0, 0], [6, None, None, None]), ([5, 0, 0, 0], [8, None, None, None])])
    synthesizer = FunctionSynthesizer()
    assert synthesizer.shortest_program(one).length == 1  # add r1, r1, r1 (or ld %6, r1)
    assert synthesizer.shortest_program(two).length == 2  # ld %3, r2; add r1, r2, r1
    assert two.met_by(program_map(synthesizer.shortest_program(two).program))


def test_a_task_for_another_machine_is_an_error():
    with pytest.raises(ValueError, match="3 registers"):
        FunctionSynthesizer().shortest_program(parse_function("r1 = r2", num_registers=3))
    with pytest.raises(TypeError, match="Function or Examples"):
        FunctionSynthesizer().shortest_program("r1 = r2")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, ActionTable(MachineConfig()).stop_action - 1), min_size=1, max_size=4))
def test_a_random_program_is_never_shorter_than_the_optimum(actions):
    table = ActionTable(MachineConfig())
    program = [table.instructions[a] for a in actions]
    function = Function.of_map(program_map(program))
    if function.assigned.any():
        result = FunctionSynthesizer().shortest_program(function, max_length=len(program))
        assert result.length is not None and result.length <= len(program)
        assert function.is_computed_by(program_map(result.program))
