"""Validation refuses a run that would need more than half of this machine (training/memory.py), in
one line naming the field, and accepts what fits: the network counted without being built, the
learning pass measured on the run's own network."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from experiment_files import assert_one_line_error, run_main, write_inputs  # noqa: E402

from agents.machine_memory import physical_memory  # noqa: E402
from agents.networks import build_network  # noqa: E402
from training.config import ConfigError, parse_config, parse_training  # noqa: E402
from training.memory import evaluation_tasks, network_spec_of, parameter_count, run_needs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def shipped(algo: str, parameters: dict | None = None, run: dict | None = None) -> tuple[dict, dict]:
    config = json.loads((ROOT / "config.json").read_text(encoding="utf-8"))
    config["presets"][algo]["parameters"].update(parameters or {})
    first = json.loads((ROOT / "training.json").read_text(encoding="utf-8"))[0]
    return config, {**first, "algo": algo, "episodes": 100, **(run or {})}


def validate(config: dict, run: dict) -> None:
    parse_training([run], parse_config(config))


@pytest.mark.parametrize("algo", ["DQN", "Generalist", "AC", "PG"])
def test_the_parameters_counted_without_building_are_those_of_the_built_network(algo):
    config_data, run_data = shipped(algo)
    config = parse_config(config_data)
    run = parse_training([run_data], config)[0]
    spec = network_spec_of(config.presets[algo].parameters, config, run)
    assert parameter_count(spec) == sum(p.numel() for p in build_network(spec).parameters())


@pytest.mark.parametrize(("algo", "parameters", "field"), [
    ("DQN", {"h_size": 4096, "middle_size": 4096, "lstm_layers": 8}, "presets.DQN.parameters.h_size"),
    ("AC", {"num_envs": 65_536}, "presets.AC.parameters.num_envs"),
    ("Generalist", {"middle_size": 4096, "effect_size": 4096, "batch_size": 65_536},
     "presets.Generalist.parameters."),
])
def test_a_run_beyond_half_the_machine_is_refused_in_one_line_naming_the_field(algo, parameters, field):
    config, run = shipped(algo, parameters)
    with pytest.raises(ConfigError) as refused:
        validate(config, run)
    message = str(refused.value)
    assert field in message and "more than half of this machine" in message and "\n" not in message


def test_what_fits_is_accepted_and_its_needs_stay_under_half_the_machine():
    config_data, run_data = shipped("AC", run={"targets": {"values": [[1, 2, 3, 4]] * 1000, "alternate_freq": 0}})
    config_data["settings"]["EVAL_TARGETS"] = 100_000
    config = parse_config(config_data)
    run = parse_training([run_data], config)[0]  # accepted
    needs = run_needs(run, config)
    assert {need.what.split(" (")[0] for need in needs} >= {"Python and torch", "a pass in chunks", "the network"}
    assert sum(need.bytes for need in needs) <= physical_memory() // 2


def test_main_refuses_it_with_exit_status_2_and_writes_nothing(tmp_path):
    config, run = shipped("AC", {"num_envs": 65_536})
    write_inputs(tmp_path, [run], config)
    line = assert_one_line_error(run_main(tmp_path, "big"))
    assert "training.json" in line and "num_envs" in line
    assert not (tmp_path / "experiments").exists() or not any((tmp_path / "experiments").iterdir())


@pytest.mark.parametrize(("targets", "reg_inits", "count"), [
    ({"values": 7, "alternate_freq": 0}, None, 100),  # 7 random targets a cycle: EVAL_TARGETS held-out ones
    ({"values": [[1, 2, 3, 4], [5, 6, 7, 8]], "alternate_freq": 0}, {"values": [[0, 0, 0, 0], [1, 1, 1, 1]],
                                                                     "alternate_freq": 0}, 4),
    ({"solvable": 3, "held_out": "tiers"}, None, 100 * 5),
    ({"functions": {"solvable": 2, "held_out": "tiers"}}, None, 100 * 5),
    ({"functions": ["r1 = r2", "r3 = r1 + r2"], "alternate_freq": 0}, None, 2),
])
def test_every_form_of_targets_is_counted_and_validated(targets, reg_inits, count):
    config_data, run_data = shipped("DQN", run={"targets": targets, "reg_inits": reg_inits})
    config = parse_config(config_data)
    run = parse_training([run_data], config)[0]  # accepted, whatever the form
    assert evaluation_tasks(config, run) == count


def test_validation_leaves_torchs_generator_as_it_was():
    config_data, run_data = shipped("Generalist")
    before = torch.get_rng_state()
    validate(config_data, run_data)
    assert torch.equal(torch.get_rng_state(), before)
