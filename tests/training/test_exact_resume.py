"""Exact budgets and exact resume (docs/guarantees.md): a run plays exactly `episodes`
episodes, however many copies run side by side, and a run stopped at any point and resumed from its
models/last ends as the same run never stopped: the same episode count, evaluation logs (but for
their elapsed time), best model and final weights, for every agent."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from experiment_files import evaluation_logs, tiny_config, tiny_run, without_elapsed_time  # noqa: E402

from environment import ToyCorewarVectorEnv  # noqa: E402
from training.run import train_run  # noqa: E402

EPISODES = 203  # not a multiple of num_envs (8), nor of ASSESS_FREQ (20)
TARGETS = [[0, 10, 30, 250], [4, 14, 18, 238]]


def config_for(algo: str) -> dict:
    config = tiny_config()
    # Every part of the shipped presets that holds state: demonstrations, greedy copies, temperature.
    if algo == "DQN":
        config["presets"]["DQN"]["parameters"].update(self_imitation=True, greedy_copies=1, temperature=0.05,
                                                      known_rewards=True, effect_size=4)
    else:
        config["presets"][algo]["parameters"].update(self_imitation=True)
    return config


def train(folder: Path, algo: str, **options) -> object:
    run = tiny_run("r", algo, episodes=EPISODES, targets=TARGETS)
    return train_run(run, config_for(algo), str(folder / "run"), str(folder / "tensorboard"), seed=3, **options)


def outcome(folder: Path) -> tuple[dict, dict, dict, int]:
    logs = {episode: without_elapsed_time(text) for episode, text in evaluation_logs(folder / "run").items()}
    best = torch.load(folder / "run" / "models" / "best", weights_only=True)
    last = torch.load(folder / "run" / "models" / "last", weights_only=True)
    return logs, best["network"], last["network"], last["episode"]


@pytest.fixture(scope="module", params=["DQN", "AC", "PG"])
def unbroken(request, tmp_path_factory) -> tuple[str, tuple]:
    folder = tmp_path_factory.mktemp(f"unbroken-{request.param}")
    result = train(folder, request.param)
    assert result.status == "finished" and result.episodes == EPISODES
    return request.param, outcome(folder)


def assert_same(one: tuple, other: tuple) -> None:
    logs, best, last, episode = one
    logs2, best2, last2, episode2 = other
    assert episode == episode2 == EPISODES
    assert sorted(logs) == sorted(logs2) and logs == logs2
    for weights, weights2 in ((best, best2), (last, last2)):
        assert weights.keys() == weights2.keys()
        assert all(torch.equal(weights[k], weights2[k]) for k in weights)


# 1: in the first step; 30: between two evaluations (20, 40); 40: at an evaluation and a save;
# 200 and 202: when copies have started idling, their budget spent.
@pytest.mark.parametrize("stop_at", [1, 30, 40, 200, 202])
def test_a_run_stopped_and_resumed_ends_as_the_unbroken_run(unbroken, tmp_path, stop_at):
    algo, expected = unbroken
    stopped = train(tmp_path, algo, stop_after=stop_at)
    assert stopped.status in ("interrupted", "finished")
    assert stopped.episodes >= stop_at
    if stopped.status == "interrupted":  # at the budget when the stop dropped the final evaluation (pending)
        assert stopped.episodes <= EPISODES
        resumed = train(tmp_path, algo, resume=True)
        assert resumed.status == "finished" and resumed.episodes == EPISODES
    assert_same(expected, outcome(tmp_path))


def test_stopping_twice_still_ends_as_the_unbroken_run(unbroken, tmp_path):
    algo, expected = unbroken
    assert train(tmp_path, algo, stop_after=50).status == "interrupted"
    assert train(tmp_path, algo, resume=True, stop_after=130).status == "interrupted"
    assert train(tmp_path, algo, resume=True).episodes == EPISODES
    assert_same(expected, outcome(tmp_path))


def test_the_batched_environment_starts_exactly_max_episodes_and_idles_the_copies_left():
    env = ToyCorewarVectorEnv(num_envs=4, autoreset_mode="SameStep", max_episodes=10, target=[1, 2, 3, 4])
    env.reset(seed=0)
    ended, steps = 0, 0
    stop = env.table.stop_action
    rng = np.random.default_rng(0)
    while not env.idle.all():
        actions = np.where(rng.random(4) < 0.5, stop, rng.integers(0, stop, size=4))
        before = env.observation()
        idle = env.idle.copy()
        _, rewards, terminated, _, _ = env.step(actions)
        assert not terminated[idle].any() and not rewards[idle].any()
        after = env.observation()
        for name in ("program", "registers"):
            assert np.array_equal(after[name][idle], before[name][idle])  # an idle copy does not move
        ended += int(terminated.sum())
        steps += 1
        assert steps < 100
    assert ended == 10 and env.episodes_started == 10


def test_fewer_episodes_than_copies_leave_the_other_copies_idle_from_the_start():
    env = ToyCorewarVectorEnv(num_envs=8, autoreset_mode="SameStep", max_episodes=3)
    env.reset(seed=1)
    assert env.idle.tolist() == [False] * 3 + [True] * 5


def test_the_environment_state_resumes_every_copy_where_it_stood():
    env = ToyCorewarVectorEnv(num_envs=3, autoreset_mode="SameStep", max_episodes=20)
    env.reset(seed=2)
    rng = np.random.default_rng(5)
    for _ in range(7):
        env.step(rng.integers(0, env.table.num_actions, size=3))
    copy = ToyCorewarVectorEnv(num_envs=3, autoreset_mode="SameStep", max_episodes=20)
    copy.load_state(env.state())
    for _ in range(30):
        actions = rng.integers(0, env.table.num_actions, size=3)
        one, two = env.step(actions), copy.step(actions)
        for a, b in zip(one[:3], two[:3], strict=True):
            if isinstance(a, dict):
                assert all(np.array_equal(a[k], b[k]) for k in a)
            else:
                assert np.array_equal(a, b)
