"""The parameters of each agent's preset (`presets.NAME.parameters` in config.json): one class per
agent, validated strictly, with every default in one place. The parameter table of docs/configuration.md is checked
against these classes by tests/training/test_parameter_table.py.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Model(BaseModel):
    # allow_inf_nan=False: every float finite (JSON's NaN and Infinity are refused when a file is read, too).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


MAX_COUNT = 10**9  # episodes, steps, frequencies: a billion episodes is days of training
PositiveInt = Annotated[int, Field(ge=1, le=MAX_COUNT)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Width = Annotated[int, Field(ge=1, le=4096)]  # a layer's width, or a vector's
Rate = Annotated[float, Field(gt=0, le=1)]  # a learning rate
Weight = Annotated[float, Field(ge=0, le=1000)]  # a loss weight, a temperature, a margin


class NetworkParameters(Model):
    """What every agent's network and optimiser take."""

    ignored: ClassVar[frozenset[str]] = frozenset()  # keys accepted for compatibility that change nothing

    h_size: Width = 64
    middle_size: Width = 128
    lstm_layers: Annotated[int, Field(ge=1, le=8)] = 1
    # Width of the registers-and-target reader (its per-value vectors and MLP); null: h_size. The
    # program's LSTM keeps h_size, so a small LSTM can sit beside a wide register reader.
    register_size: Width | None = None
    lr: Rate = 1e-3
    gamma: Annotated[float, Field(ge=0, le=1)] = 0.99
    num_envs: Annotated[int, Field(ge=1, le=65536)] = 32  # episodes played side by side on the batched environment
    reward_scale: Annotated[float, Field(gt=0, le=100)] = 0.01  # rewards are multiplied by this for learning
    # Each instruction (every action but stop) costs this many units of distance in the return the agent
    # learns (docs/shortest_programs.md): of two programs that end at the same distance the shorter is
    # worth more, so the greedy program stops as soon as it is done. The environment's rewards and every
    # logged performance are unchanged. instruction_cost × MAX_LENGTH must stay below 1, so that no
    # saving of instructions outweighs one unit of distance (training/config.py checks it); 0: off.
    instruction_cost: Annotated[float, Field(ge=0, lt=1)] = 0.0


class DQNParameters(NetworkParameters):
    learning_starts: NonNegativeInt = 0  # episodes before the first gradient step
    learning_freq: PositiveInt = 4  # environment steps per gradient step
    target_update_freq: PositiveInt = 1000  # environment steps between target-network copies
    batch_size: Annotated[int, Field(ge=1, le=65536)] = 128
    replay_buffer_size: Annotated[int, Field(ge=1, le=10**8)] = 100_000  # and within memory: training/config.py
    # A run with a fixed list of two or more targets keeps one replay region per target (each
    # replay_buffer_size // N rows, a ring of its own) and draws each batch evenly across them, so a
    # block schedule's later blocks cannot push out the earlier targets (agents/replay/buffer.py); false: one
    # ring for everything, the latest transitions only.
    replay_per_task: bool = True
    epsilon_decay_steps: Annotated[float, Field(ge=0, le=1000)] | NonNegativeInt = 0.5
    initial_epsilon: Annotated[float, Field(ge=0, le=1)] = 1.0
    final_epsilon: Annotated[float, Field(ge=0, le=1)] = 0.05
    n_step: Annotated[int, Field(ge=1, le=64)] = 1  # rewards summed before bootstrapping (1: classic DQN)
    # Q(s, a) = r(s, a) + learned residual, with r computed exactly from the machine and the reward
    # function (agents/networks.py KnownRewardQNetwork); false: the whole Q-value is learned.
    known_rewards: bool = False
    # Width of the action-effect term of the advantage (agents/networks.py DuelingQNetwork): each
    # action's advantage also reads the value it writes and that value's gap to the target; 0: off.
    effect_size: Annotated[int, Field(ge=0, le=4096)] = 0
    # Q(s, a) = exact reward + V(state after a) (agents/afterstate.py AfterstateQNetwork): the network
    # learns V alone, of the registers, the target and the instructions left; its MLP is middle_size
    # wide and its per-value vectors effect_size (at least 1). h_size, lstm_layers and register_size are
    # then unused (V reads no program).
    afterstate: bool = False
    # Boltzmann exploration: when not exploring uniformly (probability ε), draw the action from
    # softmax(Q / temperature) instead of taking the argmax; 0 is plain ε-greedy.
    temperature: Weight = 0.0
    # Copies that always act greedily (no ε, no temperature): the first greedy_copies of the num_envs
    # (per-copy exploration rates, as Ape-X's actors have), so the greedy program is played in training too.
    greedy_copies: NonNegativeInt = 0
    # Self-imitation (agents/self_imitation.py): the shortest program that solved each task in training is
    # kept and replayed as a demonstration (demo_buffer_size, demo_fraction, demo_margin, demo_weight below).
    self_imitation: bool = False
    # Hindsight relabelling: this fraction of sampled transitions learn to reach a goal the episode reached.
    relabel_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    # Prioritized replay: transitions drawn with probability ∝ (|TD error| + 0.01)^priority_alpha
    # (0: uniform), their loss weighted by (N·P)^−priority_beta to correct the bias.
    priority_alpha: Annotated[float, Field(ge=0, le=1)] = 0.0
    priority_beta: Annotated[float, Field(ge=0, le=1)] = 0.5
    # Expert iteration (agents/expert_iteration.py): every search_every episodes (0: off), guided search
    # with the online network, search_expansions per task, on search_tasks training tasks; the programs
    # found fill a demonstration buffer of demo_buffer_size transitions, demo_fraction of each batch comes
    # from it, and a large-margin loss (weight demo_weight) asks the demonstrated action to lead by
    # demo_margin. Self-imitation's demonstrations are learnt the same way.
    search_every: NonNegativeInt = 0
    search_tasks: Annotated[int, Field(ge=1, le=100_000)] = 32
    search_expansions: Annotated[int, Field(ge=0, le=10**7)] = 100
    demo_buffer_size: Annotated[int, Field(ge=1, le=10**7)] = 10_000
    demo_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.25
    demo_margin: Weight = 0.1  # in Q units: rewards × reward_scale
    demo_weight: Weight = 1.0

    @model_validator(mode="after")
    def _one_network_kind(self) -> DQNParameters:
        if self.afterstate and self.known_rewards:
            raise ValueError("afterstate and known_rewards are two kinds of Q-network (the afterstate one already "
                             "computes the exact rewards): set one of them")
        if self.self_imitation and self.search_every > 0:
            raise ValueError("self_imitation and search_every (expert iteration) are two sources of demonstrations "
                             "sharing demo_buffer_size and demo_fraction: set one of them")
        if self.greedy_copies > self.num_envs:
            raise ValueError(f"greedy_copies ({self.greedy_copies}) cannot exceed num_envs ({self.num_envs})")
        return self

    def decay_episodes(self, episodes: int) -> int:
        """epsilon_decay_steps in episodes: a float is a fraction of the run's episodes, an int a count."""
        if isinstance(self.epsilon_decay_steps, int):
            return self.epsilon_decay_steps
        return int(round(self.epsilon_decay_steps * episodes))


