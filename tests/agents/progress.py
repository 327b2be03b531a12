"""What the agents' tests share: a Progress that stops after a number of episodes."""

from __future__ import annotations


class Episodes:
    """A Progress (agents/base.py) that stops after `episodes` episodes."""

    def __init__(self, episodes: int) -> None:
        self.episode, self.episodes = 0, episodes

    @property
    def done(self) -> bool:
        return self.episode >= self.episodes

    @property
    def stopping(self) -> bool:
        return False

    def update(self, episodes_done: int, **scalars: float) -> None:
        self.episode = episodes_done
