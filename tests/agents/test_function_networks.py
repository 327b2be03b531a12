"""The networks on a function task (docs/reference.md §10): every kind reads a set of examples without
depending on their order, sees which registers matter but never a target where one does not, its exact
rewards are the environment's over every example and every register that matters, the afterstate
flags are what one instruction does on every example; and the constant-target networks are exactly
those of before."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.afterstate import TIE_BREAK, AfterstateQNetwork
from agents.machine_arithmetic import observation_tensors
from agents.networks import KnownRewardQNetwork, NetworkScorer, build_network, greedy_policy, network_spec
from environment.rewards import make_reward
from toycorewar import ActionTable, MachineConfig

MACHINE = MachineConfig()
TABLE = ActionTable(MACHINE)
CPU = torch.device("cpu")
SETTINGS = {"circular": True, "positive": True, "cumulative": True}
ALL_SETTINGS = [dict(zip(("circular", "positive", "cumulative"), values, strict=True))
                for values in itertools.product([True, False], repeat=3)]
KINDS = ["dueling_q", "dueling_q_effect", "known_reward_q", "policy_value", "afterstate_q", "afterstate_policy_value"]


def spec(kind: str, **extra: object) -> dict:
    """A small network of each kind (the spec of a saved model)."""
    rewards = {"reward_func": "Specific_register_values", "reward_settings": SETTINGS, "reward_scale": 0.1}
    if kind == "dueling_q":
        return network_spec("dueling_q", MACHINE, 8, 16, 1, **extra)
    if kind == "dueling_q_effect":
        return network_spec("dueling_q", MACHINE, 8, 16, 1, register_size=12, effect_size=4, **extra)
    if kind == "known_reward_q":
        return network_spec(kind, MACHINE, 8, 16, 1, register_size=12, effect_size=4, **rewards, **extra)
    if kind == "policy_value":
        return network_spec(kind, MACHINE, 8, 16, 1, **extra)
    if kind == "afterstate_q":
        return network_spec(kind, MACHINE, 16, 16, 1, effect_size=2, **rewards, **extra)
    return network_spec(kind, MACHINE, 16, 16, 1, effect_size=2, **{**rewards, "reward_scale": 0.05},
                        temperature=2.0, **extra)


def build(kind: str, **extra: object) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network(spec(kind, **extra))


def outputs(network: torch.nn.Module, *inputs: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        output = network(*inputs)
    return list(output) if isinstance(output, tuple) else [output]


def programs(lengths: list[int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    program = np.full((len(lengths), MACHINE.max_length), MACHINE.num_actions)
    for row, length in enumerate(lengths):
        program[row, :length] = rng.integers(0, TABLE.stop_action, length)
    return program


def function_batch(batch: int = 5, count: int = 4, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """(program, registers, target, matters) of `batch` function-task states of `count` examples: some
    registers right, some that do not matter (target 0 there), some on one example only."""
    rng = np.random.default_rng(seed)
    registers = rng.integers(0, 256, (batch, count, 4))
    matters = (rng.random((batch, 1, 4)) < 0.6) | (rng.random((batch, count, 4)) < 0.1)
    target = np.where(rng.random((batch, count, 4)) < 0.3, registers, rng.integers(0, 256, (batch, count, 4)))
    program = programs([row % MACHINE.max_length for row in range(batch)], seed)
    return (torch.tensor(program), torch.tensor(registers, dtype=torch.float32),
            torch.tensor(target * matters, dtype=torch.float32), torch.tensor(matters, dtype=torch.float32))


def constant_batch() -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(3)
    registers, target = rng.integers(0, 256, (5, 4)), rng.integers(0, 256, (5, 4))
    target[0] = registers[0]
    return (torch.tensor(programs(list(range(5)), 3)), torch.tensor(registers, dtype=torch.float32),
            torch.tensor(target, dtype=torch.float32))


# Computed with the code as it was before function tasks (torch.manual_seed(0), `constant_batch`):
# the sum of every parameter and of every output.
BEFORE = {"dueling_q": (1301.1560881430778, 47.76246390864253),
          "dueling_q_effect": (1213.946368077879, 277.38318651355803),
          "known_reward_q": (1213.946368077879, -1884.2168496251106),
          "policy_value": (1301.1560881430778, -16.303270203992724),
          "afterstate_q": (-5.3417554570446555, 7909.016259061362),
          "afterstate_policy_value": (-32.675874785089945, 39565.567836816655)}


@pytest.mark.parametrize("kind", KINDS)
def test_constant_target_networks_draw_the_same_weights_and_answer_as_before(kind):
    network = build(kind)
    assert not network.examples
    parameters = sum(float(value.double().sum()) for value in network.state_dict().values())
    answer = sum(float(output.double().sum()) for output in outputs(network, *constant_batch()))
    assert (parameters, answer) == pytest.approx(BEFORE[kind], rel=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_no_network_depends_on_the_order_of_the_examples(kind):
    network = build(kind, examples=True)
    program, registers, target, matters = function_batch()
    order = torch.tensor([2, 0, 3, 1])
    permuted = (program, registers[:, order], target[:, order], matters[:, order])
    for first, second in zip(outputs(network, program, registers, target, matters), outputs(network, *permuted),
                             strict=True):
        # Equal but for float32 rounding of the mean over the examples (relative 1e-7).
        assert torch.allclose(first, second, rtol=1e-6, atol=1e-6)
    if kind == "afterstate_q":
        with torch.no_grad():
            assert torch.allclose(network.state_values(program, registers, target, matters),
                                  network.state_values(*permuted), rtol=1e-6, atol=1e-6)
            some = torch.tensor([[0, 17, 224]]).expand(len(program), -1)
            assert torch.allclose(network.action_values(program, registers, target, matters, some),
                                  network.action_values(*permuted, actions=some), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_a_target_where_a_register_does_not_matter_is_never_read(kind):
    network = build(kind, examples=True)
    program, registers, target, matters = function_batch(seed=1)
    noise = torch.randint(0, 256, target.shape, generator=torch.Generator().manual_seed(1)).float()
    leaked = torch.where(matters > 0, target, noise)
    for clean, noisy in zip(outputs(network, program, registers, target, matters),
                            outputs(network, program, registers, leaked, matters), strict=True):
        assert torch.equal(clean, noisy)


@pytest.mark.parametrize("kind", KINDS)
def test_which_registers_matter_is_an_input(kind):
    network = build(kind, examples=True)
    program, registers, target, matters = function_batch(seed=2)
    # Register 4 holds 0 and its target is 0: whether it matters changes no distance, only what is seen.
    registers[..., 3], target[..., 3], matters[..., 3] = 0, 0, 1
    unmarked = matters.clone()
    unmarked[..., 3] = 0
    for marked, unmarked_output in zip(outputs(network, program, registers, target, matters),
                                       outputs(network, program, registers, target, unmarked), strict=True):
        assert not torch.allclose(marked, unmarked_output)


def environment_rewards(reward, program: np.ndarray, registers: np.ndarray, target: np.ndarray,
                        matters: np.ndarray) -> np.ndarray:
    """[NUM_ACTIONS]: the reward of each action at one function-task state, from the machine's own
    execution of the instruction on every example and the environment's reward function."""
    length = int((program != MACHINE.num_actions).sum()) + 1
    before = reward.distance(registers, target, matters)
    rewards = np.zeros(MACHINE.num_actions)
    for action in range(MACHINE.num_actions):
        after = registers.copy()
        TABLE.execute_batch(after, np.full(len(after), action))
        done = action == TABLE.stop_action or length >= MACHINE.max_length
        rewards[action] = reward.step_reward(before, reward.distance(after, target, matters), done,
                                             MACHINE.max_length - length)
    return rewards


