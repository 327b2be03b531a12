"""Search on function tasks (docs/reference.md §10): every search returns programs that meet the examples,
and, given the function, only programs correct on every input; the scorer and the reward see the
examples, [E, R]; the prunings stay sound (complete against brute force on a small machine)."""

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from environment import make_reward
from synthesis.search import (
    FunctionTask,
    RewardScorer,
    beam_search,
    guided_search,
    random_search,
    reward_first_search,
)
from toycorewar import (
    ActionTable,
    Function,
    Instruction,
    MachineConfig,
    examples_from_pairs,
    parse_function,
    program_map,
)

MACHINE = MachineConfig()
TABLE = ActionTable(MACHINE)
REWARD = make_reward("Specific_register_values")
FUNCTIONS = ["r3 = r1 + r2", "r1 = r2; r2 = r1", "r2 = 2*r1", "r1 = -r1", "r4 = r1 - r2 + 7", "r1 = 0; r2 = 3"]
LOAD_2_INTO_R2 = TABLE.encode_instruction(Instruction("ld", (2, 2)))


def drawn(text: str, count: int = 3, seed: int = 0, machine: MachineConfig = MACHINE) -> FunctionTask:
    return FunctionTask.drawn(parse_function(text, machine.num_registers), count, np.random.default_rng(seed))


class FixedScorer:
    """Q-values that are a fixed pseudo-random function of the prefix, with one action favoured
    everywhere; records what it is shown. Stop is never chosen."""

    kind = "q"

    def __init__(self, machine: MachineConfig = MACHINE, favoured: int | None = None) -> None:
        self.machine, self.favoured, self.shown = machine, favoured, []

    def scores(self, actions, registers, target, matters=None):
        self.shown.append((list(actions), registers.copy(), target.copy(), None if matters is None else matters.copy()))
        q = np.random.default_rng([3, len(actions), *actions]).uniform(-50.0, 0.0, self.machine.num_actions)
        if self.favoured is not None:
            q[self.favoured] = 100.0
        q[-1] = -np.inf
        return q


def searches(machine: MachineConfig = MACHINE, budget: int = 300):
    """Every search of the module, as task -> SearchResult."""
    return {
        "guided": lambda task: guided_search(FixedScorer(machine), machine, REWARD, task, budget=budget),
        "reward_first": lambda task: reward_first_search(machine, REWARD, task, budget=budget),
        "random": lambda task: random_search(machine, task, budget=budget, rng=np.random.default_rng(1)),
        "beam": lambda task: beam_search(machine, REWARD, task, budget=budget),
    }


@pytest.mark.parametrize("name", ["guided", "reward_first", "random", "beam"])
def test_every_search_returns_only_programs_correct_on_every_input_when_given_the_function(name):
    search = searches()[name]
    for text in FUNCTIONS:
        task = drawn(text, count=2)
        found = search(task)
        if found.program is None:
            assert found.correct is False
            continue
        assert found.correct is True, (text, found.program)
        assert task.function.is_computed_by(program_map(found.program))
        assert task.examples.met_by(program_map(found.program))
        assert len(found.program) <= MACHINE.max_length


@pytest.mark.parametrize("name", ["guided", "reward_first", "beam"])
def test_a_one_instruction_function_is_found_in_one_expansion(name):
    # The empty program's children are every one-instruction program, checked on examples and probes.
    search = searches(budget=1)[name]
    for text in ("r3 = r1 + r2", "r2 = 2*r1", "r1 = r1 - r4", "r2 = r1"):
        found = search(drawn(text))
        assert found.correct and len(found.program) == 1 and found.expansions <= 1, text


def test_an_example_set_is_met_by_a_program_that_the_function_rejects():
    # r2 = 2·r1 shown by one example, r1 = 1 -> r2 = 2: `ld %2, r2` meets it. Examples alone, the greedy
    # program of a scorer that favours it is that; given the function, the search goes on to a correct one.
    example = examples_from_pairs([([1, 0, 0, 0], [None, 2, None, None])])
    function = parse_function("r2 = 2*r1")
    alone = guided_search(FixedScorer(favoured=LOAD_2_INTO_R2), MACHINE, REWARD, FunctionTask(example), budget=100)
    assert [str(i) for i in alone.program] == ["ld %2, r2"] and alone.expansions == 0 and alone.correct
    checked = guided_search(FixedScorer(favoured=LOAD_2_INTO_R2), MACHINE, REWARD, FunctionTask(example, function),
                            budget=100)
    assert checked.correct and function.is_computed_by(program_map(checked.program))
    assert checked.expansions >= 1


