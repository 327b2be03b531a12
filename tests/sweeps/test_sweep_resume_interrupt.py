"""`--resume` replays the trials of trials.csv into a new SigOpt experiment and trains only new ones;
Ctrl-C (SIGINT), or SIGTERM, stops a sweep cleanly with exit status 130 and trials.csv kept."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from experiment_files import assert_one_line_error, file_states
from sweep_files import TIMEOUT, read_table, run_search, start_search, tiny_sweep_args, write_sweep_inputs

# Rewritten by every run of the sweep; everything else of the first part must stay as it was.
REWRITTEN = {"trials.csv", "best_preset.json", "sweep.json"}


def test_resume_trains_one_new_trial_and_leaves_the_earlier_ones_untouched(resumed):
    experiment, tensorboard = resumed.first.folder, resumed.first.tensorboard
    before = {path: state for path, state in resumed.before.items() if path.rsplit("/", 1)[1] not in REWRITTEN}
    after = file_states(experiment, tensorboard)
    for path, state in before.items():
        assert after.get(path) == state, f"{path} was lost or rewritten by --resume"
    new_trial_files = {path.removeprefix(str(experiment) + "/").split("/")[0] for path in after
                       if path not in resumed.before and path.startswith(str(experiment) + "/")}
    assert new_trial_files - REWRITTEN == {"003"}
    assert sorted(p.name for p in experiment.iterdir() if p.is_dir()) == ["001", "002", "003"]
    assert not [line for line in resumed.resumed.stdout.splitlines() if line.startswith("trial ")], \
        "--quiet prints no line per trial"


def test_resume_keeps_the_earlier_rows_and_continues_the_numbering(resumed):
    _, rows = read_table(resumed.first.folder / "trials.csv")
    assert [row["trial"] for row in rows] == ["001", "002", "003"]
    earlier = resumed.before[str(resumed.first.folder / "trials.csv")][0].decode().splitlines()
    current = (resumed.first.folder / "trials.csv").read_text(encoding="utf-8").splitlines()
    assert current[:3] == earlier  # header and trials 001, 002 as they were
    assert {rows[0]["status"], rows[1]["status"]} == {"finished", "failed"}  # both kinds were replayed
    assert rows[2]["status"] in ("finished", "failed")
    # A new SigOpt experiment: its suggestion ids start again at 1.
    assert rows[2]["suggestion"] == "1"


def test_resume_refuses_a_missing_sweep_and_flags_that_would_change_it(tmp_path):
    write_sweep_inputs(tmp_path)
    line = assert_one_line_error(run_search(tmp_path, "nothing", "--resume", "--driver", "lite"))
    assert "experiments/nothing" in line and "no sweep to resume" in line
    line = assert_one_line_error(run_search(tmp_path, "nothing", "--resume", "--episodes", "10"))
    assert "--episodes" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "space.json", "training.json"]


@pytest.mark.parametrize("which", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_stops_the_sweep_with_status_130_and_keeps_trials_csv(tmp_path, which):
    write_sweep_inputs(tmp_path)
    args = tiny_sweep_args("--budget", "3")
    args[args.index("--episodes") + 1] = "1000000"  # a first trial that runs until it is interrupted
    process = start_search(tmp_path, "stopped", *args)
    first_log = tmp_path / "experiments" / "stopped" / "001" / "0000040_Evaluation"
    deadline = time.monotonic() + TIMEOUT
    while not first_log.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first_log.exists(), process.communicate()
    process.send_signal(which)
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    _, rows = read_table(tmp_path / "experiments" / "stopped" / "trials.csv")
    assert [(row["trial"], row["status"]) for row in rows] == [("001", "interrupted")]
    assert (tmp_path / "experiments" / "stopped" / "001" / "models" / "last").is_file()
    assert not (tmp_path / "experiments" / "stopped" / "best_preset.json").exists()
