"""The tutorials of docs/tutorials/ run as written: their files are written and their commands run in a
fresh folder, and what each page says comes out does."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = ROOT / "docs" / "tutorials"
FENCE = re.compile(r"^```(\w+)([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(page: Path) -> tuple[dict[str, str], list[str]]:
    """The page's files (fenced blocks with a title="NAME") and its commands (the lines of bash blocks)."""
    files, commands = {}, []
    for language, info, body in FENCE.findall(page.read_text(encoding="utf-8")):
        title = re.search(r'title="([^"]+)"', info)
        if title:
            files[title.group(1)] = body
        elif language == "bash":
            commands += [line for line in body.splitlines() if line.strip()]
    return files, commands


def run_command(line: str, folder: Path) -> subprocess.CompletedProcess:
    """A `python SCRIPT ...` line of the page, run in `folder` with the project's script and the
    folder on PYTHONPATH (the page's files sit there, as they would beside main.py)."""
    words = shlex.split(line)
    assert words[0] == "python" and (ROOT / words[1]).is_file(), line
    env = {**os.environ, "PYTHONPATH": str(folder)}
    return subprocess.run([sys.executable, str(ROOT / words[1]), *words[2:]], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def agent_tutorial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess]]:
    folder = tmp_path_factory.mktemp("tutorial")
    files, commands = blocks(TUTORIALS / "add_an_agent.md")
    assert set(files) == {"my_agent.py", "my_config.json", "my_training.json"} and len(commands) == 2
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder, [run_command(line, folder) for line in commands]


def test_the_new_agent_trains_through_main_py_and_its_curves_are_in_tensorboard(agent_tutorial):
    folder, (train, _) = agent_tutorial
    assert train.returncode == 0, train.stderr[-2000:]
    run = folder / "experiments" / "my_first_agent" / "mc"
    assert (run / "models" / "best").is_file() and (run / "models" / "last").is_file()
    assert sorted(path.name for path in run.glob("*_Evaluation"))  # its evaluation logs
    events = EventAccumulator(str(folder / "runs" / "my_first_agent" / "mc"))
    events.Reload()
    scalars = events.Tags()["scalars"]
    assert "evaluation/mean_performance" in scalars and "train/loss" in scalars
    assert len(events.Scalars("evaluation/mean_performance")) == 4  # at 0 and every LOG_FREQ (200) of 600


def test_its_model_writes_a_program_in_synthesize_py(agent_tutorial):
    _, (_, synthesize) = agent_tutorial
    assert synthesize.returncode == 0, synthesize.stderr[-2000:]
    assert "target [17, 0, 12, 29]" in synthesize.stdout and "performance" in synthesize.stdout


def test_a_bad_value_of_the_new_agents_parameters_is_refused_as_the_page_says(agent_tutorial, tmp_path):
    folder, _ = agent_tutorial
    page = (TUTORIALS / "add_an_agent.md").read_text(encoding="utf-8")
    said = re.search(r"`(my_config\.json: presets\.MC\.parameters\.epsilon: [^`]*)`", page.replace("\n", " "))
    assert said, "the page shows the refusal line it promises"
    config = (folder / "my_config.json").read_text(encoding="utf-8").replace('"epsilon": 0.2', '"epsilon": 2')
    (tmp_path / "my_config.json").write_text(config, encoding="utf-8")
    (tmp_path / "my_training.json").write_text((folder / "my_training.json").read_text(encoding="utf-8"))
    (tmp_path / "my_agent.py").write_text((folder / "my_agent.py").read_text(encoding="utf-8"))
    refused = run_command("python main.py bad -c my_config.json -t my_training.json", tmp_path)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == f"error: {said.group(1)}", refused.stderr
    assert not (tmp_path / "experiments").exists()


@pytest.fixture(scope="module")
def task_tutorial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[subprocess.CompletedProcess]]:
    folder = tmp_path_factory.mktemp("tasks")
    files, commands = blocks(TUTORIALS / "add_a_task_kind.md")
    assert set(files) == {"my_tasks.py", "sequences.json"} and len(commands) == 2
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "config.json").write_text((ROOT / "config.json").read_text(encoding="utf-8"))  # the shipped presets
    return folder, [run_command(line, folder) for line in commands]


def test_the_new_task_kind_trains_and_is_evaluated_on_its_held_out_tasks(task_tutorial):
    folder, (train, synthesize) = task_tutorial
    assert train.returncode == 0, train.stderr[-2000:]
    run = folder / "experiments" / "sequences" / "sequences"
    last_log = sorted(run.glob("*_Evaluation"))[-1].read_text(encoding="utf-8")
    page = (TUTORIALS / "add_a_task_kind.md").read_text(encoding="utf-8")
    held_out = int(re.search(r"held-out sequences \((\d+) of them", page).group(1))
    assert "Solved: " in last_log and last_log.count("Task ") == held_out
    tasks = [[int(v) for v in match.split(", ")] for match in re.findall(r"target \[([\d, ]+)\]", last_log)]
    source = {}
    exec((folder / "my_tasks.py").read_text(encoding="utf-8"), source)  # the page's own class
    from toycorewar import MachineConfig
    family = source["ArithmeticSequences"](machine=MachineConfig(), episodes=1, rng=None)
    evaluated = {tuple(t) for t in tasks}
    assert evaluated == {tuple(t) for t in family.targets(family.held_out).tolist()}  # its held-out ones
    assert not evaluated & {tuple(t) for t in family.targets(family.training).tolist()}
    assert synthesize.returncode == 0 and "target [3, 7, 11, 15]" in synthesize.stdout, synthesize.stderr
    assert (3, 7, 11, 15) in evaluated  # the page's example is a held-out sequence


def test_the_new_task_kind_is_in_tensorboard(task_tutorial):
    folder, _ = task_tutorial
    events = EventAccumulator(str(folder / "runs" / "sequences" / "sequences"), size_guidance={"tensors": 0})
    events.Reload()
    assert "evaluation/solved_fraction" in events.Tags()["scalars"]
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "my_tasks:ArithmeticSequences" in text


def test_an_option_the_task_class_does_not_take_is_refused_as_the_page_says(task_tutorial, tmp_path):
    folder, _ = task_tutorial
    page = (TUTORIALS / "add_a_task_kind.md").read_text(encoding="utf-8").replace("\n", " ")
    shown = re.search(r"`(sequences\.json: run 'sequences': targets\.source [^`]*)`", page)
    assert shown, "the page shows the refusal line it promises"
    said = shown.group(1)
    for name in ("my_tasks.py", "config.json"):
        (tmp_path / name).write_text((folder / name).read_text(encoding="utf-8"))
    (tmp_path / "sequences.json").write_text((folder / "sequences.json").read_text().replace('"largest"', '"biggest"'))
    refused = run_command("python main.py bad -t sequences.json", tmp_path)
    assert refused.returncode == 2 and refused.stderr.strip() == f"error: {said}", refused.stderr
    assert not (tmp_path / "experiments").exists()


def test_an_agent_path_that_does_not_import_is_one_line_naming_the_field(tmp_path):
    config = '{"presets": {"X": {"agent": "no_such_module:Agent"}}}'
    (tmp_path / "c.json").write_text(config)
    (tmp_path / "t.json").write_text('[{"id": 1, "algo": "X", "episodes": 10}]')
    refused = run_command("python main.py bad -c c.json -t t.json", tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "c.json: presets.X.agent: cannot import 'no_such_module'" in refused.stderr
