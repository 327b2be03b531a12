"""Expert iteration (agents/expert_iteration.py): the DQN learns from the programs its own guided search
finds. The searched transitions are true episodes of the machine with the environment's rewards, the
large-margin loss is DQfD's, the option off changes nothing, and the option trains and resumes end to end."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch

from agents.base import AgentSetup
from agents.dqn import DQN_Agent
from agents.expert_iteration import large_margin_loss
from agents.parameters import DQNParameters
from environment import ScheduledTasks, TaskSchedule, ToyCorewarVectorEnv, make_reward
from tests.cli.experiment_files import run_main, tiny_config, tiny_run, write_inputs
from toycorewar import ActionTable, MachineConfig, final_registers
from training.run import train_run

REWARD = make_reward("Specific_register_values", {"circular": True, "positive": True, "cumulative": True})
SEARCH = {"search_every": 10, "search_tasks": 16, "search_expansions": 30, "demo_fraction": 0.25}


class CountingProgress:
    """The harness's Progress for an agent trained alone: `episodes` episodes, the scalars it was given."""

    def __init__(self, episodes: int) -> None:
        self.episode, self.episodes, self.scalars = 0, episodes, {}

    @property
    def done(self) -> bool:
        return self.episode >= self.episodes

    @property
    def stopping(self) -> bool:
        return False

    def update(self, episodes_done: int, **scalars: float) -> None:
        self.episode = episodes_done
        self.scalars.update(scalars)


def setup(seed: int = 3, reg_inits: list | None = None, **options) -> AgentSetup:
    """A tiny DQN on solvable targets of 3 instructions (from zeros, or from `reg_inits` in turn)."""
    machine = MachineConfig()
    params = DQNParameters(h_size=8, middle_size=16, batch_size=16, num_envs=8, learning_freq=2,
                           replay_buffer_size=500, epsilon_decay_steps=20, target_update_freq=50, **options)
    inits = (TaskSchedule("zeros", 4) if reg_inits is None
             else TaskSchedule("fixed", 4, np.array(reg_inits), alternate_freq=1))
    tasks = ScheduledTasks(TaskSchedule.solvable(3, machine), inits)
    return AgentSetup(params, machine, tasks, REWARD, episodes=60, seed=seed)


def episodes_of(buffer) -> list[dict[str, np.ndarray]]:
    """The demonstration buffer's rows cut into episodes (num_envs=1: an episode's steps are consecutive)."""
    a, episodes, start = buffer.arrays, [], 0
    for row in range(buffer.size):
        if a["terminated"][row]:
            episodes.append({name: array[start:row + 1] for name, array in a.items()})
            start = row + 1
    assert start == buffer.size, "the last episode ends with a terminated step"
    return episodes


# -- the large-margin loss --------------------------------------------------------------------------------
@pytest.mark.parametrize(("q", "expert", "expected"), [
    ([[1.0, 2.0, 0.5]], [1], 0.0),  # a_E leads by 1.0 > 0.8: max(1.8, 2.0, 1.3) − 2.0
    ([[1.2, 2.0, 0.5]], [1], 0.0),  # leads by exactly the margin: max(2.0, 2.0, 1.3) − 2.0
    ([[1.5, 2.0, 0.5]], [1], 0.3),  # leads by 0.5 only: max(2.3, 2.0, 1.3) − 2.0
    ([[3.0, 2.0, 0.5]], [1], 1.8),  # another action is best: 3.0 + 0.8 − 2.0
    ([[1.0, 2.0, 0.5], [3.0, 2.0, 0.5]], [1, 1], 0.9),  # the mean of 0 and 1.8
], ids=["leads", "leads_by_the_margin", "too_close", "behind", "mean_over_rows"])
def test_the_margin_loss_is_zero_when_the_searched_action_leads_by_the_margin_and_positive_otherwise(q, expert,
                                                                                                      expected):
    q_values = torch.tensor(q, requires_grad=True)
    loss = large_margin_loss(q_values, torch.tensor(expert), 0.8)
    assert float(loss.detach()) == pytest.approx(expected, abs=1e-6)
    if expected > 0:
        loss.backward()  # the searched action is pushed up, the one that comes too close down
        for row, (gradient, a_e) in enumerate(zip(q_values.grad, expert, strict=True)):
            if gradient.abs().sum() > 0:
                assert gradient[a_e] < 0 and gradient.max() > 0, row


