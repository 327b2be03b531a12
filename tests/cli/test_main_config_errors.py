"""Malformed configuration or training input: exit status 2, one line on stderr naming the file and the
field, no traceback, nothing written (docs/reference.md §7: every error is found before any run begins)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from experiment_files import assert_one_line_error, run_main, tiny_config, tiny_run, write_inputs

from training.config import ConfigError, load_config, load_training


def runs() -> list[dict]:
    return [tiny_run(1, "DQN", targets=[[0, 10, 30, 250]]), tiny_run(2, "AC", targets=[[4, 14, 18, 238]])]


def settings(change: Callable[[dict], None]) -> Callable[[Path], None]:
    """A case that changes config.json."""
    def write(folder: Path) -> None:
        config = tiny_config()
        change(config)
        write_inputs(folder, runs(), config)
    return write


def training(change: Callable[[list[dict]], None]) -> Callable[[Path], None]:
    """A case that changes training.json."""
    def write(folder: Path) -> None:
        changed = runs()
        change(changed)
        write_inputs(folder, changed)
    return write


def raw(file: str, text: str) -> Callable[[Path], None]:
    """A case that writes `file` as `text`."""
    def write(folder: Path) -> None:
        write_inputs(folder, runs())
        (folder / file).write_text(text, encoding="utf-8")
    return write


def dqn(config: dict) -> dict:
    return config["presets"]["DQN"]["parameters"]


# case id: (how to write the inputs, extra arguments, file named, field named)
CASES = {
    "malformed_json_in_config": (raw("config.json", '{"settings": {"DEVICE": "cpu",'), [], "config.json", "JSON"),
    "malformed_json_in_training": (raw("training.json", '[{"id": 1, "algo": "DQN"'), [], "training.json", "JSON"),
    "missing_config_file": (training(lambda r: None), ["-c", "nowhere.json"], "nowhere.json", "not found"),
    "missing_training_file": (training(lambda r: None), ["-t", "nowhere.json"], "nowhere.json", "not found"),
    "unknown_key_in_settings": (settings(lambda c: c["settings"].update(ASSES_FREQ=20)), [], "config.json",
                                "settings.ASSES_FREQ"),
    "unknown_key_in_preset_parameters": (settings(lambda c: dqn(c).update(hsize=8)), [], "config.json",
                                         "presets.DQN.parameters.hsize"),
    "string_learning_rate": (settings(lambda c: dqn(c).update(lr="0.001")), [], "config.json",
                             "presets.DQN.parameters.lr"),
    "gamma_above_1": (settings(lambda c: c["presets"]["AC"]["parameters"].update(gamma=2)), [], "config.json",
                      "presets.AC.parameters.gamma"),
    "num_actions_disagrees_with_registers_and_values": (
        settings(lambda c: c["settings"]["toy_corewar"].update(NUM_ACTIONS=255)), [], "config.json", "NUM_ACTIONS"),
    "unknown_agent_class": (settings(lambda c: c["presets"]["AC"].update(agent="A2C_Agent")), [], "config.json",
                            "presets.AC.agent"),
    "negative_episodes": (training(lambda r: r[0].update(episodes=-5)), [], "training.json", "episodes"),
    "unknown_preset_in_algo": (training(lambda r: r[1].update(algo="A2C")), [], "training.json", "algo"),
    "target_of_wrong_length": (training(lambda r: r[0]["targets"].update(values=[[1, 2, 3]])), [], "training.json",
                               "targets"),
    "target_value_out_of_0_255": (training(lambda r: r[0]["targets"].update(values=[[0, 10, 30, 256]])), [],
                                  "training.json", "targets"),
    "reg_init_value_out_of_0_255": (training(lambda r: r[0].update(reg_inits={"values": [[0, 0, 0, -1]],
                                                                              "alternate_freq": 0})),
                                    [], "training.json", "reg_inits"),
    "unknown_reward_function": (training(lambda r: r[0].update(reward_func="Specific_register_value")), [],
                                "training.json", "reward_func"),
    "unknown_reward_setting": (training(lambda r: r[0]["reward_settings"].update(circulr=True)), [],
                               "training.json", "circulr"),
    "duplicate_run_id": (training(lambda r: r[1].update(id=1)), [], "training.json", "id"),
    "unknown_key_in_a_run": (training(lambda r: r[0].update(epsiodes=100)), [], "training.json", "epsiodes"),
    "run_id_that_is_not_a_folder_name": (training(lambda r: r[0].update(id="../elsewhere")), [], "training.json",
                                         "id"),
}


# Each start of main.py pays about two seconds of imports: these go through main.py, all through the parser.
THROUGH_MAIN = ["malformed_json_in_config", "missing_training_file", "unknown_key_in_settings", "string_learning_rate",
                "gamma_above_1", "num_actions_disagrees_with_registers_and_values", "unknown_agent_class",
                "negative_episodes", "unknown_preset_in_algo", "target_value_out_of_0_255", "duplicate_run_id",
                "unknown_key_in_a_run"]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, subprocess.CompletedProcess]]:
    """The THROUGH_MAIN cases run by main.py, two at a time."""
    folders = {case: tmp_path_factory.mktemp(case) for case in THROUGH_MAIN}
    for case in THROUGH_MAIN:
        CASES[case][0](folders[case])
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda case: run_main(folders[case], "bad", *CASES[case][1]), THROUGH_MAIN))
    return {case: (folders[case], result) for case, result in zip(THROUGH_MAIN, results, strict=True)}


@pytest.mark.parametrize("case", THROUGH_MAIN)
def test_malformed_input_exits_2_with_one_line_naming_the_file_and_field_and_writes_nothing(refusals, case):
    folder, result = refusals[case]
    _, _, file, field = CASES[case]
    line = assert_one_line_error(result)
    assert file in line and field in line, line
    assert not (folder / "experiments").exists() and not (folder / "runs").exists()


@pytest.mark.parametrize("case", CASES)
def test_validation_names_the_file_and_field_in_one_line(tmp_path, case):
    write, args, file, field = CASES[case]
    write(tmp_path)
    paths = {"-c": "config.json", "-t": "training.json", **dict(zip(args[::2], args[1::2], strict=True))}
    with pytest.raises(ConfigError) as error:
        load_training(tmp_path / paths["-t"], load_config(tmp_path / paths["-c"]))
    message = str(error.value)
    assert file in message and field in message and "\n" not in message, message


def test_the_unchanged_inputs_are_valid(tmp_path):
    # Each case above changes one field of these inputs: the refusal is that field's.
    write_inputs(tmp_path, runs())
    config = load_config(tmp_path / "config.json")
    assert [run.id for run in load_training(tmp_path / "training.json", config)] == [1, 2]
