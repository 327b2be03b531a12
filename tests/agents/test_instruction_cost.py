"""The instruction cost (docs/shortest_programs.md): every instruction but stop costs
`instruction_cost` units of distance in the return the agent learns, the same in the replayed rewards,
the networks' exact rewards, self-imitation's demonstrations and the returns guided search gathers;
a DQN trained with the shipped preset writes the shortest program, not a padded one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from agents.afterstate import AfterstateQNetwork
from agents.base import AgentSetup
from agents.machine_arithmetic import learning_rewards
from agents.networks import KnownRewardQNetwork, build_network, greedy_policy, network_scorer, network_spec
from agents.parameters import DQNParameters
from agents.self_imitation import SelfImitation
from environment import ToyCorewarEnv
from environment.rewards import Specific_register_values
from environment.vector_env import FixedOrRandomTasks
from synthesis.exact import Synthesizer
from synthesis.search import guided_search
from toycorewar import ActionTable, MachineConfig, final_registers
from toycorewar.assembly import parse_instruction
from training.checkpoints import load_network
from training.config import ConfigError, parse_config
from training.run import train_run

MACHINE = MachineConfig()
TABLE = ActionTable(MACHINE)
STOP = TABLE.stop_action
COST, SCALE = 0.1, 0.05
ROOT = Path(__file__).resolve().parents[2]


def code(text: str) -> int:
    return TABLE.encode_instruction(parse_instruction(text, MACHINE))


def test_learning_rewards_charge_every_instruction_but_stop():
    rewards, actions = np.array([3.0, 0.0, 5.0]), np.array([code("ld %3, r1"), STOP, code("add r1, r2, r3")])
    assert learning_rewards(rewards, actions, STOP, SCALE, COST).tolist() == pytest.approx(
        [(3 - COST) * SCALE, 0.0, (5 - COST) * SCALE])
    assert learning_rewards(rewards, actions, STOP, SCALE).tolist() == pytest.approx((rewards * SCALE).tolist())
    as_tensor = learning_rewards(torch.tensor(rewards), torch.tensor(actions), STOP, SCALE, COST)
    assert as_tensor.tolist() == pytest.approx([(3 - COST) * SCALE, 0.0, (5 - COST) * SCALE])


def observation() -> tuple[torch.Tensor, ...]:
    program = torch.full((2, MACHINE.max_length), MACHINE.num_actions)
    program[1, :2] = torch.tensor([code("ld %3, r1"), code("ld %7, r2")])
    registers = torch.tensor([[0.0, 0, 0, 0], [3, 7, 0, 0]])
    return program, registers, torch.tensor([[3.0, 7, 10, 4], [3, 7, 10, 4]])


def test_the_afterstate_network_charges_the_cost_in_its_rewards_and_drops_the_tie_break():
    free = AfterstateQNetwork(MACHINE, 16, 2, {}, SCALE)
    charged = AfterstateQNetwork(MACHINE, 16, 2, {}, SCALE, instruction_cost=COST)
    program, registers, target = observation()
    actions = torch.arange(MACHINE.num_actions).expand(2, -1)
    written = torch.remainder(registers @ free.mixing + free.const, 256).long()
    instruction = (actions != STOP).float()
    free_reward = free.rewards(program, registers.long(), target.long(), actions, written)[0]
    charged_reward = charged.rewards(program, registers.long(), target.long(), actions, written)[0]
    assert torch.allclose(charged_reward - free_reward, -COST * SCALE * instruction, atol=1e-6)
    # Q = the charged reward + V, and no tie-break on top: the last slot's Q is the reward alone.
    last = torch.full((1, MACHINE.max_length), MACHINE.num_actions)
    last[0, :4] = torch.tensor([code("ld %3, r1")] * 4)
    q = charged(last, registers[:1], target[:1])
    reward = charged.rewards(last, registers[:1].long(), target[:1].long(), actions[:1], written[:1])[0]
    assert torch.allclose(q, reward, atol=1e-6)


def test_with_a_cost_v_is_the_distance_it_closes_less_the_cost_of_the_instructions_it_uses():
    """Two shares apart: A within the reward's bounds, N of the instructions left (`bounded`)."""
    free = AfterstateQNetwork(MACHINE, 16, 2, {}, SCALE)
    charged = AfterstateQNetwork(MACHINE, 16, 2, {}, SCALE, instruction_cost=COST)
    assert free.head[-1].out_features == 1 and charged.head[-1].out_features == 2
    distance, steps_left = torch.tensor([10.0, 0.0]), torch.tensor([3, 2])
    shares = torch.tensor([[1.0, 2 / 3], [1.0, 0.0]])  # all of the distance closed, with 2 of 3 instructions
    assert charged.bounded(shares, distance, steps_left).tolist() == pytest.approx(
        [(10 - COST * 2) * SCALE, 0.0])  # a solved state is worth nothing more, and costs nothing
    assert free.bounded(shares[:, 0], distance, steps_left).tolist() == pytest.approx([10 * SCALE, 0.0])


