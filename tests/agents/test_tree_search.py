"""Guided tree search and its baselines: every program they return reaches the target; a budget of 0
is the greedy policy."""

import numpy as np
import pytest
import torch

from agents.evaluation import evaluate
from agents.networks import DuelingQNetwork, PolicyValueNetwork, greedy_policy
from agents.tree_search import beam_search, guided_search, random_search
from environment import make_reward
from toycorewar import MachineConfig, final_registers

MACHINE = MachineConfig()
REWARD = make_reward("Specific_register_values")
TARGETS = [[4, 14, 18, 238], [0, 5, 10, 25], [1, 2, 3, 0], [0, 0, 0, 7]]


def networks():
    torch.manual_seed(0)
    return [DuelingQNetwork(MACHINE, 8, 16, 1), PolicyValueNetwork(MACHINE, 8, 16, 1)]


@pytest.mark.parametrize("network", networks(), ids=["q", "policy"])
def test_budget_zero_is_the_greedy_policy(network):
    for target in TARGETS:
        greedy = evaluate(greedy_policy(network), MACHINE, "Specific_register_values", {},
                          np.array([target]), np.zeros((1, 4), dtype=np.int64)).tasks[0]
        found = guided_search(network, MACHINE, REWARD, target, budget=0)
        assert found.expansions == 0
        if greedy.solved:
            assert [str(i) for i in found.program] == [i for i in greedy.instructions if i != "stop"]
        else:
            assert found.program is None


@pytest.mark.parametrize("network", networks(), ids=["q", "policy"])
def test_guided_search_programs_reach_the_target(network):
    for target in TARGETS:
        found = guided_search(network, MACHINE, REWARD, target, budget=200)
        assert found.expansions <= 200
        if found.program is not None:
            assert final_registers(found.program) == target
            assert len(found.program) <= MACHINE.max_length


def test_guided_search_finds_a_one_instruction_target_with_any_network():
    # Whatever the network says, expanding the empty program checks every one-instruction program.
    for network in networks():
        found = guided_search(network, MACHINE, REWARD, [0, 0, 0, 7], budget=1)
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