class OnPolicyParameters(NetworkParameters):
    """What AC_Agent and PG_Agent share."""

    entropy_coef: Weight = 0.01
    # The afterstate network (agents/afterstate.py AfterstatePolicyValueNetwork): logits = (exact reward +
    # learnt worth of the registers after the action) / policy_temperature, the temperature in units of
    # distance; its MLP is middle_size wide and its per-value vectors effect_size (at least 1). h_size,
    # lstm_layers and register_size are then unused.
    afterstate: bool = False
    effect_size: Annotated[int, Field(ge=0, le=4096)] = 0
    policy_temperature: Annotated[float, Field(gt=0, le=1000)] = 1.0
    # Self-imitation (agents/self_imitation.py): the shortest program that solved each task in training is
    # kept (demo_buffer_size transitions in all) and imitated: each update adds demo_weight × the
    # cross-entropy of the policy on demo_fraction × the rollout's rows drawn from those programs' steps.
    self_imitation: bool = False
    demo_buffer_size: Annotated[int, Field(ge=1, le=10**7)] = 10_000
    demo_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.25
    demo_weight: Weight = 1.0


class ACParameters(OnPolicyParameters):
    value_coef: Weight = 0.5
    # A2C's rollout: n_steps vector steps of every copy (null: MAX_LENGTH), so that a rollout may end in the
    # middle of an episode, which then bootstraps from the critic; advantages by GAE(λ) with
    # gae_lambda (1: the n-step return less V; 0: the one-step TD error).
    n_steps: Annotated[int, Field(ge=1, le=4096)] | None = None
    gae_lambda: Annotated[float, Field(ge=0, le=1)] = 1.0


class PGParameters(OnPolicyParameters):
    ignored: ClassVar[frozenset[str]] = frozenset({
        "learning_starts", "learning_freq", "target_update_freq", "batch_size", "replay_buffer_size",
        "epsilon_decay_steps", "initial_epsilon", "final_epsilon"})
    # Accepted and ignored, as the original project's PG preset carries the DQN keys; still typed, so
    # that a malformed value is reported rather than silently kept.
    learning_starts: NonNegativeInt | None = None
    learning_freq: PositiveInt | None = None
    target_update_freq: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    replay_buffer_size: PositiveInt | None = None
    epsilon_decay_steps: Annotated[float, Field(ge=0, le=1000)] | NonNegativeInt | None = None
    initial_epsilon: Annotated[float, Field(ge=0, le=1)] | None = None
    final_epsilon: Annotated[float, Field(ge=0, le=1)] | None = None


PARAMETERS = {"DQN_Agent": DQNParameters, "AC_Agent": ACParameters, "PG_Agent": PGParameters}