def test_a_program_that_meets_the_examples_is_reported_correct_for_an_examples_task():
    examples = examples_from_pairs([([1, 2, 0, 0], [None, None, 3, None]), ([5, 7, 0, 0], [None, None, 12, None])])
    for search in searches().values():
        found = search(FunctionTask(examples))
        assert found.correct is True and examples.met_by(program_map(found.program))


def test_the_scorer_sees_each_examples_registers_target_and_matters():
    task = drawn("r3 = r1 + r2", count=3, seed=4)
    scorer = FixedScorer()
    guided_search(scorer, MACHINE, REWARD, task, budget=5)
    assert len(scorer.shown) >= 5
    for actions, registers, target, matters in scorer.shown:
        program = [TABLE.instructions[a] for a in actions]
        np.testing.assert_array_equal(registers, program_map(program).apply(task.examples.inputs))  # no probes
        np.testing.assert_array_equal(target, task.examples.outputs)
        assert matters.dtype == np.int8 and matters.tolist() == [[0, 0, 1, 0]] * 3


def test_the_reward_scorer_sums_the_reward_over_the_examples_and_the_registers_that_matter():
    # r3 = r1 + r2 on inputs (1, 2) and (3, 4): distance 3 + 7 = 10 from the start (r4 differs, does not matter).
    examples = examples_from_pairs([([1, 2, 0, 9], [None, None, 3, None]), ([3, 4, 0, 9], [None, None, 7, None])])
    matters = examples.matters.astype(np.int8)
    scores = RewardScorer(MACHINE, REWARD).scores([], examples.inputs, examples.outputs, matters)
    add = TABLE.encode_instruction(Instruction("add", (1, 2, 3)))
    load_3 = TABLE.encode_instruction(Instruction("ld", (3, 3)))
    load_1_r4 = TABLE.encode_instruction(Instruction("ld", (1, 4)))
    assert scores[add] == 10  # both examples met
    assert scores[load_3] == 6  # 10 before; after, 0 on the first example and 7 - 3 = 4 on the second
    assert scores[load_1_r4] == 0 and scores[-1] == -np.inf


def test_a_constant_target_keeps_correct_none_and_a_function_task_takes_no_initial_registers():
    assert guided_search(FixedScorer(), MACHINE, REWARD, [0, 0, 0, 7], budget=1).correct is None
    assert beam_search(MACHINE, REWARD, [0, 0, 0, 7], budget=5).correct is None
    with pytest.raises(ValueError, match="reg_init"):
        reward_first_search(MACHINE, REWARD, drawn("r3 = r1 + r2"), reg_init=[1, 2, 3, 4], budget=5)


def test_a_function_the_empty_program_computes_is_found_at_once():
    found = reward_first_search(MACHINE, REWARD, drawn("r1 = r1; r2 = r2"), budget=10)
    assert found.program == [] and found.expansions == 0 and found.correct


def test_an_unsolved_function_task_reports_not_correct():
    # 2·r1 + 3·r2 + 200 needs more than one instruction: the greedy program (budget 0) cannot write it.
    found = random_search(MACHINE, drawn("r1 = 2*r1 + 3*r2 + 200"), budget=1)
    assert found.program is None and found.correct is False


# -- completeness of the pruned search, against brute force on a small machine --------------------------

SMALL = MachineConfig(num_registers=2, n_vals=3, max_length=3)
SMALL_TABLE = ActionTable(SMALL)


@functools.cache
def reachable_maps() -> list:
    """The distinct maps of every program of at most MAX_LENGTH instructions (brute force)."""
    maps = {}
    instructions = SMALL_TABLE.instructions[:SMALL_TABLE.stop_action]
    for length in range(SMALL.max_length + 1):
        for program in itertools.product(instructions, repeat=length):
            computed = program_map(list(program), 2)
            maps.setdefault(computed, computed)
    return list(maps)


def reachable(function: Function) -> bool:
    return any(function.is_computed_by(computed) for computed in reachable_maps())


