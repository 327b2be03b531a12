"""TensorBoard's HParams tab (docs/training.md, "Outputs"): every run logs its hyperparameters and its final
metrics (best performance, first solve, final performance), read back here with tensorboard's own
reader; a resumed run's entry ends as the unbroken run's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from experiment_files import read_hparams, tiny_config, tiny_run  # noqa: E402

from training.config import parse_config  # noqa: E402
from training.logs import HPARAM_METRICS, hparams_of  # noqa: E402
from training.run import train_run  # noqa: E402

TARGETS = [[0, 10, 30, 250]]
SUCCESS = 1  # tensorboard.plugins.hparams.api_pb2.Status.STATUS_SUCCESS


def train(folder: Path, algo: str, episodes: int = 120, **options):
    config = tiny_config()
    config["presets"][algo]["parameters"]["lr"] = 0.003
    run = tiny_run("h", algo, episodes=episodes, targets=TARGETS)
    return train_run(run, config, str(folder / "run"), str(folder / "tensorboard"), seed=7, **options)


@pytest.mark.parametrize("algo", ["DQN", "AC", "PG"])
def test_a_run_logs_its_hyperparameters_and_final_metrics_for_the_hparams_tab(tmp_path, algo):
    result = train(tmp_path, algo)
    metrics, hparams, values, status = read_hparams(tmp_path / "tensorboard")
    assert metrics == list(HPARAM_METRICS)
    assert hparams["algo"] == algo and hparams["seed"] == 7 and hparams["episodes"] == 120
    assert hparams["lr"] == pytest.approx(0.003) and hparams["agent"] == f"{algo}_Agent"
    assert hparams["targets"] == '{"values": [[0, 10, 30, 250]], "alternate_freq": 0}'
    assert hparams["reward_settings.circular"] is True
    assert values["hparams/best_performance"] == result.best_performance
    assert values["hparams/final_performance"] == result.final_performance
    if result.first_solve is None:
        assert "hparams/first_solve" not in values  # blank in the tab
    else:
        assert values["hparams/first_solve"] == result.first_solve
    assert status == SUCCESS


def test_a_stopped_run_has_no_final_metrics_until_resumed_to_its_end(tmp_path):
    stopped = train(tmp_path, "DQN", stop_after=40)
    assert stopped.status == "interrupted"
    _, hparams, values, status = read_hparams(tmp_path / "tensorboard")
    assert hparams["algo"] == "DQN" and values == {} and status is None
    resumed = train(tmp_path, "DQN", resume=True)
    _, again, values, status = read_hparams(tmp_path / "tensorboard")
    assert again == hparams and status == SUCCESS
    assert values["hparams/best_performance"] == resumed.best_performance
    assert values["hparams/final_performance"] == resumed.final_performance


def test_hparams_are_flat_and_of_the_kinds_the_tab_shows():
    config = parse_config(tiny_config()).to_json()
    flat = hparams_of({"run": tiny_run(1, "PG"), "config": config, "seed": 0})
    assert flat["targets"] == "null" and flat["reg_inits"] == "null"
    assert all(isinstance(value, bool | int | float | str) for value in flat.values())
    assert set(config["presets"]["PG"]["parameters"]) <= set(flat)
