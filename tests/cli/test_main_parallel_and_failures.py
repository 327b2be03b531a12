"""`-j N` trains runs in separate processes; a run that fails does not stop the others."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from experiment_files import (
    assert_evaluation_logs,
    assert_models,
    assert_tensorboard,
    evaluation_logs,
    start_main,
    tiny_config,
    tiny_run,
    write_inputs,
)

PROC = Path("/proc")


def spawned_children(parent: int) -> set[int]:
    """The multiprocessing children ("spawn" start method) of process `parent`, read from /proc."""
    children = set()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"spawn_main" in command:
            children.add(int(entry.name))
    return children


@pytest.mark.skipif(not (PROC / "self" / "stat").exists(), reason="reads the process table from /proc")
def test_two_jobs_train_two_runs_at_once_in_separate_processes_with_the_same_outputs(tmp_path, trained):
    # The same two runs as the trained experiment, which ran them one after the other in one process.
    runs = trained.runs[:2]
    write_inputs(tmp_path, runs, trained.config)
    process = start_main(tmp_path, "parallel", "-j", "2")
    seen: set[int] = set()
    most_at_once = 0
    while process.poll() is None:
        children = spawned_children(process.pid)
        seen |= children
        most_at_once = max(most_at_once, len(children))
        time.sleep(0.02)
    stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr
    assert len(seen) == 2 and most_at_once == 2
    assert process.pid not in seen

    entries = json.loads((tmp_path / "experiments" / "parallel" / "summary.json").read_text(encoding="utf-8"))
    assert [(e["id"], e["status"]) for e in entries] == [(r["id"], "finished") for r in runs]
    for run, entry in zip(runs, entries, strict=True):
        run_dir = tmp_path / "experiments" / "parallel" / str(run["id"])
        logs = assert_evaluation_logs(run_dir, run, trained.config, entry["episodes"])
        assert_models(run_dir, run, trained.config, logs, entry["curve"])
        assert_tensorboard(tmp_path / "runs" / "parallel" / str(run["id"]),
                           trained.config["presets"][run["algo"]]["agent"], logs)
        # Same files as when trained in one process, and the same untrained network at episode 0.
        alone = trained.run_dir(run)
        assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == \
            sorted(p.relative_to(alone) for p in alone.rglob("*"))
        assert evaluation_logs(run_dir)[0].split("\n", 2)[2] == evaluation_logs(alone)[0].split("\n", 2)[2]
    for run in runs:
        assert any(line.split()[:3] == [str(run["id"]), run["algo"], "finished"] for line in stdout.splitlines()
                   if line.strip())


def test_a_failing_run_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    # Every value that cannot run is refused when the files are read, so the failure is injected: the HUGE
    # preset's agent raises MemoryError as it is built (main.py's own code in this process, -j 1).
    import main as main_py
    from agents.dqn import DQN_Agent

    built = DQN_Agent.__init__

    def out_of_memory(self, setup):
        if setup.params.h_size == 13:
            raise MemoryError("injected: no memory for this run")
        built(self, setup)

    monkeypatch.setattr(DQN_Agent, "__init__", out_of_memory)
    config = tiny_config()
    config["presets"]["HUGE"] = {"agent": "DQN_Agent", "parameters": {
        **config["presets"]["DQN"]["parameters"], "h_size": 13}}
    runs = [tiny_run("huge", "HUGE", targets=[[0, 10, 30, 250]]),
            tiny_run("fine", "AC", episodes=40, targets=[[0, 10, 30, 250]])]
    write_inputs(tmp_path, runs, config)
    monkeypatch.chdir(tmp_path)
    assert main_py.main(["mixed", "--quiet", "-j", "1"]) == 1
    stdout = capsys.readouterr().out
    experiment = tmp_path / "experiments" / "mixed"
    entries = {e["id"]: e for e in json.loads((experiment / "summary.json").read_text(encoding="utf-8"))}
    assert entries["huge"]["status"] == "failed"
    assert "MemoryError" in entries["huge"]["error"]
    assert entries["fine"]["status"] == "finished" and entries["fine"]["episodes"] == 40
    assert "MemoryError" in (experiment / "huge" / "error.txt").read_text(encoding="utf-8")
    assert set(evaluation_logs(experiment / "fine")) >= {0, 40}
    assert (experiment / "fine" / "models" / "best").is_file() and (experiment / "curves.png").is_file()
    rows = {line.split()[0]: line.split() for line in stdout.splitlines() if line.strip()}
    assert rows["huge"][1:3] == ["HUGE", "failed"] and rows["fine"][1:3] == ["AC", "finished"]
    assert "error: MemoryError" in stdout