@settings(max_examples=16, deadline=None)
@given(st.sampled_from(ALL_SETTINGS), st.integers(1, 5), st.integers(0, MACHINE.max_length - 1),
       st.integers(0, 2**16))
def test_the_exact_rewards_are_the_environments_over_every_example_and_register_that_matters(
        reward_settings, count, length, seed):
    program, registers, target, matters = function_batch(1, count, seed)
    program[0, length:] = MACHINE.num_actions
    program[0, :length] = torch.tensor(programs([length], seed)[0, :length])
    reward = make_reward("Specific_register_values", reward_settings)
    expected = environment_rewards(reward, program[0].numpy(), registers[0].long().numpy(), target[0].long().numpy(),
                                   matters[0].long().numpy()) * 0.1
    known = KnownRewardQNetwork(MACHINE, 8, 16, 1, reward_settings, 0.1, examples=True)
    assert np.allclose(known.rewards(program, registers, target, matters)[0].numpy(), expected, atol=1e-5)
    afterstate = AfterstateQNetwork(MACHINE, 8, 2, reward_settings, 0.1, examples=True)
    actions = afterstate.all_actions.unsqueeze(0)
    r = registers.long()
    written = torch.remainder(r.float() @ afterstate.mixing + afterstate.const, 256).long()
    rewards = afterstate.rewards(program, r, target.long(), actions, written, matters.long())[0]
    assert np.allclose(rewards[0].numpy(), expected, atol=1e-5)


