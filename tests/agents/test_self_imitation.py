"""Self-imitation (agents/self_imitation.py) and greedy copies: the agent's own solving programs are
kept per task and replayed as demonstrations; the first greedy_copies copies always act greedily."""

from __future__ import annotations

import numpy as np
import pytest
from progress import Episodes
from pydantic import ValidationError

from agents.base import AgentSetup
from agents.dqn import DQN_Agent
from agents.parameters import DQNParameters
from agents.self_imitation import SelfImitation
from environment.rewards import Specific_register_values
from environment.vector_env import FixedOrRandomTasks
from toycorewar import ActionTable, MachineConfig
from toycorewar.assembly import parse_instruction

MACHINE = MachineConfig()
TABLE = ActionTable(MACHINE)
TARGET = [3, 0, 0, 0]


def setup(params: DQNParameters) -> AgentSetup:
    return AgentSetup(params, MACHINE, FixedOrRandomTasks(np.array(TARGET), np.zeros(4, dtype=np.int64)),
                      Specific_register_values(), episodes=100, seed=0)


def params(**options) -> DQNParameters:
    return DQNParameters(**{"h_size": 8, "middle_size": 16, "batch_size": 16, "num_envs": 2, "replay_buffer_size": 100,
                            "known_rewards": True, "self_imitation": True, "demo_buffer_size": 50, **options})


def ended_episode(actions: list[int], target: list[int] = TARGET) -> dict[str, np.ndarray]:
    """The final observation of copy 0 (copy 1 holds an empty program) after `actions`."""
    program = np.full((2, MACHINE.max_length), MACHINE.num_actions, dtype=np.int64)
    program[0, :len(actions)] = actions
    return {"program": program, "registers": np.zeros((2, 4), dtype=np.int64),
            "target": np.array([target, target], dtype=np.int64)}


LOAD_3 = TABLE.encode_instruction(parse_instruction("ld %3, r1", MACHINE))
LOAD_1 = TABLE.encode_instruction(parse_instruction("ld %1, r2", MACHINE))
STOP = TABLE.stop_action


def test_a_solving_episode_becomes_its_tasks_solution_and_a_shorter_one_replaces_it():
    memory = SelfImitation(setup(params()), params(), num_envs=2)
    memory.started({"registers": np.zeros((2, 4), dtype=np.int64)})
    assert memory.batch_share(16) == 0  # nothing solved yet: no demonstrations
    memory.ended(ended_episode([LOAD_1, LOAD_3, STOP]), np.array([False, False]), np.array([0]))
    assert memory.solutions == {}  # an episode that did not solve is not kept
    memory.ended(ended_episode([LOAD_1, LOAD_3, STOP]), np.array([True, False]), np.array([0]))
    assert memory.batch_share(16) == 4  # demo_fraction 0.25 of 16
    assert [solution[0] for solution in memory.solutions.values()] == [(LOAD_1, LOAD_3, STOP)]
    memory.ended(ended_episode([LOAD_1, LOAD_3, LOAD_1, STOP]), np.array([True, False]), np.array([0]))
    assert [solution[0] for solution in memory.solutions.values()] == [(LOAD_1, LOAD_3, STOP)]  # longer: kept out
    memory.ended(ended_episode([LOAD_3, STOP]), np.array([True, False]), np.array([0]))
    assert [solution[0] for solution in memory.solutions.values()] == [(LOAD_3, STOP)]
    memory.batch_share(16)
    assert memory.buffer.size == 2  # the buffer holds the current solutions only: ld, stop
    batch = memory.replay.sample(8, np.random.default_rng(0))
    assert set(batch.action.tolist()) == {LOAD_3, STOP}
    assert batch.reward[batch.action == LOAD_3] == pytest.approx(3 * params().reward_scale)


