"""Tier draws (synthesis/tiers.py) and the synthesizer's additions they use (synthesis/exact.py): targets
of exactly the optimal length asked, reproducible, never excluded; the shared levels change no result;
a time limit answers "not proved" when it runs out and changes nothing when it does not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from synthesis.exact import Synthesizer
from synthesis.tiers import draw_tier, heldout_tiers, tier_targets, tier_tasks
from toycorewar import ActionTable, MachineConfig, final_registers
from toycorewar.actions import encode_registers

MACHINE = MachineConfig()
SMALL = MachineConfig(num_registers=2, n_vals=3, max_length=3)


def brute_force_tiers(config: MachineConfig) -> dict[int, set[tuple[int, ...]]]:
    """Every state reachable from zeros within MAX_LENGTH, by its optimal length, from every program."""
    instructions = ActionTable(config).instructions[:-1]
    best = {(0,) * config.num_registers: 0}
    for length in range(1, config.max_length + 1):
        for program in itertools.product(instructions, repeat=length):
            best.setdefault(tuple(final_registers(list(program), num_registers=config.num_registers)), length)
    tiers: dict[int, set[tuple[int, ...]]] = {}
    for state, length in best.items():
        tiers.setdefault(length, set()).add(state)
    return tiers


@pytest.mark.parametrize("length", [1, 2, 3, 4, 5])
def test_every_target_of_a_tier_has_exactly_that_optimal_length(length):
    synthesizer = Synthesizer(MACHINE)
    targets = tier_targets(MACHINE, length, 8, seed=3)
    assert len(targets) == 8 and len(np.unique(encode_registers(targets))) == 8
    for target in targets:
        result = synthesizer.shortest_program(target.tolist(), max_length=MACHINE.max_length)
        assert result.length == length, target
        assert synthesizer.shortest_program(target.tolist(), max_length=length - 1).program is None


def test_draws_are_reproducible_from_the_seed():
    assert np.array_equal(tier_targets(MACHINE, 4, 10, seed=5), tier_targets(MACHINE, 4, 10, seed=5))
    assert not np.array_equal(tier_targets(MACHINE, 4, 10, seed=5), tier_targets(MACHINE, 4, 10, seed=6))


def test_excluded_targets_are_never_drawn():
    excluded = tier_targets(MACHINE, 2, 40, seed=1)
    drawn = tier_targets(MACHINE, 2, 200, seed=1, exclude=excluded)
    assert len(drawn) == 200
    assert not np.isin(encode_registers(drawn), encode_registers(excluded)).any()


def test_on_a_small_machine_the_draws_find_every_state_of_each_tier_and_nothing_else():
    truth = brute_force_tiers(SMALL)
    for length in range(1, SMALL.max_length + 1):
        draw = draw_tier(SMALL, length, 10**6, seed=0, synthesizer=Synthesizer(SMALL))
        assert {tuple(t) for t in draw.targets.tolist()} == truth[length], length
        assert len(draw.targets) == len(truth[length])  # distinct, and the draw ended on its own


def test_initial_registers_are_where_the_tiers_start_from():
    start = [5, 1, 0, 0]
    for target in tier_targets(MACHINE, 2, 5, seed=0, reg_init=start):
        result = Synthesizer(MACHINE).shortest_program(target.tolist(), reg_init=start)
        assert result.length == 2 and final_registers(result.program, start) == target.tolist()


def test_heldout_tiers_give_every_length_and_are_remembered_unchanged():
    tiers = heldout_tiers(MACHINE, 6, seed=11)
    assert sorted(tiers) == [1, 2, 3, 4, 5]
    tiers[3].targets[:] = 0  # a copy: the remembered draw is not changed
    again = heldout_tiers(MACHINE, 6, seed=11, reg_init=[0, 0, 0, 0])  # zeros as a list: the same draw
    assert np.array_equal(again[3].targets, tier_targets(MACHINE, 3, 6, seed=11))
    targets, inits, lengths = tier_tasks(MACHINE, 6, seed=11)
    assert len(targets) == 30 and (inits == 0).all() and np.array_equal(np.bincount(lengths), [0, 6, 6, 6, 6, 6])


def test_the_shared_levels_change_no_program():
    cached, plain = Synthesizer(MACHINE), Synthesizer(MACHINE, cache_children=0)
    rng = np.random.default_rng(0)
    targets = [t.tolist() for t in tier_targets(MACHINE, 5, 4, seed=2)] + rng.integers(0, 30, (6, 4)).tolist()
    for target, max_length in itertools.product(targets, (4, 5, 6)):
        expected = plain.shortest_program(target, max_length=max_length).program
        assert cached.shortest_program(target, max_length=max_length).program == expected, (target, max_length)


def test_shorter_than_agrees_with_the_search_whether_the_states_within_fit_in_the_cache_or_not():
    synthesizer = Synthesizer(MACHINE)
    small_cache = Synthesizer(MACHINE, cache_children=1000)  # the states within one instruction only
    targets = np.concatenate([tier_targets(MACHINE, k, 3, seed=4) for k in (2, 4, 5)])
    for length in (3, 5):
        expected = [synthesizer.shortest_program(t.tolist(), max_length=length - 1).program is not None
                    for t in targets]
        assert synthesizer.shorter_than(targets, length) == expected
        assert small_cache.shorter_than(targets, length, time_limit=60.0) == expected
    assert small_cache.reachable(None, 2) is None and len(small_cache.reachable(None, 1)) == 77


def test_a_time_limit_that_runs_out_says_not_proved_and_a_generous_one_changes_nothing():
    synthesizer = Synthesizer(MACHINE)
    hard = [0, 10, 30, 250]  # optimal length 5, found beyond the shared levels
    assert synthesizer.shortest_program(hard, time_limit=0.0) is None
    unlimited = synthesizer.shortest_program(hard)
    assert synthesizer.shortest_program(hard, time_limit=60.0).program == unlimited.program
    assert unlimited.length == 5
    proof = synthesizer.shortest_program([137, 201, 77, 163], max_length=4, time_limit=60.0)
    assert proof is not None and proof.program is None  # a proof of absence within the limit
