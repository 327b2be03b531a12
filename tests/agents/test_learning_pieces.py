"""Hand-worked checks of the pieces the agents learn with: exploration schedule, dueling head,
returns of actor-critic and REINFORCE, checkpoints."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agents.actor_critic import AC_Agent
from agents.dqn import DQN_Agent
from agents.networks import DuelingQNetwork, build_network, network_spec
from agents.parameters import DQNParameters
from agents.policy_gradient import PG_Agent
from toycorewar import MachineConfig
from training.checkpoints import load_network, save_checkpoint


@pytest.mark.parametrize(("decay", "episodes", "expected"), [(0.5, 1000, 500), (2.0, 1000, 2000), (300, 1000, 300)])
def test_epsilon_decay_steps_float_is_a_fraction_and_int_a_count(decay, episodes, expected):
    assert DQNParameters(epsilon_decay_steps=decay).decay_episodes(episodes) == expected


def test_epsilon_falls_linearly_then_stays_final():
    agent = SimpleNamespace(params=DQNParameters(initial_epsilon=1.0, final_epsilon=0.1), decay_episodes=100)
    values = [DQN_Agent.epsilon(agent, e) for e in (0, 50, 100, 1000)]
    assert values == pytest.approx([1.0, 0.55, 0.1, 0.1])


def test_dueling_head_centres_advantages_per_state():
    torch.manual_seed(0)
    net = DuelingQNetwork(MachineConfig(), 8, 16, 1)
    program = torch.full((3, 5), 225)
    registers, target = torch.zeros(3, 4), torch.tensor([[1.0, 2, 3, 4]] * 3)
    q = net(program, registers, target)
    features = net.encoder(program, registers, target)
    # mean over actions of Q equals V: the advantages sum to zero in every state.
    assert torch.allclose(q.mean(dim=1), net.value(features).squeeze(1), atol=1e-6)


def returns_of(agent_class, rewards, terminated, last_values, gamma, values=None, gae_lambda=1.0):
    agent = SimpleNamespace(params=SimpleNamespace(gamma=gamma, gae_lambda=gae_lambda))
    values = torch.zeros(len(rewards), len(rewards[0])) if values is None else torch.tensor(values)
    return agent_class.returns(agent, torch.tensor(rewards), torch.tensor(terminated), values,
                               torch.tensor(last_values))


def test_actor_critic_returns_bootstrap_from_the_critic_after_the_rollout():
    # One copy: steps 0,1 end an episode; step 2 starts another, cut by the rollout's end (value 10).
    returns, mask = returns_of(AC_Agent, [[1.0], [2.0], [3.0]], [[False], [True], [False]], [10.0], gamma=0.5)
    assert returns.squeeze(1).tolist() == [2.0, 2.0, 8.0]  # 1 + 0.5·2; 2; 3 + 0.5·10
    assert mask.all()


def test_actor_critic_advantages_are_gae_lambda_worked_by_hand():
    # V(s_0..s_2) = 4, 1, 2; the episode of steps 0-1 ends at step 1, step 2's is cut (V after it: 10).
    rewards, terminated, values = [[1.0], [2.0], [3.0]], [[False], [True], [False]], [[4.0], [1.0], [2.0]]
    gamma, lam = 0.5, 0.5
    delta = [1 + gamma * 1 - 4, 2 - 1, 3 + gamma * 10 - 2]  # r + γV(s') − V(s); V after the episode's end: 0
    advantage = [delta[0] + gamma * lam * delta[1], delta[1], delta[2]]  # no sum across the episode's end
    returns, mask = returns_of(AC_Agent, rewards, terminated, [10.0], gamma, values, gae_lambda=lam)
    assert returns.squeeze(1).tolist() == pytest.approx([a + v[0] for a, v in zip(advantage, values, strict=True)])
    # λ = 1: the n-step return, whatever V is; λ = 0: the one-step target r + γV(s').
    one, _ = returns_of(AC_Agent, rewards, terminated, [10.0], gamma, values, gae_lambda=1.0)
    assert one.squeeze(1).tolist() == pytest.approx([2.0, 2.0, 8.0])
    zero, _ = returns_of(AC_Agent, rewards, terminated, [10.0], gamma, values, gae_lambda=0.0)
    assert zero.squeeze(1).tolist() == pytest.approx([1 + gamma * 1, 2.0, 3 + gamma * 10])


def test_reinforce_returns_learn_only_from_episodes_that_ended():
    returns, mask = returns_of(PG_Agent, [[1.0], [2.0], [3.0]], [[False], [True], [False]], [10.0], gamma=0.5,
                               values=[[4.0], [1.0], [2.0]])
    assert returns.squeeze(1).tolist()[:2] == [2.0, 2.0]  # Monte-Carlo: the critic's values play no part
    assert mask.squeeze(1).tolist() == [True, True, False]


def on_policy_run(tmp_path, algo: str, parameters: dict) -> list:
    from training.run import train_run
    config = {"settings": {"ASSESS_FREQ": 50, "LOG_FREQ": 10**9, "SAVE_FREQ": 100},
              "presets": {algo: {"agent": f"{algo}_Agent", "parameters": parameters}}}
    run = {"id": 1, "algo": algo, "episodes": 200, "reward_func": "Specific_register_values",
           "reward_settings": {"circular": True, "positive": True, "cumulative": True},
           "targets": {"values": [[0, 10, 30, 250]], "alternate_freq": 0}, "reg_inits": None}
    result = train_run(run, config, str(tmp_path / algo / "run"), str(tmp_path / algo / "tb"), seed=0)
    assert result.status == "finished", result.traceback
    state = torch.load(tmp_path / algo / "run" / "models" / "last", weights_only=True)
    return [tensor.clone() for tensor in state["network"].values()]


def test_a2c_and_reinforce_learn_differently_from_the_same_seed(tmp_path):
    """The same network, parameters and seed: A2C's GAE(0.95) advantages (and its rollouts of 2 steps,
    which cut the 5-step episodes) against REINFORCE's Monte-Carlo returns give other weights; with
    λ = 1 and whole-episode rollouts (every episode here lasts MAX_LENGTH steps) they coincide."""
    shared = {"h_size": 8, "middle_size": 16, "afterstate": True, "num_envs": 4, "gamma": 1.0}
    reinforce = on_policy_run(tmp_path / "pg", "PG", shared)
    for options, differs in (({"gae_lambda": 0.95}, True), ({"n_steps": 2}, True), ({}, False)):
        a2c = on_policy_run(tmp_path / str(options), "AC", {**shared, **options})
        close = all(torch.allclose(a, b, atol=1e-5) for a, b in zip(a2c, reinforce, strict=True))
        assert close is not differs, options


@pytest.mark.parametrize("kind", ["dueling_q", "known_reward_q"])
def test_checkpoint_loads_with_weights_only_and_rebuilds_the_network(tmp_path, kind):
    extra = {"reward_settings": {"circular": False, "positive": True, "cumulative": True}, "reward_scale": 0.1}
    spec = network_spec(kind, MachineConfig(), 8, 16, 1, **(extra if kind == "known_reward_q" else {}))
    net = build_network(spec)
    save_checkpoint(tmp_path / "best", {"network_spec": spec, "network": net.state_dict(), "episode": 7,
                                        "rng": np.random.default_rng(0).bit_generator.state})
    raw = torch.load(tmp_path / "best", weights_only=True)
    assert raw["episode"] == 7 and raw["network_spec"] == spec
    rebuilt, _ = load_network(tmp_path / "best")
    for name, tensor in net.state_dict().items():
        assert torch.equal(rebuilt.state_dict()[name], tensor)
    assert not (tmp_path / ".best.tmp").exists()
    program, registers, target = torch.full((2, 5), 225), torch.tensor([[0.0, 3, 250, 7]] * 2), torch.ones(2, 4) * 9
    assert torch.equal(rebuilt(program, registers, target), net(program, registers, target))


def test_register_size_widens_the_register_reader_only_and_is_saved_in_the_spec(tmp_path):
    spec = network_spec("dueling_q", MachineConfig(), 8, 16, 1, register_size=24)
    net = build_network(spec)
    assert spec["register_size"] == 24
    assert net.encoder.lstm.hidden_size == 8 and net.encoder.value_embedding.embedding_dim == 24
    assert net.encoder.registers_mlp[-2].out_features == 24 and net.encoder.middle[0].in_features == 8 + 24
    save_checkpoint(tmp_path / "best", {"network_spec": spec, "network": net.state_dict()})
    rebuilt, _ = load_network(tmp_path / "best")
    assert rebuilt.encoder.value_embedding.embedding_dim == 24
    # A spec saved before register_size existed reads the registers at h_size.
    old = {key: value for key, value in spec.items() if key != "register_size"}
    assert build_network(old).encoder.value_embedding.embedding_dim == 8
    assert network_spec("dueling_q", MachineConfig(), 8, 16, 1)["register_size"] == 8


def test_a_known_reward_spec_saved_before_reward_func_builds_the_reward_it_was_trained_with():
    settings = {"circular": False, "positive": False, "cumulative": True}
    spec = network_spec("known_reward_q", MachineConfig(), 8, 16, 1, reward_settings=settings, reward_scale=0.1)
    assert "reward_func" not in spec  # as models were saved before it
    network = build_network(spec)
    assert network.reward.name == "Specific_register_values" and network.reward.settings == settings
    named = build_network({**spec, "reward_func": "Specific_register_values"})
    assert named.reward.settings == settings and named.reward_scale == 0.1
    with pytest.raises(ValueError, match="unknown reward function 'Register_values'"):
        build_network({**spec, "reward_func": "Register_values"})


def test_the_action_effect_term_reads_what_each_action_writes_on_the_machine():
    from agents.machine_arithmetic import written_values
    from toycorewar import ActionTable, execute

    machine = MachineConfig()
    net = DuelingQNetwork(machine, 8, 16, 1, effect_size=4)
    table = ActionTable(machine)
    rng = np.random.default_rng(3)
    registers = rng.integers(0, 256, size=(6, 4))
    written = written_values(net, torch.as_tensor(registers, dtype=torch.float32))
    for row, values in enumerate(registers.tolist()):
        for action in range(machine.num_actions - 1):  # stop writes nothing
            after = execute(table.instructions[action], values)
            assert after[int(net.dest[action])] == int(written[row, action]), (values, table.instructions[action])
            assert [v for i, v in enumerate(after) if i != int(net.dest[action])] == \
                   [v for i, v in enumerate(values) if i != int(net.dest[action])]
    # The term changes the Q-values, and only through the advantage (centred per state).
    program, target = torch.full((6, 5), 225), torch.as_tensor(rng.integers(0, 256, size=(6, 4)), dtype=torch.float32)
    regs = torch.as_tensor(registers, dtype=torch.float32)
    features = net.encoder(program, regs, target)
    term = net.effect_advantage(features, regs, target)
    assert term.shape == (6, machine.num_actions) and term.abs().sum() > 0
    plain = net.value(features) + net.advantage(features) - net.advantage(features).mean(dim=1, keepdim=True)
    assert torch.allclose(net(program, regs, target), plain + term - term.mean(dim=1, keepdim=True), atol=1e-6)


def test_register_size_effect_size_and_known_rewards_are_checked():
    from training.config import ConfigError, parse_config
    dqn = {"agent": "DQN_Agent", "parameters": {"register_size": 32}}
    assert parse_config({"presets": {"DQN": dqn}}).presets["DQN"].parameters.register_size == 32
    for field, bad in (("register_size", 0), ("register_size", "64"), ("register_size", 1.5),
                       ("effect_size", -1), ("effect_size", "16"), ("known_rewards", 1)):
        with pytest.raises(ConfigError, match=rf"presets\.DQN\.parameters\.{field}"):
            parse_config({"presets": {"DQN": {"agent": "DQN_Agent", "parameters": {field: bad}}}})
    with pytest.raises(ConfigError, match=r"presets\.AC\.parameters.*known_rewards"):  # a DQN option only
        parse_config({"presets": {"AC": {"agent": "AC_Agent", "parameters": {"known_rewards": True}}}})
    # effect_size and afterstate are the on-policy agents' too (their afterstate network), checked alike.
    for field, bad in (("effect_size", -1), ("afterstate", 1), ("policy_temperature", 0.0)):
        with pytest.raises(ConfigError, match=rf"presets\.AC\.parameters\.{field}"):
            parse_config({"presets": {"AC": {"agent": "AC_Agent", "parameters": {field: bad}}}})


def test_pg_preset_accepts_the_dqn_keys_of_the_original_file_but_checks_their_types():
    from training.config import ConfigError, parse_config
    original = {"h_size": 32, "middle_size": 64, "lstm_layers": 1, "learning_starts": 0, "learning_freq": 1,
                "target_update_freq": 1000, "lr": 0.001, "gamma": 0.9, "batch_size": 32,
                "replay_buffer_size": 10000, "epsilon_decay_steps": 0.5, "final_epsilon": 0.05}
    config = parse_config({"presets": {"PG": {"agent": "PG_Agent", "parameters": original}}})
    assert config.presets["PG"].parameters.batch_size == 32
    with pytest.raises(ConfigError, match=r"presets\.PG\.parameters\.batch_size"):
        parse_config({"presets": {"PG": {"agent": "PG_Agent", "parameters": {**original, "batch_size": "x"}}}})


class FixedQ(torch.nn.Module):
    """Q-values that do not depend on the state."""

    def __init__(self, values):
        super().__init__()
        self.values = torch.tensor(values, dtype=torch.float32)

    def forward(self, program, registers, target):
        return self.values.repeat(len(program), 1)


def boltzmann_agent(temperature, epsilon_rng=0):
    values = [0.0] * 225
    values[1] = np.log(3.0) * 0.1  # with temperature 0.1, action 1 is three times as likely as each other
    agent = SimpleNamespace(params=DQNParameters(temperature=temperature), q=FixedQ(values), device="cpu",
                            rng=np.random.default_rng(epsilon_rng), setup=SimpleNamespace(machine=MachineConfig()),
                            greedy_actions=lambda obs: np.ones(len(obs["program"]), dtype=np.int64))
    agent.softmax_actions = lambda obs: DQN_Agent.softmax_actions(agent, obs)
    return agent


def observations(n):
    return {"program": np.full((n, 5), 225), "registers": np.zeros((n, 4)), "target": np.zeros((n, 4))}


def test_boltzmann_exploration_draws_actions_from_softmax_of_q_over_temperature():
    actions = DQN_Agent.act(boltzmann_agent(0.1), observations(100000), epsilon=0.0)
    counts = np.bincount(actions, minlength=225) / len(actions)
    assert counts[1] == pytest.approx(3 / 227, abs=0.002)
    assert counts[[0, 2, 100, 224]] == pytest.approx([1 / 227] * 4, abs=0.001)


def test_without_temperature_the_non_random_action_is_the_greedy_one():
    actions = DQN_Agent.act(boltzmann_agent(0.0), observations(1000), epsilon=0.0)
    assert set(actions.tolist()) == {1}


@pytest.mark.parametrize("circular", [True, False])
@pytest.mark.parametrize("positive", [True, False])
@pytest.mark.parametrize("cumulative", [True, False])
def test_known_reward_network_computes_the_reward_the_environment_gives_for_every_action(circular, positive,
                                                                                          cumulative):
    import copy

    from agents.networks import KnownRewardQNetwork
    from environment import ToyCorewarEnv

    settings = {"circular": circular, "positive": positive, "cumulative": cumulative}
    machine = MachineConfig()
    network = KnownRewardQNetwork(machine, 8, 16, 1, settings, reward_scale=0.5)
    rng = np.random.default_rng(0)
    for prefix_length in range(machine.max_length):
        env = ToyCorewarEnv(**settings)
        target = rng.integers(0, 256, size=4).tolist()
        obs, _ = env.reset(options={"target": target, "reg_init": rng.integers(0, 256, size=4).tolist()})
        for action in rng.integers(0, machine.num_actions - 1, size=prefix_length):
            obs, *_ = env.step(int(action))
        expected = []
        for action in range(machine.num_actions):
            _, reward, *_ = copy.deepcopy(env).step(action)
            expected.append(reward * 0.5)
        tensors = [torch.as_tensor(np.asarray(obs[key])[None]) for key in ("program", "registers", "target")]
        computed = network.rewards(tensors[0].long(), tensors[1].float(), tensors[2].float())[0]
        assert computed.tolist() == pytest.approx(expected), prefix_length
        chosen = torch.as_tensor([[machine.num_actions - 1, 0, 17, 100]])  # stop, ld, st, add: some actions only
        some = network.rewards(tensors[0].long(), tensors[1].float(), tensors[2].float(), actions=chosen)[0]
        assert some.tolist() == pytest.approx([expected[a] for a in chosen[0].tolist()])
        q = network(tensors[0].long(), tensors[1].float(), tensors[2].float())[0]
        residual = network.residual(tensors[0].long(), tensors[1].float(), tensors[2].float())[0]
        assert torch.allclose(q, computed + residual)


def random_batch(rng: np.random.Generator, size: int, longest: int) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Random (program, registers, target) of programs of up to `longest` instructions, and actions."""
    program = torch.as_tensor(rng.integers(0, 226, size=(size, 5)))
    program[:, longest:] = 225
    inputs = (program, torch.as_tensor(rng.integers(0, 256, size=(size, 4)), dtype=torch.float32),
              torch.as_tensor(rng.integers(0, 256, size=(size, 4)), dtype=torch.float32))
    return inputs, torch.as_tensor(rng.integers(0, 225, size=size))


