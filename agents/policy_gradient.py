"""PG_Agent: REINFORCE with a learned baseline (Williams 1992, "Simple statistical gradient-following
algorithms for connectionist reinforcement learning"), on the batched environment.

The algorithm, and where each part of it is:

- Rollouts of MAX_LENGTH vector steps of `num_envs` copies (`rollout_length`): every episode lasts at
  most MAX_LENGTH steps, so each copy completes at least one episode per rollout.
- Monte-Carlo returns G_t = Σ_k γ^k r_{t+k} to the episode's end (`returns`), with no bootstrapping:
  only the steps whose episode ends within the rollout learn. An episode cut by the rollout's end
  learns, in the next rollout, from the steps that rollout holds (each with its own return to the
  end); the steps before the cut are not learnt.
- The baseline: V(s), fitted to the same returns; the policy's loss −log π(a|s)·(G_t − V(s_t)), its
  entropy bonus and the baseline's squared error are in agents/on_policy.py `learn`.

AC_Agent (agents/actor_critic.py) differs where A2C differs: rollouts of `n_steps` that may cut
episodes and bootstrap from the critic, advantages by GAE(λ).
"""

from __future__ import annotations

import torch

from agents.on_policy import OnPolicyAgent


class PG_Agent(OnPolicyAgent):
    agent_name = "PG_Agent"

    def rollout_length(self) -> int:
        return self.setup.machine.max_length

    def returns(self, rewards: torch.Tensor, terminated: torch.Tensor, values: torch.Tensor,
                last_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Monte-Carlo returns G_t; only the steps whose episode ends within the rollout learn (no
        bootstrapping: `values` and `last_values` are not used)."""
        gamma = self.params.gamma
        returns = torch.zeros_like(rewards)
        complete = torch.zeros_like(terminated)
        following = torch.zeros_like(last_values)
        ends_later = torch.zeros_like(terminated[0])
        for t in range(len(rewards) - 1, -1, -1):
            following = rewards[t] + gamma * following * (~terminated[t]).float()
            returns[t] = following
            ends_later = terminated[t] | ends_later
            complete[t] = ends_later
        return returns, complete
