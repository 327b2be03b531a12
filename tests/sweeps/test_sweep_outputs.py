"""A real SigOpt-Lite sweep of 3 trials through `python parameter_search.py`: trials.csv, best_preset.json,
each trial's evaluation logs and TensorBoard curves, the saved inputs, failed trials, and the token."""

from __future__ import annotations

import json

import pytest
import torch
from experiment_files import assert_evaluation_logs, assert_tensorboard, evaluation_logs, read_hparams, tiny_config
from sweep_files import EPISODES, TINY_SPACE, TOKEN, read_table, tiny_runs
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sweeps.spaces import TRIAL_COLUMNS
from training.config import parse_config

PARAMETERS = ["lr", "lstm_layers", "learning_starts"]


def rows_of(swept) -> dict[str, dict[str, str]]:
    _, rows = read_table(swept.folder / "trials.csv")
    return {row["trial"]: row for row in rows}


def trial_run() -> dict:
    return {**tiny_runs()[1], "episodes": EPISODES}


def test_trials_csv_has_one_row_per_trial_with_its_outcome_and_assignments(swept):
    header, rows = read_table(swept.folder / "trials.csv")
    assert header == TRIAL_COLUMNS + PARAMETERS
    assert [row["trial"] for row in rows] == ["001", "002", "003"]
    assert [row["suggestion"] for row in rows] == ["1", "2", "3"]
    for row in rows:
        assert 1e-4 <= float(row["lr"]) <= 1e-2
        assert 0 <= int(row["learning_starts"]) <= EPISODES // 2  # "episodes/2" of the shortened run
        assert row["status"] == ("finished" if row["lstm_layers"] == "1" else "failed")
        if row["status"] == "finished":
            assert float(row["objective"]) <= 0 and float(row["objective"]) <= float(row["best_performance"]) <= 0
            assert float(row["seconds"]) > 0
        else:
            assert row["objective"] == row["best_performance"] == row["first_solve"] == ""


def test_a_suggestion_the_agent_rejects_is_a_failed_trial_and_the_sweep_goes_on(swept):
    rows = rows_of(swept)
    failed = [number for number, row in rows.items() if row["status"] == "failed"]
    assert failed, f"--seed is chosen so that one suggestion has lstm_layers 0: {rows}"
    assert any(number > failed[0] for number, row in rows.items() if row["status"] == "finished"), \
        "a trial after the failed one must have been trained"
    for number in failed:
        assert "lstm_layers" in (swept.folder / number / "error.txt").read_text(encoding="utf-8")
        assert not (swept.tensorboard / number).exists()
    lines = [line for line in swept.result.stdout.splitlines() if line.startswith("trial ")]
    assert [line.split()[1:3] for line in lines] == [[n, rows[n]["status"]] for n in sorted(rows)]


def test_the_objective_is_the_mean_of_the_runs_evaluation_curve(swept):
    for number, row in rows_of(swept).items():
        if row["status"] != "finished":
            continue
        last = torch.load(swept.folder / number / "models" / "last", weights_only=True)
        curve = last["monitor"]["curve"]
        episodes = [episode for episode, _ in curve]
        assert episodes[0] == 0 and episodes[-1] >= EPISODES and len(curve) >= EPISODES // 20
        assert float(row["objective"]) == pytest.approx(sum(p for _, p in curve) / len(curve))
        assert float(row["best_performance"]) == max(p for _, p in curve)


def test_every_trial_writes_evaluation_logs_and_tensorboard_curves_like_a_run(swept):
    config = tiny_config()
    for number, row in rows_of(swept).items():
        if row["status"] != "finished":
            continue
        run_dir = swept.folder / number
        logs = assert_evaluation_logs(run_dir, trial_run(), config, max(evaluation_logs(run_dir)))
        assert_tensorboard(swept.tensorboard / number, "DQN_Agent", logs)
        # The trial's own parameters are recorded with its curves.
        accumulator = EventAccumulator(str(swept.tensorboard / number))
        accumulator.Reload()
        text = accumulator.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
        recorded = json.loads(text.strip("`\n"))["config"]["presets"]["DQN"]["parameters"]
        assert recorded["lr"] == float(row["lr"]) and recorded["learning_starts"] == int(row["learning_starts"])


def test_every_trial_has_its_hparams_entry_with_its_assignments_and_outcome(swept):
    for number, row in rows_of(swept).items():
        if row["status"] != "finished":
            continue
        metrics, hparams, values, status = read_hparams(swept.tensorboard / number)
        assert metrics == ["hparams/best_performance", "hparams/first_solve", "hparams/final_performance"]
        assert hparams["lr"] == pytest.approx(float(row["lr"]))
        assert hparams["learning_starts"] == int(row["learning_starts"]) and hparams["lstm_layers"] == 1
        assert values["hparams/best_performance"] == float(row["best_performance"])
        assert status == 1  # success


def test_the_sweep_saves_its_configuration_run_and_search_space(swept):
    config = json.loads((swept.folder / "config.json").read_text(encoding="utf-8"))
    assert config == parse_config(tiny_config()).to_json()
    runs = json.loads((swept.folder / "Training_descriptions.json").read_text(encoding="utf-8"))
    assert runs == [trial_run()]
    space = json.loads((swept.folder / "search_space.json").read_text(encoding="utf-8"))
    expected = {**TINY_SPACE["DQN_Agent"], "learning_starts": {"type": "int", "min": 0, "max": EPISODES // 2}}
    assert space == {"DQN_Agent": expected}


def test_best_preset_json_is_the_preset_with_the_best_trials_assignments(swept):
    rows = rows_of(swept)
    finished = [row for row in rows.values() if row["status"] == "finished"]
    best = max(finished, key=lambda row: (float(row["objective"]), -int(row["trial"])))
    preset = json.loads((swept.folder / "best_preset.json").read_text(encoding="utf-8"))
    config = tiny_config()
    expected = {**parse_config(config).to_json()["presets"]["DQN"]["parameters"], "lr": float(best["lr"]),
                "lstm_layers": int(best["lstm_layers"]), "learning_starts": int(best["learning_starts"])}
    assert preset == {"DQN": {"agent": "DQN_Agent", "parameters": expected}}
    pasted = parse_config({**config, "presets": {**config["presets"], **preset}})
    assert pasted.presets["DQN"].parameters.lr == float(best["lr"])
    assert f"best: trial {best['trial']}," in swept.result.stdout


def test_the_api_token_in_the_environment_appears_in_no_output_and_no_file(swept):
    assert TOKEN not in swept.result.stdout and TOKEN not in swept.result.stderr
    files = [path for path in swept.cwd.rglob("*") if path.is_file()]
    assert any(path.name == "trials.csv" for path in files) and any("tfevents" in path.name for path in files)
    assert [str(path) for path in files if TOKEN.encode() in path.read_bytes()] == []