@pytest.mark.parametrize("known_rewards", [False, True], ids=["learned_q", "known_rewards"])
def test_learning_targets_equal_the_networks_q_values_and_double_dqn(known_rewards):
    """The learning step's shortcuts (only the taken action's exact reward; the next states' rewards
    computed once for both networks) give exactly what the full Q-values give."""
    settings = {"circular": True, "positive": True, "cumulative": True}
    machine = MachineConfig()
    kind = "known_reward_q" if known_rewards else "dueling_q"
    extra = {"reward_settings": settings, "reward_scale": 0.05} if known_rewards else {}
    spec = network_spec(kind, machine, 8, 16, 1, register_size=12, effect_size=4, **extra)
    torch.manual_seed(0)
    online, target = build_network(spec), build_network(spec)  # different weights
    inputs, actions = random_batch(np.random.default_rng(1), 64, longest=3)
    taken = online.taken_values(inputs, actions)
    assert taken.requires_grad
    assert torch.allclose(taken, online(*inputs).gather(1, actions.unsqueeze(1)).squeeze(1), atol=1e-6)
    expected = target(*inputs).gather(1, online(*inputs).argmax(dim=1, keepdim=True)).squeeze(1)
    assert torch.allclose(online.bootstrap_values(target, inputs), expected, atol=1e-6)


def test_afterstate_learning_step_values_the_taken_action_and_bootstraps_from_the_target_networks_best():
    spec = network_spec("afterstate_q", MachineConfig(), 8, 16, 1, effect_size=2,
                        reward_func="Specific_register_values",
                        reward_settings={"circular": True, "positive": True, "cumulative": True}, reward_scale=0.05)
    torch.manual_seed(0)
    online, target = build_network(spec), build_network(spec)  # different weights
    inputs, actions = random_batch(np.random.default_rng(2), 32, longest=2)
    taken = online.taken_values(inputs, actions)
    assert taken.requires_grad
    assert torch.allclose(taken, online(*inputs).gather(1, actions.unsqueeze(1)).squeeze(1), atol=1e-6)
    assert torch.allclose(online.bootstrap_values(target, inputs), target(*inputs).max(dim=1).values, atol=1e-6)


def test_afterstate_and_known_rewards_together_are_refused_naming_both():
    from training.config import ConfigError, parse_config
    both = {"agent": "DQN_Agent", "parameters": {"afterstate": True, "known_rewards": True}}
    with pytest.raises(ConfigError, match=r"presets\.DQN\.parameters: afterstate and known_rewards"):
        parse_config({"presets": {"DQN": both}})
