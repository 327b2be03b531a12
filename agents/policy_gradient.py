"""PG_Agent: REINFORCE with a learned baseline, on the batched environment.

Returns are Monte-Carlo: only the steps whose episode ends within the rollout learn from it (an episode
cut by the rollout's end learns from the part that the next rollout completes); advantage = G − V(s),
where V, the baseline, is fitted to the same returns.
"""

from __future__ import annotations

import torch

from agents.on_policy import OnPolicyAgent


class PG_Agent(OnPolicyAgent):
    agent_name = "PG_Agent"

    def returns(self, rewards: torch.Tensor, terminated: torch.Tensor, last_values: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
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
