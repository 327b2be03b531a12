"""When a run evaluates, writes its logs and saves its models, by episode count (docs/training.md):
every ASSESS_FREQ episodes an evaluation, every LOG_FREQ an evaluation log and TensorBoard points,
every SAVE_FREQ (0: only at the end) models/best and models/last."""

from __future__ import annotations

from dataclasses import dataclass


def crossed(previous: int, now: int, every: int) -> list[int]:
    """The multiples of `every` in (previous, now]: the boundaries passed since the last count."""
    return list(range((previous // every + 1) * every, now + 1, every))


@dataclass(frozen=True)
class Due:
    """What is due after the episode count moved: evaluations (with or without a log) and a save."""

    evaluations: list[int]
    logged: frozenset[int]
    save: bool

    def __bool__(self) -> bool:
        return bool(self.evaluations) or self.save


@dataclass(frozen=True)
class EventSchedule:
    assess_freq: int
    log_freq: int
    save_freq: int

    def due(self, previous: int, now: int) -> Due:
        """What falls due when the count of ended episodes goes from `previous` to `now`."""
        logs = crossed(previous, now, self.log_freq)
        evaluations = sorted(set(crossed(previous, now, self.assess_freq)) | set(logs))
        save = bool(self.save_freq) and bool(crossed(previous, now, self.save_freq))
        return Due(evaluations, frozenset(logs), save)