def test_hand_worked_rewards_of_r3_equals_r1_plus_r2_on_two_examples():
    # Inputs (1, 2) and (3, 4); r3 should hold 3 and 7; nothing else matters. Distance before: 3 + 7.
    registers = torch.tensor([[[1.0, 2, 0, 0], [3, 4, 0, 0]]])
    target = torch.tensor([[[0.0, 0, 3, 0], [0, 0, 7, 0]]])
    matters = torch.tensor([[[0.0, 0, 1, 0], [0, 0, 1, 0]]])
    program = torch.tensor(programs([0]))
    code = {text: TABLE.encode_instruction(TABLE.instructions[a]) for a in range(MACHINE.num_actions)
            for text in [str(TABLE.instructions[a])]}
    actions = torch.tensor([[code["add r1, r2, r3"], code["ld %3, r3"], code["add r1, r1, r3"], code["ld %5, r1"],
                             code["stop"]]])
    positive = KnownRewardQNetwork(MACHINE, 8, 16, 1, SETTINGS, 0.1, examples=True)
    # 3 and 7 written: distance 0; 3 and 3: 0 + 4; 2 and 6: 1 + 1; r1 does not matter; stop changes nothing.
    assert positive.rewards(program, registers, target, matters, actions)[0].tolist() == pytest.approx(
        [1.0, 0.6, 0.8, 0.0, 0.0])
    cumulative = KnownRewardQNetwork(MACHINE, 8, 16, 1, {**SETTINGS, "positive": False}, 0.1, examples=True)
    # −D after; stop ends the program with 4 slots unused: −10 · (1 + 4).
    assert cumulative.rewards(program, registers, target, matters, actions)[0].tolist() == pytest.approx(
        [0.0, -0.4, -0.2, -1.0, -5.0])


def one_instruction_right(registers: np.ndarray, target: np.ndarray, matters: np.ndarray) -> list[bool]:
    """For each register, whether one instruction (of the plain table) leaves it right on every
    example where it matters."""
    count = len(registers)
    children = np.repeat(registers[np.newaxis], TABLE.stop_action, axis=0).reshape(-1, 4)
    TABLE.execute_batch(children, np.repeat(np.arange(TABLE.stop_action), count))
    right = (children.reshape(TABLE.stop_action, count, 4) == target) | (matters == 0)
    return right.all(axis=1).any(axis=0).tolist()


