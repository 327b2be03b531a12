"""What the end-to-end tests of `python main.py` share: tiny input files, running the scripts as a user
runs them, and readers of what they write (docs/reference.md §7-8)."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.networks import greedy_policy
from environment import heldout_targets, make_reward
from toycorewar import MachineConfig
from toycorewar.assembly import parse_instruction
from toycorewar.machine import execute
from training.checkpoints import load_network
from training.config import Settings
from training.evaluation import evaluate

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"
SYNTHESIZE = ROOT / "synthesize.py"
TIMEOUT = 300  # seconds: generous, the machine may be busy with other work

REWARD_SETTINGS = {"circular": True, "positive": True, "cumulative": True}
SETTINGS = {"DEVICE": "cpu", "ASSESS_FREQ": 20, "LOG_FREQ": 40, "SAVE_FREQ": 40, "PERF_MRY": 10, "EVAL_TARGETS": 5,
            "toy_corewar": {"NUM_ACTIONS": 225, "NUM_REGISTERS": 4, "MAX_LENGTH": 5, "N_INSTRUCTIONS": 4,
                            "N_VARS": 3, "N_VALS": 20, "N_TARGETS": 4}}
NETWORK = {"h_size": 8, "middle_size": 16, "lstm_layers": 1, "lr": 0.001, "gamma": 0.9, "num_envs": 8}
DQN_KEYS = {"learning_starts": 0, "learning_freq": 8, "target_update_freq": 100, "batch_size": 16,
            "replay_buffer_size": 1000, "epsilon_decay_steps": 0.5, "final_epsilon": 0.05}
TINY_CONFIG = {"settings": SETTINGS,
               "presets": {"DQN": {"agent": "DQN_Agent", "parameters": {**NETWORK, **DQN_KEYS}},
                           # PG carries the DQN keys it ignores, as the original project's file does.
                           "PG": {"agent": "PG_Agent", "parameters": {**NETWORK, **DQN_KEYS}},
                           "AC": {"agent": "AC_Agent", "parameters": dict(NETWORK)}}}


def tiny_config() -> dict:
    """A config.json for runs that last seconds: small networks, evaluation every 20 episodes."""
    return copy.deepcopy(TINY_CONFIG)


def tiny_run(run_id: int | str, algo: str, episodes: int = 80, targets: list | None = None,
             reg_inits: list | None = None) -> dict:
    """One run of training.json; `targets`/`reg_inits` None give the file's null (random / zeros)."""
    return {"id": run_id, "algo": algo, "episodes": episodes, "reward_func": "Specific_register_values",
            "reward_settings": dict(REWARD_SETTINGS),
            "targets": None if targets is None else {"values": targets, "alternate_freq": 0},
            "reg_inits": None if reg_inits is None else {"values": reg_inits, "alternate_freq": 0}}


def write_inputs(folder: Path, runs: list[dict], config: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or tiny_config(), indent=2), encoding="utf-8")
    (folder / "training.json").write_text(json.dumps(runs, indent=2), encoding="utf-8")


def main_command(name: str, *args: str) -> list[str]:
    return [sys.executable, str(MAIN), name, "--quiet", *args]


def run_main(cwd: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """`python main.py NAME --quiet ARGS` in `cwd`, where experiments/ and runs/ are written."""
    return subprocess.run(main_command(name, *args), cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT)


def run_synthesize(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SYNTHESIZE), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT)


def _default_sigint() -> None:
    # A shell without job control starts background commands with SIGINT ignored, and Python keeps an
    # ignored SIGINT ignored: restore the default so that main.py turns SIGINT into KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_main(cwd: Path, name: str, *args: str) -> subprocess.Popen:
    """main.py in a process group of its own, so that `stop` can end it and its workers together."""
    return subprocess.Popen(main_command(name, *args), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_default_sigint, start_new_session=True)


