"""training/monitor.py alone: the coordinator driven by a small stand-in agent (no main.py), with a
RunContext of a tiny config (evaluation every 10 episodes, logs and saves every 20)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from toycorewar import ActionTable, Instruction
from training.config import parse_config, parse_training
from training.context import RunContext
from training.monitor import Monitor
from training.result import RunResult

CLI_TESTS = str(Path(__file__).resolve().parents[1] / "cli")  # the tiny input files of the end-to-end tests
if CLI_TESTS not in sys.path:
    sys.path.insert(0, CLI_TESTS)
if "experiment_files" not in sys.modules:
    pytest.register_assert_rewrite("experiment_files")
from experiment_files import tiny_config, tiny_run  # noqa: E402

TARGET = [3, 0, 0, 0]  # from zeros: `ld %3, r1` solves it, `stop` leaves it 3 away (performance -3)
SOLVING_PROGRAM = ["ld %3, r1"] * 5  # the action repeated until the program is MAX_LENGTH long


class StandInAgent:
    """Trains by counting: each round `step` more episodes end (never past the run's), drawn from the
    run's tasks as a real agent draws them. Its greedy policy writes `stop` at once, or, from
    `solve_from` episodes on, `ld %3, r1` at every step."""

    agent_name = "Stand_in"

    def __init__(self, setup, step=5, solve_from=None):
        self.setup, self.step, self.solve_from = setup, step, solve_from
        self.table = ActionTable(setup.machine)
        self.solving_action = self.table.encode_instruction(Instruction("ld", (3, 1)))
        self.network = torch.nn.Linear(2, 1)
        self.rng = np.random.default_rng(0)
        self.trained = 0  # episodes trained: the whole training state
        self.reported = []  # the counts given to progress.update

    def train(self, progress, until=None):
        stop_at = self.setup.episodes if until is None else until
        while not progress.done and progress.episode < stop_at:
            self.trained = min(progress.episode + self.step, self.setup.episodes)
            self.setup.tasks(self.trained - progress.episode, self.rng)
            self.reported.append(self.trained)
            progress.update(self.trained, loss=1.0 / self.trained, exploration_rate=0.5)

    def greedy_actions(self, obs):
        solving = self.solve_from is not None and self.trained >= self.solve_from
        action = self.solving_action if solving else self.table.stop_action
        return np.full(len(obs["registers"]), action, dtype=np.int64)

    def model_payload(self):
        return {"network_spec": {"kind": "stand_in"}, "trained": self.trained,
                "network": {k: v.detach().clone() for k, v in self.network.state_dict().items()}}

    def training_state(self):
        return {"trained": self.trained}

    def load_training_state(self, state):
        self.trained = int(state["trained"])


def make_context(tmp_path, episodes=80, resume=False):
    config_data = tiny_config()
    config_data["settings"].update({"ASSESS_FREQ": 10, "LOG_FREQ": 20, "SAVE_FREQ": 20, "PERF_MRY": 3})
    config = parse_config(config_data)
    [run] = parse_training([tiny_run("r", "DQN", episodes=episodes, targets=[TARGET])], config)
    return RunContext(run, config, tmp_path / "experiment" / "r", tmp_path / "runs" / "r", resume=resume)


def train(tmp_path, episodes=80, step=5, solve_from=None, stop_when_solved=False):
    ctx = make_context(tmp_path, episodes)
    agent = StandInAgent(ctx.agent_setup(), step, solve_from)
    monitor = Monitor(ctx, agent, stop_when_solved=stop_when_solved)
    monitor.start()
    agent.train(monitor)
    monitor.finish()
    return monitor, agent


def log_episodes(run_dir):
    return sorted(int(path.name[:7]) for path in run_dir.glob("*_Evaluation"))


def load(run_dir, which):
    return torch.load(run_dir / "models" / which, weights_only=True)


def test_evaluations_happen_every_assess_freq_episodes_from_0(tmp_path):
    monitor, agent = train(tmp_path)
    assert agent.reported == list(range(5, 81, 5))
    assert monitor.record.curve == [(episode, -3.0) for episode in range(0, 81, 10)]


def test_logs_are_written_at_0_and_every_log_freq_episodes(tmp_path):
    monitor, _ = train(tmp_path)
    run_dir = monitor.ctx.run_dir
    assert log_episodes(run_dir) == [0, 20, 40, 60, 80]
    assert (run_dir / "0000040_Evaluation").read_text(encoding="utf-8").startswith("Evaluation at episode 40\n")


def test_tensorboard_points_are_at_the_logged_episodes_with_the_configuration_at_0(tmp_path):
    monitor, _ = train(tmp_path)
    events = EventAccumulator(str(monitor.ctx.tensorboard_dir))
    events.Reload()
    performance = {event.step: event.value for event in events.Scalars("evaluation/mean_performance")}
    assert performance == {0: -3.0, 20: -3.0, 40: -3.0, 60: -3.0, 80: -3.0}
    assert [event.step for event in events.Scalars("train/loss")] == [20, 40, 60, 80]
    assert events.Scalars("train/loss")[0].value == pytest.approx(1 / 20)
    assert [event.step for event in events.Tensors("config/text_summary")] == [0]


def test_a_jump_over_several_boundaries_evaluates_and_logs_each(tmp_path):
    monitor, agent = train(tmp_path, step=25)
    assert agent.reported == [25, 50, 75, 80]
    assert [episode for episode, _ in monitor.record.curve] == [0, 10, 20, 30, 40, 50, 60, 70, 80]
    assert log_episodes(monitor.ctx.run_dir) == [0, 20, 40, 60, 80]


def test_finish_evaluates_and_logs_a_last_episode_that_is_no_boundary(tmp_path):
    monitor, _ = train(tmp_path, episodes=85, step=10)
    assert [episode for episode, _ in monitor.record.curve] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 85]
    assert log_episodes(monitor.ctx.run_dir) == [0, 20, 40, 60, 80, 85]


def test_models_best_and_last_are_written_at_the_end(tmp_path):
    monitor, _ = train(tmp_path, solve_from=35)
    run_dir = monitor.ctx.run_dir
    best, last = load(run_dir, "best"), load(run_dir, "last")
    assert (best["episode"], best["performance"], best["trained"]) == (40, 0.0, 40)
    assert "training" not in best
    assert (last["episode"], last["trained"], last["training"]) == (80, 80, {"trained": 80})
    assert last["monitor"]["episode"] == 80
    assert last["monitor"]["curve"] == [[e, -3.0] for e in (0, 10, 20, 30)] + [[e, 0.0] for e in range(40, 81, 10)]
    assert best["machine"] == last["machine"] == {"num_registers": 4, "n_vals": 20, "max_length": 5}
    assert best["run"]["id"] == "r"


def test_models_last_is_saved_every_save_freq_episodes_during_the_run(tmp_path):
    ctx = make_context(tmp_path)
    agent = StandInAgent(ctx.agent_setup())
    monitor = Monitor(ctx, agent)
    try:
        monitor.start()
        assert not (ctx.run_dir / "models" / "last").exists()
        agent.train(monitor, until=30)
        assert load(ctx.run_dir, "last")["episode"] == 20
        agent.train(monitor, until=40)
        assert load(ctx.run_dir, "last")["episode"] == 40
        assert load(ctx.run_dir, "best")["episode"] == 0
    finally:
        monitor.logger.close()


def test_done_becomes_true_at_the_runs_episodes(tmp_path):
    ctx = make_context(tmp_path)
    agent = StandInAgent(ctx.agent_setup())
    monitor = Monitor(ctx, agent)
    try:
        monitor.start()
        assert not monitor.done
        monitor.update(79)
        assert monitor.episode == 79 and not monitor.done
        monitor.update(80)
        assert monitor.done
    finally:
        monitor.logger.close()


def test_without_stop_when_solved_the_run_goes_on_after_its_first_solve(tmp_path):
    monitor, agent = train(tmp_path, solve_from=35)
    assert monitor.record.first_solve == 40
    assert monitor.episode == 80 and agent.reported[-1] == 80


def test_with_stop_when_solved_the_run_is_done_at_its_first_solve(tmp_path):
    monitor, agent = train(tmp_path, solve_from=35, stop_when_solved=True)
    assert agent.reported == [5, 10, 15, 20, 25, 30, 35, 40]
    assert monitor.done and monitor.episode == 40
    assert monitor.record.curve == [(0, -3.0), (10, -3.0), (20, -3.0), (30, -3.0), (40, 0.0)]
    assert log_episodes(monitor.ctx.run_dir) == [0, 20, 40]


def test_result_reports_status_episodes_curve_and_first_solve(tmp_path):
    monitor, _ = train(tmp_path, solve_from=35)
    result = monitor.result()
    assert isinstance(result, RunResult)
    assert (result.id, result.algo, result.agent, result.status) == ("r", "DQN", "DQN_Agent", "finished")
    assert result.episodes == 80
    assert result.curve == monitor.record.curve
    assert (result.best_performance, result.best_episode) == (0.0, 40)
    assert result.first_solve == 40
    assert result.first_solve_seconds is not None and 0 < result.first_solve_seconds <= result.seconds
    assert result.program == SOLVING_PROGRAM
    assert result.programs == [{"target": TARGET, "reg_init": [0, 0, 0, 0], "program": SOLVING_PROGRAM}]
    assert monitor.result("interrupted").status == "interrupted"


def test_an_unsolved_run_reports_no_first_solve(tmp_path):
    result = train(tmp_path)[0].result()
    assert (result.first_solve, result.first_solve_seconds, result.program) == (None, None, [])
    assert (result.best_performance, result.best_episode) == (-3.0, 0)


def test_a_resumed_monitor_restores_episode_curve_best_and_first_solve_from_models_last(tmp_path):
    ctx = make_context(tmp_path)
    agent = StandInAgent(ctx.agent_setup(), solve_from=35)
    first = Monitor(ctx, agent)
    first.start()
    agent.train(first, until=50)
    first.finish(interrupted=True)  # Ctrl-C at 50: no final evaluation, a last checkpoint
    assert log_episodes(ctx.run_dir) == [0, 20, 40]
    saved = load(ctx.run_dir, "last")["monitor"]
    torch.rand(10)  # the global torch generator moves on after the checkpoint

    resumed_ctx = make_context(tmp_path, resume=True)
    resumed_agent = StandInAgent(resumed_ctx.agent_setup(), solve_from=35)
    resumed = Monitor(resumed_ctx, resumed_agent)
    resumed.start()
    assert resumed.episode == 50
    assert resumed_agent.trained == 50
    assert resumed.record.curve == first.record.curve == [(0, -3.0), (10, -3.0), (20, -3.0), (30, -3.0),
                                                           (40, 0.0), (50, 0.0)]
    assert (resumed.record.best_performance, resumed.record.best_episode) == (0.0, 40)
    assert resumed.record.best_payload["trained"] == 40
    assert resumed.record.first_solve == 40
    assert resumed.record.first_solve_seconds == first.record.first_solve_seconds
    assert resumed.record.first_solve_programs == first.record.first_solve_programs
    assert list(resumed.record.recent) == [-3.0, 0.0, 0.0]
    assert resumed_ctx.tasks.state() == [50, 50]
    assert torch.equal(torch.get_rng_state(), saved["torch_rng"])
    assert resumed.elapsed_before == saved["elapsed"]
    assert log_episodes(ctx.run_dir) == [0, 20, 40]  # a resumed run does not evaluate episode 0 again

    resumed_agent.train(resumed)
    resumed.finish()
    assert resumed_agent.reported == [55, 60, 65, 70, 75, 80]
    assert [episode for episode, _ in resumed.record.curve] == list(range(0, 81, 10))
    assert log_episodes(ctx.run_dir) == [0, 20, 40, 60, 80]
    result = resumed.result()
    assert (result.episodes, result.first_solve, result.best_episode) == (80, 40, 40)
    assert result.seconds >= saved["elapsed"]


def test_a_time_budget_ends_the_run_once_it_has_trained_that_long(tmp_path):
    ctx = make_context(tmp_path)
    agent = StandInAgent(ctx.agent_setup())
    monitor = Monitor(ctx, agent, max_seconds=0.0)
    try:
        monitor.start()
        assert monitor.done and monitor.episode == 0
    finally:
        monitor.logger.close()
    unlimited = Monitor(make_context(tmp_path / "again"), agent, max_seconds=3600.0)
    try:
        unlimited.start()
        assert not unlimited.done
    finally:
        unlimited.logger.close()
