"""Which rows of the replay buffer a batch holds, and with what loss weights: uniform (stratified by
target when the buffer keeps one region per target) or prioritized by TD error."""

from __future__ import annotations

import numpy as np

from agents.replay.buffer import ReplayBuffer


class UniformSampler:
    """Every stored row equally likely; every weight 1."""

    def __init__(self, buffer: ReplayBuffer) -> None:
        self.buffer = buffer

    def draw(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sampled rows and their loss weights. With one region per target, stratified: each row's
        target is drawn evenly among those stored, then the row within its region."""
        buffer = self.buffer
        if buffer.regions == 1:
            return rng.integers(0, buffer.size, size=batch_size), np.ones(batch_size, dtype=np.float32)
        stored = np.flatnonzero(buffer.region_size > 0)
        region = stored[rng.integers(0, len(stored), size=batch_size)]
        within = (rng.random(batch_size) * buffer.region_size[region]).astype(np.int64)
        return buffer.region_start[region] + within, np.ones(batch_size, dtype=np.float32)


class PrioritizedSampler:
    """Prioritized replay: row i drawn with probability P(i) ∝ priority_i^alpha, its loss weighted by
    (size·P(i))^−beta / max (the importance weight that corrects the bias; the rarest row weighs 1)."""

    def __init__(self, buffer: ReplayBuffer, alpha: float, beta: float) -> None:
        self.buffer, self.alpha, self.beta = buffer, alpha, beta

    def draw(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Sampled rows and their importance weights."""
        buffer = self.buffer
        filled = np.arange(buffer.size) if buffer.regions == 1 else buffer.filled_rows()
        scaled = buffer.arrays["priority"][filled] ** self.alpha
        cumulative = np.cumsum(scaled)
        draws = rng.random(batch_size) * cumulative[-1]
        picks = np.minimum(np.searchsorted(cumulative, draws, side="right"), len(filled) - 1)
        weight = (len(filled) * scaled[picks] / cumulative[-1]) ** -self.beta
        return filled[picks], (weight / weight.max()).astype(np.float32)

    def update_priorities(self, rows: np.ndarray, td_errors: np.ndarray) -> None:
        """A sampled row's priority becomes its |TD error|, plus a floor so every row can be drawn again."""
        self.buffer.set_priorities(rows, np.abs(td_errors) + 0.01)