def stop(process: subprocess.Popen, why: str) -> None:
    """Kill main.py and its workers; fail saying `why`, with what main.py printed."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    stdout, stderr = process.communicate()
    raise AssertionError(f"{why} (status {process.returncode})\nstdout:\n{stdout}\nstderr:\n{stderr}")


def wait_for_files(process: subprocess.Popen, paths: list[Path], timeout: float = TIMEOUT) -> None:
    """Wait until every path exists; fail with the process's output if it ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in paths):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, f"main.py ended or timed out before {[str(p) for p in paths if not p.exists()]} appeared")
        time.sleep(0.02)


def interrupt(process: subprocess.Popen, timeout: float = 120,
              which: signal.Signals = signal.SIGINT) -> subprocess.CompletedProcess:
    """Send SIGINT (Ctrl-C), or `which`, to main.py only, and wait for it to save and exit."""
    process.send_signal(which)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(process, f"main.py did not stop within {timeout} s of {which.name}")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    """Exit status 2, nothing on stdout, one line on stderr, no traceback; returns the line."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def file_states(*folders: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folders`, by path, with its bytes and modification time (ns)."""
    return {str(path): (path.read_bytes(), path.stat().st_mtime_ns) for folder in folders
            for path in sorted(folder.rglob("*")) if path.is_file()}


# -- evaluation logs --------------------------------------------------------------------------------------
LOG_NAME = re.compile(r"^(\d{7})_Evaluation$")
TASK_LINE = re.compile(r"^Task \d+: target \[(?P<target>[\d, ]+)\], initial registers \[(?P<init>[\d, ]+)\]$")
STEP_LINE = re.compile(r"^\s+(?P<instruction>\S.*?)\s+registers \[(?P<registers>[\d, ]+)\]\s+reward (?P<reward>\S+)$")
END_LINE = re.compile(r"^\s+total reward (?P<total>\S+), performance (?P<performance>-?\d+)(?P<solved> \(solved\))?$")
MEAN_PERFORMANCE = re.compile(r"^Mean performance: (\S+)$", re.MULTILINE)
MEAN_REWARD = re.compile(r"^Mean reward: (\S+)$", re.MULTILINE)


@dataclass
class LoggedTask:
    target: list[int]
    reg_init: list[int]
    steps: list[tuple[str, list[int], float]] = field(default_factory=list)  # instruction, registers, reward
    total_reward: float | None = None
    performance: int | None = None
    solved_mark: bool = False


@dataclass
class EvaluationLog:
    tasks: list[LoggedTask]
    mean_performance: float
    mean_reward: float


def registers(text: str) -> list[int]:
    return [int(value) for value in text.split(",")]


def evaluation_logs(run_dir: Path) -> dict[int, str]:
    """The NNNNNNN_Evaluation files of a run folder, by episode."""
    return {int(match[1]): path.read_text(encoding="utf-8") for path in run_dir.iterdir()
            if (match := LOG_NAME.match(path.name))}


def without_elapsed_time(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("Elapsed time"))


def parse_evaluation(text: str) -> EvaluationLog:
    """Read an evaluation log; every line of a task block must be a task, step or end line."""
    tasks: list[LoggedTask] = []
    for line in text.splitlines():
        if match := TASK_LINE.match(line):
            tasks.append(LoggedTask(registers(match["target"]), registers(match["init"])))
        elif match := STEP_LINE.match(line):
            assert tasks and tasks[-1].performance is None, f"instruction line outside a task: {line!r}"
            tasks[-1].steps.append((match["instruction"], registers(match["registers"]), float(match["reward"])))
        elif match := END_LINE.match(line):
            assert tasks and tasks[-1].performance is None, f"second end line for a task: {line!r}"
            tasks[-1].total_reward, tasks[-1].performance = float(match["total"]), int(match["performance"])
            tasks[-1].solved_mark = bool(match["solved"])
        else:
            assert not line.startswith(" "), f"unreadable line in a task: {line!r}"
    mean_performance, mean_reward = MEAN_PERFORMANCE.search(text), MEAN_REWARD.search(text)
    assert mean_performance and mean_reward, f"no mean performance / mean reward in:\n{text}"
    assert text.index("Mean performance") > text.rindex("total reward"), "the means must come after the tasks"
    return EvaluationLog(tasks, float(mean_performance[1]), float(mean_reward[1]))


