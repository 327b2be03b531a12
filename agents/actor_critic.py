"""AC_Agent: advantage actor-critic (A2C, Mnih et al. 2016, "Asynchronous methods for deep reinforcement
learning", in its synchronous form) on the batched environment.

The algorithm, and where each part of it is:

- Rollouts of `n_steps` vector steps of `num_envs` copies (`rollout_length`; null: MAX_LENGTH), cut
  wherever they end: an episode in progress when a rollout ends goes on in the next one, and its
  steps bootstrap from the critic's value of the state the rollout stopped at (`last_values`).
- Advantages by generalized advantage estimation (GAE(λ), Schulman et al. 2016; `returns`): the TD
  errors δ_t = r_t + γ·V(s_{t+1}) − V(s_t), V(terminal) = 0, summed backwards with weight (γλ)^k
  within an episode. λ = `gae_lambda`: 1 gives the n-step return less V (A2C's original estimate),
  smaller values lean on the critic.
- Critic target: advantage + V(s) (the λ-return); losses in agents/on_policy.py `learn`: the policy's
  −log π(a|s)·A, `value_coef` × the critic's squared error, minus `entropy_coef` × the entropy.

PG_Agent (agents/policy_gradient.py) differs where REINFORCE differs: Monte-Carlo returns of episodes
complete within the rollout, no bootstrapping; its critic is a baseline only.
"""

from __future__ import annotations

import torch

from agents.on_policy import OnPolicyAgent


class AC_Agent(OnPolicyAgent):
    agent_name = "AC_Agent"

    def rollout_length(self) -> int:
        return self.params.n_steps or self.setup.machine.max_length

    def returns(self, rewards: torch.Tensor, terminated: torch.Tensor, values: torch.Tensor,
                last_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """λ-returns by GAE: every step learns, an episode cut by the rollout's end bootstrapping from V."""
        gamma, lam = self.params.gamma, self.params.gae_lambda
        advantages = torch.zeros_like(rewards)
        advantage, next_values = torch.zeros_like(last_values), last_values
        for t in range(len(rewards) - 1, -1, -1):
            live = (~terminated[t]).float()
            delta = rewards[t] + gamma * next_values * live - values[t]
            advantage = delta + gamma * lam * live * advantage
            advantages[t] = advantage
            next_values = values[t]
        return advantages + values, torch.ones_like(rewards, dtype=torch.bool)
