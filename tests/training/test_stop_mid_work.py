"""A stop (Ctrl-C, SIGTERM) asked for in the middle of long work ends it at once and drops it whole
(docs/guarantees.md, "Stop"): a search between its expansions, an evaluation between its steps and its
chunks, a round of expert iteration between its searches. A run whose evaluation was cut keeps that
evaluation as pending in models/last and does it first on resume, so it ends as the unbroken run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from experiment_files import evaluation_logs, tiny_config, tiny_run, without_elapsed_time  # noqa: E402

from agents.actor_critic import AC_Agent  # noqa: E402
from agents.dqn import DQN_Agent  # noqa: E402
from environment import Specific_register_values  # noqa: E402
from synthesis.search import CHECK_EVERY, RewardScorer, StopRequested, guided_search  # noqa: E402
from toycorewar import MachineConfig  # noqa: E402
from training.config import parse_config, parse_training  # noqa: E402
from training.context import RunContext  # noqa: E402
from training.evaluation import Evaluator  # noqa: E402
from training.run import train_run  # noqa: E402


class StopAfter:
    """should_stop that answers False `calls` times, then True; counts how often it was asked."""

    def __init__(self, calls: int) -> None:
        self.calls, self.asked = calls, 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.asked > self.calls


def context(folder: Path, algo: str = "DQN", **parameters) -> RunContext:
    config_data = tiny_config()
    config_data["presets"][algo]["parameters"].update(parameters)
    config = parse_config(config_data)
    run = parse_training([tiny_run("r", algo, episodes=100)], config)[0]
    return RunContext(run, config, folder, folder, seed=1)


def test_a_search_asks_every_check_every_expansions_and_stops_when_told():
    machine, reward = MachineConfig(), Specific_register_values()
    should_stop = StopAfter(2)
    # 255 in every register is out of reach: without its prunings the search would use its whole budget.
    with pytest.raises(StopRequested):
        guided_search(RewardScorer(machine, reward), machine, reward, [255, 255, 255, 255], [0, 0, 0, 0], 10**6,
                      prune=False, should_stop=should_stop)
    assert should_stop.asked == 3  # after CHECK_EVERY, 2·CHECK_EVERY and 3·CHECK_EVERY expansions
    result = guided_search(RewardScorer(machine, reward), machine, reward, [255, 255, 255, 255], [0, 0, 0, 0],
                           3 * CHECK_EVERY, prune=False, should_stop=StopAfter(10))
    assert result.program is None and result.expansions == 3 * CHECK_EVERY


@pytest.mark.parametrize("budget", [0, 20], ids=["greedy", "guided"])
def test_an_evaluation_cut_short_raises_and_a_whole_one_is_unchanged(tmp_path, budget):
    ctx = context(tmp_path)
    agent = DQN_Agent(ctx.agent_setup())
    evaluator = Evaluator(agent, ctx.machine, ctx.reward, ctx.eval_targets, ctx.eval_reg_inits, search_budget=budget,
                          reward_scale=ctx.params.reward_scale)
    whole = evaluator(20)
    assert evaluator(20, StopAfter(10**9)) == whole
    for calls in (0, 1, 3):
        with pytest.raises(StopRequested):
            evaluator(20, StopAfter(calls))


def test_a_search_round_cut_short_stores_nothing_and_stays_due(tmp_path):
    ctx = context(tmp_path, search_every=50, search_tasks=8, search_expansions=200)
    agent = DQN_Agent(ctx.agent_setup())
    expert = agent.expert
    assert not expert.due(0) and expert.due(60)  # the first round falls at episode 50
    assert expert.search_round(agent.q, 60, StopAfter(2)) is False
    assert (expert.rounds, expert.buffer.size) == (0, 0) and expert.due(60)
    assert expert.search_round(agent.q, 60, StopAfter(10**9)) is True
    assert expert.rounds == 1 and not expert.due(60)


def outcome(folder: Path) -> tuple:
    logs = {episode: without_elapsed_time(text) for episode, text in evaluation_logs(folder / "run").items()}
    last = torch.load(folder / "run" / "models" / "last", weights_only=True)
    return logs, last["network"], last["episode"]


def test_a_run_stopped_at_an_evaluation_keeps_it_pending_and_resumes_as_the_unbroken_run(tmp_path):
    """stop_after asks for the stop as Ctrl-C would, just before the evaluations of episode 40: the
    evaluation is dropped, kept pending in models/last, and done first on resume."""
    run = tiny_run("r", "DQN", episodes=100, targets=[[0, 10, 30, 250]])

    def train(folder: Path, **options) -> object:
        return train_run(run, tiny_config(), str(folder / "run"), str(folder / "tensorboard"), seed=2, **options)

    assert train(tmp_path / "unbroken").status == "finished"
    stopped = train(tmp_path / "stopped", stop_after=40)
    assert stopped.status == "interrupted" and stopped.episodes == 40
    last = torch.load(tmp_path / "stopped" / "run" / "models" / "last", weights_only=True)
    assert last["monitor"]["pending"] == [[40, True]]
    assert 40 not in evaluation_logs(tmp_path / "stopped" / "run")
    assert train(tmp_path / "stopped", resume=True).status == "finished"
    logs, weights, episode = outcome(tmp_path / "stopped")
    logs2, weights2, episode2 = outcome(tmp_path / "unbroken")
    assert episode == episode2 == 100 and logs == logs2 and 40 in logs
    assert all(torch.equal(weights[k], weights2[k]) for k in weights)


def test_the_final_evaluation_cut_short_leaves_the_run_interrupted_and_resume_finishes_it(tmp_path):
    run = tiny_run("r", "DQN", episodes=100, targets=[[0, 10, 30, 250]])
    folder = tmp_path / "run"
    # stop_after 100: the stop is asked for at the last step, before the final evaluation (episode 100).
    result = train_run(run, tiny_config(), str(folder), str(tmp_path / "tb"), seed=2, stop_after=100)
    assert result.status == "interrupted" and result.episodes == 100
    last = torch.load(folder / "models" / "last", weights_only=True)
    assert last["monitor"]["pending"] and 100 not in evaluation_logs(folder)
    resumed = train_run(run, tiny_config(), str(folder), str(tmp_path / "tb"), seed=2, resume=True)
    assert resumed.status == "finished" and 100 in evaluation_logs(folder)
    assert np.isfinite(resumed.best_performance)


class StopWithin:
    """A Progress of `episodes` episodes whose stop is asked for after `calls` calls of `agent.<method>`."""

    def __init__(self, agent, method: str, episodes: int, calls: int | None, episode: int = 0) -> None:
        self.episode, self.episodes, self.calls, self.count = episode, episodes, calls, 0
        original = getattr(agent, method)

        def counted(*args, **kwargs):
            self.count += 1
            return original(*args, **kwargs)
        setattr(agent, method, counted)

    @property
    def stopping(self) -> bool:
        return self.calls is not None and self.count >= self.calls

    @property
    def done(self) -> bool:
        return self.stopping or self.episode >= self.episodes

    def update(self, episodes_done: int, **scalars: float) -> None:
        self.episode = episodes_done


def test_a_stop_between_the_gradient_steps_of_one_step_leaves_them_owed_and_resume_settles_them(tmp_path):
    """64 copies and learning_freq 1: each vector step earns 64 gradient steps. A stop after 100 of them
    (in the middle of a step's) ends training at once; an agent restored from that state settles the rest
    first and ends with the weights of the agent never stopped."""
    def agent() -> DQN_Agent:
        return DQN_Agent(context(tmp_path, num_envs=64, learning_freq=1, batch_size=16).agent_setup())

    unbroken = agent()
    unbroken.train(StopWithin(unbroken, "learn", 60, None))
    stopped = agent()
    progress = StopWithin(stopped, "learn", 60, 100)
    stopped.train(progress)
    assert progress.count == 100 and stopped.owed is not None and stopped.update_credit >= 1
    state = stopped.training_state()
    resumed = agent()
    resumed.load_training_state(state)
    resumed.train(StopWithin(resumed, "learn", 60, None, episode=progress.episode))
    assert all(torch.equal(a, b) for a, b in zip(unbroken.q.state_dict().values(), resumed.q.state_dict().values(),
                                                  strict=True))


def filled_agent(folder: Path, **parameters) -> DQN_Agent:
    """A DQN agent whose replay holds a few hundred random transitions (ready for gradient steps)."""
    agent = DQN_Agent(context(folder, num_envs=64, batch_size=64, **parameters).agent_setup())
    obs = agent.env.reset(seed=1)[0]
    for _ in range(5):
        actions = agent.act(obs, 1.0)
        next_obs, rewards, terminated, _, info = agent.env.step(actions)
        agent.buffer.add(obs, actions, rewards, info.get("final_obs", next_obs), terminated)
        obs = next_obs
    return agent


def weights(agent: DQN_Agent) -> list[torch.Tensor]:
    return [x.clone() for x in agent.q.state_dict().values()]


def test_a_gradient_step_stopped_within_its_passes_is_dropped_whole_and_taken_again_alike(tmp_path):
    """A stop asked for after 30 torch operations of a step (in its forward pass) raises StopRequested:
    the weights, gradients and random draws are as before it; the step taken again then gives the
    weights of an agent never stopped (agents/step_stops.py)."""
    unbroken, stopped = filled_agent(tmp_path), filled_agent(tmp_path)
    unbroken.learn()
    before, draws = weights(stopped), stopped.rng.bit_generator.state
    stop = StopAfter(30)
    with pytest.raises(StopRequested):
        stopped.learn(stop)
    assert stop.asked == 31  # asked before each operation, the step's first run under the checks
    assert all(torch.equal(a, b) for a, b in zip(before, weights(stopped), strict=True))
    assert all(x.grad is None for x in stopped.q.parameters())
    assert stopped.rng.bit_generator.state == draws
    stopped.learn(lambda: False)
    assert all(torch.equal(a, b) for a, b in zip(weights(unbroken), weights(stopped), strict=True))


def test_the_stop_checks_change_no_weight_and_are_dropped_once_steps_are_quick(tmp_path, monkeypatch):
    """Ten steps with every step checked give the weights of ten steps with none checked (the checks
    only ask); a quick step turns the checks off, a slow one (CHECKED_AFTER 0 here) keeps them."""
    import agents.step_stops as step_stops
    checked, unchecked = filled_agent(tmp_path), filled_agent(tmp_path)
    asked = StopAfter(10**9)
    for _ in range(10):
        checked.step_timer.checked = True
        checked.learn(asked)
        unchecked.step_timer.checked = False
        unchecked.learn(asked)
    assert asked.asked > 100
    assert all(torch.equal(a, b) for a, b in zip(weights(checked), weights(unchecked), strict=True))
    monkeypatch.setattr(step_stops, "CHECKED_AFTER", 0.0)
    checked.learn(asked)
    assert checked.step_timer.checked
    monkeypatch.setattr(step_stops, "CHECKED_AFTER", 60.0)
    checked.learn(asked)
    assert not checked.step_timer.checked


@pytest.mark.parametrize(("where", "method", "calls"), [("within a rollout", "sample_actions", 23),
                                                        ("within an update", "loss_of", 3)])
def test_an_actor_critic_stopped_mid_rollout_or_mid_update_keeps_its_rollout_and_resumes_alike(
        tmp_path, monkeypatch, where, method, calls):
    """AC with rollouts of 10 vector steps: a stop after 23 of them (the third rollout under way) keeps its
    3 steps in the checkpoint; a stop during the third update (every update checked here: CHECKED_AFTER 0)
    keeps the whole rollout. Restored, the agent finishes the rollout and ends with the unbroken agent's
    weights."""
    import agents.step_stops as step_stops
    monkeypatch.setattr(step_stops, "CHECKED_AFTER", 0.0)

    def agent() -> AC_Agent:
        return AC_Agent(context(tmp_path, "AC", num_envs=8, n_steps=10).agent_setup())

    unbroken = agent()
    unbroken.train(StopWithin(unbroken, method, 60, None))
    stopped = agent()
    progress = StopWithin(stopped, method, 60, calls)
    stopped.train(progress)
    state = stopped.training_state()
    kept = len(state["rollout"]["action"])
    assert kept == (3 if where == "within a rollout" else 10)
    restored = agent()
    restored.load_training_state(state)
    restored.train(StopWithin(restored, method, 60, None, episode=progress.episode))
    assert all(torch.equal(a, b) for a, b in zip(unbroken.network.state_dict().values(),
                                                  restored.network.state_dict().values(), strict=True))
