"""The optional DQN features train end to end: prioritized replay, Boltzmann exploration and the
known-reward Q-network, the action-effect term, each saving a best model that rebuilds from its spec."""

from __future__ import annotations

import pytest
import torch

from training.checkpoints import load_network
from training.run import train_run

CONFIG = {"settings": {"ASSESS_FREQ": 20, "LOG_FREQ": 40, "SAVE_FREQ": 40},
          "presets": {"DQN": {"agent": "DQN_Agent",
                              "parameters": {"h_size": 8, "middle_size": 16, "batch_size": 16, "num_envs": 8,
                                             "learning_freq": 2, "replay_buffer_size": 500,
                                             "epsilon_decay_steps": 20}}}}


@pytest.mark.parametrize(("options", "kind"), [
    ({"priority_alpha": 0.6, "priority_beta": 0.4}, "dueling_q"),
    ({"temperature": 0.05}, "dueling_q"),
    ({"known_rewards": True}, "known_reward_q"),
    ({"effect_size": 4, "register_size": 12}, "dueling_q"),
    ({"known_rewards": True, "effect_size": 4}, "known_reward_q"),
], ids=["prioritized", "boltzmann", "known_rewards", "action_effects", "known_rewards_and_effects"])
def test_option_trains_and_saves_a_loadable_model(tmp_path, options, kind):
    config = {**CONFIG, "presets": {"DQN": {**CONFIG["presets"]["DQN"]}}}
    config["presets"]["DQN"]["parameters"] = {**CONFIG["presets"]["DQN"]["parameters"], **options}
    run = {"id": 1, "algo": "DQN", "episodes": 60, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [[0, 5, 10, 25]], "alternate_freq": 0}, "reg_inits": None}
    result = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0)
    assert result.status == "finished", result.traceback
    assert result.episodes >= 60 and len(result.curve) >= 3
    network, checkpoint = load_network(tmp_path / "run" / "models" / "best")
    assert checkpoint["network_spec"]["kind"] == kind
    for key in ("effect_size", "register_size"):
        if key in options:
            assert checkpoint["network_spec"][key] == options[key]
    q = network(torch.full((1, 5), 225), torch.zeros(1, 4), torch.tensor([[0.0, 5, 10, 25]]))
    assert q.shape == (1, 225) and torch.isfinite(q).all()


def test_a_run_stopping_at_its_first_solve_reports_every_target_s_program(tmp_path):
    # Exact rewards that outweigh the untrained residual: the greedy program of episode 0 is the
    # one-instruction load each target needs, so the first evaluation solves both targets.
    config = {**CONFIG, "presets": {"DQN": {**CONFIG["presets"]["DQN"]}}}
    config["presets"]["DQN"]["parameters"] = {**CONFIG["presets"]["DQN"]["parameters"], "known_rewards": True,
                                              "reward_scale": 10.0}
    run = {"id": 1, "algo": "DQN", "episodes": 1000, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [[1, 0, 0, 0], [0, 0, 7, 0]], "alternate_freq": 1}, "reg_inits": None}
    result = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0, stop_when_solved=True)
    assert result.status == "finished", result.traceback
    assert result.first_solve == 0 and result.episodes < 1000
    assert [entry["target"] for entry in result.programs] == [[1, 0, 0, 0], [0, 0, 7, 0]]
    from toycorewar import parse_program
    from toycorewar import run as run_program
    for entry in result.programs:
        assert run_program(parse_program("\n".join(entry["program"])), entry["reg_init"])[-1] == entry["target"]
    assert result.program == result.programs[0]["program"]
    # Resumed from models/last, the run still reports what it found at its first solve.
    run["episodes"] = result.episodes + 40
    resumed = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0, resume=True)
    assert resumed.status == "finished", resumed.traceback
    assert resumed.episodes >= run["episodes"] > result.episodes
    assert (resumed.first_solve, resumed.programs) == (0, result.programs)
    assert resumed.first_solve_seconds == result.first_solve_seconds is not None  # kept across --resume