def function_tasks() -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(registers, target, matters) [3, 4] each: the inputs of a few functions and their outputs."""
    inputs = np.array([[1, 2, 9, 0], [30, 7, 200, 0], [255, 128, 3, 0]])
    r1, r2, r3 = inputs[:, 0], inputs[:, 1], inputs[:, 2]
    zero = np.zeros(3, dtype=np.int64)
    tasks = {"r3 = r1 + r2": (zero, zero, (r1 + r2) % 256, zero), "r1 = r2; r2 = r1": (r2, r1, zero, zero),
             "r4 = 7": (zero, zero, zero, zero + 7), "r1 = 2 * r1": ((2 * r1) % 256, zero, zero, zero),
             "r2 = r1 - r3; r4 = r3": (zero, (r1 - r3) % 256, zero, r3)}
    assigned = {"r3 = r1 + r2": [2], "r1 = r2; r2 = r1": [0, 1], "r4 = 7": [3], "r1 = 2 * r1": [0],
                "r2 = r1 - r3; r4 = r3": [1, 3]}
    found = []
    for name, columns in tasks.items():
        matters = np.zeros((3, 4), dtype=np.int64)
        matters[:, assigned[name]] = 1
        found.append((inputs, np.stack(columns, axis=1) * matters, matters))
    rng = np.random.default_rng(4)
    matters = (rng.random((3, 4)) < 0.7).astype(np.int64)
    found.append((inputs, rng.integers(0, 256, (3, 4)) * matters, matters))  # an example set, a null here and there
    return found


def test_reachable_means_one_instruction_right_on_every_example_where_the_register_matters():
    net = build("afterstate_q", examples=True)
    actions = torch.arange(TABLE.stop_action).unsqueeze(0)
    seen = set()
    for registers, target, matters in function_tasks():
        r, t, m = (torch.tensor(x[np.newaxis]) for x in (registers, target, matters))
        written = torch.remainder(r.float() @ net.mixing + net.const, 256).long()[..., :TABLE.stop_action]
        flags = net.reachable(r, t, net.dest[actions], written, m)[0]
        for action in range(TABLE.stop_action):
            after = registers.copy()
            TABLE.execute_batch(after, np.full(3, action))
            expected = one_instruction_right(after, target, matters)
            assert flags[action].tolist() == expected, (target.tolist(), action)
            seen.update(expected)
    assert seen == {True, False}


def test_related_means_the_same_copy_sum_or_difference_of_targets_on_every_example():
    net = build("afterstate_q", examples=True)
    # t3 = t1 + t2 (so t1 = t3 − t2 and t2 = t3 − t1) on both examples; r4 matters on neither.
    target = torch.tensor([[[1, 2, 3, 0], [5, 6, 11, 0]]])
    matters = torch.tensor([[[1, 1, 1, 0], [1, 1, 1, 0]]])
    assert net.related(target, matters)[0].tolist() == [True, True, True, True]
    # t3 is t1 + t2 on the first example, 2 · t2 on the second: no one instruction gives both.
    target = torch.tensor([[[1, 2, 3, 0], [5, 6, 12, 0]]])
    assert net.related(target, matters)[0].tolist() == [False, False, False, True]
    # t4 copies t1 on both examples, but where t1 does not matter it is no target to copy.
    target = torch.tensor([[[1, 2, 200, 1], [5, 6, 100, 5]]])
    assert net.related(target, torch.ones_like(target))[0].tolist() == [True, False, False, True]
    partly = torch.tensor([[[1, 1, 1, 1], [0, 1, 1, 1]]])
    assert net.related(target * partly, partly)[0].tolist() == [True, False, False, False]


def test_afterstate_q_is_the_reward_plus_the_value_of_each_afterstate_itself():
    net = build("afterstate_q", examples=True)
    reward = net.reward
    for registers, target, matters in function_tasks():
        program = programs([2], seed=int(target.sum()))
        tensors = (torch.tensor(program), torch.tensor(registers[np.newaxis]).float(),
                   torch.tensor(target[np.newaxis]).float(), torch.tensor(matters[np.newaxis]).float())
        with torch.no_grad():
            q = net(*tensors)[0]
            for action in range(0, TABLE.stop_action, 9):
                after = registers.copy()
                TABLE.execute_batch(after, np.full(3, action))
                longer = program.copy()
                longer[0, 2] = action
                value = net.state_values(torch.tensor(longer), torch.tensor(after[np.newaxis]).float(), *tensors[2:])
                step = reward.step_reward(reward.distance(registers, target, matters),
                                          reward.distance(after, target, matters), False, MACHINE.max_length - 3)
                expected = step * 0.1 + float(value[0]) - TIE_BREAK * 0.1
                assert float(q[action]) == pytest.approx(expected, abs=1e-4), action


def test_afterstate_values_stay_within_the_reward_bounds_and_a_solved_task_stops():
    net = build("afterstate_q", examples=True)
    program, registers, target, matters = function_batch(6, 3, seed=5)
    with torch.no_grad():
        values = net.state_values(program, registers, target, matters)
        distance = net.reward.distance(registers.long(), target.long(), matters.long()).float()
        steps = (MACHINE.max_length - (program != MACHINE.num_actions).sum(dim=1)).clamp(min=1).float()
        low, high = net.reward.return_bounds(distance, steps)
        assert ((values >= low * 0.1 - 1e-5) & (values <= high * 0.1 + 1e-5)).all()
        solved = torch.where(matters > 0, registers, torch.zeros_like(registers))
        q = net(program, registers, solved, matters)
    assert (q.argmax(dim=1) == TABLE.stop_action).all() and (q[:, TABLE.stop_action] == 0).all()


def test_observation_tensors_add_matters_fourth_and_greedy_policy_reads_them():
    program, registers, target, matters = function_batch(3, 2)
    obs = {"program": program.numpy(), "registers": registers.long().numpy(), "target": target.long().numpy(),
           "matters": matters.to(torch.int8).numpy()}
    tensors = observation_tensors(obs, CPU)
    assert len(tensors) == 4 and tensors[3].shape == (3, 2, 4) and torch.equal(tensors[3], matters)
    assert len(observation_tensors({k: v for k, v in obs.items() if k != "matters"}, CPU)) == 3
    for kind in ("afterstate_q", "policy_value"):
        network = build(kind, examples=True)
        expected = outputs(network, *tensors)[0].argmax(dim=1).numpy()
        assert np.array_equal(greedy_policy(network)(obs), expected)


@pytest.mark.parametrize("kind", ["known_reward_q", "policy_value"])
def test_the_network_scorer_scores_a_function_node(kind):
    network = build(kind, examples=True)
    program, registers, target, matters = function_batch(1, 3, seed=6)
    prefix = [int(a) for a in program[0] if a != MACHINE.num_actions]
    scores = NetworkScorer(network, MACHINE).scores(prefix, registers[0].long().numpy(), target[0].long().numpy(),
                                                    matters[0].long().numpy())
    direct = outputs(network, program, registers, target, matters)[0][0]
    expected = torch.log_softmax(direct, dim=0) if kind == "policy_value" else direct
    assert scores.shape == (MACHINE.num_actions,) and np.allclose(scores, expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_a_function_network_rebuilds_from_its_spec_and_an_old_spec_reads_constant_targets(kind):
    saved = spec(kind, examples=True)
    first, second = build_network(saved), build_network(saved)
    second.load_state_dict(first.state_dict())
    batch = function_batch()
    for a, b in zip(outputs(first, *batch), outputs(second, *batch), strict=True):
        assert torch.equal(a, b)
    old = {key: value for key, value in spec(kind).items() if key != "examples"}
    assert not build_network(old).examples


def test_a_constant_network_refuses_examples_and_a_function_network_reads_a_constant_task_as_one_example():
    with pytest.raises(ValueError, match="examples=True"):
        build("dueling_q")(*function_batch())
    network = build("afterstate_q", examples=True)
    program, registers, target = constant_batch()
    as_examples = (program, registers.unsqueeze(1), target.unsqueeze(1), torch.ones_like(target).unsqueeze(1))
    assert torch.equal(outputs(network, program, registers, target)[0], outputs(network, *as_examples)[0])
