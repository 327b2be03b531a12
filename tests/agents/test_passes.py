"""Passes in chunks of bounded bytes (agents/passes.py): what a row costs is measured, a chunk stays
within the budget, and a pass in chunks gives every row what one pass gives, for every network kind
and for the draws of the agents' exploration."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from agents import passes
from agents.dqn import DQN_Agent
from agents.networks import build_network, greedy_policy, network_spec
from agents.passes import in_chunks, row_bytes, rows_per_pass
from environment import ScheduledTasks, Specific_register_values, schedule_from_spec
from environment.vector_env import same_step_env
from synthesis.search import StopRequested
from toycorewar import MachineConfig

ROOT = Path(__file__).resolve().parents[2]
MACHINE = MachineConfig()
REWARD_SETTINGS = {"circular": True, "positive": True, "cumulative": True}


def observations(count: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Observations of `count` copies a few random steps into their episodes."""
    rng = np.random.default_rng(seed)
    env = same_step_env(count, MACHINE, Specific_register_values())
    obs, _ = env.reset(seed=seed, options={"target": rng.integers(0, 256, (count, 4)),
                                           "reg_init": np.zeros((count, 4), dtype=np.int64)})
    for _ in range(2):
        obs, *_ = env.step(rng.integers(0, MACHINE.num_actions - 1, count))
    return obs


NETWORKS = {
    "dueling_q": network_spec("dueling_q", MACHINE, 16, 16, 1, effect_size=4),
    "known_reward_q": network_spec("known_reward_q", MACHINE, 16, 16, 1, effect_size=4, reward_scale=0.01,
                                   reward_func="Specific_register_values", reward_settings=REWARD_SETTINGS),
    "afterstate_q": network_spec("afterstate_q", MACHINE, 16, 16, 1, effect_size=4,
                                 reward_func="Specific_register_values", reward_settings=REWARD_SETTINGS,
                                 reward_scale=0.01),
    "policy_value": network_spec("policy_value", MACHINE, 16, 16, 1),
}


@pytest.mark.parametrize("kind", sorted(NETWORKS))
def test_greedy_actions_in_chunks_are_those_of_one_pass(kind, monkeypatch):
    torch.manual_seed(0)
    network = build_network(NETWORKS[kind])
    obs = observations(300)
    whole = greedy_policy(network)(obs)
    cost = row_bytes(network, obs)
    assert cost > 0
    monkeypatch.setattr(passes, "PASS_BYTES", 7 * cost)  # chunks of 7 rows
    assert rows_per_pass(network, obs) == 7
    assert np.array_equal(greedy_policy(network)(obs), whole)


def test_the_measured_cost_of_a_row_grows_with_what_the_network_computes_per_row():
    torch.manual_seed(0)
    obs = observations(8)
    small = build_network(network_spec("afterstate_q", MACHINE, 16, 16, 1, effect_size=4,
                                       reward_func="Specific_register_values", reward_settings=REWARD_SETTINGS,
                                       reward_scale=0.01))
    wide = build_network(network_spec("afterstate_q", MACHINE, 16, 64, 1, effect_size=4,
                                      reward_func="Specific_register_values", reward_settings=REWARD_SETTINGS,
                                      reward_scale=0.01))
    plain = build_network(NETWORKS["dueling_q"])
    # An afterstate network values every afterstate of a row: a row costs it far more than a dueling head,
    # and more the wider its layers.
    assert row_bytes(wide, obs) > row_bytes(small, obs) > 4 * row_bytes(plain, obs)


def test_in_chunks_joins_in_order_and_asks_should_stop_between_chunks():
    rows = {"program": np.arange(10)[:, None]}
    assert in_chunks(rows, lambda part: part["program"][:, 0] * 2, 3).tolist() == list(range(0, 20, 2))
    asked = []

    def should_stop() -> bool:
        asked.append(1)
        return len(asked) >= 2

    with pytest.raises(StopRequested):
        in_chunks(rows, lambda part: part["program"][:, 0], 3, should_stop)
    assert len(asked) == 2  # before the second chunk, then before the third


def dqn_agent(**parameters) -> DQN_Agent:
    from agents.base import AgentSetup
    from agents.parameters import DQNParameters
    params = DQNParameters(h_size=16, middle_size=16, num_envs=64, **parameters)
    rng = np.random.default_rng(0)
    tasks = ScheduledTasks(schedule_from_spec({"values": [[0, 10, 30, 250]], "alternate_freq": 0}, "targets", 4, 1000,
                                              rng, "random", MACHINE),
                           schedule_from_spec(None, "reg_inits", 4, 1000, rng, "zeros", MACHINE))
    return DQN_Agent(AgentSetup(params, MACHINE, tasks, Specific_register_values(), 1000, seed=4))


@pytest.mark.parametrize("options", [{"temperature": 0.5, "greedy_copies": 3}, {}], ids=["softmax", "greedy"])
def test_exploring_actions_in_chunks_are_those_of_one_pass(options, monkeypatch):
    obs = observations(200)
    one, other = dqn_agent(**options), dqn_agent(**options)
    whole = one.act(obs, 0.3)
    monkeypatch.setattr(passes, "PASS_BYTES", 5 * row_bytes(other.q, obs))
    assert np.array_equal(other.act(obs, 0.3), whole)
    assert one.rng.bit_generator.state == other.rng.bit_generator.state  # the same draws, in the same order


def test_an_evaluation_of_many_tasks_stays_within_its_bound(tmp_path):
    """In a fresh process, greedy evaluation of 20,000 tasks by an afterstate network whose single pass
    would allocate over a gigabyte: the resident peak grows by far less."""
    script = textwrap.dedent("""
        import resource, sys
        import numpy as np, torch
        from agents.networks import build_network, network_spec
        from agents.passes import pass_budget, row_bytes
        from environment import Specific_register_values
        from toycorewar import MachineConfig
        from training.evaluation import Evaluator

        torch.set_num_threads(1)
        machine = MachineConfig()
        spec = network_spec("afterstate_q", machine, 16, 96, 1, effect_size=4, reward_scale=0.01,
                            reward_func="Specific_register_values",
                            reward_settings={"circular": True, "positive": True, "cumulative": True})
        network = build_network(spec)
        agent = type("Agent", (), {"network": network})()
        from agents.networks import greedy_policy
        agent.greedy_actions = greedy_policy(network)
        rng = np.random.default_rng(0)
        count = 20_000
        targets, inits = rng.integers(0, 256, (count, 4)), np.zeros((count, 4), dtype=np.int64)
        probe = {"program": np.full((1, 5), machine.num_actions), "registers": inits[:1], "target": targets[:1]}
        one_pass = row_bytes(network, probe) * count
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        evaluation = Evaluator(agent, machine, Specific_register_values(), targets, inits)(0)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(one_pass, after - before, pass_budget(), len(evaluation.tasks))
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    one_pass, growth, budget, tasks = (int(x) for x in result.stdout.split())
    assert tasks == 20_000
    assert one_pass > 1.5 * 2**30, "the test needs a pass that would not be bounded"
    assert growth < budget + 400 * 2**20, f"resident peak grew {growth / 2**20:.0f} MiB"
