"""DQN_Agent: double DQN with a dueling head, a target network and a preallocated replay buffer,
trained on the batched environment (`num_envs` episodes side by side, every forward pass batched).

Units: `learning_starts` and `epsilon_decay_steps` count episodes (SPEC §7); `learning_freq` and
`target_update_freq` count environment steps (transitions), as in the DQN literature.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from agents.checkpoints import arrays_to_tensors, numpy_rng_state, restore_numpy_rng, tensors_to_arrays
from agents.monitor import Monitor, RunContext
from agents.networks import build_network, network_spec, observation_tensors
from agents.replay import ReplayBuffer
from environment import ToyCorewarVectorEnv


class DQN_Agent:
    agent_name = "DQN_Agent"

    def __init__(self, ctx: RunContext) -> None:
        p = self.params = ctx.params
        self.ctx, self.device = ctx, ctx.device
        torch.manual_seed(ctx.seed)
        self.rng = np.random.default_rng(ctx.seed)
        self.env = ToyCorewarVectorEnv(p.num_envs, autoreset_mode="SameStep", tasks=ctx.tasks, **ctx.env_kwargs())
        if p.known_rewards:
            self.spec = network_spec("known_reward_q", ctx.machine, p.h_size, p.middle_size, p.lstm_layers,
                                     p.register_size, effect_size=p.effect_size,
                                     reward_settings=self.env.reward.settings, reward_scale=p.reward_scale)
        else:
            self.spec = network_spec("dueling_q", ctx.machine, p.h_size, p.middle_size, p.lstm_layers,
                                     p.register_size, effect_size=p.effect_size)
        self.q = build_network(self.spec).to(self.device)
        self.target_q = copy.deepcopy(self.q)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=p.lr, foreach=True)
        self.buffer = ReplayBuffer(p.replay_buffer_size, ctx.machine)
        self.decay_episodes = p.decay_episodes(ctx.run.episodes)
        self.steps = 0  # environment steps (transitions) so far
        self.update_credit = 0.0  # gradient steps owed: learning_freq steps earn one
        self.loss = float("nan")

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

    @torch.no_grad()
    def greedy_actions(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        return self.q(*observation_tensors(obs, self.device)).argmax(dim=1).cpu().numpy()

    def act(self, obs: dict[str, np.ndarray], epsilon: float) -> np.ndarray:
        """ε-greedy: a uniform action with probability ε, else the best one, or, with a `temperature`,
        one drawn from softmax(Q / temperature) (near-best actions get tried, not only the best)."""
        if self.params.temperature > 0:
            with torch.no_grad():
                q = self.q(*observation_tensors(obs, self.device)).cpu().numpy().astype(np.float64)
            logits = (q - q.max(axis=1, keepdims=True)) / self.params.temperature
            cumulative = np.cumsum(np.exp(logits), axis=1)
            draws = self.rng.random(len(q))[:, None] * cumulative[:, -1:]
            actions = np.minimum((cumulative < draws).sum(axis=1), q.shape[1] - 1)
        else:
            actions = self.greedy_actions(obs)
        explore = self.rng.random(len(actions)) < epsilon
        actions[explore] = self.rng.integers(0, self.ctx.machine.num_actions, size=int(explore.sum()))
        return actions

    def train(self, monitor: Monitor) -> None:
        p, n = self.params, self.env.num_envs
        obs, _ = self.env.reset(seed=int(self.rng.integers(2**31)))
        while not monitor.done:
            epsilon = self.epsilon(monitor.episode)
            actions = self.act(obs, epsilon)
            next_obs, rewards, terminated, _, info = self.env.step(actions)
            # SameStep autoreset: a finished copy's last observation is in final_obs.
            self.buffer.add(obs, actions, rewards * p.reward_scale, info.get("final_obs", next_obs), terminated)
            previous_steps, self.steps = self.steps, self.steps + n
            if monitor.episode >= p.learning_starts and self.buffer.size >= p.batch_size:
                self.update_credit += n / p.learning_freq
                while self.update_credit >= 1:
                    self.learn()
                    self.update_credit -= 1
            if self.steps // p.target_update_freq != previous_steps // p.target_update_freq:
                self.target_q.load_state_dict(self.q.state_dict())
            obs = next_obs
            monitor.update(monitor.episode + int(terminated.sum()), loss=self.loss, exploration_rate=epsilon)

    def scaled_step_reward(self, registers: np.ndarray, next_registers: np.ndarray, target: np.ndarray,
                           terminated: np.ndarray, unused: np.ndarray) -> np.ndarray:
        reward = self.env.reward
        before, after = reward.distance(registers, target), reward.distance(next_registers, target)
        return reward.step_reward(before, after, terminated, unused) * self.params.reward_scale

    def taken_values(self, inputs: tuple[torch.Tensor, ...], actions: torch.Tensor) -> torch.Tensor:
        """Q(s, a) of the sampled states and actions, differentiable. With known rewards only the
        taken action's exact reward is computed, not all 225."""
        action = actions.unsqueeze(1)
        if self.params.known_rewards:
            q_taken = self.q.rewards(*inputs, actions=action) + self.q.residual(*inputs).gather(1, action)
        else:
            q_taken = self.q(*inputs).gather(1, action)
        return q_taken.squeeze(1)

    @torch.no_grad()
    def bootstrap_values(self, next_inputs: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Double DQN: the online network picks the next action, the target network values it (a
        no-grad pass: backpropagating through the next states too costs more). With known rewards,
        the exact rewards, the same for both networks, are computed once."""
        if self.params.known_rewards:
            known = self.q.rewards(*next_inputs)
            online, target_network = self.q.residual, self.target_q.residual
        else:
            known, online, target_network = 0.0, self.q, self.target_q
        best_next = (known + online(*next_inputs)).argmax(dim=1, keepdim=True)
        return (known + target_network(*next_inputs)).gather(1, best_next).squeeze(1)

    def learn(self) -> None:
        p = self.params
        batch = self.buffer.sample(p.batch_size, self.rng, p.n_step, p.gamma, self.env.num_envs,
                                   p.relabel_fraction, self.scaled_step_reward if p.relabel_fraction else None,
                                   p.priority_alpha, p.priority_beta)
        rows = batch.pop("rows")
        t = {name: torch.as_tensor(array, device=self.device) for name, array in batch.items()}
        inputs = (t["program"].long(), t["registers"].float(), t["target"].float())
        q_taken = self.taken_values(inputs, t["action"])
        next_inputs = (t["next_program"].long(), t["next_registers"].float(), inputs[2])
        y = t["reward"] + t["discount"] * (~t["terminated"]).float() * self.bootstrap_values(next_inputs)
        loss = (F.smooth_l1_loss(q_taken, y, reduction="none") * t["weight"]).mean()
        if p.priority_alpha > 0:
            self.buffer.update_priorities(rows, (y - q_taken).detach().cpu().numpy())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.q.parameters(), 10.0)
        self.optimizer.step()
        self.loss = float(loss.detach())

    # -- checkpoints ----------------------------------------------------------------------------------
    def model_payload(self) -> dict[str, Any]:
        return {"network_spec": self.spec, "network": {k: v.detach().cpu().clone() for k, v in
                                                       self.q.state_dict().items()}}

    def training_state(self) -> dict[str, Any]:
        return {"network": self.q.state_dict(), "target_network": self.target_q.state_dict(),
                "optimizer": self.optimizer.state_dict(), "steps": self.steps, "update_credit": self.update_credit,
                "rng": numpy_rng_state(self.rng),
                "buffer": {"index": self.buffer.index, "size": self.buffer.size,
                           "arrays": arrays_to_tensors(self.buffer.state()["arrays"])}}

    def load_training_state(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["network"])
        self.target_q.load_state_dict(state["target_network"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps, self.update_credit = int(state["steps"]), float(state["update_credit"])
        self.rng = restore_numpy_rng(state["rng"])
        buffer = state["buffer"]
        self.buffer.load_state({"index": buffer["index"], "size": buffer["size"],
                                "arrays": tensors_to_arrays(buffer["arrays"])})
