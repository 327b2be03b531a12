"""training/files.py alone: folder names, JSON inputs read with one-line errors, atomic writes, and
claiming an experiment's folders."""

from __future__ import annotations

import json

import pytest

from training.files import (
    ConfigError,
    claim_experiment_folders,
    folder_name_problem,
    read_json,
    write_atomic,
    write_json,
)


@pytest.mark.parametrize("name", ["run_1.a-b", "7", "A", "tiny", "x..y"])
def test_folder_name_problem_accepts_safe_names(name):
    assert folder_name_problem(name, "NAME") is None


@pytest.mark.parametrize("name", ["", "..", ".", "a/b", "-x", "_x", ".hidden", "a b", "a\\b", "run\n"])
def test_folder_name_problem_refuses_unsafe_names_saying_what_they_name(name):
    problem = folder_name_problem(name, "run id")
    assert problem is not None
    assert problem.startswith(f"run id {name!r} must be")
    assert "it names a folder" in problem


def one_line_error(path):
    with pytest.raises(ConfigError) as error:
        read_json(path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message


def test_read_json_reads_a_json_file(tmp_path):
    path = tmp_path / "training.json"
    path.write_text('[{"id": 1, "algo": "DQN"}]', encoding="utf-8")
    assert read_json(path) == [{"id": 1, "algo": "DQN"}]


def test_read_json_of_a_missing_file_is_a_one_line_config_error(tmp_path):
    assert one_line_error(tmp_path / "config.json") == f"{tmp_path / 'config.json'}: file not found"


def test_read_json_of_invalid_json_names_the_line_and_column(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "a": 1,\n  "b": \n}\n', encoding="utf-8")
    assert one_line_error(path) == f"{path}: not valid JSON: Expecting value at line 4 column 1"


def test_read_json_of_an_empty_file_is_invalid_json_at_line_1_column_1(tmp_path):
    path = tmp_path / "training.json"
    path.write_text("", encoding="utf-8")
    assert one_line_error(path) == f"{path}: not valid JSON: Expecting value at line 1 column 1"


def test_read_json_of_a_directory_is_a_one_line_config_error(tmp_path):
    folder = tmp_path / "config.json"
    folder.mkdir()
    assert one_line_error(folder) == f"{folder}: is a folder, expected a JSON file"


def test_a_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_write_atomic_writes_the_text_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "0000020_Evaluation"
    write_atomic(path, "first version, quite long\n" * 10)
    write_atomic(path, "second\n")
    assert path.read_text(encoding="utf-8") == "second\n"
    assert [p.name for p in tmp_path.iterdir()] == ["0000020_Evaluation"]


def test_write_json_writes_indented_json_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "summary.json"
    data = {"runs": [{"id": 1, "best_performance": None}], "name": "tiny"}
    write_json(path, data)
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == data
    assert text == json.dumps(data, indent=2) + "\n"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_write_json_that_fails_keeps_the_old_file(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"old": True})
    with pytest.raises(TypeError):
        write_json(path, {"not json": object()})
    assert json.loads(path.read_text(encoding="utf-8")) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def experiment_folders(tmp_path):
    """experiments/tiny and runs/tiny with a file each, beside another experiment's folders."""
    folders = {name: tmp_path / name for name in ("experiments/tiny", "runs/tiny", "experiments/other", "runs/other")}
    for folder in folders.values():
        (folder / "1").mkdir(parents=True)
        (folder / "1" / "file").write_text("kept?", encoding="utf-8")
    return folders


def test_claim_refuses_an_existing_experiment_without_force_and_removes_nothing(tmp_path):
    folders = experiment_folders(tmp_path)
    with pytest.raises(ConfigError) as error:
        claim_experiment_folders(folders["experiments/tiny"], folders["runs/tiny"], force=False)
    message = str(error.value)
    assert message.startswith(f"{folders['experiments/tiny']} already exists")
    assert "-f" in message and "--resume" in message and "\n" not in message
    assert all((folder / "1" / "file").exists() for folder in folders.values())


def test_claim_with_force_removes_only_the_two_given_folders(tmp_path):
    folders = experiment_folders(tmp_path)
    claim_experiment_folders(folders["experiments/tiny"], folders["runs/tiny"], force=True)
    assert not folders["experiments/tiny"].exists()
    assert not folders["runs/tiny"].exists()
    assert (folders["experiments/other"] / "1" / "file").exists()
    assert (folders["runs/other"] / "1" / "file").exists()
    assert sorted(p.name for p in (tmp_path / "experiments").iterdir()) == ["other"]


def test_claim_of_a_new_experiment_is_allowed_and_creates_nothing(tmp_path):
    claim_experiment_folders(tmp_path / "experiments" / "new", tmp_path / "runs" / "new", force=False)
    assert list(tmp_path.iterdir()) == []


def test_claim_with_force_removes_a_leftover_tensorboard_folder_alone(tmp_path):
    (tmp_path / "runs" / "tiny").mkdir(parents=True)
    claim_experiment_folders(tmp_path / "experiments" / "tiny", tmp_path / "runs" / "tiny", force=True)
    assert not (tmp_path / "runs" / "tiny").exists()
    assert (tmp_path / "runs").is_dir()


def test_written_json_is_strict_every_number_not_finite_is_null(tmp_path):
    from training.files import write_json

    path = tmp_path / "summary.json"
    write_json(path, [{"best": float("-inf"), "curve": [[0, float("nan")], [1, -3.0]]}])
    text = path.read_text(encoding="utf-8")
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text) == [{"best": None, "curve": [[0, None], [1, -3.0]]}]
