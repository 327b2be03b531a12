"""benchmarks/time_to_solve.py: end to end on the shipped files (briefly) for each agent, its
interval computation on a hand-made score table, and its options refused when out of range."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "time_to_solve.py"
sys.path.insert(0, str(ROOT))

from benchmarks.time_to_solve import Outcome, iqm_interval, score_table  # noqa: E402
from training.result import RunResult  # noqa: E402


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The script run briefly for every agent on two runs, its outcomes saved."""
    folder = tmp_path_factory.mktemp("time_to_solve")
    result = run_script("--algo", "DQN,AC,PG", "--runs", "2,10", "--seeds", "1", "--max-episodes", "40",
                        "--assess", "20", "--threads", "1", "--reps", "50", "--png", str(folder / "solved.png"),
                        "--save", str(folder / "outcomes.json"))
    assert result.returncode == 0, result.stderr
    return result, folder


def test_each_agent_trains_every_chosen_run_and_is_summarised_with_its_interval(trained):
    result, folder = trained
    png = folder / "solved.png"
    lines = result.stdout.splitlines()
    rows = [line.split() for line in lines if line.split() and line.split()[0] in ("DQN", "AC", "PG")]
    assert sorted((r[0], r[1]) for r in rows) == sorted(
        (algo, run) for algo in ("DQN", "AC", "PG") for run in ("2", "10"))
    header = next(line for line in lines if line.startswith("preset"))
    assert header.split()[-5] == "len-opt"
    for algo in ("DQN", "AC", "PG"):
        summary = next(i for i, line in enumerate(lines) if line.startswith(f"{algo}: "))
        assert "/2 runs solved" in lines[summary]
        assert "IQM" in lines[summary + 1] and "95% CI" in lines[summary + 1]
        assert lines[summary + 2].strip().startswith("seconds to first solve")
    assert png.stat().st_size > 0


def test_the_iqm_and_its_interval_on_a_hand_made_table():
    # Two tasks (columns), four seeds (rows). The IQM of the 8 scores is the mean of the middle four.
    table = np.array([[100.0, 1000.0], [200.0, 2000.0], [300.0, 3000.0], [400.0, 4000.0]])
    iqm, low, high = iqm_interval(table, reps=500)
    middle = np.sort(table.ravel())[2:6]
    assert iqm == pytest.approx(middle.mean())
    assert low <= iqm <= high
    # Resampling within each task keeps one score per task in every column: the interval cannot leave
    # the range of IQMs of such tables.
    assert low >= 100.0 and high <= 4000.0
    constant = np.full((5, 3), 700.0)
    assert iqm_interval(constant, reps=100) == (700.0, 700.0, 700.0)


def test_the_score_table_puts_seeds_in_rows_and_runs_in_columns_and_counts_unsolved_as_the_budget():
    def outcome(run_id, seed, first_solve):
        result = RunResult(id=run_id, algo="DQN", status="finished", first_solve=first_solve, episodes=500,
                           first_solve_seconds=None if first_solve is None else first_solve / 100, seconds=9.0)
        return Outcome("DQN", run_id, seed, "t", 500, result)

    outcomes = [outcome("1", 0, 100), outcome("1", 1, 300), outcome("2", 0, None), outcome("2", 1, 0)]
    assert score_table(outcomes, "episodes").tolist() == [[100, 500], [300, 0]]
    assert score_table(outcomes, "seconds").tolist() == [[1.0, 9.0], [3.0, 0.0]]


def refusal(capsys, *args: str) -> str:
    """The last line on stderr of the script's arguments refused (exit 2) in this process."""
    from benchmarks.time_to_solve import parse_arguments
    with pytest.raises(SystemExit) as exit:
        parse_arguments(list(args))
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and out == ""
    return err.splitlines()[-1]


@pytest.mark.parametrize("flag", ["--jobs", "--seeds", "--threads", "--assess", "--max-episodes", "--reps"])
def test_counts_below_one_are_refused_in_one_line(flag, capsys):
    assert f"{flag} must be at least 1" in refusal(capsys, flag, "0")


