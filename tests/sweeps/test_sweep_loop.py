"""The sweep loop against a stand-in for SigOpt (as the API driver behaves, without a network) and a
stand-in for training: parallel batches, observations, failures, replay of earlier trials, Ctrl-C."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sweep_files import EPISODES, TINY_SPACE, read_table, tiny_config, tiny_runs

from sweeps.sigopt_driver import Sweep, experiment_definition, run_sweep
from sweeps.spaces import METRIC, Trial, parse_space, read_trials
from training.config import parse_config
from training.result import RunResult

CURVE = [(0, -12.0), (20, -6.0), (40, 0.0)]  # objective: the mean, -6


class FakeSigOpt:
    """Hands out suggestions with the given assignments, records the experiment and the observations."""

    def __init__(self, assignments: list[dict]) -> None:
        self.queue, self.definitions, self.observations, self.suggested = list(assignments), [], [], 0

    def experiments(self, experiment_id: str | None = None) -> Any:
        return SimpleNamespace(create=self._create, suggestions=lambda: SimpleNamespace(create=self._suggest),
                               observations=lambda: SimpleNamespace(create=self._observe))

    def _create(self, **definition: Any) -> Any:
        self.definitions.append(definition)
        return SimpleNamespace(id="7")

    def _suggest(self) -> Any:
        self.suggested += 1
        return SimpleNamespace(id=str(self.suggested), assignments=self.queue.pop(0))

    def _observe(self, **observation: Any) -> None:
        self.observations.append(observation)


class InterruptedSigOpt(FakeSigOpt):
    """Ctrl-C arrives while the second suggestion is being asked for."""

    def _suggest(self) -> Any:
        if self.suggested:
            raise KeyboardInterrupt
        return super()._suggest()


class FakeTraining:
    """Returns the summaries given, in turn; records each batch of tasks."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses, self.batches = list(statuses), []

    def __call__(self, tasks: list[dict]) -> list[RunResult]:
        self.batches.append(tasks)
        results = []
        for task in tasks:
            status = self.statuses.pop(0)
            results.append(RunResult(task["run_data"]["id"], task["run_data"]["algo"], status=status,
                                     best_performance=0.0 if status == "finished" else None,
                                     first_solve=40 if status == "finished" else None, seconds=1.5,
                                     curve=CURVE if status == "finished" else [],
                                     error="MemoryError: out of memory" if status == "failed" else None))
        return results


def setup(folder: Path) -> Sweep:
    folder.mkdir()
    space = parse_space(TINY_SPACE["DQN_Agent"], "DQN_Agent", EPISODES, "space.json: DQN_Agent")
    return Sweep(parse_config(tiny_config()), "DQN", {**tiny_runs()[1], "episodes": EPISODES}, space, folder,
                 folder.parent / "runs", seed=3)


def point(lr: float, layers: int = 1, starts: int = 5) -> dict:
    return {"lr": lr, "lstm_layers": layers, "learning_starts": starts}


def test_parallel_trials_go_in_batches_and_each_suggestion_gets_its_observation(tmp_path):
    sweep = setup(tmp_path / "exp")
    sigopt = FakeSigOpt([point(1e-3), point(2e-3), point(3e-3, layers=0), point(4e-3), point(5e-3)])
    training = FakeTraining(["finished", "failed", "finished", "finished"])
    definition = experiment_definition("ToyCorewar exp", sweep.space, 5, parallel=2)
    result = run_sweep(sigopt, sweep, definition, 5, training, parallel=2)

    assert sigopt.definitions[0]["parallel_bandwidth"] == 2 and sigopt.definitions[0]["observation_budget"] == 5
    assert [len(batch) for batch in training.batches] == [2, 1, 1]  # suggestion 3 is invalid: never trained
    assert [task["run_dir"] for batch in training.batches for task in batch] == \
        [str(tmp_path / "exp" / n) for n in ("001", "002", "004", "005")]
    assert all(task["seed"] == 3 and task["config_data"]["presets"]["DQN"]["parameters"]["lr"] == lr
               for task, lr in zip([t for b in training.batches for t in b], [1e-3, 2e-3, 4e-3, 5e-3], strict=True))
    assert sigopt.observations == [
        {"suggestion": "1", "values": [{"name": METRIC, "value": -6.0}]},
        {"suggestion": "2", "failed": True},
        {"suggestion": "3", "failed": True},
        {"suggestion": "4", "values": [{"name": METRIC, "value": -6.0}]},
        {"suggestion": "5", "values": [{"name": METRIC, "value": -6.0}]}]
    assert [(t.folder, t.status) for t in result.trials] == [("001", "finished"), ("002", "failed"),
                                                             ("003", "failed"), ("004", "finished"),
                                                             ("005", "finished")]
    assert "MemoryError" in (tmp_path / "exp" / "002" / "error.txt").read_text(encoding="utf-8")
    assert "lstm_layers" in (tmp_path / "exp" / "003" / "error.txt").read_text(encoding="utf-8")
    _, rows = read_table(tmp_path / "exp" / "trials.csv")
    assert [row["status"] for row in rows] == ["finished", "failed", "failed", "finished", "finished"]
    assert not result.interrupted and result.experiment_id == "7"


