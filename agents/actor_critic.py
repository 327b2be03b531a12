"""AC_Agent: advantage actor-critic (A2C) on the batched environment.

Each rollout is MAX_LENGTH vector steps of `num_envs` copies; returns are n-step, bootstrapped from
the critic's value of the state after the rollout, so no step is wasted; advantage = return − V(s).
"""

from __future__ import annotations

import torch

from agents.on_policy import OnPolicyAgent


class AC_Agent(OnPolicyAgent):
    agent_name = "AC_Agent"

    def returns(self, rewards: torch.Tensor, terminated: torch.Tensor, last_values: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        gamma = self.params.gamma
        returns = torch.zeros_like(rewards)
        following = last_values
        for t in range(len(rewards) - 1, -1, -1):
            following = rewards[t] + gamma * following * (~terminated[t]).float()
            returns[t] = following
        return returns, torch.ones_like(rewards, dtype=torch.bool)
