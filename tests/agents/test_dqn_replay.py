"""DQN_Agent puts the replay pieces together from its parameters, learns from them, and keeps the
buffer (priorities included) across a checkpoint."""

import numpy as np
import pytest
from progress import Episodes

from agents.base import AgentSetup
from agents.dqn import DQN_Agent
from agents.parameters import DQNParameters
from agents.replay import PrioritizedSampler, UniformSampler
from environment.rewards import Specific_register_values
from environment.vector_env import FixedOrRandomTasks
from toycorewar import MachineConfig


def agent(**options) -> DQN_Agent:
    params = DQNParameters(h_size=8, middle_size=16, batch_size=16, num_envs=4, learning_freq=2, learning_starts=0,
                           replay_buffer_size=100, **options)
    setup = AgentSetup(params, MachineConfig(), FixedOrRandomTasks(None, np.zeros(4, dtype=np.int64)),
                       Specific_register_values(), episodes=20, seed=0)
    return DQN_Agent(setup)


def test_plain_dqn_samples_uniformly_without_hindsight():
    dqn = agent()
    assert isinstance(dqn.sampler, UniformSampler) and dqn.replay.hindsight is None
    assert dqn.buffer.num_envs == 4 and (dqn.replay.n_step, dqn.replay.gamma) == (1, dqn.params.gamma)


@pytest.mark.parametrize("options", [{}, {"n_step": 3, "relabel_fraction": 0.5, "priority_alpha": 0.6}],
                         ids=["plain", "n_step_hindsight_prioritized"])
def test_training_learns_from_the_replay_and_a_checkpoint_keeps_the_buffer(options):
    dqn = agent(**options)
    dqn.train(Episodes(12))
    assert np.isfinite(dqn.loss)
    if options:
        assert isinstance(dqn.sampler, PrioritizedSampler) and dqn.replay.hindsight.fraction == 0.5
        assert dqn.replay.hindsight.reward_scale == dqn.params.reward_scale
        assert (dqn.buffer.arrays["priority"][:dqn.buffer.size] != 1.0).any()  # the TD errors set priorities
    state = dqn.training_state()
    assert set(state["buffer"]) == {"index", "size", "arrays", "max_priority", "links"}
    assert "priority" in state["buffer"]["arrays"]
    resumed = agent(**options)
    resumed.load_training_state(state)
    assert (resumed.buffer.index, resumed.buffer.size) == (dqn.buffer.index, dqn.buffer.size)
    assert resumed.buffer.max_priority == dqn.buffer.max_priority
    for name in ("serial", "following", "following_serial", "last_rows", "last_serials"):
        assert np.array_equal(getattr(resumed.buffer, name), getattr(dqn.buffer, name)), name
    for name, array in dqn.buffer.arrays.items():
        assert np.array_equal(resumed.buffer.arrays[name], array), name
    a, b = dqn.replay.sample(16, np.random.default_rng(1)), resumed.replay.sample(16, np.random.default_rng(1))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
