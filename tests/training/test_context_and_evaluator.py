"""training/context.py and the Evaluator of training/evaluation.py alone: what a RunContext decides
once (device, training and held-out tasks, the agent's setup), and evaluation greedy or by search."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.dqn import DQN_Agent
from environment import heldout_targets
from toycorewar import MachineConfig, final_registers
from toycorewar.assembly import parse_instruction
from training.config import parse_config, parse_training
from training.context import RunContext
from training.evaluation import Evaluator, evaluate

CLI_TESTS = str(Path(__file__).resolve().parents[1] / "cli")  # the tiny input files of the end-to-end tests
if CLI_TESTS not in sys.path:
    sys.path.insert(0, CLI_TESTS)
if "experiment_files" not in sys.modules:
    pytest.register_assert_rewrite("experiment_files")
from experiment_files import tiny_config, tiny_run  # noqa: E402

FIXED_TARGETS = [[0, 10, 30, 250], [4, 14, 18, 238]]
FIXED_INITS = [[1, 2, 3, 4], [0, 0, 0, 0], [9, 9, 9, 9]]


def context(tmp_path, seed=0, settings=None, **run):
    config_data = tiny_config()
    config_data["settings"].update(settings or {})
    config = parse_config(config_data)
    run_data = tiny_run(run.pop("id", "r"), run.pop("algo", "DQN"), **run)
    [parsed] = parse_training([run_data], config)
    return RunContext(parsed, config, tmp_path / "run", tmp_path / "tensorboard", seed=seed)


def test_the_device_is_decided_once_as_a_torch_device(tmp_path):
    ctx = context(tmp_path, settings={"DEVICE": "cpu"})
    assert isinstance(ctx.device, torch.device)
    assert ctx.device == torch.device("cpu")
    assert ctx.agent_setup().device is ctx.device


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_device_cuda_without_a_cuda_device_is_a_clear_runtime_error(tmp_path):
    with pytest.raises(RuntimeError, match=r"DEVICE is 'cuda' but no CUDA device is available \(use 'cpu' or 'auto'\)"):
        context(tmp_path, settings={"DEVICE": "cuda"})


def test_device_auto_is_cuda_when_there_is_a_cuda_device_and_the_cpu_otherwise(tmp_path):
    expected = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert context(tmp_path, settings={"DEVICE": "auto"}).device == expected


def test_null_targets_are_evaluated_on_eval_targets_held_out_targets_from_eval_seed(tmp_path):
    ctx = context(tmp_path, settings={"EVAL_TARGETS": 5, "EVAL_SEED": 100})
    assert ctx.eval_targets.shape == (5, 4)
    np.testing.assert_array_equal(ctx.eval_targets, np.random.default_rng(100).integers(0, 256, size=(5, 4)))
    np.testing.assert_array_equal(ctx.eval_targets, heldout_targets(5, 4, 100))
    np.testing.assert_array_equal(ctx.eval_reg_inits, np.zeros((5, 4), dtype=np.int64))  # null reg_inits: zeros


def test_the_held_out_targets_never_change_with_the_runs_seed(tmp_path):
    first = context(tmp_path, seed=0)
    for seed in (1, 7, 12345):
        other = context(tmp_path, seed=seed)
        np.testing.assert_array_equal(other.eval_targets, first.eval_targets)
        np.testing.assert_array_equal(other.eval_reg_inits, first.eval_reg_inits)


def test_the_held_out_targets_follow_eval_seed_and_eval_targets(tmp_path):
    base = context(tmp_path, settings={"EVAL_SEED": 100}).eval_targets
    other_seed = context(tmp_path, settings={"EVAL_SEED": 101}).eval_targets
    assert not np.array_equal(base, other_seed)
    np.testing.assert_array_equal(other_seed, heldout_targets(5, 4, 101))
    fewer = context(tmp_path, settings={"EVAL_SEED": 100, "EVAL_TARGETS": 3}).eval_targets
    np.testing.assert_array_equal(fewer, base[:3])


def test_fixed_targets_are_evaluated_with_every_reg_init(tmp_path):
    ctx = context(tmp_path, targets=FIXED_TARGETS, reg_inits=FIXED_INITS)
    pairs = list(zip(ctx.eval_targets.tolist(), ctx.eval_reg_inits.tolist(), strict=True))
    assert pairs == [(t, i) for t in FIXED_TARGETS for i in FIXED_INITS]
    assert len(pairs) == 6


def test_fixed_targets_with_null_reg_inits_are_evaluated_from_zeros(tmp_path):
    ctx = context(tmp_path, targets=FIXED_TARGETS)
    assert ctx.eval_targets.tolist() == FIXED_TARGETS
    assert ctx.eval_reg_inits.tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]


def test_agent_setup_carries_params_machine_reward_episodes_seed_and_device(tmp_path):
    ctx = context(tmp_path, seed=11, episodes=120)
    setup = ctx.agent_setup()
    assert setup.params is ctx.config.presets["DQN"].parameters
    assert (setup.params.h_size, setup.params.batch_size) == (8, 16)
    assert setup.machine == MachineConfig(4, 20, 5)
    assert setup.tasks is ctx.tasks
    assert setup.reward is ctx.reward
    assert setup.reward.name == "Specific_register_values"
    assert setup.episodes == 120
    assert setup.seed == 11
    assert setup.device == torch.device("cpu")
    assert ctx.agent_name == "DQN_Agent"


# -- the Evaluator ------------------------------------------------------------------------------------------
# Targets one to three instructions away from their initial registers: search finds them in a few expansions.
EASY_TARGETS = [[3, 0, 0, 0], [5, 5, 10, 0]]


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    ctx = context(tmp_path_factory.mktemp("evaluator"), targets=EASY_TARGETS, reg_inits=[[0, 0, 0, 0], [1, 0, 0, 0]])
    return ctx, DQN_Agent(ctx.agent_setup())


def evaluator(ctx, agent, budget):
    return Evaluator(agent, ctx.machine, ctx.reward, ctx.eval_targets, ctx.eval_reg_inits, search_budget=budget,
                     reward_scale=ctx.params.reward_scale, device=ctx.device)


def test_the_evaluator_without_a_search_budget_is_the_greedy_evaluation(evaluated):
    ctx, agent = evaluated
    expected = evaluate(agent.greedy_actions, ctx.machine, ctx.reward, ctx.eval_targets, ctx.eval_reg_inits, 40)
    got = evaluator(ctx, agent, 0)(40)
    assert got == expected
    assert got.episode == 40
    assert [(t.target, t.reg_init) for t in got.tasks] == [(t, i) for t in EASY_TARGETS
                                                           for i in ([0, 0, 0, 0], [1, 0, 0, 0])]


def test_the_evaluator_with_a_search_budget_writes_programs_that_reach_their_targets(evaluated):
    ctx, agent = evaluated
    got = evaluator(ctx, agent, 50)(60)
    assert got.episode == 60
    assert [t.solved for t in got.tasks] == [True] * 4  # every target is at most three instructions away
    for task in got.tasks:
        program = [parse_instruction(text, ctx.machine) for text in task.instructions]
        assert final_registers(program, task.reg_init, 4) == task.target, task
        assert task.registers[-1] == task.target


def test_an_evaluation_asks_the_policy_only_for_the_running_programs_and_plans_follow_their_task():
    """roll_out hands the policy the copies whose program is still being written, with their task
    indices under "task"; a planned policy writes each task's own plan, whichever copies remain."""
    from environment import Specific_register_values
    from toycorewar import ActionTable
    from training.evaluation import planned_policy
    machine, table = MachineConfig(), ActionTable(MachineConfig())
    plans = [[parse_instruction("ld %3, r1", machine)],
             [parse_instruction(text, machine) for text in ("ld %4, r2", "ld %5, r3", "ld %6, r4")],
             None]  # the third task has no plan: the greedy policy writes it (here: stop at once)
    seen = []

    def greedy(obs: dict) -> np.ndarray:
        seen.append(obs["task"].tolist())
        return np.full(len(obs["program"]), table.stop_action)

    targets = np.array([[3, 0, 0, 0], [0, 4, 5, 6], [0, 0, 0, 0]])
    evaluation = evaluate(planned_policy(greedy, plans, table), machine, Specific_register_values(), targets,
                          np.zeros_like(targets))
    assert seen == [[0, 1, 2], [0, 1], [1], [1]]  # task 2 stops first, task 0 next, task 1 after three loads
    assert [t.instructions for t in evaluation.tasks] == [
        ["ld %3, r1", "stop"], ["ld %4, r2", "ld %5, r3", "ld %6, r4", "stop"], ["stop"]]
    assert [t.solved for t in evaluation.tasks] == [True, True, True]