@pytest.mark.parametrize("args", [["--runs", "11"], ["--runs", "x"], ["--runs", "3-12"], ["--algo", "SAC"],
                                  ["--after-solve", "-1"], ["--after-solve", "5", "--full"],
                                  ["--png", "/no/such/folder/x.png"], ["--set", "instruction_cost"],
                                  ["--set", "lr=-1"]])
def test_options_out_of_range_are_refused_in_one_line(args, capsys):
    assert args[0] in refusal(capsys, *args)


def test_the_script_refuses_an_option_with_exit_2_and_no_traceback():
    result = run_script("--runs", "11")
    assert result.returncode == 2 and "--runs" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_set_changes_the_trained_preset_and_is_validated_as_config_json_is(tmp_path):
    from benchmarks.time_to_solve import tasks_for
    task = tasks_for("DQN", ["5"], [0], 50, tmp_path, overrides={"instruction_cost": 0.0, "lr": 0.01})[0]
    parameters = task["config_data"]["presets"]["DQN"]["parameters"]
    assert parameters["instruction_cost"] == 0.0 and parameters["lr"] == 0.01
    result = run_script("--set", "instruction_cost=0.5")  # 0.5 × MAX_LENGTH 5 outweighs a unit of distance
    assert result.returncode == 2 and result.stdout == ""
    assert "presets.DQN.parameters.instruction_cost" in result.stderr and "Traceback" not in result.stderr


def test_saved_outcomes_are_reported_again_without_training(trained, tmp_path):
    first, folder = trained
    saved, png = folder / "outcomes.json", tmp_path / "again.png"
    again = run_script("--load", str(saved), str(saved), "--reps", "20", "--png", str(png))
    assert again.returncode == 0, again.stderr
    for algo in ("DQN", "AC", "PG"):
        rows = [line for line in again.stdout.splitlines() if line.startswith(f"{algo} ")]
        assert len(rows) == 4 and all(row in first.stdout for row in rows)  # each file's two runs
        assert f"{algo}: " in again.stdout
    assert png.stat().st_size > 0


def test_a_file_that_is_not_saved_outcomes_is_refused_in_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"outcomes": [{"algo": 1}]}')
    result = run_script("--load", str(bad))
    assert result.returncode == 2 and "--load" in result.stderr and "Traceback" not in result.stderr


def test_the_final_program_is_measured_against_the_proven_optimum(tmp_path):
    """The len-opt column: the last model's greedy program for the run's target, as the agent wrote
    it, against the exact synthesizer's optimum (here replayed step by step in the environment)."""
    from agents.networks import greedy_policy
    from benchmarks.time_to_solve import final_length_above_optimal, tasks_for
    from environment import ToyCorewarEnv
    from synthesis.exact import Synthesizer
    from training.checkpoints import load_network
    from training.run import train_run

    task = tasks_for("DQN", ["5"], [3], 50, tmp_path, max_episodes=200, after_solve=None)[0]
    assert train_run(**{k: v for k, v in task.items()}).status == "finished"
    network, _ = load_network(tmp_path / "DQN-5-seed3" / "models" / "last")
    env = ToyCorewarEnv(target=[17, 0, 12, 29])
    obs, info = env.reset()
    policy, done, written = greedy_policy(network), False, 0
    while not done:
        action = int(policy({k: v[None] for k, v in obs.items()})[0])
        obs, _, done, _, info = env.step(action)
        written += action != env.table.stop_action
    measured = final_length_above_optimal(task)
    if info["solved"]:
        assert measured == written - Synthesizer().shortest_program([17, 0, 12, 29]).length >= 0
    else:
        assert measured is None
    assert (tmp_path / "DQN-5-seed3" / "models" / "last").is_file() and final_length_above_optimal(
        {**task, "run_dir": str(tmp_path / "nowhere")}) is None
