"""The afterstate Q-network: Q(s, a) = the exact reward + V(state after a); V's decomposed first layer
equals V computed on the afterstate itself, and its reachability flags are what the machine can do."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from agents.afterstate import TIE_BREAK, AfterstateQNetwork
from agents.machine_arithmetic import observation_tensors
from agents.networks import build_network, network_spec
from environment import ToyCorewarEnv
from toycorewar import ActionTable, MachineConfig

MACHINE = MachineConfig()
TABLE = ActionTable(MACHINE)
SETTINGS = [dict(zip(("circular", "positive", "cumulative"), values, strict=True))
            for values in itertools.product([True, False], repeat=3)]


def network(settings: dict | None = None, scale: float = 0.05) -> AfterstateQNetwork:
    torch.manual_seed(0)
    return AfterstateQNetwork(MACHINE, 16, 2, settings or {}, scale)


def observation(prefix: list[int], target: list[int]) -> tuple[dict, list[int]]:
    env = ToyCorewarEnv(target=target)
    obs, info = env.reset()
    for action in prefix:
        obs, _, _, _, info = env.step(action)
    return {k: v[np.newaxis] for k, v in obs.items()}, info["registers"]


def states(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        prefix = [int(a) for a in rng.integers(0, TABLE.stop_action, size=rng.integers(0, MACHINE.max_length))]
        yield prefix, [int(v) for v in rng.integers(0, 256, size=4)]


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "-".join(k for k, v in s.items() if v) or "none")
def test_the_exact_part_is_the_environments_scaled_reward_for_every_action(settings):
    net = network(settings)
    actions = torch.arange(MACHINE.num_actions).unsqueeze(0)
    for prefix, target in states(2):
        obs, registers = observation(prefix, target)
        program, r, t = observation_tensors(obs, torch.device("cpu"))
        written = torch.remainder(r @ net.mixing + net.const, 256).long().gather(1, actions)
        reward, done, distance, _ = net.rewards(program, r.long(), t.long(), actions, written)
        for action in range(MACHINE.num_actions):
            env = ToyCorewarEnv(target=target, **settings)
            env.reset()
            for earlier in prefix:
                env.step(earlier)
            _, expected, terminated, _, info = env.step(action)
            assert float(reward[0, action]) == pytest.approx(expected * 0.05, rel=1e-6, abs=1e-6)
            assert bool(done[0, action]) == terminated
            assert int(distance[0, action]) == int(env.reward.distance(info["registers"], target))


def one_step_right(registers: list[int], target: list[int]) -> list[bool]:
    """For each register, whether some instruction leaves it at its target (by the plain table)."""
    children = np.repeat(np.array([registers]), TABLE.stop_action, axis=0)
    TABLE.execute_batch(children, np.arange(TABLE.stop_action))
    return [bool((children[:, j] == target[j]).any()) for j in range(len(target))]


def test_reachable_is_what_one_instruction_can_make_right():
    net = network()
    actions = torch.arange(TABLE.stop_action).unsqueeze(0)
    for _, target in states(6, seed=1):
        for registers in ([0, 0, 0, 0], [19, 7, 200, 3], target[:2] + [5, 250]):
            r, t = torch.tensor([registers]), torch.tensor([target])
            written = torch.remainder(r.float() @ net.mixing + net.const, 256).long().gather(1, actions)
            flags = net.reachable(r, t, net.dest[actions], written)[0]
            for action in range(TABLE.stop_action):
                after = np.array([registers])
                TABLE.execute_batch(after, np.array([action]))
                assert flags[action].tolist() == one_step_right(after[0].tolist(), target), (registers, action)


def reference_value(net: AfterstateQNetwork, registers: list[int], target: list[int], slots_left: int) -> float:
    """V written directly on the afterstate's own registers (no decomposition)."""
    r = torch.tensor([registers])
    t = torch.tensor([target])
    offsets = torch.arange(4) * 256
    gap = torch.remainder(t - r, 256)
    first = (net.value_vectors(r + offsets).sum(1) + net.gap_vectors(gap + offsets).sum(1)
             + net.target_vectors(t + offsets).sum(1) + net.slot_vectors(torch.tensor([slots_left])))
    stop = torch.tensor([[TABLE.stop_action]])  # writes nothing new: r1 <- r1
    flags = torch.cat([net.reachable(r, t, net.dest[stop], r[:, :1]).float()[0],
                       (t < MACHINE.n_vals).float(), net.related(t).float(), (r != t).sum(1, keepdim=True) / 4], dim=1)
    low, high = net.reward.return_bounds(float(net.reward.distance(registers, target)), float(max(slots_left, 1)))
    return (low + (high - low) * float(torch.sigmoid(net.head(first + net.flags(flags)))[0, 0])) * net.reward_scale


