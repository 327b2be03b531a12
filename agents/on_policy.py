"""What the on-policy agents (AC_Agent, PG_Agent) share: a policy-value network, batched rollouts of
`num_envs` episodes side by side on the batched environment, and one batched update per rollout.

Each agent file says how it turns a rollout's rewards into returns (`returns`), the one thing in which
actor-critic and REINFORCE differ here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from agents.base import (
    AgentSetup,
    Progress,
    first_observation,
    network_payload,
    observation_keys,
    restore_rng,
    rng_state,
)
from agents.machine_arithmetic import learning_rewards, observation_tensors
from agents.networks import build_network, greedy_policy, policy_network_spec
from agents.passes import in_chunks, pass_size
from agents.self_imitation import SelfImitation
from agents.step_stops import StepTimer
from synthesis.search import StopRequested


class OnPolicyAgent:
    agent_name = "OnPolicyAgent"

    def __init__(self, setup: AgentSetup) -> None:
        p = self.params = setup.params
        self.setup, self.device = setup, setup.device
        torch.manual_seed(setup.seed)
        self.rng = np.random.default_rng(setup.seed)
        self.spec = policy_network_spec(p, setup.machine, setup.reward, setup.network_extra())
        self.network = build_network(self.spec).to(self.device)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=p.lr, fused=True)
        self.env = setup.make_env(p.num_envs)
        self.stop_action = setup.machine.num_actions - 1
        self.horizon = self.rollout_length()
        # The rollout under way when a stop came (its steps so far, or all of them before the update): kept
        # in the checkpoint, so that the resumed run finishes it as the unbroken run did.
        self.rollout: dict[str, Any] | None = None
        self.step_timer = StepTimer()  # whether a stop is asked for within updates (they may be slow)
        self.loss = float("nan")
        self.env_restored = False  # a checkpoint put the environment back (its episodes go on)
        self.imitation = SelfImitation(setup, p, p.num_envs) if p.self_imitation else None

    def rollout_length(self) -> int:
        """Vector steps per rollout."""
        raise NotImplementedError

    def returns(self, rewards: torch.Tensor, terminated: torch.Tensor, values: torch.Tensor,
                last_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The critic's targets [T, N] of a rollout (the policy's advantage is target − V(s)) and the mask
        of the steps that learn from them; `values` [T, N] are the critic's (no gradient) at the rollout's
        states, `last_values` [N] at the states after it."""
        raise NotImplementedError

    def greedy_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return greedy_policy(self.network, self.device)(obs)

    def sample_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """An action per row drawn from the policy, in chunks of bounded bytes (agents/passes.py); the
        draws come in row order, whatever the chunks."""
        size = pass_size(self.network, obs, self.device)
        return in_chunks(obs, self.drawn_actions, size)

    @torch.no_grad()
    def drawn_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        logits, _ = self.network(*observation_tensors(obs, self.device))
        # Gumbel-max with the agent's own generator keeps sampling reproducible from the seed.
        gumbel = -np.log(-np.log(self.rng.random(logits.shape)))
        return (logits.cpu().numpy() + gumbel).argmax(axis=1)

    def train(self, progress: Progress) -> None:
        obs = first_observation(self.env, self.rng, self.env_restored)
        if self.imitation is not None and not self.env_restored:
            self.imitation.started(obs)
        while True:
            if self.rollout is None:
                if progress.done or self.env.idle.all():  # all idle: every episode of the budget played
                    break
                self.rollout = {**{name: [] for name in observation_keys(obs)}, "action": [], "reward": [],
                                "terminated": [], "stepping": [], "episodes": 0}
            obs = self.collect(self.rollout, obs, progress)
            if len(self.rollout["action"]) < self.horizon:
                break  # a stop within the rollout: the steps so far stay in the checkpoint
            steps = {name: np.stack(values) for name, values in self.rollout.items() if name != "episodes"}
            try:
                self.learn(steps, obs, lambda: progress.stopping)
            except StopRequested:  # within the update: dropped whole, the rollout kept for it
                break
            episodes, self.rollout = self.rollout["episodes"], None
            progress.update(progress.episode + episodes, loss=self.loss)

    def collect(self, rollout: dict[str, Any], obs: dict[str, np.ndarray], progress: Progress) -> dict[str, np.ndarray]:
        """Step the copies until `rollout` holds `horizon` vector steps, or until a stop; the observation after."""
        keys = observation_keys(obs)
        while len(rollout["action"]) < self.horizon and not progress.stopping:
            actions = self.sample_actions(obs)
            rollout["stepping"].append(~self.env.idle)  # at the budget's end, idle copies learn nothing
            next_obs, rewards, terminated, _, info = self.env.step(actions)
            if self.imitation is not None and terminated.any():
                ended = np.flatnonzero(terminated)
                self.imitation.ended(info["final_obs"], info["solved"], ended)
                self.imitation.started(next_obs, ended)
            for name in keys:
                rollout[name].append(obs[name])
            rollout["action"].append(actions)
            rollout["reward"].append(learning_rewards(rewards, actions, self.stop_action,
                                                      self.params.reward_scale, self.params.instruction_cost))
            rollout["terminated"].append(terminated)
            rollout["episodes"] += int(terminated.sum())
            obs = next_obs
        return obs

    def learn(self, rollout: dict[str, np.ndarray], last_obs: dict[str, np.ndarray],
              should_stop: Callable[[], bool] | None = None) -> None:
        """One update from a whole rollout. A stop asked for during its passes (`should_stop`, asked before
        each torch operation once updates are slow: agents/step_stops.py) drops it whole and raises
        StopRequested, the draws of its self-imitation batch undone."""
        drawn_from = self.rng.bit_generator.state
        with self.step_timer.undone_on_stop(should_stop, self.optimizer, self.rng, drawn_from):
            loss = self.loss_of(rollout, last_obs)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        torch.nn.utils.clip_grad_norm_(self.network.parameters(), 1.0)
        self.optimizer.step()
        self.loss = float(loss.detach())

    def loss_of(self, rollout: dict[str, np.ndarray], last_obs: dict[str, np.ndarray]) -> torch.Tensor:
        """The policy-gradient loss of a rollout ([T, N] arrays; `last_obs`, the states after it): the
        policy's, the critic's, the entropy bonus and self-imitation's."""
        p = self.params
        steps, n = rollout["action"].shape
        flat = {name: rollout[name].reshape(steps * n, *rollout[name].shape[2:]) for name in
                observation_keys(rollout)}
        logits, values = self.network(*observation_tensors(flat, self.device))
        with torch.no_grad():
            _, last_values = self.network(*observation_tensors(last_obs, self.device))
        rewards = torch.as_tensor(rollout["reward"], dtype=torch.float32, device=self.device)
        terminated = torch.as_tensor(rollout["terminated"], device=self.device)
        returns, mask = self.returns(rewards, terminated, values.detach().view(steps, n), last_values)
        mask = mask & torch.as_tensor(rollout["stepping"], device=self.device)
        returns, mask = returns.reshape(-1), mask.reshape(-1).float()
        log_probs = F.log_softmax(logits, dim=1)
        actions = torch.as_tensor(rollout["action"].reshape(-1), device=self.device)
        taken = log_probs.gather(1, actions.unsqueeze(1)).squeeze(1)
        advantage = (returns - values).detach()
        entropy = -(log_probs.exp() * log_probs).sum(dim=1)
        count = mask.sum().clamp(min=1.0)
        policy_loss = -(taken * advantage * mask).sum() / count
        value_loss = ((returns - values) ** 2 * mask).sum() / count
        entropy_bonus = p.entropy_coef * (entropy * mask).sum() / count
        loss = policy_loss + getattr(p, "value_coef", 0.5) * value_loss - entropy_bonus
        if self.imitation is not None:
            loss = loss + p.demo_weight * self.imitation_loss(steps * n)
        return loss

    def imitation_loss(self, rows: int) -> torch.Tensor | float:
        """Self-imitation: the policy's cross-entropy on steps of the kept solving programs (0 before any)."""
        count = self.imitation.batch_share(rows)
        if not count:
            return 0.0
        demos = self.imitation.replay.sample(count, self.rng)
        logits, _ = self.network(*observation_tensors(demos._asdict(), self.device))
        return F.cross_entropy(logits, torch.as_tensor(demos.action, device=self.device))

    # -- checkpoints ----------------------------------------------------------------------------------
    def model_payload(self) -> dict[str, Any]:
        return network_payload(self.spec, self.network)

    def training_state(self) -> dict[str, Any]:
        return {"network": self.network.state_dict(), "optimizer": self.optimizer.state_dict(),
                "rng": rng_state(self.rng), "loss": self.loss, "env": self.env.state(),
                **({"rollout": self.rollout} if self.rollout is not None else {}),
                **({"self_imitation": self.imitation.state()} if self.imitation is not None else {})}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng = restore_rng(state["rng"])
        self.loss = float(state.get("loss", self.loss))
        self.rollout = loaded_rollout(state["rollout"]) if "rollout" in state else None
        if "env" in state:  # older checkpoints: the episodes in progress start afresh
            self.env.load_state(state["env"])
            self.env_restored = True
        if self.imitation is not None:
            self.imitation.load_state(state["self_imitation"])


def loaded_rollout(saved: dict[str, Any]) -> dict[str, Any]:
    """A rollout from a checkpoint (tensors there) as training holds it: lists of numpy arrays."""
    return {name: int(steps) if name == "episodes" else [np.asarray(step) for step in steps]
            for name, steps in saved.items()}
