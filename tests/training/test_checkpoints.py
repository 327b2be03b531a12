"""training/checkpoints.py alone: atomic model files of this format version, and the Checkpointer's
models/best and models/last, with a small stand-in agent."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import torch

from agents.base import network_payload
from agents.networks import build_network, network_spec
from toycorewar import MachineConfig
from training.checkpoints import FORMAT_VERSION, Checkpointer, load_checkpoint, load_network, save_checkpoint

FILE_FIELDS = {"reward_scale": 0.5, "run": {"id": "r", "algo": "DQN"},
               "machine": {"num_registers": 4, "n_vals": 20, "max_length": 5}}


class Unsaveable:
    """An object torch.save fails on, after it has begun writing."""

    def __reduce__(self):
        raise RuntimeError("cannot be saved")


class StandInAgent:
    """The Agent protocol's methods on a tiny linear network, with a step count as its training state."""

    agent_name = "Stand_in"

    def __init__(self, fill=0.0):
        self.network = torch.nn.Linear(2, 1)
        with torch.no_grad():
            self.network.weight.fill_(fill)
        self.steps = 0

    def train(self, progress):
        progress.update(progress.episode + 1)

    def greedy_actions(self, obs):
        return np.zeros(len(obs["registers"]), dtype=np.int64)

    def model_payload(self):
        return {"network_spec": {"kind": "stand_in"},
                "network": {k: v.detach().clone() for k, v in self.network.state_dict().items()}}

    def training_state(self):
        return {"steps": self.steps, "weight": self.network.weight.detach().clone()}

    def load_training_state(self, state):
        self.steps = int(state["steps"])
        with torch.no_grad():
            self.network.weight.copy_(state["weight"])


def test_save_checkpoint_creates_the_folder_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "models" / "last"
    save_checkpoint(path, {"weights": torch.arange(4.0), "episode": 3})
    assert sorted(p.name for p in path.parent.iterdir()) == ["last"]
    loaded = torch.load(path, weights_only=True)
    assert loaded["format"] == FORMAT_VERSION
    assert loaded["episode"] == 3
    assert torch.equal(loaded["weights"], torch.arange(4.0))


def test_save_checkpoint_replaces_an_existing_file_whole(tmp_path):
    path = tmp_path / "best"
    save_checkpoint(path, {"weights": torch.zeros(10_000), "old": True})
    reader = tmp_path / "held_by_a_reader"
    os.link(path, reader)  # a reader that opened the old file keeps seeing all of it
    save_checkpoint(path, {"weights": torch.ones(3)})
    loaded = torch.load(path, weights_only=True)
    assert set(loaded) == {"format", "weights"}
    assert torch.equal(loaded["weights"], torch.ones(3))
    assert torch.load(reader, weights_only=True)["old"] is True
    assert not path.samefile(reader)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best", "held_by_a_reader"]