def test_q_is_the_reward_plus_v_computed_on_each_afterstate():
    net = network()
    for prefix, target in states(4, seed=2):
        prefix = prefix[:MACHINE.max_length - 2]  # the next action leaves at least one slot: V counts
        obs, registers = observation(prefix, target)
        with torch.no_grad():
            q = net(*observation_tensors(obs, torch.device("cpu")))[0]
            for action in range(0, TABLE.stop_action, 5):
                after = np.array([registers])
                TABLE.execute_batch(after, np.array([action]))
                env = ToyCorewarEnv(target=target)
                env.reset()
                for earlier in prefix:
                    env.step(earlier)
                _, reward, *_ = env.step(action)
                slots_left = MACHINE.max_length - len(prefix) - 1
                value = reference_value(net, after[0].tolist(), target, slots_left)
                expected = reward * 0.05 + value - TIE_BREAK * 0.05
                assert float(q[action]) == pytest.approx(expected, abs=1e-5), (prefix, action)


def test_a_saved_afterstate_spec_rebuilds_the_same_network():
    spec = network_spec("afterstate_q", MACHINE, 16, 16, 1, effect_size=2, reward_func="Specific_register_values",
                        reward_settings={"circular": True, "positive": True, "cumulative": True}, reward_scale=0.05)
    torch.manual_seed(0)
    first = build_network(spec)
    second = build_network(spec)
    second.load_state_dict(first.state_dict())
    obs, _ = observation([3, 100], [17, 0, 12, 29])
    tensors = observation_tensors(obs, torch.device("cpu"))
    with torch.no_grad():
        assert torch.equal(first(*tensors), second(*tensors))


def test_a_solved_state_stops_rather_than_marking_time():
    net = network()
    obs, registers = observation([TABLE.encode_instruction(TABLE.instructions[5])], [5, 0, 0, 0])  # ld %5, r1
    assert registers == [5, 0, 0, 0]
    with torch.no_grad():
        q = net(*observation_tensors(obs, torch.device("cpu")))[0]
    assert int(q.argmax()) == TABLE.stop_action and float(q[TABLE.stop_action]) == 0.0


@pytest.mark.parametrize("registers, values", [(4, 20), (2, 4), (6, 10)])
def test_reach_masks_are_the_reachable_flags_as_bits(registers, values):
    """The tables of `reach_masks` (every action at once) agree with `reachable` (action by action)."""
    machine = MachineConfig(num_registers=registers, n_vals=values)
    torch.manual_seed(0)
    net = AfterstateQNetwork(machine, 16, 2, {}, 0.05)
    rng = np.random.default_rng(registers)
    state = torch.as_tensor(rng.integers(0, 256, size=(300, registers)))
    target = torch.as_tensor(rng.integers(0, 256, size=(300, registers)))
    # Targets one instruction away: a sum, a clear, a double, a load value, a difference.
    target[:, 0] = (state[:, 1 % registers] + state[:, -1]) % 256
    target[:20, -1] = 0
    target[20:60, 1 % registers] = (2 * state[20:60, 0]) % 256
    target[60:90, -1] %= values
    target[90:120, 0] = (state[90:120, -1] - 7) % 256
    actions = net.all_actions.expand(300, -1)
    written = torch.remainder(state.float() @ net.mixing + net.const, 256).long()
    flags = net.reachable(state, target, net.dest[actions], written)
    masks = net.reach_masks(state, target, net.dest[actions], written)
    assert torch.equal(masks, (flags.long() << torch.arange(registers)).sum(dim=2))
    assert 0.05 < flags.float().mean() < 0.95


def test_actions_of_one_class_have_the_same_effect_and_every_action_its_own_value():
    """Q of every action is computed once per class of actions with the same effect, and in a state
    with one slot left without V: the values equal those of each action asked alone."""
    net = network()
    classes = net.action_class.tolist()
    assert len(set(classes)) < MACHINE.num_actions and classes[TABLE.stop_action] not in classes[:TABLE.stop_action]
    rng = np.random.default_rng(3)
    for _ in range(20):
        registers = rng.integers(0, 256, size=(1, 4))
        for members in ([a for a in range(TABLE.stop_action) if classes[a] == c]
                        for c in set(classes[:TABLE.stop_action])):
            afters = np.repeat(registers, len(members), axis=0)
            TABLE.execute_batch(afters, np.array(members))
            assert (afters == afters[0]).all()
    for prefix, target in states(6, seed=4):
        for cut in (prefix, (prefix + [0] * MACHINE.max_length)[:MACHINE.max_length - 1]):
            obs, _ = observation(cut, target)
            inputs = observation_tensors(obs, torch.device("cpu"))
            with torch.no_grad():
                every = net(*inputs)[0]
                alone = torch.cat([net.action_values(*inputs, actions=torch.tensor([[a]]))[0]
                                   for a in range(MACHINE.num_actions)])
            assert torch.allclose(every, alone, atol=1e-6), cut
