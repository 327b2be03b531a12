"""A property-based test of the command line's front door: generated training and config files (wrong
types, extreme numbers, NaN and Infinity, odd encodings, deep nesting, unknown and duplicate keys) go
through the real `main.py` (its `main`, in this process). Each either validates and trains its tiny
run to exit 0, or exits 2 with one line on stderr; never a traceback, never a partial experiment."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from experiment_files import tiny_config, tiny_run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import main as main_py

HUGE = "@5000 digits@"  # a marker, written as an integer of 5,000 digits (Python will not convert one to text)
EXTREME_INTEGERS = [-1, 0, 1, 3, 2**31, 2**63, 10**30]
EXTREME_FLOATS = [float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 0.5, 1e-300]
values = st.one_of(st.sampled_from(EXTREME_INTEGERS), st.just(HUGE), st.sampled_from(EXTREME_FLOATS), st.none(),
                   st.booleans(),
                   st.text(max_size=4), st.lists(st.integers(-3, 300), max_size=4),
                   st.dictionaries(st.sampled_from(["values", "alternate_freq", "x"]), st.integers(-1, 3),
                                   max_size=2))


def files() -> tuple[dict, list]:
    config = tiny_config()
    config["settings"]["EVAL_TARGETS"] = 2
    return config, [tiny_run("r", "DQN", episodes=16, targets=[[0, 10, 30, 250]])]


def leaves(data: Any, path: tuple = ()) -> list[tuple]:
    """Every place in `data` a value sits (dict keys and list positions)."""
    if isinstance(data, dict):
        return [path] + [p for key, value in data.items() for p in leaves(value, (*path, key))]
    if isinstance(data, list):
        return [path] + [p for index, value in enumerate(data) for p in leaves(value, (*path, index))]
    return [path]


def set_at(data: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    data[path[0]] = set_at(data[path[0]], path[1:], value)
    return data


@st.composite
def inputs(draw: st.DrawFn) -> tuple[str, bytes, bytes]:
    """(what was done, config.json bytes, training.json bytes)."""
    config, training = files()
    which = draw(st.sampled_from(["config", "training"]))
    target = config if which == "config" else training
    how = draw(st.sampled_from(["value", "value", "value", "unknown key", "duplicate key", "deep", "encoding"]))
    text_of = {"config": None, "training": None}
    if how in ("value", "unknown key"):
        path = draw(st.sampled_from(leaves(target)))
        if how == "value":
            target = set_at(target, path, draw(values))
        else:
            holder = target
            for part in path:
                if isinstance(holder, dict | list):
                    holder = holder[part]
            if isinstance(holder, dict):
                holder[draw(st.text(min_size=1, max_size=6))] = draw(values)
        # NaN and Infinity as Python writes them; big integers in full
        text = json.dumps(target).replace(json.dumps(HUGE), "9" * 5000)
    else:
        text = json.dumps(target)
        if how == "duplicate key":
            text = text.replace("{", '{"episodes": 3, "episodes": 4, ' if which == "training" else '{"a": 1, "a": 2, ',
                                1)
        elif how == "deep":
            depth = draw(st.sampled_from([40, 1000, 100_000]))
            text = text[:-1] + ", " + "[" * depth + "]" * depth + text[-1]
    encoding = draw(st.sampled_from(["utf-16", "latin-1", "utf-32"])) if how == "encoding" else "utf-8"
    data = (text.replace('"', '"é', 1) if encoding == "latin-1" else text).encode(encoding)
    text_of[which] = data
    other = "training" if which == "config" else "config"
    text_of[other] = json.dumps(config if other == "config" else training).encode("utf-8")
    return f"{how} in {which}", text_of["config"], text_of["training"]


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(inputs())
def test_generated_inputs_either_train_or_are_refused_in_one_line(case):
    what, config_bytes, training_bytes = case
    with tempfile.TemporaryDirectory() as folder:
        cwd = Path(folder)
        (cwd / "config.json").write_bytes(config_bytes)
        (cwd / "training.json").write_bytes(training_bytes)
        stderr, stdout = io.StringIO(), io.StringIO()
        previous = os.getcwd()
        os.chdir(cwd)
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
                try:
                    status = main_py.main(["fz", "--quiet", "-j", "1"])
                except SystemExit as leaving:
                    status = leaving.code
        finally:
            os.chdir(previous)
        experiment = cwd / "experiments" / "fz"
        if status == 0:
            summary = json.loads((experiment / "summary.json").read_text(encoding="utf-8"),
                                 parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
            assert [entry["status"] for entry in summary] == ["finished"], what
        else:
            assert status == 2, (what, status, stderr.getvalue(), stdout.getvalue())
            lines = stderr.getvalue().splitlines()
            assert len(lines) == 1 and "Traceback" not in stderr.getvalue(), (what, stderr.getvalue())
            assert not experiment.exists() and not (cwd / "runs" / "fz").exists(), what
