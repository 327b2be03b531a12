"""Bad search spaces, runs and command lines are caught before anything runs: exit status 2, one line
naming the file and the field, nothing written. The shipped search_spaces.json is valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sweep_files import ROOT, TINY_SPACE

import parameter_search
from agents.parameters import PARAMETERS
from sweeps.spaces import load_search_space
from training.config import ConfigError, load_config, load_training


def dqn_space(**ranges: dict | None) -> dict:
    """TINY_SPACE with some DQN ranges replaced (None removes one)."""
    section = {**TINY_SPACE["DQN_Agent"], **ranges}
    return {**TINY_SPACE, "DQN_Agent": {k: v for k, v in section.items() if v is not None}}


BAD_SPACES = {
    "unknown agent": ({**TINY_SPACE, "DQN_Agnet": {}}, "space.json: DQN_Agnet: unknown agent 'DQN_Agnet'"),
    "unknown parameter": (dqn_space(h_sise={"type": "int", "min": 8, "max": 16}),
                          "space.json: DQN_Agent.h_sise: unknown parameter of DQN_Agent"),
    "parameter of another agent": (dqn_space(value_coef={"type": "double", "min": 0.1, "max": 1.0}),
                                   "space.json: DQN_Agent.value_coef: unknown parameter"),
    "parameter the agent ignores": ({**TINY_SPACE, "PG_Agent": {"batch_size": {"type": "int", "min": 8, "max": 9}}},
                                    "space.json: PG_Agent.batch_size: PG_Agent ignores this parameter"),
    "min above max": (dqn_space(h_size={"type": "int", "min": 100, "max": 20}),
                      "space.json: DQN_Agent.h_size: min (100) must be less than max (20)"),
    "episodes bound below min": (dqn_space(learning_starts={"type": "int", "min": 40, "max": "episodes/2"}),
                                 "space.json: DQN_Agent.learning_starts: min (40) must be less than max "
                                 "(30, from 'episodes/2' with 60 episodes)"),
    "type neither int nor double": (dqn_space(h_size={"type": "float", "min": 8, "max": 16}),
                                    "space.json: DQN_Agent.h_size.type: Input should be 'int' or 'double', "
                                    'got "float"'),
    "double for an integer parameter": (dqn_space(h_size={"type": "double", "min": 8, "max": 16}),
                                        "space.json: DQN_Agent.h_size.type: DQN_Agent's h_size is an integer"),
    "double bound of an int range": (dqn_space(lstm_layers={"type": "int", "min": 1, "max": 2.5}),
                                     "space.json: DQN_Agent.lstm_layers.max: 2.5 is not an integer"),
    "log on an int": (dqn_space(batch_size={"type": "int", "min": 8, "max": 64, "transformation": "log"}),
                      "space.json: DQN_Agent.batch_size.transformation: log applies to double parameters only"),
    "log with min 0": (dqn_space(lr={"type": "double", "min": 0, "max": 1, "transformation": "log"}),
                       "space.json: DQN_Agent.lr.transformation: log needs min > 0"),
    "unknown transformation": (dqn_space(lr={"type": "double", "min": 1e-4, "max": 1, "transformation": "exp"}),
                               "space.json: DQN_Agent.lr.transformation: Input should be 'log'"),
    "unknown key": (dqn_space(lr={"type": "double", "min": 1e-4, "max": 1, "step": 0.1}),
                    "space.json: DQN_Agent.lr.step: unknown key"),
    "missing bound": (dqn_space(lr={"type": "double", "min": 1e-4}), "space.json: DQN_Agent.lr.max: Field required"),
    "bad episodes expression": (dqn_space(learning_starts={"type": "int", "min": 0, "max": "episode/2"}),
                                "space.json: DQN_Agent.learning_starts.max: 'episode/2' is neither a number"),
    "range the agent rejects entirely": (dqn_space(gamma={"type": "double", "min": 1.5, "max": 2.0}),
                                         "space.json: DQN_Agent.gamma: DQN_Agent rejects both bounds"),
    "no range for the run's agent": ({"AC_Agent": TINY_SPACE["AC_Agent"]},
                                     "space.json: no search space for DQN_Agent"),
    "empty section": ({"DQN_Agent": {}}, "space.json: DQN_Agent: expected a non-empty object"),
    "not an object": ([1, 2], "space.json: expected an object mapping agent classes"),
}


def run_main(argv: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """parameter_search.main as the command line calls it; (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as stopped:
        parameter_search.main(argv)
    captured = capsys.readouterr()
    return stopped.value.code, captured.out, captured.err


def assert_refused(argv: list[str], capsys: pytest.CaptureFixture, folder: Path) -> str:
    """Exit status 2, one line on stderr, nothing on stdout, nothing written; returns the line."""
    status, out, err = run_main(argv, capsys)
    assert status == 2 and out == "", err
    assert len(err.splitlines()) == 1, err
    assert not (folder / "experiments").exists() and not (folder / "runs").exists()
    return err.strip()


SWEEP = ["bad", "--id", "t", "--episodes", "60", "--search-space", "space.json", "--budget", "1"]


@pytest.mark.parametrize("case", BAD_SPACES, ids=list(BAD_SPACES))
def test_a_bad_search_space_exits_2_with_one_line_naming_the_file_and_field(inputs, capsys, case):
    space, expected = BAD_SPACES[case]
    (inputs / "space.json").write_text(json.dumps(space), encoding="utf-8")
    line = assert_refused(SWEEP, capsys, inputs)
    assert expected in line, line


@pytest.mark.parametrize("argv, expected", [
    (SWEEP[:2] + ["nope"] + SWEEP[3:], "training.json: --id: no run with id nope"),
    (SWEEP + ["--parallel", "2"], "--parallel 2 needs the SigOpt API driver"),
    (SWEEP + ["--driver", "api"], "--driver api needs the SIGOPT_API_TOKEN environment variable"),
    (SWEEP[:-1] + ["0"], "--budget must be at least 1"),
    (SWEEP + ["-c", "missing.json"], "missing.json: file not found"),
    (SWEEP + ["--resume"], "--resume continues with the run, configuration and search space saved"),
    (["../up"] + SWEEP[1:], "NAME '../up' must be letters"),
    (SWEEP + ["--search-space", "none.json"], "none.json: file not found"),
], ids=["unknown id", "parallel with lite", "api without token", "budget 0", "missing config", "resume with flags",
        "bad name", "missing space"])
def test_bad_command_lines_exit_2_with_one_line_before_anything_runs(inputs, capsys, argv, expected):
    assert expected in assert_refused(argv, capsys, inputs)


def test_the_shipped_search_spaces_are_valid_for_every_agent_and_the_shipped_runs():
    config = load_config(ROOT / "config.json")
    episodes = load_training(ROOT / "training.json", config)[0].episodes
    spaces = {agent: load_search_space(ROOT / "search_spaces.json", agent, episodes) for agent in PARAMETERS}
    assert all(not space.warnings for space in spaces.values())
    dqn = {r.name: (r.type, r.min, r.max, r.log) for r in spaces["DQN_Agent"].ranges}
    assert dqn == {"h_size": ("int", 20, 100, False), "middle_size": ("int", 30, 250, False),
                   "lstm_layers": ("int", 1, 2, False), "epsilon_decay_steps": ("double", 0.2, 2.0, False),
                   "learning_starts": ("int", 0, episodes // 2, False), "learning_freq": ("int", 1, 15, False),
                   "target_update_freq": ("int", 500, 5000, False), "lr": ("double", 1e-5, 1.0, True),
                   "gamma": ("double", 0.5, 0.9999, False), "batch_size": ("int", 10, 500, False)}
    assert set(spaces["AC_Agent"].names) == {"h_size", "middle_size", "lstm_layers", "lr", "gamma", "entropy_coef",
                                             "value_coef"}
    assert set(spaces["PG_Agent"].names) == {"h_size", "middle_size", "lstm_layers", "lr", "gamma", "entropy_coef"}


def test_a_range_the_agent_partly_rejects_is_accepted_with_a_warning(tmp_path):
    (tmp_path / "space.json").write_text(json.dumps(TINY_SPACE), encoding="utf-8")
    space = load_search_space(tmp_path / "space.json", "DQN_Agent", 60)
    assert space.warnings == [f"{tmp_path / 'space.json'}: DQN_Agent.lstm_layers.min: DQN_Agent rejects 0 "
                              "(Input should be greater than or equal to 1): suggestions there will be failed trials"]
    with pytest.raises(ConfigError, match="no search space for PG_Agent"):
        load_search_space(tmp_path / "space.json", "PG_Agent", 60)