def test_earlier_trials_are_replayed_as_observations_and_count_in_the_budget(tmp_path):
    sweep = setup(tmp_path / "exp")
    earlier = [Trial(1, "1", "finished", point(1e-3), objective=-6.0, best_performance=0.0, first_solve=40),
               Trial(2, "2", "failed", point(2e-3, layers=0)),
               Trial(3, "3", "interrupted", point(3e-3))]
    sigopt = FakeSigOpt([point(4e-3)])
    training = FakeTraining(["finished"])
    result = run_sweep(sigopt, sweep, experiment_definition("x", sweep.space, 3), 3, training, earlier)

    assert sigopt.observations[:2] == [{"assignments": point(1e-3), "values": [{"name": METRIC, "value": -6.0}]},
                                       {"assignments": point(2e-3, layers=0), "failed": True}]
    assert sigopt.suggested == 1  # 2 observations replayed + 1 new = budget 3; the interrupted one is not counted
    assert [t.folder for t in result.trials] == ["001", "002", "003", "004"]
    assert training.batches[0][0]["run_dir"] == str(tmp_path / "exp" / "004")
    assert [t.status for t in read_trials(tmp_path / "exp" / "trials.csv", sweep.space)] == \
        ["finished", "failed", "interrupted", "finished"]


def test_an_interrupted_trial_stops_the_sweep_and_is_not_observed(tmp_path):
    sweep = setup(tmp_path / "exp")
    sigopt = FakeSigOpt([point(1e-3), point(2e-3), point(3e-3), point(4e-3)])
    training = FakeTraining(["finished", "interrupted"])
    result = run_sweep(sigopt, sweep, experiment_definition("x", sweep.space, 4, 2), 4, training, parallel=2)
    assert result.interrupted
    assert [t.status for t in result.trials] == ["finished", "interrupted"]
    assert [o["suggestion"] for o in sigopt.observations] == ["1"]
    assert [row["status"] for row in read_table(tmp_path / "exp" / "trials.csv")[1]] == ["finished", "interrupted"]


def test_ctrl_c_outside_a_trial_keeps_trials_csv(tmp_path):
    sweep = setup(tmp_path / "exp")
    sigopt = InterruptedSigOpt([point(1e-3)])
    result = run_sweep(sigopt, sweep, experiment_definition("x", sweep.space, 3), 3, FakeTraining(["finished"]))
    assert result.interrupted and [t.status for t in result.trials] == ["finished"]
    assert [row["trial"] for row in read_table(tmp_path / "exp" / "trials.csv")[1]] == ["001"]


@pytest.mark.parametrize("kind", [None, "random"])
def test_the_experiment_maximises_the_objective_over_the_space(kind):
    space = parse_space(TINY_SPACE["DQN_Agent"], "DQN_Agent", EPISODES, "x")
    definition = experiment_definition("ToyCorewar " + "n" * 200, space, 300, kind=kind)
    assert len(definition["name"]) == 100 and definition["metrics"] == [{"name": METRIC, "objective": "maximize"}]
    assert definition["parameters"] == [
        {"name": "lr", "type": "double", "bounds": {"min": 1e-4, "max": 1e-2}, "transformation": "log"},
        {"name": "lstm_layers", "type": "int", "bounds": {"min": 0, "max": 1}},
        {"name": "learning_starts", "type": "int", "bounds": {"min": 0, "max": EPISODES // 2}}]
    assert definition.get("type") == kind and definition["observation_budget"] == 300