# -- the searched transitions ----------------------------------------------------------------------------
def test_searched_programs_replay_on_the_machine_to_their_targets_with_the_environment_s_rewards():
    inits = [[0, 0, 0, 0], [3, 250, 17, 9]]
    agent = DQN_Agent(setup(reg_inits=inits, known_rewards=True, **SEARCH))
    expert = agent.expert
    targets, reg_inits = expert.draw_tasks()
    expert.search_round(agent.q, episode=0)
    episodes = episodes_of(expert.buffer)
    assert expert.rounds == 1 and expert.next_episode == SEARCH["search_every"]
    assert len(episodes) == round(expert.solved * SEARCH["search_tasks"]) > 0
    table, machine = ActionTable(agent.setup.machine), agent.setup.machine
    tasks = {(tuple(t), tuple(i)) for t, i in zip(targets.tolist(), reg_inits.tolist(), strict=True)}
    for episode in episodes:
        target, reg_init = episode["target"][0].tolist(), episode["registers"][0].tolist()
        assert (tuple(target), tuple(reg_init)) in tasks, "a task of the round"
        actions = episode["action"].tolist()
        assert len(actions) == machine.max_length or actions[-1] == table.stop_action, "short programs end with stop"
        assert table.stop_action not in actions[:-1]
        program = [table.instructions[a] for a in actions if a != table.stop_action]
        assert final_registers(program, reg_init) == target, "the program reaches its target"
        # Each row: the program so far, the registers it leaves, the target; then the next observation.
        for k in range(len(actions)):
            prefix = [table.instructions[a] for a in actions[:k + 1]]
            assert episode["program"][k].tolist() == actions[:k] + [table.num_actions] * (machine.max_length - k)
            assert episode["next_program"][k].tolist() == actions[:k + 1] + [225] * (machine.max_length - k - 1)
            assert episode["registers"][k].tolist() == final_registers(prefix[:-1], reg_init)
            assert episode["next_registers"][k].tolist() == final_registers(prefix, reg_init)
            assert episode["target"][k].tolist() == target
        assert episode["terminated"].tolist() == [False] * (len(actions) - 1) + [True]
        # The rewards are those the batched environment (another implementation) gives, scaled.
        env = ToyCorewarVectorEnv(1, target=target, reg_init=reg_init, reward_func=REWARD.name, **REWARD.settings)
        env.reset(seed=0)
        rewards = [float(env.step(np.array([a]))[1][0]) for a in actions]
        assert episode["reward"].tolist() == pytest.approx([r * agent.params.reward_scale for r in rewards])


def test_a_round_draws_its_tasks_from_the_seed_and_leaves_the_run_s_schedule_and_random_streams_alone():
    agent = DQN_Agent(setup(known_rewards=True, **SEARCH))
    schedule, rng_before = agent.setup.tasks.state(), agent.rng.bit_generator.state
    first = agent.expert.draw_tasks()
    agent.expert.search_round(agent.q, episode=0)
    assert agent.setup.tasks.state() == schedule and agent.rng.bit_generator.state == rng_before
    again = DQN_Agent(setup(known_rewards=True, **SEARCH)).expert.draw_tasks()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True)), "the same seed, the same tasks"
    assert not np.array_equal(agent.expert.draw_tasks()[0], first[0]), "the next round, other tasks"


def test_learning_batches_hold_the_demo_share_and_checkpoints_keep_the_demonstrations():
    agent = DQN_Agent(setup(known_rewards=True, **SEARCH))
    progress = CountingProgress(40)
    agent.train(progress)
    expert = agent.expert
    assert expert.rounds == 3 and expert.buffer.size > 0  # rounds at episodes 10, 20, 30
    assert progress.scalars["search_solved"] == expert.solved and 0 <= expert.solved <= 1
    batch, demos = agent.sample()
    assert len(batch.action) == 16 and demos == 4
    assert math.isfinite(agent.loss)
    state = agent.training_state()
    resumed = DQN_Agent(setup(known_rewards=True, **SEARCH))
    resumed.load_training_state(state)
    assert (resumed.expert.rounds, resumed.expert.next_episode) == (3, expert.next_episode)
    for name, array in expert.buffer.arrays.items():
        assert np.array_equal(resumed.expert.buffer.arrays[name], array), name
    # A checkpoint from before the option (or from a run without it) still loads: the rounds start afresh.
    plain = DQN_Agent(setup(known_rewards=True))
    plain.train(CountingProgress(20))
    fresh = DQN_Agent(setup(known_rewards=True, **SEARCH))
    fresh.load_training_state(plain.training_state())
    assert fresh.expert.rounds == 0 and fresh.expert.due(25) is False and fresh.expert.next_episode == 30


def test_learning_from_the_searched_transitions_makes_the_searched_actions_the_greedy_ones():
    agent = DQN_Agent(setup(**{**SEARCH, "search_tasks": 8, "demo_fraction": 0.5}))
    agent.train(CountingProgress(10))  # the replay buffer fills; the first round is due at episode 10
    agent.expert.search_round(agent.q, episode=10)
    demos = agent.expert.buffer
    rows = {name: torch.as_tensor(array[:demos.size]) for name, array in demos.arrays.items()}
    inputs = (rows["program"].long(), rows["registers"].float(), rows["target"].float())

    def margin_loss() -> float:
        with torch.no_grad():
            return float(large_margin_loss(agent.q(*inputs), rows["action"], agent.params.demo_margin))

    def agreement() -> float:
        with torch.no_grad():
            return float((agent.q(*inputs).argmax(dim=1) == rows["action"]).float().mean())

    assert demos.size > 0
    before, agreed_before = margin_loss(), agreement()
    for _ in range(600):
        agent.learn()
    assert margin_loss() < 0.3 * before
    assert agreement() >= 0.8 > agreed_before + 0.5  # the untrained network wrote almost none of them