def test_solutions_are_kept_per_task_and_survive_a_checkpoint():
    memory = SelfImitation(setup(params()), params(), num_envs=2)
    memory.started({"registers": np.zeros((2, 4), dtype=np.int64)})
    memory.ended(ended_episode([LOAD_3, STOP]), np.array([True, False]), np.array([0]))
    memory.ended(ended_episode([LOAD_1, STOP], target=[0, 1, 0, 0]), np.array([True, False]), np.array([0]))
    restored = SelfImitation(setup(params()), params(), num_envs=2)
    restored.load_state(memory.state())
    assert restored.solutions == memory.solutions and len(restored.solutions) == 2
    memory.batch_share(16)
    assert restored.buffer.size == memory.buffer.size == 4


def test_the_oldest_tasks_solution_goes_when_more_tasks_are_solved_than_the_buffer_holds():
    small = params(demo_buffer_size=10)  # two tasks of MAX_LENGTH 5
    memory = SelfImitation(setup(small), small, num_envs=2)
    memory.started({"registers": np.zeros((2, 4), dtype=np.int64)})
    for value in (1, 2, 3):
        memory.ended(ended_episode([TABLE.encode_instruction(parse_instruction(f"ld %{value}, r1", MACHINE)), STOP],
                                   target=[value, 0, 0, 0]), np.array([True, False]), np.array([0]))
    assert [task[0] for task in memory.solutions] == [2, 3]


def test_greedy_copies_act_greedily_whatever_the_exploration():
    dqn = DQN_Agent(setup(params(greedy_copies=1, temperature=5.0)))
    obs, _ = dqn.env.reset(seed=0)
    greedy = dqn.greedy_actions(obs)[0]
    assert all(dqn.act(obs, epsilon=1.0)[0] == greedy for _ in range(20))
    assert len({int(dqn.act(obs, epsilon=1.0)[1]) for _ in range(20)}) > 1  # the other copy explores


def test_training_with_self_imitation_runs_and_its_state_resumes():
    # The exact rewards at full scale lead the greedy copy to `ld %3, r1` at once: an episode solves.
    options = {"greedy_copies": 1, "temperature": 0.05, "reward_scale": 1.0, "initial_epsilon": 0.0,
               "final_epsilon": 0.0}
    dqn = DQN_Agent(setup(params(**options)))

    dqn.train(Episodes(60))
    assert dqn.imitation.solutions  # [3, 0, 0, 0] is one load away: some episode solved it
    state = dqn.training_state()
    resumed = DQN_Agent(setup(params(**options)))
    resumed.load_training_state(state)
    assert resumed.imitation.solutions == dqn.imitation.solutions


@pytest.mark.parametrize(("options", "message"), [({"greedy_copies": 3}, "greedy_copies"),
                                                  ({"search_every": 10}, "self_imitation")])
def test_inconsistent_options_are_refused(options, message):
    with pytest.raises(ValidationError, match=message):
        params(**options)


@pytest.mark.parametrize("agent_class", ["AC_Agent", "PG_Agent"])
def test_the_on_policy_agents_imitate_their_solutions_and_keep_them_in_their_state(agent_class):
    from agents.actor_critic import AC_Agent
    from agents.parameters import ACParameters, PGParameters
    from agents.policy_gradient import PG_Agent

    classes = {"AC_Agent": (AC_Agent, ACParameters), "PG_Agent": (PG_Agent, PGParameters)}
    agent_type, parameter_type = classes[agent_class]
    options = {"h_size": 8, "middle_size": 16, "num_envs": 4, "afterstate": True, "self_imitation": True,
               "demo_buffer_size": 50, "reward_scale": 0.05}
    agent = agent_type(setup(parameter_type(**options)))

    agent.train(Episodes(40))
    # The afterstate actor prefers the exact reward from the start: `ld %3, r1` comes early and solves.
    assert agent.imitation.solutions
    assert float(agent.imitation_loss(20).detach()) > 0  # the policy's cross-entropy on the solutions' steps
    resumed = agent_type(setup(parameter_type(**options)))
    resumed.load_training_state(agent.training_state())
    assert resumed.imitation.solutions == agent.imitation.solutions