def circular_distance(registers_now: list[int], target: list[int]) -> int:
    """D(registers) of docs/reference.md §4 with circular=true."""
    return sum(min(abs(x - t), 256 - abs(x - t)) for x, t in zip(registers_now, target, strict=True))


# -- checks of a run's outputs (docs/reference.md §8), shared by the tests that train ---
def expected_evaluation_tasks(run: dict, config: dict) -> list[tuple[list[int], list[int]]]:
    """(target, initial registers) of every evaluation task: each fixed target with each fixed reg_init;
    null targets are the held-out random targets, null reg_inits zeros."""
    settings = config["settings"]
    r, seed = settings["toy_corewar"]["NUM_REGISTERS"], settings.get("EVAL_SEED", Settings().EVAL_SEED)
    targets = (run["targets"]["values"] if run["targets"] is not None
               else heldout_targets(settings["EVAL_TARGETS"], r, seed).tolist())
    inits = run["reg_inits"]["values"] if run["reg_inits"] is not None else [[0] * r]
    return [(list(t), list(i)) for t in targets for i in inits]


def machine_of(config: dict) -> MachineConfig:
    machine = config["settings"]["toy_corewar"]
    return MachineConfig(machine["NUM_REGISTERS"], machine["N_VALS"], machine["MAX_LENGTH"])


def assert_task_is_consistent(task: LoggedTask, config: dict) -> None:
    """Each logged register line is what the machine computes, each reward is D(before) − D(after)
    (positive, circular), the total is their sum and the performance −D(final registers)."""
    machine = machine_of(config)
    assert 1 <= len(task.steps) <= machine.max_length
    now = task.reg_init
    for number, (text, after, reward) in enumerate(task.steps, start=1):
        instruction = parse_instruction(text, machine)
        assert after == execute(instruction, now), f"step {number} '{text}' from {now}"
        assert reward == circular_distance(now, task.target) - circular_distance(after, task.target)
        assert instruction.op != "stop" or number == len(task.steps), "instructions after stop"
        now = after
    assert len(task.steps) == machine.max_length or task.steps[-1][0] == "stop"
    assert task.total_reward == sum(step[2] for step in task.steps)
    assert task.performance == -circular_distance(now, task.target)
    assert task.solved_mark == (task.performance == 0)


def assert_evaluation_logs(run_dir: Path, run: dict, config: dict, final_episode: int) -> dict[int, EvaluationLog]:
    """Logs at episode 0, every LOG_FREQ episodes and (only if it is not one of those) the last episode,
    each holding every evaluation task and the means. Returns them parsed, by episode."""
    log_freq = config["settings"]["LOG_FREQ"]
    logs = evaluation_logs(run_dir)
    scheduled = set(range(0, run["episodes"] + 1, log_freq))
    assert scheduled <= set(logs), f"missing logs {sorted(scheduled - set(logs))}"
    assert set(logs) - scheduled <= {final_episode}, f"unexpected logs {sorted(set(logs) - scheduled)}"
    assert max(logs) == final_episode
    parsed = {}
    for episode, text in logs.items():
        assert text.startswith(f"Evaluation at episode {episode}\n")
        log = parsed[episode] = parse_evaluation(text)
        assert [(t.target, t.reg_init) for t in log.tasks] == expected_evaluation_tasks(run, config)
        for task in log.tasks:
            assert_task_is_consistent(task, config)
        performances = [t.performance for t in log.tasks]
        assert log.mean_performance == approx(sum(performances) / len(performances))
        assert log.mean_reward == approx(sum(t.total_reward for t in log.tasks) / len(log.tasks))
    return parsed


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-5, abs=1e-4)  # logs write numbers with 6 significant digits


def programs(log: EvaluationLog) -> list[list[str]]:
    return [[step[0] for step in task.steps] for task in log.tasks]