def test_the_known_reward_network_charges_the_cost_and_its_spec_keeps_it():
    spec = network_spec("known_reward_q", MACHINE, 8, 16, 1, reward_func="Specific_register_values",
                        reward_settings={}, reward_scale=SCALE, instruction_cost=COST)
    torch.manual_seed(0)
    charged = build_network(spec)
    torch.manual_seed(0)
    free = KnownRewardQNetwork(MACHINE, 8, 16, 1, {}, SCALE)
    instruction = (torch.arange(MACHINE.num_actions) != STOP).float()
    difference = charged(*observation()) - free(*observation())
    assert torch.allclose(difference, (-COST * SCALE * instruction).expand_as(difference), atol=1e-6)
    assert charged.instruction_cost == COST and network_scorer(charged, MACHINE).instruction_cost == COST


def solving_memory(cost: float) -> SelfImitation:
    params = DQNParameters(h_size=8, middle_size=16, batch_size=16, num_envs=2, replay_buffer_size=100,
                           known_rewards=True, self_imitation=True, demo_buffer_size=50, instruction_cost=cost,
                           reward_scale=SCALE)
    target = np.array([17, 0, 12, 29])
    setup = AgentSetup(params, MACHINE, FixedOrRandomTasks(target, np.zeros(4, dtype=np.int64)),
                       Specific_register_values(), episodes=100, seed=0)
    memory = SelfImitation(setup, params, num_envs=2)
    memory.started({"registers": np.zeros((2, 4), dtype=np.int64)})
    return memory


# The demo's program before the cost: a dead load (r4 is written again) and the last add repeated.
PADDED = [code("ld %17, r1"), code("ld %19, r4"), code("ld %12, r3"), code("add r3, r1, r4"), code("add r3, r1, r4")]
SHORTEST = (code("ld %17, r1"), code("ld %12, r3"), code("add r3, r1, r4"), STOP)


def ended(actions: list[int]) -> dict[str, np.ndarray]:
    program = np.full((2, MACHINE.max_length), MACHINE.num_actions, dtype=np.int64)
    program[0, :len(actions)] = actions
    return {"program": program, "registers": np.zeros((2, 4), dtype=np.int64),
            "target": np.array([[17, 0, 12, 29]] * 2, dtype=np.int64)}


def test_with_a_cost_self_imitation_keeps_the_program_without_its_dead_instructions_then_stop():
    memory = solving_memory(COST)
    memory.ended(ended(PADDED), np.array([True, False]), np.array([0]))
    assert [solution[0] for solution in memory.solutions.values()] == [SHORTEST]
    memory.batch_share(16)
    batch = memory.replay.sample(32, np.random.default_rng(0))
    rewards = dict(zip(batch.action.tolist(), batch.reward.tolist(), strict=True))
    assert rewards[code("ld %17, r1")] == pytest.approx((17 - COST) * SCALE)  # the cost is in the demonstration
    assert rewards[STOP] == 0.0
    # Without a cost the program is kept as it was played (the presets without one learn as before).
    free = solving_memory(0.0)
    free.ended(ended(PADDED), np.array([True, False]), np.array([0]))
    assert [solution[0] for solution in free.solutions.values()] == [tuple(PADDED)]


