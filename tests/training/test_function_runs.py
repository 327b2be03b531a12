"""Function tasks through the run harness (docs/reference.md §10): the `targets` forms of a training file,
their validation, training every agent on them, evaluation that judges a program on every input, and
exact resume."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from experiment_files import evaluation_logs, run_main, tiny_config, without_elapsed_time, write_inputs  # noqa: E402

from environment.function_tasks import RandomFunctions, function_key  # noqa: E402
from training.config import parse_config, parse_training  # noqa: E402
from training.context import RunContext  # noqa: E402
from training.files import ConfigError  # noqa: E402
from training.run import train_run  # noqa: E402

SUM = {"function": "r3 = r1 + r2"}


def function_run(run_id: str, algo: str, targets: dict, episodes: int = 80) -> dict:
    return {"id": run_id, "algo": algo, "episodes": episodes, "reward_func": "Specific_register_values",
            "reward_settings": {"circular": True, "positive": True, "cumulative": True}, "targets": targets}


def config_with(**settings) -> dict:
    config = tiny_config()
    config["settings"].update(settings)
    config["presets"]["DQN"]["parameters"].update(known_rewards=True, self_imitation=True, greedy_copies=1)
    config["presets"]["AC"]["parameters"].update(afterstate=True, self_imitation=True)
    config["presets"]["PG"]["parameters"].update(afterstate=True)
    return config


def parsed(targets: dict | None, **extra) -> None:
    config = parse_config(config_with())
    parse_training([{**function_run("f", "DQN", targets), **extra}], config)


@pytest.mark.parametrize("targets", [
    SUM, {"functions": ["r1 = r2; r2 = r1", "r4 = r1 - r2"], "alternate_freq": 10},
    {"examples": [[[1, 2, 3, 4], [3, None, None, None]], [[5, 6, 0, 0], [11, None, None, None]]]},
    {"functions": {"solvable": 3}}, {"functions": {"solvable": 2, "held_out": "tiers"}},
])
def test_every_function_form_of_the_training_file_is_accepted(targets):
    parsed(targets)


@pytest.mark.parametrize(("targets", "extra", "words"), [
    ({"function": "r3 = r1 * r2"}, {}, "targets.function: column 6: not affine"),
    ({"function": "r3 = r1 +"}, {}, "targets.function: column 10: expected a register"),
    (SUM, {"reg_inits": {"values": [[1, 2, 3, 4]]}}, "reg_inits does not apply to a function task"),
    ({"examples": [[[1, 2, 3, 4], [5, None, None, None]], [[1, 2, 3, 4], [6, None, None, None]]]}, {},
     "contradictory examples 0 and 1"),
    ({"functions": {"solvable": 9}}, {}, "targets.functions.solvable"),
])
def test_a_bad_function_task_is_one_error_naming_the_field(targets, extra, words):
    with pytest.raises(ConfigError) as error:
        parsed(targets, **extra)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_examples_setting_is_bounded():
    with pytest.raises(ConfigError, match="EXAMPLES"):
        parse_config(config_with(EXAMPLES=0))


def test_main_refuses_a_bad_function_task_in_one_line_and_writes_nothing(tmp_path):
    write_inputs(tmp_path, [function_run("f", "DQN", {"function": "r1 = r1 * r2"})], config_with())
    result = run_main(tmp_path, "bad")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "no program of this machine computes it" in result.stderr
    assert not (tmp_path / "experiments" / "bad").exists()


def train(folder: Path, algo: str, targets: dict, episodes: int = 80, **options) -> object:
    return train_run(function_run("f", algo, targets, episodes), config_with(), str(folder / "run"),
                     str(folder / "tensorboard"), seed=1, **options)


@pytest.mark.parametrize("algo", ["DQN", "AC", "PG"])
def test_every_agent_trains_on_a_function_task_and_is_judged_on_every_input(tmp_path, algo):
    result = train(tmp_path, algo, SUM)
    assert result.status == "finished", result.traceback
    assert result.episodes == 80
    log = evaluation_logs(tmp_path / "run")[80]
    assert "Task 1: r3 = r1 + r2" in log and "examples shown" in log
    # The evaluation's verdict is the exact one: "solved" means correct on every input.
    assert ("(correct on every input)" in log) == ("Solved: 1/1" in log)


def test_a_one_instruction_function_is_solved_and_its_program_correct(tmp_path):
    result = train(tmp_path, "DQN", SUM, episodes=40)
    assert result.status == "finished" and result.first_solve is not None
    log = evaluation_logs(tmp_path / "run")[40]
    assert "add r1, r2, r3" in log or "add r2, r1, r3" in log
    assert "(correct on every input)" in log


def test_random_functions_are_evaluated_on_held_out_ones_training_never_draws(tmp_path):
    config = parse_config(config_with(EVAL_TARGETS=20))
    run = parse_training([function_run("g", "DQN", {"functions": {"solvable": 2}})], config)[0]
    ctx = RunContext(run, config, tmp_path, tmp_path, seed=0)
    assert isinstance(ctx.tasks, RandomFunctions) and ctx.examples == 4
    held_out = {function_key_of(ctx.eval_functions, i) for i in range(len(ctx.eval_functions.offset))}
    assert len(held_out) == 20
    drawn = ctx.tasks(4000, np.random.default_rng(5))
    assert not held_out & {function_key_of(drawn, i) for i in range(4000)}


def function_key_of(batch, i: int) -> bytes:
    from toycorewar import Function
    return function_key(Function(batch.matrix[i], batch.offset[i], batch.assigned[i], batch.reads[i]))


@pytest.mark.parametrize("algo", ["DQN", "AC"])
def test_a_function_run_stopped_and_resumed_ends_as_the_unbroken_run(tmp_path, algo):
    targets = {"functions": ["r3 = r1 + r2", "r1 = r1 - r2"], "alternate_freq": 8}
    whole = train(tmp_path / "whole", algo, targets, episodes=83)
    stopped = train(tmp_path / "broken", algo, targets, episodes=83, stop_after=30)
    assert whole.status == "finished" and stopped.status == "interrupted"
    resumed = train(tmp_path / "broken", algo, targets, episodes=83, resume=True)
    assert resumed.status == "finished" and resumed.episodes == 83
    for name in ("whole", "broken"):
        assert (tmp_path / name / "run" / "models" / "last").is_file()
    logs = [{e: without_elapsed_time(t) for e, t in evaluation_logs(tmp_path / n / "run").items()}
            for n in ("whole", "broken")]
    assert logs[0] == logs[1]
    weights = [torch.load(tmp_path / n / "run" / "models" / "last", weights_only=True)["network"]
               for n in ("whole", "broken")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_the_experiment_records_the_function_task(tmp_path):
    write_inputs(tmp_path, [function_run("f", "PG", SUM, episodes=40)], config_with())
    result = run_main(tmp_path, "fn")
    assert result.returncode == 0, result.stderr
    saved = json.loads((tmp_path / "experiments" / "fn" / "Training_descriptions.json").read_text())
    assert saved[0]["targets"] == SUM
    effective = json.loads((tmp_path / "experiments" / "fn" / "config.json").read_text())
    assert effective["settings"]["EXAMPLES"] == 4


def test_expert_iteration_searches_function_tasks_and_learns_from_correct_programs(tmp_path):
    config = config_with()
    config["presets"]["DQN"]["parameters"].update(self_imitation=False, search_every=20, search_tasks=4,
                                                  search_expansions=20)
    result = train_run(function_run("f", "DQN", {"functions": {"solvable": 2}}, episodes=60), config,
                       str(tmp_path / "run"), str(tmp_path / "tensorboard"), seed=2)
    assert result.status == "finished", result.traceback
    checkpoint = torch.load(tmp_path / "run" / "models" / "last", weights_only=True)
    expert = checkpoint["training"]["expert_iteration"]
    assert expert["rounds"] == 2 and expert["solved"] > 0
    stored = expert["buffer"]["arrays"]
    assert stored["registers"].shape[1:] == (4, 4) and stored["matters"].shape[1:] == (4, 4)


def test_evaluation_by_guided_search_writes_correct_programs_of_function_tasks(tmp_path):
    # search_budget: each evaluation task's program is the one guided search finds, checked on every input.
    run = {**function_run("f", "DQN", {"functions": ["r1 = r1 + r2; r2 = r1 - r2"]}, episodes=8),
           "search_budget": 200}
    result = train_run(run, config_with(), str(tmp_path / "run"), str(tmp_path / "tensorboard"), seed=1)
    assert result.status == "finished", result.traceback
    log = evaluation_logs(tmp_path / "run")[8]
    assert "(correct on every input)" in log and "Solved: 1/1" in log