@st.composite
def small_functions(draw) -> Function:
    values = st.sampled_from([0, 1, 2, 3, 254, 255])
    matrix = np.array([[draw(values) for _ in range(2)] for _ in range(2)], dtype=np.int64)
    offset = np.array([draw(values) for _ in range(2)], dtype=np.int64)
    assigned = np.array(draw(st.sampled_from([[True, True], [True, False], [False, True]])))
    matrix, offset = np.where(assigned[:, None], matrix, 0), np.where(assigned, offset, 0)
    return Function(matrix, offset, assigned, (matrix != 0).any(axis=0))


@settings(max_examples=25, deadline=None)
@given(function=small_functions(), count=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_pruned_search_finds_a_correct_program_exactly_when_brute_force_has_one(function, count, seed):
    # The prunings (a register wrong in any run needs a write; a state, examples and probes, searched once
    # from its shortest prefix) never cut the only way to a correct program, whatever the scorer.
    task = FunctionTask.drawn(function, count, np.random.default_rng(seed))
    exists = reachable(function)
    for found in (guided_search(FixedScorer(SMALL), SMALL, REWARD, task, budget=10**6),
                  reward_first_search(SMALL, REWARD, task, budget=10**6)):
        assert found.solved == exists, (str(function), found.program)
        if exists:
            assert found.correct and function.is_computed_by(program_map(found.program, 2))
            assert len(found.program) <= SMALL.max_length


def test_pruned_search_finds_every_function_a_short_program_computes_from_one_example():
    # One example leaves many programs that meet it and are wrong elsewhere: the probes keep them out.
    for index, computed in enumerate(reachable_maps()[::10]):
        assigned = None if index % 2 else np.array([True, False])  # r2 does not matter
        function = Function.of_map(computed, assigned)
        task = FunctionTask.drawn(function, 1, np.random.default_rng(index))
        for found in (guided_search(FixedScorer(SMALL), SMALL, REWARD, task, budget=10**6),
                      reward_first_search(SMALL, REWARD, task, budget=10**6)):
            assert found.correct and function.is_computed_by(program_map(found.program, 2)), str(function)


def greedy_on_examples(network, task: FunctionTask) -> list[int]:
    """The actions a network writes greedily on the task's examples ([1, E, R] observations)."""
    from agents.networks import greedy_policy

    examples, policy = task.examples, greedy_policy(network)
    registers, actions = examples.inputs.copy(), []
    for _ in range(MACHINE.max_length):
        program = np.full((1, MACHINE.max_length), MACHINE.num_actions, dtype=np.int64)
        program[0, :len(actions)] = actions
        action = int(policy({"program": program, "registers": registers[np.newaxis],
                             "target": examples.outputs[np.newaxis],
                             "matters": examples.matters.astype(np.int8)[np.newaxis]})[0])
        if action == TABLE.stop_action:
            break
        actions.append(action)
        TABLE.execute_batch(registers, np.full(len(registers), action))
    return actions


@pytest.mark.parametrize("kind", ["q", "policy"])
def test_budget_zero_on_a_function_task_is_the_greedy_program_when_it_is_correct(kind):
    torch = pytest.importorskip("torch")
    from agents.networks import DuelingQNetwork, PolicyValueNetwork, network_scorer

    torch.manual_seed(5)
    try:
        network = (DuelingQNetwork if kind == "q" else PolicyValueNetwork)(MACHINE, 8, 16, 1, examples=True).eval()
        scorer = network_scorer(network, MACHINE)
        greedy_on_examples(network, drawn("r2 = r1"))
    except (TypeError, ValueError):
        pytest.skip("the networks do not read function tasks yet")
    for text in [*FUNCTIONS, "r1 = r1"]:  # the last one by the empty program
        task = drawn(text)
        greedy = [TABLE.instructions[a] for a in greedy_on_examples(network, task)]
        found = guided_search(scorer, MACHINE, REWARD, task, budget=0)
        assert found.expansions == 0
        correct_prefixes = [n for n in range(len(greedy) + 1) if task.is_correct(greedy[:n])]
        if correct_prefixes:  # the greedy program, up to where it is first correct
            assert found.correct and found.program == greedy[:correct_prefixes[0]]
        else:
            assert found.program is None and found.correct is False
