"""The experiment folders a command writes: never overwritten without -f."""

from __future__ import annotations

import shutil
from pathlib import Path

from agents.config import ConfigError


def claim_experiment_folders(experiment: Path, tensorboard: Path, force: bool) -> None:
    """Refuse an existing `experiment` without `force`; with it, replace only `experiment` and `tensorboard`."""
    if experiment.exists() and not force:
        raise ConfigError(f"{experiment} already exists: use -f to replace it, --resume to continue it, "
                          "or choose another NAME")
    for folder in (experiment, tensorboard):
        if folder.exists():
            shutil.rmtree(folder)