def test_a_program_of_fewer_instructions_replaces_the_kept_one_and_the_same_program_again_changes_nothing():
    memory = solving_memory(COST)
    longer = [code("ld %12, r3"), code("ld %17, r1"), code("ld %5, r2"), code("add r1, r3, r4"), code("sub r2, r2, r2")]
    memory.ended(ended(longer), np.array([True, False]), np.array([0]))
    first = list(memory.solutions.values())[0][0]
    assert first == (code("ld %12, r3"), code("ld %17, r1"), code("add r1, r3, r4"), STOP)
    memory.changed = False
    memory.ended(ended(longer), np.array([True, False]), np.array([0]))
    assert not memory.changed  # the same program: nothing new
    memory.ended(ended(PADDED), np.array([True, False]), np.array([0]))
    assert list(memory.solutions.values())[0][0] == first  # as short, not shorter: the first stays


def config_with_cost(cost: float, max_length: int = 5) -> dict:
    config = json.loads((ROOT / "config.json").read_text())
    config["settings"]["toy_corewar"]["MAX_LENGTH"] = max_length
    config["presets"]["DQN"]["parameters"]["instruction_cost"] = cost
    return config


def test_the_cost_must_stay_below_one_unit_of_distance_over_a_whole_program():
    assert parse_config(config_with_cost(0.19)).presets["DQN"].parameters.instruction_cost == 0.19
    with pytest.raises(ConfigError, match=r"presets\.DQN\.parameters\.instruction_cost: 0\.2 times MAX_LENGTH 5"):
        parse_config(config_with_cost(0.2))
    with pytest.raises(ConfigError, match="MAX_LENGTH 10"):
        parse_config(config_with_cost(0.1, max_length=10))


def test_the_shipped_dqn_preset_writes_the_shortest_program_greedily_and_by_guided_search(tmp_path):
    config = json.loads((ROOT / "config.json").read_text())
    assert config["presets"]["DQN"]["parameters"]["instruction_cost"] > 0
    target = [17, 0, 12, 29]
    run = {"id": 1, "algo": "DQN", "episodes": 600, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [target], "alternate_freq": 0}, "reg_inits": None}
    result = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0)
    assert result.status == "finished", result.traceback
    network, checkpoint = load_network(tmp_path / "run" / "models" / "last")
    optimum = Synthesizer(MACHINE).shortest_program(target).length
    assert optimum == 3
    env = ToyCorewarEnv(target=target)  # the program the agent writes, greedily, as evaluation plays it
    obs, _ = env.reset()
    done, policy = False, greedy_policy(network)
    while not done:
        obs, _, done, _, info = env.step(int(policy({k: v[np.newaxis] for k, v in obs.items()})[0]))
    assert info["solved"] and env.program == [*env.program[:optimum], STOP], env.program
    for budget in (0, 100):  # what guided search reports: its greedy program, and after expansions
        found = guided_search(network_scorer(network, MACHINE), MACHINE, env.reward, target, None, budget,
                              checkpoint["reward_scale"])
        assert found.program is not None and final_registers(found.program) == target
        assert len(found.program) == optimum, [str(i) for i in found.program]


@pytest.mark.parametrize("algo", ["AC", "PG"])
def test_the_on_policy_agents_take_the_cost_into_their_afterstate_networks(tmp_path, algo):
    config = json.loads((ROOT / "config.json").read_text())
    config["settings"].update(ASSESS_FREQ=20, LOG_FREQ=40, SAVE_FREQ=40)
    config["presets"][algo]["parameters"]["instruction_cost"] = COST
    run = {"id": 1, "algo": algo, "episodes": 40, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [[17, 0, 12, 29]], "alternate_freq": 0}, "reg_inits": None}
    result = train_run(run, config, str(tmp_path / "run"), str(tmp_path / "tb"), seed=0)
    assert result.status == "finished", result.traceback
    network, checkpoint = load_network(tmp_path / "run" / "models" / "last")
    assert checkpoint["network_spec"]["instruction_cost"] == COST
    assert network.actor.instruction_cost == network.critic.instruction_cost == COST
