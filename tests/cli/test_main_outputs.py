"""`python main.py NAME` on a tiny DQN, AC and PG run: every output of docs/reference.md §8."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from experiment_files import (
    assert_evaluation_logs,
    assert_models,
    assert_tensorboard,
    evaluation_logs,
    run_main,
    without_elapsed_time,
)

from agents.parameters import PARAMETERS
from training.config import Settings, load_config

EACH_ALGORITHM = pytest.mark.parametrize("index", [0, 1, 2], ids=["DQN_Agent", "AC_Agent", "PG_Agent"])


def summary_of(experiment) -> dict[str, dict]:  # noqa: ANN001 (conftest.Experiment)
    entries = json.loads((experiment.folder / "summary.json").read_text(encoding="utf-8"))
    return {str(entry["id"]): entry for entry in entries}


def test_exit_status_0_and_the_summary_table_is_printed(trained):
    assert trained.result.returncode == 0
    rows = {line.split()[0]: line.split() for line in trained.result.stdout.splitlines() if line.strip()}
    assert rows["run"][:3] == ["run", "algorithm", "status"]
    for run in trained.runs:
        assert rows[str(run["id"])][1:3] == [run["algo"], "finished"]


def test_training_descriptions_json_holds_the_runs_as_given(trained):
    written = json.loads((trained.folder / "Training_descriptions.json").read_text(encoding="utf-8"))
    assert written == trained.runs


def test_config_json_is_the_effective_configuration_in_the_shape_of_config_json(trained):
    path = trained.folder / "config.json"
    effective = json.loads(path.read_text(encoding="utf-8"))
    assert set(effective) == {"settings", "presets"}
    given = trained.config
    assert effective["settings"] == {**Settings().model_dump(), **given["settings"]}
    assert set(effective["presets"]) == set(given["presets"])
    for name, preset in given["presets"].items():
        agent = preset["agent"]
        assert effective["presets"][name]["agent"] == agent
        defaults = PARAMETERS[agent]().model_dump()
        expected = {k: v for k, v in {**defaults, **preset["parameters"]}.items() if v is not None}
        assert effective["presets"][name]["parameters"] == expected
    assert effective["presets"]["AC"]["parameters"]["entropy_coef"] == PARAMETERS["AC_Agent"]().entropy_coef
    # It is itself a valid config.json, describing the same configuration.
    assert load_config(path).to_json() == effective


@EACH_ALGORITHM
def test_evaluation_logs_at_episode_0_and_every_log_freq_show_tasks_programs_and_means(trained, index):
    run = trained.runs[index]
    run_dir = trained.run_dir(run)
    final = summary_of(trained)[str(run["id"])]["episodes"]
    assert final >= run["episodes"]
    logs = assert_evaluation_logs(run_dir, run, trained.config, final)
    assert {0, 40, 80} <= set(logs)
    # Nothing else in the run folder: no temporary file left by an atomic write, no error report.
    assert {p.name for p in run_dir.iterdir()} == {f"{e:07d}_Evaluation" for e in logs} | {"models"}
    assert {p.name for p in (run_dir / "models").iterdir()} == {"best", "last"}


@EACH_ALGORITHM
def test_models_best_and_last_load_with_weights_only_and_rebuild_the_network(trained, index):
    run = trained.runs[index]
    entry = summary_of(trained)[str(run["id"])]
    logs = assert_evaluation_logs(trained.run_dir(run), run, trained.config, entry["episodes"])
    assert_models(trained.run_dir(run), run, trained.config, logs, entry["curve"])


@EACH_ALGORITHM
def test_tensorboard_scalars_under_runs_name_id_match_the_logs(trained, index):
    run = trained.runs[index]
    entry = summary_of(trained)[str(run["id"])]
    logs = assert_evaluation_logs(trained.run_dir(run), run, trained.config, entry["episodes"])
    assert_tensorboard(trained.tensorboard_dir(run), trained.config["presets"][run["algo"]]["agent"], logs)
    assert {p.name for p in (trained.cwd / "runs" / trained.name).iterdir()} == {str(r["id"]) for r in trained.runs}


def test_summary_json_and_curves_png_are_written(trained):
    entries = json.loads((trained.folder / "summary.json").read_text(encoding="utf-8"))
    assert [entry["id"] for entry in entries] == [run["id"] for run in trained.runs]
    for entry, run in zip(entries, trained.runs, strict=True):
        assert entry["status"] == "finished" and entry["algo"] == run["algo"]
        curve = dict(map(tuple, entry["curve"]))
        assert set(range(0, run["episodes"] + 1, trained.config["settings"]["ASSESS_FREQ"])) <= set(curve)
        assert entry["best_performance"] == max(curve.values())
    assert (trained.folder / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_same_seed_gives_the_same_evaluation_logs(trained, tmp_path: Path):
    for name in ("config.json", "training.json"):
        shutil.copy(trained.cwd / name, tmp_path / name)
    again = run_main(tmp_path, "again", "-j", "1")
    assert again.returncode == 0, again.stderr
    for run in trained.runs:
        first = evaluation_logs(trained.run_dir(run))
        second = evaluation_logs(tmp_path / "experiments" / "again" / str(run["id"]))
        assert sorted(first) == sorted(second), run["algo"]
        for episode in first:
            assert without_elapsed_time(second[episode]) == without_elapsed_time(first[episode]), \
                f"{run['algo']} run {run['id']}, episode {episode}"