# -- the option off --------------------------------------------------------------------------------------
# Computed with the code as it was before expert iteration existed (2026-12-01, Intel Xeon): after 40
# episodes without learning, three learning steps. The next draw of the agent's generator does not depend
# on floating point, so it is compared exactly; losses and weights to a tolerance.
REFERENCE = {
    "plain": ({}, [0.022421300411224365, 0.01802251487970352, 0.018052713945508003], 23316.96223423209,
              1227160644611678357),
    "known_rewards_prioritized_n_step": ({"known_rewards": True, "effect_size": 4, "priority_alpha": 0.6,
                                          "n_step": 2},
                                         [0.022410238161683083, 0.004962561186403036, 0.014833342283964157],
                                         23997.40761772787, 4423372297993732797),
}


@pytest.mark.parametrize("case", sorted(REFERENCE))
def test_with_the_option_off_learning_is_as_before_and_draws_nothing_extra(case):
    options, losses, weight_sum, next_draw = REFERENCE[case]
    torch.set_num_threads(1)
    agent = DQN_Agent(setup(learning_starts=10**6, **options))
    assert agent.expert is None
    agent.train(CountingProgress(40))
    seen = []
    for _ in range(3):
        agent.learn()
        seen.append(agent.loss)
    assert "expert_iteration" not in agent.training_state()
    assert int(agent.rng.integers(2**62)) == next_draw
    assert seen == pytest.approx(losses, rel=1e-4)
    assert sum(float(v.double().abs().sum()) for v in agent.q.state_dict().values()) == pytest.approx(weight_sum,
                                                                                                       rel=1e-5)


def test_with_the_option_off_its_other_keys_change_nothing():
    def trained(**options) -> DQN_Agent:
        agent = DQN_Agent(setup(known_rewards=True, **options))
        agent.train(CountingProgress(60))
        return agent

    default = trained()
    keyed = trained(search_every=0, search_tasks=3, search_expansions=7, demo_fraction=0.5, demo_margin=0.1,
                    demo_weight=2.0, demo_buffer_size=50)
    assert keyed.expert is None
    assert all(torch.equal(a, b) for a, b in zip(default.q.state_dict().values(), keyed.q.state_dict().values(),
                                                 strict=True))
    assert default.rng.bit_generator.state == keyed.rng.bit_generator.state


# -- end to end -------------------------------------------------------------------------------------------
def test_the_option_trains_through_main_py_and_its_checkpoint_resumes(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    config = tiny_config()
    config["presets"]["DQN"]["parameters"].update(known_rewards=True, search_every=20, search_tasks=6,
                                                  search_expansions=20, demo_fraction=0.25, demo_buffer_size=500)
    run = tiny_run(1, "DQN", episodes=80)
    run["targets"] = {"solvable": 3}
    write_inputs(tmp_path, [run], config)
    result = run_main(tmp_path, "ei")
    assert result.returncode == 0, result.stderr
    run_dir, tensorboard_dir = tmp_path / "experiments" / "ei" / "1", tmp_path / "runs" / "ei" / "1"
    saved = torch.load(run_dir / "models" / "last", weights_only=True)["training"]["expert_iteration"]
    assert saved["rounds"] == 3 and saved["next_episode"] == 80  # rounds at episodes 20, 40, 60; the run ends at 80
    assert saved["buffer"]["size"] > 0
    accumulator = EventAccumulator(str(tensorboard_dir))
    accumulator.Reload()
    solved = [event.value for event in accumulator.Scalars("train/search_solved")]
    assert solved and all(0 <= value <= 1 for value in solved)

    # Resumed with a larger budget, the run goes on from the saved rounds and demonstrations.
    longer = copy.deepcopy(run)
    longer["episodes"] = 120
    resumed = train_run(longer, config, str(run_dir), str(tensorboard_dir), seed=0, resume=True)
    assert resumed.status == "finished", resumed.traceback
    after = torch.load(run_dir / "models" / "last", weights_only=True)["training"]["expert_iteration"]
    assert after["rounds"] == 5 and after["next_episode"] == 120  # the round due at 80, then 100
    kept = saved["buffer"]["size"]  # 5 rounds of at most 6 programs of at most 5 steps: the buffer never wraps
    assert after["buffer"]["size"] > kept
    for name, array in saved["buffer"]["arrays"].items():
        assert torch.equal(after["buffer"]["arrays"][name][:kept], array), name
