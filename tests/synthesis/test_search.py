"""Guided tree search and its baselines: every program they return reaches the target; a budget of 0
is the greedy policy."""

import numpy as np
import pytest
import torch

from agents.networks import DuelingQNetwork, KnownRewardQNetwork, PolicyValueNetwork, greedy_policy, network_scorer
from environment import make_reward
from synthesis.search import beam_search, guided_search, random_search, reward_first_search
from toycorewar import MachineConfig, final_registers
from training.evaluation import evaluate

MACHINE = MachineConfig()
REWARD = make_reward("Specific_register_values")
TARGETS = [[4, 14, 18, 238], [0, 5, 10, 25], [1, 2, 3, 0], [0, 0, 0, 7]]


NOT_POSITIVE = {"circular": True, "positive": False, "cumulative": True}
NETWORK_IDS = ["q", "policy", "known_reward_not_positive"]


def networks():
    torch.manual_seed(0)
    return [DuelingQNetwork(MACHINE, 8, 16, 1), PolicyValueNetwork(MACHINE, 8, 16, 1),
            KnownRewardQNetwork(MACHINE, 8, 16, 1, NOT_POSITIVE, reward_scale=0.1)]


def search(network, target, machine=MACHINE, **options):
    """Guided search with `network` and the reward it was built for (its own, for a known-reward network)."""
    reward = getattr(network, "reward", REWARD)
    scale = getattr(network, "reward_scale", 1.0)
    return guided_search(network_scorer(network, machine), machine, reward, target, reward_scale=scale, **options)


@pytest.mark.parametrize("network", networks(), ids=NETWORK_IDS)
def test_budget_zero_is_the_greedy_policy(network):
    for target in TARGETS:
        greedy = evaluate(greedy_policy(network), MACHINE, getattr(network, "reward", REWARD),
                          np.array([target]), np.zeros((1, 4), dtype=np.int64)).tasks[0]
        found = search(network, target, budget=0)
        assert found.expansions == 0
        if greedy.solved:
            assert [str(i) for i in found.program] == [i for i in greedy.instructions if i != "stop"]
        else:
            assert found.program is None


@pytest.mark.parametrize("network", networks(), ids=NETWORK_IDS)
def test_guided_search_programs_reach_the_target(network):
    for target in TARGETS:
        found = search(network, target, budget=200)
        assert found.expansions <= 200
        if found.program is not None:
            assert final_registers(found.program) == target
            assert len(found.program) <= MACHINE.max_length


def test_guided_search_finds_a_one_instruction_target_with_any_network():
    # Whatever the network says, expanding the empty program checks every one-instruction program.
    for network in networks():
        found = search(network, [0, 0, 0, 7], budget=1)
        assert found.program is not None and final_registers(found.program) == [0, 0, 0, 7]


def test_random_search_programs_reach_the_target_and_respect_the_budget():
    rng = np.random.default_rng(0)
    for target in TARGETS:
        found = random_search(MACHINE, target, budget=50, rng=rng)
        assert found.expansions <= 50
        if found.program is not None:
            assert final_registers(found.program) == target
    assert random_search(MACHINE, [0, 0, 0, 7], budget=1).program is not None  # the empty prefix, or any


def test_beam_search_on_reward_finds_programs_that_reach_the_target():
    for target in TARGETS:
        found = beam_search(MACHINE, REWARD, target, budget=500)
        assert found.program is not None, target
        assert final_registers(found.program) == target
        assert found.expansions <= 500


def test_searches_with_initial_registers():
    found = beam_search(MACHINE, REWARD, [9, 9, 9, 9], reg_init=[9, 9, 9, 0], budget=5)
    assert final_registers(found.program, [9, 9, 9, 0]) == [9, 9, 9, 9]


@pytest.mark.parametrize("kind", ["q", "policy", "reward"])
def test_pruned_best_first_search_is_complete_on_a_small_machine(kind):
    # The prunings (wrong registers ≤ slots left; each register state searched once, from its shortest
    # prefix) must never cut the only way to a target: with an unlimited budget, every target the exact
    # synthesizer reaches within MAX_LENGTH is found, whatever the network, and no other is.
    from synthesis.exact import Synthesizer

    small = MachineConfig(num_registers=2, n_vals=3, max_length=3)
    torch.manual_seed(1)
    network = (DuelingQNetwork if kind == "q" else PolicyValueNetwork)(small, 8, 16, 1)

    def search(target):
        if kind == "reward":
            return reward_first_search(small, REWARD, target, budget=10**6)
        return guided_search(network_scorer(network, small), small, REWARD, target, budget=10**6)
    synthesizer = Synthesizer(small)
    reached = 0
    values = [*range(12), *range(248, 256)]
    for target in ([a, b] for a in values for b in values):
        exists = synthesizer.shortest_program(target, max_length=3).program is not None
        found = search(target)
        assert (found.program is not None) == exists, target
        if exists:
            reached += 1
            assert final_registers(found.program, num_registers=2) == target
            assert len(found.program) <= small.max_length
    assert reached > 20  # the check covered reachable targets, not only unreachable ones


def test_pruning_spends_fewer_expansions_than_the_plain_search():
    torch.manual_seed(2)
    network = DuelingQNetwork(MACHINE, 8, 16, 1)
    target = [0, 5, 10, 25]
    pruned = search(network, target, budget=3000)
    plain = search(network, target, budget=3000, prune=False)
    assert pruned.solved and final_registers(pruned.program) == target
    assert not plain.solved or pruned.expansions < plain.expansions


def test_reward_first_search_programs_reach_the_target():
    for target in TARGETS:
        found = reward_first_search(MACHINE, REWARD, target, budget=300)
        assert found.expansions <= 300
        if found.program is not None:
            assert final_registers(found.program) == target
    assert reward_first_search(MACHINE, REWARD, [0, 0, 0, 7], budget=0).program is not None  # greedy: ld %7, r4
