"""The optional DQN features train end to end: prioritized replay, Boltzmann exploration and the
known-reward Q-network, each saving a best model that rebuilds from its spec."""

from __future__ import annotations

import pytest
import torch

from agents.checkpoints import load_network
from agents.runner import train_run

CONFIG = {"settings": {"ASSESS_FREQ": 20, "LOG_FREQ": 40, "SAVE_FREQ": 40},
          "presets": {"DQN": {"agent": "DQN_Agent",
                              "parameters": {"h_size": 8, "middle_size": 16, "batch_size": 16, "num_envs": 8,
                                             "learning_freq": 2, "replay_buffer_size": 500,
                                             "epsilon_decay_steps": 20}}}}


@pytest.mark.parametrize(("options", "kind"), [
    ({"priority_alpha": 0.6, "priority_beta": 0.4}, "dueling_q"),
    ({"temperature": 0.05}, "dueling_q"),
    ({"known_rewards": True}, "known_reward_q"),
], ids=["prioritized", "boltzmann", "known_rewards"])
def test_option_trains_and_saves_a_loadable_model(tmp_path, options, kind):
    config = {**CONFIG, "presets": {"DQN": {**CONFIG["presets"]["DQN"]}}}
    config["presets"]["DQN"]["parameters"] = {**CONFIG["presets"]["DQN"]["parameters"], **options}
    run = {"id": 1, "algo": "DQN", "episodes": 60, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [[0, 5, 10, 25]], "alternate_freq": 0}, "reg_inits": None}
    result = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0)
    assert result["status"] == "finished", result.get("traceback")
    assert result["episodes"] >= 60 and len(result["curve"]) >= 3
    network, checkpoint = load_network(tmp_path / "run" / "models" / "best")
    assert checkpoint["network_spec"]["kind"] == kind
    q = network(torch.full((1, 5), 225), torch.zeros(1, 4), torch.tensor([[0.0, 5, 10, 25]]))
    assert q.shape == (1, 225) and torch.isfinite(q).all()
