"""A machine with MAX_LENGTH 8 trains, evaluates, searches and synthesizes through the same commands,
with the afterstate network (the Generalist preset's kind) and the shipped kind of Q-network."""

from __future__ import annotations

import json

import pytest
from experiment_files import evaluation_logs, parse_evaluation, run_main, run_synthesize, tiny_config, write_inputs

from synthesis.exact import Synthesizer
from toycorewar import MachineConfig, final_registers, parse_program

MACHINE = MachineConfig(max_length=8)


def bigger_config() -> dict:
    config = tiny_config()
    config["settings"]["toy_corewar"]["MAX_LENGTH"] = 8
    dqn = config["presets"]["DQN"]["parameters"]
    config["presets"]["After"] = {"agent": "DQN_Agent", "parameters": {**dqn, "afterstate": True, "effect_size": 2}}
    config["presets"]["Known"] = {"agent": "DQN_Agent", "parameters": {**dqn, "known_rewards": True,
                                                                       "effect_size": 4}}
    return config


@pytest.mark.parametrize("preset", ["After", "Known"])
def test_a_machine_of_length_8_trains_evaluates_searches_and_synthesizes(tmp_path, preset):
    run = {"id": "big", "algo": preset, "episodes": 60, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"solvable": 8, "held_out": "tiers"}, "reg_inits": None, "search_budget": 5}
    write_inputs(tmp_path, [run], bigger_config())
    trained = run_main(tmp_path, "big", "-j", "1")
    assert trained.returncode == 0, trained.stderr
    summary = json.loads((tmp_path / "experiments" / "big" / "summary.json").read_text())
    assert summary[0]["status"] == "finished" and summary[0]["episodes"] >= 60
    logs = evaluation_logs(tmp_path / "experiments" / "big" / "big")
    last = parse_evaluation(logs[max(logs)])
    assert len(last.tasks) == 8 * 5  # EVAL_TARGETS 5 of each tier 1..8
    for task in last.tasks:  # every evaluated program, searched or greedy, runs on the plain machine
        program = parse_program("\n".join(step[0] for step in task.steps), MACHINE)
        assert len(program) <= 8
        assert (task.performance == 0) == (final_registers(program, task.reg_init) == task.target)
    target = last.tasks[-1].target  # a target of tier 8
    assert Synthesizer(MACHINE).shortest_program(target).length == 8
    found = run_synthesize(tmp_path, "big", "big", "--target", ",".join(map(str, target)), "--search", "300")
    assert found.returncode == 0, found.stderr
    assert "guided search: " in found.stdout
    assert any(line.startswith("total reward") for line in found.stdout.splitlines()[-2:])
