"""environment/function_tasks.py and the function forms of `targets` (docs/reference.md §10): what each
task source hands the environment, and how a training file's form becomes one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from environment.function_tasks import (
    ExamplesTasks,
    FunctionTasks,
    RandomFunctions,
    examples_batch,
    function_key,
    functions_batch,
    heldout_random_functions,
    random_program_functions,
)
from environment.tasks import (
    MAX_EXAMPLES,
    TaskSchedule,
    function_schedule_from_spec,
    is_function_spec,
    schedule_from_spec,
)
from toycorewar import ActionTable, Function, MachineConfig, examples_from_pairs, parse_function, program_map

MACHINE = MachineConfig()
TABLE = ActionTable(MACHINE)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def from_spec(spec, episodes: int = 10, examples: int = 4):
    return function_schedule_from_spec(spec, "targets", MACHINE, episodes, rng(), examples)


def test_function_tasks_show_drawn_inputs_and_the_wanted_outputs_where_they_matter():
    function = parse_function("r3 = r1 + r2; r4 = 2*r1 + 7")
    batch = FunctionTasks([function], num_examples=5)(3, rng())
    assert batch.inputs.shape == batch.outputs.shape == batch.matters.shape == (3, 5, 4)
    assert not batch.inputs[:, :, 2:].any()  # r3 and r4 are no inputs: they start at 0
    assert batch.inputs[:, :, :2].any()
    wanted = function.outputs(batch.inputs)
    assert np.array_equal(batch.outputs, np.where(batch.matters, wanted, 0))
    assert np.array_equal(batch.matters, np.broadcast_to([False, False, True, True], (3, 5, 4)))
    assert np.array_equal(batch.matrix[0], function.matrix) and batch.assigned[1].tolist() == [0, 0, 1, 1]
    assert batch.reads[2].tolist() == [True, True, False, False]


def test_every_episode_draws_new_inputs():
    source = FunctionTasks([parse_function("r1 = r2")], num_examples=4)
    generator = rng()
    first, second = source(1, generator), source(1, generator)
    assert not np.array_equal(first.inputs, second.inputs)


def test_probe_targets_are_the_function_on_zeros_and_on_each_unit_input_of_its_inputs():
    function = parse_function("r1 = 3*r2 + 5; r3 = r2 - r4")  # reads r2 and r4
    outputs, matters = FunctionTasks([function])(1, rng()).probe_targets()
    probes = np.vstack([np.zeros(4, dtype=np.int64), np.eye(4, dtype=np.int64)])
    assert np.array_equal(outputs[0][matters[0]], function.outputs(probes)[matters[0]])
    # Rows: zeros, e1..e4; columns: registers. Only r1 and r3 matter, on zeros, e2 and e4.
    assert matters[0].astype(int).tolist() == [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0]]
    assert outputs[0, 2].tolist() == [8, 0, 1, 0] and outputs[0, 4].tolist() == [5, 0, 255, 0]


@pytest.mark.parametrize("freq, episodes", [(2, 10), (0, 6), (1, 5)])
def test_function_lists_cycle_as_fixed_target_schedules_do(freq, episodes):
    functions = [parse_function(text) for text in ("r1 = r2", "r2 = r1", "r3 = r1 + r2")]
    source = FunctionTasks(functions, 2, alternate_freq=freq, episodes=episodes)
    values = TaskSchedule("fixed", 1, np.arange(3), freq, episodes)
    generator = rng()
    for count in (1, 3, 2, 4):
        batch = source(count, generator)
        expected = values.next(count, generator)[:, 0]
        assert [functions.index(Function(m, o, a, r)) for m, o, a, r in
                zip(batch.matrix, batch.offset, batch.assigned, batch.reads, strict=True)] == expected.tolist()


def test_examples_tasks_show_the_given_examples_in_every_episode():
    examples = examples_from_pairs([([1, 2, 0, 0], [None, None, 3, None]), ([5, 5, 0, 0], [None, 1, 10, None])])
    source = ExamplesTasks(examples)
    batch = source(3, rng())
    assert source.num_examples == 2
    assert np.array_equal(batch.inputs, np.broadcast_to(examples.inputs, (3, 2, 4)))
    assert batch.outputs[2].tolist() == [[0, 0, 3, 0], [0, 1, 10, 0]]
    assert batch.matters[0].astype(int).tolist() == [[0, 0, 1, 0], [0, 1, 1, 0]]
    assert not batch.assigned.any()  # no function: the examples alone decide `correct`
    assert not batch.probe_targets()[1].any()


@settings(max_examples=30, deadline=None, database=None)
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(1, 6))
def test_random_program_functions_are_the_functions_of_the_programs_drawn(seed, length):
    count = 8
    matrix, offset, assigned, reads = random_program_functions(count, length, rng(seed), TABLE)
    generator = rng(seed)  # the same draws, made into programs here
    actions = np.stack([generator.integers(0, TABLE.stop_action, size=count) for _ in range(length)], axis=1)
    for i, program in enumerate(actions):
        expected = Function.of_map(program_map([TABLE.instructions[a] for a in program], 4))
        assert Function(matrix[i], offset[i], assigned[i], reads[i]) == expected


def test_random_functions_never_assign_nothing_nor_hand_out_an_excluded_function():
    excluded = heldout_random_functions(30, 1, MACHINE, seed=3)
    source = RandomFunctions(1, MACHINE, num_examples=3, excluded=excluded)
    batch = source(2000, rng())
    assert batch.assigned.any(axis=1).all()  # `st r1, r1` and its like are redrawn
    keys = {function_key(f) for f in excluded}
    drawn = {function_key(Function(m, o, a, r)) for m, o, a, r in
             zip(batch.matrix, batch.offset, batch.assigned, batch.reads, strict=True)}
    assert drawn and not drawn & keys
    assert batch.inputs.shape == (2000, 3, 4)


def test_random_functions_with_hard_one_look_hard_every_time():
    source = RandomFunctions(5, MACHINE, hard=1.0)
    batch = source(200, rng())
    assert source.looks_hard(batch.matrix, batch.offset, batch.assigned).all()
    assert (batch.assigned.sum(axis=1) >= 2).all()


def test_looks_hard_is_false_for_copies_and_loads_and_true_for_a_sum():
    source = RandomFunctions(5, MACHINE)
    functions = [parse_function(text) for text in ("r1 = r2; r3 = 7", "r1 = r2 + r3; r2 = 0", "r1 = r2")]
    stacked = [np.stack([getattr(f, name) for f in functions]) for name in ("matrix", "offset", "assigned")]
    assert source.looks_hard(*stacked).tolist() == [False, True, False]


def test_heldout_random_functions_are_distinct_and_reproducible():
    first = heldout_random_functions(50, 3, MACHINE, seed=7)
    assert len({function_key(f) for f in first}) == len(first) == 50
    assert first == heldout_random_functions(50, 3, MACHINE, seed=7)
    assert all(f.assigned.any() for f in first)


def test_sources_state_restores_how_far_they_went():
    source = FunctionTasks([parse_function("r1 = r2"), parse_function("r2 = r1")], alternate_freq=1)
    source(3, rng())
    again = FunctionTasks([parse_function("r1 = r2"), parse_function("r2 = r1")], alternate_freq=1)
    again.restore(source.state())
    assert np.array_equal(again(4, rng()).matrix, source(4, rng()).matrix)


def test_each_function_form_of_targets_builds_its_source():
    assert isinstance(from_spec({"function": "r3 = r1 + r2"}), FunctionTasks)
    listed = from_spec({"functions": ["r1 = r2", "r2 = r1"], "alternate_freq": 3}, examples=6)
    assert isinstance(listed, FunctionTasks) and listed.block == 3 and listed.num_examples == 6
    assert from_spec({"functions": ["r1 = r2", "r2 = r1"]}, episodes=10).block == 5
    given = from_spec({"examples": [[[1, 2, 0, 0], [None, None, 3, None]]]})
    assert isinstance(given, ExamplesTasks) and given.num_examples == 1
    solvable = from_spec({"functions": {"solvable": 3, "held_out": "tiers", "hard": 0.5}})
    assert isinstance(solvable, RandomFunctions)
    assert (solvable.length, solvable.held_out, solvable.hard) == (3, "tiers", 0.5)


def test_is_function_spec_tells_function_forms_from_target_forms():
    assert is_function_spec({"function": "r1 = r2"}) and is_function_spec({"examples": []})
    assert is_function_spec({"functions": {"solvable": 2}})
    assert not any(is_function_spec(spec) for spec in (None, {"values": 3}, {"solvable": 2}, "r1 = r2"))


@pytest.mark.parametrize("spec, message", [
    ({"function": "r3 = r1 +"}, "targets.function: column 10: expected a register 'rY' or an integer"),
    ({"function": "r3 = r1 * r2"}, "targets.function: column 6: not affine"),
    ({"function": "r9 = r1"}, "targets.function: column 1: register r9 does not exist"),
    ({"function": 3}, "targets.function must be an expression"),
    ({"functions": ["r1 = r2", "r2 = = r1"]}, r"targets.functions\[1\]: column 6: expected"),
    ({"functions": []}, "targets.functions must be a list of 1..100000 expressions"),
    ({"functions": ["r1 = r2"], "alternate_freq": -1}, "targets.alternate_freq must be an integer"),
    ({"function": "r1 = r2", "alternate_freq": 2}, "targets has unknown key.s. alternate_freq"),
    ({"function": "r1 = r2", "examples": []}, "targets has 'function' and 'examples': give one of them"),
    ({"examples": [[[1, 2, 0], [3, 0, 0, 0]]]}, r"targets.examples\[0\] inputs must be 4 registers"),
    ({"examples": [[[1, 0, 0, 0], [3, 0, 0, 0]], [[1, 0, 0, 0], [4, 0, 0, 0]]]}, "contradictory examples 0 and 1"),
    ({"examples": [[[1, 0, 0, 0], [None] * 4]]}, "no output register matters"),
    ({"examples": "1,2->3"}, "targets.examples must be a list of pairs"),
    ({"functions": {"solvable": 9}}, r"targets.functions.solvable must be a program length in 1..5"),
    ({"functions": {"solvable": 2, "held_out": "all"}}, "targets.functions.held_out must be null or 'tiers'"),
    ({"functions": {"solvable": 2, "hard": 2}}, "targets.functions.hard must be a fraction"),
    ({"functions": {"held_out": "tiers"}}, "targets.functions as an object needs 'solvable'"),
    ({"functions": {"solvable": 2, "x": 1}}, "targets.functions has unknown key.s. x"),
    ({"values": 3}, "targets must be an object with one of 'function', 'functions', 'examples'"),
])
def test_bad_function_forms_are_errors_naming_the_field(spec, message):
    with pytest.raises(ValueError, match=message):
        from_spec(spec)


def test_the_count_of_examples_is_checked():
    with pytest.raises(ValueError, match=f"EXAMPLES must be a count in 1..{MAX_EXAMPLES}"):
        from_spec({"function": "r1 = r2"}, examples=0)


def test_target_forms_keep_building_target_schedules():
    schedule = schedule_from_spec({"values": [[1, 2, 3, 4]], "alternate_freq": 2}, "targets", 4, 10, rng(), "random")
    assert schedule.kind == "fixed" and schedule.next(1, rng()).tolist() == [[1, 2, 3, 4]]


def test_functions_batch_holds_one_episode_per_function_in_order():
    functions = [parse_function("r1 = r2"), parse_function("r4 = 3*r3 + 1")]
    batch = functions_batch(functions, 5, rng())
    assert batch.inputs.shape == (2, 5, 4)
    assert [Function(m, o, a, r) for m, o, a, r in
            zip(batch.matrix, batch.offset, batch.assigned, batch.reads, strict=True)] == functions
    assert np.array_equal(batch.outputs[1], functions[1].outputs(batch.inputs[1]) * functions[1].assigned)


def test_examples_batch_repeats_the_examples():
    examples = examples_from_pairs([([1, 2, 0, 0], [None, None, 3, None])])
    batch = examples_batch(examples, 3)
    assert batch.outputs.tolist() == [[[0, 0, 3, 0]]] * 3 and not batch.assigned.any()