def assert_models(run_dir: Path, run: dict, config: dict, logs: dict[int, EvaluationLog], curve: list) -> None:
    """models/best and models/last load with weights_only=True, rebuild their network, and that network
    plays as recorded: the last one writes the programs of the last log, the best one scores the best
    evaluation performance of the run."""
    tasks = expected_evaluation_tasks(run, config)
    targets, inits = np.array([t for t, _ in tasks]), np.array([i for _, i in tasks])
    for which in ("best", "last"):
        path = run_dir / "models" / which
        checkpoint = torch.load(path, weights_only=True)
        network, _ = load_network(path)
        assert isinstance(network, torch.nn.Module)
        rebuilt = network.state_dict()
        assert rebuilt.keys() == checkpoint["network"].keys()
        assert all(torch.equal(rebuilt[k], checkpoint["network"][k]) for k in rebuilt)
        reward = make_reward(run["reward_func"], run["reward_settings"])
        replay = evaluate(greedy_policy(network), machine_of(config), reward, targets, inits)
        if which == "last":
            assert checkpoint["episode"] == max(logs)
            assert [t.instructions for t in replay.tasks] == programs(logs[max(logs)])
        else:
            assert checkpoint["performance"] == max(performance for _, performance in curve)
            assert replay.mean_performance == checkpoint["performance"]


def assert_tensorboard(tensorboard_dir: Path, agent: str, logs: dict[int, EvaluationLog]) -> None:
    """The docs/reference.md §8 scalars: evaluation points at the logged episodes with the logs' means; training
    loss, episodes per second and (DQN) exploration rate."""
    accumulator = EventAccumulator(str(tensorboard_dir))
    accumulator.Reload()
    tags = set(accumulator.Tags()["scalars"])
    required = {"evaluation/mean_performance", "evaluation/mean_total_reward", "train/loss",
                "train/episodes_per_second"} | ({"train/exploration_rate"} if agent == "DQN_Agent" else set())
    assert required <= tags, f"missing {sorted(required - tags)}"

    def points(tag: str) -> dict[int, float]:
        return {event.step: event.value for event in accumulator.Scalars(tag)}

    episodes = sorted(logs)
    performance, reward = points("evaluation/mean_performance"), points("evaluation/mean_total_reward")
    assert sorted(performance) == episodes and sorted(reward) == episodes
    for episode in episodes:
        assert performance[episode] == approx(logs[episode].mean_performance)
        assert reward[episode] == approx(logs[episode].mean_reward)
    assert any(math.isfinite(v) for v in points("train/loss").values())
    assert all(v > 0 for v in points("train/episodes_per_second").values())
    if agent == "DQN_Agent":
        epsilons = [v for _, v in sorted(points("train/exploration_rate").items())]
        assert all(0 <= v <= 1 for v in epsilons) and epsilons == sorted(epsilons, reverse=True)


def read_hparams(tensorboard_dir: Path) -> tuple[list[str], dict[str, object], dict[str, float], int | None]:
    """A run's HParams entry, read with tensorboard's own reader: the metric tags of its experiment, the
    hyperparameters of its session start, its metric scalars (the last point of each) and its session
    end status (None: no session end)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = EventAccumulator(str(tensorboard_dir), size_guidance={"tensors": 0, "scalars": 0})
    accumulator.Reload()
    content = accumulator.PluginTagToContent("hparams")
    data = {tag: plugin_data_pb2.HParamsPluginData.FromString(raw) for tag, raw in content.items()}
    experiment = data["_hparams_/experiment"].experiment
    start = data["_hparams_/session_start_info"].session_start_info
    hparams = {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}
    metrics = [info.name.tag for info in experiment.metric_infos]
    tags = set(accumulator.Tags()["scalars"])
    values = {tag: accumulator.Scalars(tag)[-1].value for tag in metrics if tag in tags}
    end = data.get("_hparams_/session_end_info")
    return metrics, hparams, values, None if end is None else end.session_end_info.status
