"""Checkpoints: plain dicts of tensors and numbers, written atomically, loadable with weights_only=True.

`models/best` holds the best model so far, `models/last` everything needed to resume: the agent's
training state, the run's record and its position (docs/training.md, "Outputs").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.base import Agent
from agents.networks import build_network
from training.files import replace_atomically

FORMAT_VERSION = 1


def as_tensors(value: Any) -> Any:
    """`value` with every numpy array inside it (dicts, lists, tuples) turned into a tensor: what
    weights_only loading accepts. Readers take them back with np.asarray."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, dict):
        return {key: as_tensors(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(as_tensors(item) for item in value)
    return value


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Save `payload` to `path` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replace_atomically(path) as temporary:
        torch.save({"format": FORMAT_VERSION, **as_tensors(payload)}, temporary)


def load_checkpoint(path: Path, device: str | torch.device = "cpu") -> dict[str, Any]:
    """The content of a model file; a file that is not one of this version is a ValueError naming it."""
    if path.is_dir():
        raise ValueError(f"{path}: a folder, not a model file")
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such model file") from None
    except Exception as error:  # whatever a damaged file raises: empty, truncated, text, random bytes
        kind = "empty" if path.is_file() and path.stat().st_size == 0 else "damaged or not one"
        raise ValueError(f"{path}: not a model file ({kind}: {type(error).__name__})") from None
    version = checkpoint.get("format") if isinstance(checkpoint, dict) else None
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: not a model file of this version (format {version!r}, expected {FORMAT_VERSION})")
    return checkpoint


def load_network(path: Path, device: str | torch.device = "cpu") -> tuple[nn.Module, dict[str, Any]]:
    """The network saved in a model file, in eval mode, and the whole checkpoint."""
    checkpoint = load_checkpoint(path, device)
    network = build_network(checkpoint["network_spec"])
    network.load_state_dict(checkpoint["network"])
    return network.to(device).eval(), checkpoint


class Checkpointer:
    """Writes a run's models/best and models/last and reads models/last back."""

    def __init__(self, models_dir: Path, agent: Agent, file_fields: dict[str, Any]) -> None:
        """`file_fields`: what every model file carries besides the network (run, machine, reward_scale)."""
        self.models_dir, self.agent, self.file_fields = models_dir, agent, file_fields
        self.best_written: int | None = None  # the episode of the best model this process last wrote
        models_dir.mkdir(parents=True, exist_ok=True)

    def model_file(self, payload: dict[str, Any], episode: int, performance: float | None) -> dict[str, Any]:
        return {**payload, "agent": self.agent.agent_name, "episode": episode, "performance": performance,
                **self.file_fields}

    def save(self, best: tuple[dict[str, Any], int, float] | None, episode: int, performance: float | None,
             progress_state: dict[str, Any]) -> None:
        """models/best from `best` (payload, episode, performance) when there is one and it is not the one
        written last; models/last from the agent now, with its training state and `progress_state` (the
        record and the run's position). A stop waits for both: models/best is not written again unchanged."""
        best_file = self.models_dir / "best"
        if best is not None and (best[1] != self.best_written or not best_file.is_file()):
            save_checkpoint(best_file, self.model_file(*best))
            self.best_written = best[1]
        last = self.model_file(self.agent.model_payload(), episode, performance)
        last["training"] = self.agent.training_state()
        last["monitor"] = progress_state
        save_checkpoint(self.models_dir / "last", last)

    def load_last(self) -> dict[str, Any]:
        """models/last, with the agent's training state already restored from it."""
        checkpoint = load_checkpoint(self.models_dir / "last")
        self.agent.load_training_state(checkpoint["training"])
        return checkpoint
