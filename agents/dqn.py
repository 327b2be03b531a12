"""DQN_Agent: double DQN with a dueling head, a target network and a preallocated replay buffer,
trained on the batched environment (`num_envs` episodes side by side, every forward pass batched).

Units: `learning_starts` and `epsilon_decay_steps` count episodes (docs/configuration.md); `learning_freq` and
`target_update_freq` count environment steps (transitions), as in the DQN literature.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from agents.base import AgentSetup, Progress, active_rows, first_observation, network_payload, restore_rng, rng_state
from agents.expert_iteration import ExpertIteration, concatenate_samples, large_margin_loss
from agents.machine_arithmetic import learning_rewards, observation_tensors
from agents.networks import build_network, greedy_policy, q_network_spec
from agents.passes import in_chunks, pass_size, tensor_chunks
from agents.replay import Hindsight, PrioritizedSampler, Replay, ReplayBuffer, Sample, UniformSampler
from agents.self_imitation import SelfImitation
from agents.step_stops import StepTimer
from synthesis.search import StopRequested


class DQN_Agent:
    agent_name = "DQN_Agent"

    def __init__(self, setup: AgentSetup) -> None:
        p = self.params = setup.params
        self.setup, self.device = setup, setup.device
        torch.manual_seed(setup.seed)
        self.rng = np.random.default_rng(setup.seed)
        self.env = setup.make_env(p.num_envs)
        self.stop_action = setup.machine.num_actions - 1
        self.spec = q_network_spec(p, setup.machine, setup.reward, setup.network_extra())
        self.q = build_network(self.spec).to(self.device)
        self.target_q = copy.deepcopy(self.q)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=p.lr, fused=True)
        self.buffer = ReplayBuffer(p.replay_buffer_size, setup.machine, p.num_envs,
                                   targets=setup.task_targets() if p.replay_per_task else None,
                                   examples=setup.examples)
        self.sampler = (PrioritizedSampler(self.buffer, p.priority_alpha, p.priority_beta) if p.priority_alpha > 0
                        else UniformSampler(self.buffer))
        hindsight = (Hindsight(self.env.reward, p.reward_scale, p.relabel_fraction, self.stop_action,
                               p.instruction_cost) if p.relabel_fraction > 0 else None)
        self.replay = Replay(self.buffer, self.sampler, p.n_step, p.gamma, hindsight)
        # Expert iteration: search rounds whose programs are learned from (agents/expert_iteration.py);
        # self-imitation: the agent's own solving programs (agents/self_imitation.py). At most one of them.
        self.expert = ExpertIteration(setup, p, self.device) if p.search_every > 0 else None
        self.imitation = SelfImitation(setup, p, p.num_envs) if p.self_imitation else None
        self.demonstrations = self.expert or self.imitation
        self.decay_episodes = p.decay_episodes(setup.episodes)
        self.steps = 0  # environment steps (transitions) so far
        self.update_credit = 0.0  # gradient steps owed: learning_freq steps earn one
        self.owed: dict | None = None  # the step taken whose gradient steps and report are still to come (settle)
        self.loss = float("nan")
        self.step_timer = StepTimer()  # whether a stop is asked for within gradient steps (they may be slow)
        self.env_restored = False  # a checkpoint put the environment back (its episodes go on)

    def epsilon(self, episode: int) -> float:
        """Linear from initial_epsilon to final_epsilon over epsilon_decay_steps episodes, then flat."""
        p = self.params
        if self.decay_episodes <= 0:
            return p.final_epsilon
        fraction = min(1.0, episode / self.decay_episodes)
        return p.initial_epsilon + fraction * (p.final_epsilon - p.initial_epsilon)

    @property
    def network(self) -> torch.nn.Module:
        return self.q

    def greedy_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return greedy_policy(self.q, self.device)(obs)

    def act(self, obs: dict[str, np.ndarray], epsilon: float) -> np.ndarray:
        """ε-greedy: a uniform action with probability ε, else the best one, or, with a `temperature`,
        one drawn from softmax(Q / temperature) (near-best actions get tried, not only the best). The
        first `greedy_copies` copies always take the best action."""
        if self.params.temperature > 0:
            size = pass_size(self.q, obs, self.device)
            drawn = in_chunks(obs, self.softmax_actions, size)  # draws in row order, whatever the chunks
            actions, greedy = drawn[:, 0], self.params.greedy_copies
            actions[:greedy] = drawn[:greedy, 1]
        else:
            actions = greedy_policy(self.q, self.device)(obs)
        explore = self.rng.random(len(actions)) < epsilon
        explore[:self.params.greedy_copies] = False
        actions[explore] = self.rng.integers(0, self.setup.machine.num_actions, size=int(explore.sum()))
        return actions

    @torch.no_grad()
    def softmax_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """[B, 2]: an action drawn from softmax(Q / temperature) (one uniform draw per row), and the best."""
        q = self.q(*observation_tensors(obs, self.device)).cpu().numpy().astype(np.float64)
        logits = (q - q.max(axis=1, keepdims=True)) / self.params.temperature
        cumulative = np.cumsum(np.exp(logits), axis=1)
        draws = self.rng.random(len(q))[:, None] * cumulative[:, -1:]
        drawn = np.minimum((cumulative < draws).sum(axis=1), q.shape[1] - 1)
        return np.stack([drawn, q.argmax(axis=1)], axis=1)

    def train(self, progress: Progress) -> None:
        p = self.params
        obs = first_observation(self.env, self.rng, self.env_restored)
        if self.imitation is not None and not self.env_restored:
            self.imitation.started(obs)
        while True:
            if self.owed is not None and not self.settle(progress):
                break  # a stop between two gradient steps: the rest of the step stays owed (in the checkpoint)
            if progress.done or self.env.idle.all():  # all idle: every episode of the budget played
                break
            if self.expert is not None and self.expert.due(progress.episode):
                if not self.expert.search_round(self.q, progress.episode, lambda: progress.stopping):
                    continue  # cut short by a stop: the loop ends, the round still due
            epsilon = self.epsilon(progress.episode)
            actions = self.act(obs, epsilon)
            stepping = ~self.env.idle  # at the budget's end, copies with no episode left sit idle
            next_obs, rewards, terminated, _, info = self.env.step(actions)
            # SameStep autoreset: a finished copy's last observation is in final_obs.
            final_obs = info.get("final_obs", next_obs)
            learnt = learning_rewards(rewards, actions, self.stop_action, p.reward_scale, p.instruction_cost)
            if stepping.all():
                self.buffer.add(obs, actions, learnt, final_obs, terminated)
            else:
                rows = np.flatnonzero(stepping)
                self.buffer.add(active_rows(obs, rows), actions[rows], learnt[rows],
                                active_rows(final_obs, rows), terminated[rows], copies=rows)
            if self.imitation is not None and terminated.any():
                ended = np.flatnonzero(terminated)
                self.imitation.ended(final_obs, info["solved"], ended)
                self.imitation.started(next_obs, ended)
            n = int(stepping.sum())
            previous_steps, self.steps = self.steps, self.steps + n
            if progress.episode >= p.learning_starts and self.buffer.size >= p.batch_size:
                self.update_credit += n / p.learning_freq
            self.owed = {"previous_steps": previous_steps, "ended": int(terminated.sum()), "epsilon": epsilon}
            obs = next_obs

    def settle(self, progress: Progress) -> bool:
        """The rest of a vector step: the gradient steps it earned (`update_credit`), the target network's
        copy when its steps crossed a multiple of target_update_freq, and the step's report to `progress`.
        A stop asked for between two gradient steps (a step of many copies may earn hundreds) leaves the
        rest owed and returns False: the checkpoint keeps it, and the resumed run settles it first."""
        p, owed = self.params, self.owed
        while self.update_credit >= 1:
            if progress.stopping:
                return False
            try:
                self.learn(lambda: progress.stopping)
            except StopRequested:  # within the step: dropped whole, still owed
                return False
            self.update_credit -= 1
        self.owed = None
        if self.steps // p.target_update_freq != owed["previous_steps"] // p.target_update_freq:
            self.target_q.load_state_dict(self.q.state_dict())
        scalars = self.demonstrations.scalars() if self.demonstrations is not None else {}
        progress.update(progress.episode + owed["ended"], loss=self.loss, exploration_rate=owed["epsilon"], **scalars)
        return True

    def live_bootstrap(self, next_inputs: tuple[torch.Tensor, ...], live: torch.Tensor) -> torch.Tensor:
        """The Q-network's bootstrap (its `bootstrap_values` with the target network) of the rows whose
        episode goes on, 0 for the others (a terminal state has no value to bootstrap: the networks are
        not run on it)."""
        def bootstrap(inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:  # two passes: the online and target networks
            return tensor_chunks(self.q, inputs, lambda rows: self.q.bootstrap_values(self.target_q, rows), passes=2)

        if bool(live.all()):
            return bootstrap(next_inputs)
        values = torch.zeros(live.shape, device=live.device)
        if bool(live.any()):
            values[live] = bootstrap(tuple(x[live] for x in next_inputs))
        return values

    def sample(self) -> tuple[Sample, int]:
        """A learning batch, and how many of its rows, the last ones, are demonstrations (expert
        iteration's or self-imitation's: `demo_fraction` of the batch; none when both are off)."""
        p, source = self.params, self.demonstrations
        demos = source.batch_share(p.batch_size) if source is not None else 0
        batch = self.replay.sample(p.batch_size - demos, self.rng)
        if demos:
            batch = concatenate_samples(batch, source.replay.sample(demos, self.rng))
        return batch, demos

    def learn(self, should_stop: Callable[[], bool] | None = None) -> None:
        """One gradient step. A stop asked for during its passes (`should_stop`, asked before each torch
        operation once steps are slow: agents/step_stops.py) drops it whole and raises StopRequested; the
        draws of its batch are undone, so the step taken again later is the same."""
        drawn_from = self.rng.bit_generator.state
        batch, demos = self.sample()
        with self.step_timer.undone_on_stop(should_stop, self.optimizer, self.rng, drawn_from):
            loss, td_errors = self.loss_of(batch, demos)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        if isinstance(self.sampler, PrioritizedSampler):  # the searched rows are not the sampler's
            self.sampler.update_priorities(batch.rows[:len(td_errors)], td_errors)
        torch.nn.utils.clip_grad_norm_(self.q.parameters(), 10.0)
        self.optimizer.step()
        self.loss = float(loss.detach())

    def loss_of(self, batch: Sample, demos: int) -> tuple[torch.Tensor, np.ndarray]:
        """The double-DQN loss of a batch whose last `demos` rows are demonstrations, and the TD errors
        of its other rows (for prioritized replay; empty when replay is uniform)."""
        p = self.params
        # Everything but the rows (they stay on the host, for the priorities) goes to the device.
        t = {name: torch.as_tensor(array, device=self.device) for name, array in batch._asdict().items()
             if name != "rows" and array is not None}
        inputs = (t["program"].long(), t["registers"].float(), t["target"].float())
        if "matters" in t:  # a function task (docs/reference.md §10)
            inputs = (*inputs, t["matters"].float())
        played = len(batch.rows) - demos  # rows from the agent's own replay; the last `demos` were searched
        q_taken = self.q.taken_values(tuple(x[:played] for x in inputs), t["action"][:played])
        if demos:  # the margin loss needs every action's value at the searched states: one pass gives both
            q_demos = self.q(*(x[played:] for x in inputs))
            q_taken = torch.cat([q_taken, q_demos.gather(1, t["action"][played:].unsqueeze(1)).squeeze(1)])
        next_inputs = (t["next_program"].long(), t["next_registers"].float(), *inputs[2:])
        y = t["reward"] + t["discount"] * (~t["terminated"]).float() * self.live_bootstrap(next_inputs,
                                                                                         ~t["terminated"])
        loss = (F.smooth_l1_loss(q_taken, y, reduction="none") * t["weight"]).mean()
        if demos:  # the searched action must lead every other by the margin (DQfD's large-margin loss)
            loss = loss + p.demo_weight * large_margin_loss(q_demos, t["action"][played:], p.demo_margin)
        td_errors = np.zeros(0)
        if isinstance(self.sampler, PrioritizedSampler):
            td_errors = (y - q_taken)[:played].detach().cpu().numpy()
        return loss, td_errors

    # -- checkpoints ----------------------------------------------------------------------------------
    def model_payload(self) -> dict[str, Any]:
        return network_payload(self.spec, self.q)

    def training_state(self) -> dict[str, Any]:
        return {"network": self.q.state_dict(), "target_network": self.target_q.state_dict(),
                "optimizer": self.optimizer.state_dict(), "steps": self.steps, "update_credit": self.update_credit,
                "owed": self.owed,
                "rng": rng_state(self.rng), "loss": self.loss, "env": self.env.state(),
                "buffer": self.buffer.state(),
                **({"expert_iteration": self.expert.state()} if self.expert is not None else {}),
                **({"self_imitation": self.imitation.state()} if self.imitation is not None else {})}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["network"])
        self.target_q.load_state_dict(state["target_network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps, self.update_credit = int(state["steps"]), float(state["update_credit"])
        self.owed = state.get("owed")  # a step whose gradient steps a stop cut short (older checkpoints: none)
        self.rng = restore_rng(state["rng"])
        self.buffer.load_state(state["buffer"])
        self.loss = float(state.get("loss", self.loss))
        if "env" in state:  # older checkpoints: the episodes in progress start afresh
            self.env.load_state(state["env"])
            self.env_restored = True
        if self.expert is not None and "expert_iteration" in state:  # older checkpoints: rounds start afresh
            self.expert.load_state(state["expert_iteration"])
        if self.imitation is not None:
            self.imitation.load_state(state["self_imitation"])