def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "last"
    save_checkpoint(path, {"episode": 1})
    with pytest.raises(RuntimeError, match="cannot be saved"):
        save_checkpoint(path, {"episode": 2, "unsaveable": Unsaveable()})
    assert torch.load(path, weights_only=True)["episode"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last"]


def test_load_checkpoint_reads_a_file_of_this_version(tmp_path):
    path = tmp_path / "last"
    save_checkpoint(path, {"episode": 7})
    assert load_checkpoint(path) == {"format": FORMAT_VERSION, "episode": 7}


@pytest.mark.parametrize("content", [{"format": FORMAT_VERSION + 1, "episode": 7}, {"episode": 7}, torch.zeros(2)],
                         ids=["another version", "no version", "not a dict"])
def test_load_checkpoint_refuses_a_file_of_another_format_with_a_value_error_naming_it(tmp_path, content):
    path = tmp_path / "old_model"
    torch.save(content, path)
    with pytest.raises(ValueError, match=re.escape(f"{path}: not a model file of this version")) as error:
        load_checkpoint(path)
    assert f"expected {FORMAT_VERSION}" in str(error.value)


def test_load_network_rebuilds_the_saved_network_in_eval_mode(tmp_path):
    spec = network_spec("dueling_q", MachineConfig(4, 20, 5), h_size=8, middle_size=16, lstm_layers=1)
    network = build_network(spec)
    save_checkpoint(tmp_path / "best", {**network_payload(spec, network), "episode": 4})
    rebuilt, checkpoint = load_network(tmp_path / "best")
    assert checkpoint["episode"] == 4
    assert not rebuilt.training
    original, loaded = network.state_dict(), rebuilt.state_dict()
    assert original.keys() == loaded.keys()
    assert all(torch.equal(original[k], loaded[k]) for k in original)


def test_checkpointer_creates_its_folder(tmp_path):
    Checkpointer(tmp_path / "run" / "models", StandInAgent(), FILE_FIELDS)
    assert (tmp_path / "run" / "models").is_dir()


def test_checkpointer_save_without_a_best_writes_only_models_last(tmp_path):
    agent = StandInAgent(fill=2.0)
    agent.steps = 11
    checkpointer = Checkpointer(tmp_path / "models", agent, FILE_FIELDS)
    checkpointer.save(None, episode=40, performance=-3.0, progress_state={"episode": 40, "curve": [[0, -5.0]]})
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["last"]
    last = torch.load(tmp_path / "models" / "last", weights_only=True)
    assert last["agent"] == "Stand_in"
    assert (last["episode"], last["performance"]) == (40, -3.0)
    assert last["training"]["steps"] == 11
    assert torch.equal(last["training"]["weight"], torch.full((1, 2), 2.0))
    assert last["monitor"] == {"episode": 40, "curve": [[0, -5.0]]}
    assert torch.equal(last["network"]["weight"], torch.full((1, 2), 2.0))
    assert {k: last[k] for k in FILE_FIELDS} == FILE_FIELDS


def test_checkpointer_save_with_a_best_writes_models_best_from_it(tmp_path):
    agent = StandInAgent(fill=2.0)
    best_payload = StandInAgent(fill=9.0).model_payload()
    checkpointer = Checkpointer(tmp_path / "models", agent, FILE_FIELDS)
    checkpointer.save((best_payload, 20, -1.0), episode=40, performance=-3.0, progress_state={"episode": 40})
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["best", "last"]
    best = torch.load(tmp_path / "models" / "best", weights_only=True)
    assert (best["episode"], best["performance"], best["agent"]) == (20, -1.0, "Stand_in")
    assert torch.equal(best["network"]["weight"], torch.full((1, 2), 9.0))
    assert "training" not in best and "monitor" not in best
    assert {k: best[k] for k in FILE_FIELDS} == FILE_FIELDS
    last = torch.load(tmp_path / "models" / "last", weights_only=True)
    assert torch.equal(last["network"]["weight"], torch.full((1, 2), 2.0))


def test_models_best_is_written_again_only_when_the_best_changed_or_the_file_is_gone(tmp_path, monkeypatch):
    """A stop waits for every file a save writes: an unchanged best model is not written again."""
    import training.checkpoints as checkpoints
    written = []
    monkeypatch.setattr(checkpoints, "save_checkpoint",
                        lambda path, payload: (written.append(path.name), save_checkpoint(path, payload)))
    checkpointer = Checkpointer(tmp_path / "models", StandInAgent(fill=2.0), FILE_FIELDS)

    def save(best_episode: int, fill: float) -> list[str]:
        written.clear()
        checkpointer.save((StandInAgent(fill=fill).model_payload(), best_episode, -1.0), episode=40,
                          performance=-3.0, progress_state={"episode": 40})
        return written

    assert save(20, 9.0) == ["best", "last"]
    assert save(20, 9.0) == ["last"]
    assert save(30, 7.0) == ["best", "last"]
    assert torch.load(tmp_path / "models" / "best", weights_only=True)["episode"] == 30
    (tmp_path / "models" / "best").unlink()
    assert save(30, 7.0) == ["best", "last"]


def test_load_last_restores_the_agents_training_state_and_returns_the_checkpoint(tmp_path):
    trained = StandInAgent(fill=4.0)
    trained.steps = 123
    Checkpointer(tmp_path / "models", trained, FILE_FIELDS).save(None, 60, -2.0, {"episode": 60})
    fresh = StandInAgent(fill=0.0)
    checkpoint = Checkpointer(tmp_path / "models", fresh, FILE_FIELDS).load_last()
    assert fresh.steps == 123
    assert torch.equal(fresh.network.weight.detach(), torch.full((1, 2), 4.0))
    assert checkpoint["monitor"] == {"episode": 60}
    assert checkpoint["episode"] == 60


@pytest.mark.parametrize("content", [b"", b"not a model file at all\n", bytes(range(256))])
def test_load_checkpoint_refuses_a_damaged_file_with_a_value_error_naming_it(tmp_path, content):
    path = tmp_path / "last"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a model file") as raised:
        load_checkpoint(path)
    assert str(path) in str(raised.value) and "weights_only" not in str(raised.value)
