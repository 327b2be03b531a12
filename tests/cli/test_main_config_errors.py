"""Malformed configuration or training input: exit status 2, one line on stderr naming the file and the
field, no traceback, nothing written (docs/reference.md §7: every error is found before any run begins)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from experiment_files import ROOT, assert_one_line_error, run_main, tiny_config, tiny_run, write_inputs

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


def raw_bytes(file: str, data: bytes) -> Callable[[Path], None]:
    """A case that writes `file` as `data`."""
    def write(folder: Path) -> None:
        write_inputs(folder, runs())
        (folder / file).write_bytes(data)
    return write


def config_text(edit: Callable[[str], str]) -> Callable[[Path], None]:
    """A case that edits the text of a valid config.json."""
    def write(folder: Path) -> None:
        write_inputs(folder, runs())
        path = folder / "config.json"
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    return write


def lr_as(text: str) -> Callable[[str], str]:
    return lambda config: config.replace('"lr": 0.001', f'"lr": {text}', 1)


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
    # What reading a file refuses (training/files.py read_json): strict JSON, UTF-8, bounded.
    "config_not_utf8": (raw_bytes("config.json", '{"settings": {"DEVICE": "cpu"}}'.encode("utf-16")), [],
                        "config.json", "UTF-8"),
    "training_in_latin1": (raw_bytes("training.json", '[{"id": "é", "algo": "DQN"}]'.encode("latin-1")), [],
                           "training.json", "UTF-8"),
    "nan_learning_rate": (config_text(lr_as("NaN")), [], "config.json", "NaN"),
    "infinity_learning_rate": (config_text(lr_as("Infinity")), [], "config.json", "Infinity"),
    "learning_rate_too_large_for_a_float": (config_text(lr_as("1e400")), [], "config.json", "1e400"),
    "integer_of_5000_digits": (config_text(lr_as("9" * 5000)), [], "config.json", "too large"),
    "duplicate_key": (config_text(lambda c: c.replace('"lr": 0.001', '"lr": 0.001, "lr": 0.1', 1)), [],
                      "config.json", '"lr" appears twice'),
    "nested_100000_deep": (raw("training.json", "[" * 100_000 + "]" * 100_000), [], "training.json", "nest"),
    # Numbers that JSON holds but no field can use: found before anything is written.
    "episodes_2_to_the_63": (training(lambda r: r[0].update(episodes=2**63)), [], "training.json", "too large"),
    "episodes_beyond_a_billion": (training(lambda r: r[0].update(episodes=10**12)), [], "training.json", "episodes"),
    "seed_2_to_the_40": (training(lambda r: r[0].update(seed=2**40)), [], "training.json", "seed"),
    "alternate_freq_10_to_the_12": (training(lambda r: r[0]["targets"].update(alternate_freq=10**12)), [],
                                    "training.json", "alternate_freq"),
    "integer_run_id_of_19_digits": (training(lambda r: r[0].update(id=10**18 + 1)), [], "training.json", "id"),
    "run_id_of_300_characters": (training(lambda r: r[0].update(id="r" * 300)), [], "training.json", "id"),
    "a_trillion_random_targets": (training(lambda r: r[0].update(targets={"values": 10**12})), [], "training.json",
                                  "targets"),
    "learning_rate_above_1": (settings(lambda c: dqn(c).update(lr=1e300)), [], "config.json",
                              "presets.DQN.parameters.lr"),
    "reward_scale_1e300": (settings(lambda c: dqn(c).update(reward_scale=1e300)), [], "config.json",
                           "presets.DQN.parameters.reward_scale"),
    "epsilon_decay_steps_1e300": (settings(lambda c: dqn(c).update(epsilon_decay_steps=1e300)), [], "config.json",
                                  "presets.DQN.parameters.epsilon_decay_steps"),
    "replay_of_a_billion_rows": (settings(lambda c: dqn(c).update(replay_buffer_size=10**9)), [], "config.json",
                                 "replay_buffer_size"),
    "lstm_of_a_million_units": (settings(lambda c: dqn(c).update(h_size=10**6)), [], "config.json", "h_size"),
    "agent_that_is_a_list": (settings(lambda c: c["presets"]["AC"].update(agent=[])), [], "config.json",
                             "presets.AC.agent"),
    "instruction_cost_that_outweighs_a_unit_of_distance": (
        settings(lambda c: dqn(c).update(instruction_cost=0.2)), [], "config.json",
        "presets.DQN.parameters.instruction_cost"),
    "negative_instruction_cost": (settings(lambda c: dqn(c).update(instruction_cost=-0.1)), [], "config.json",
                                  "presets.DQN.parameters.instruction_cost"),
    "eval_targets_10_to_the_9": (settings(lambda c: c["settings"].update(EVAL_TARGETS=10**9)), [], "config.json",
                                 "EVAL_TARGETS"),
}


# Each start of main.py pays about two seconds of imports: these go through main.py, all through the parser.
THROUGH_MAIN = ["malformed_json_in_config", "missing_training_file", "unknown_key_in_settings", "string_learning_rate",
                "gamma_above_1", "num_actions_disagrees_with_registers_and_values", "unknown_agent_class",
                "negative_episodes", "unknown_preset_in_algo", "target_value_out_of_0_255", "duplicate_run_id",
                "unknown_key_in_a_run", "config_not_utf8", "nested_100000_deep", "integer_of_5000_digits",
                "a_trillion_random_targets", "instruction_cost_that_outweighs_a_unit_of_distance"]


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


def test_an_unknown_key_with_a_newline_in_it_is_still_one_line(tmp_path):
    # Found by tests/cli/test_fuzz_front_door.py: a key quoted in the error must not break its line.
    config = tiny_config()
    config["settings"]["A\r\nB\u2028"] = 1
    write_inputs(tmp_path, runs(), config)
    line = assert_one_line_error(run_main(tmp_path, "bad"))
    assert "config.json" in line and "A\\r\\nB\\u2028" in line and "unknown key" in line


def test_a_refusal_is_made_before_torch_is_loaded(tmp_path):
    # Bad input is refused at once: main.py loads torch (seconds) only once every input is known good.
    CASES["gamma_above_1"][0](tmp_path)
    probe = ("import sys, main\ntry:\n    code = main.main(['bad'])\nexcept SystemExit as stop:\n    code = stop.code\n"
             "sys.stderr.write('torch loaded' if 'torch' in sys.modules else 'torch never loaded')\nsys.exit(code)")
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and "config.json" in result.stderr, result.stderr
    assert result.stderr.endswith("torch never loaded"), result.stderr
