"""Hyperparameter sweeps: search spaces, suggestions turned into presets, the objective and the table
of trials (the SigOpt side is in `sweeps/sigopt_driver.py`).

A search-space file maps agent classes to parameter ranges, in the units of config.json:

    {"DQN_Agent": {"h_size": {"type": "int", "min": 20, "max": 100},
                   "learning_starts": {"type": "int", "min": 0, "max": "episodes/2"},
                   "lr": {"type": "double", "min": 1e-5, "max": 1, "transformation": "log"}}}

A bound is a number or an expression of the run's episodes ("episodes", "episodes/2", "episodes*0.1").
"""

from __future__ import annotations

import csv
import json
import math
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from agents.parameters import Model
from agents.registry import parameters_class
from training.config import Config
from training.files import ConfigError, read_json, replace_atomically

METRIC = "learning_curve_mean"
TRIAL_COLUMNS = ["trial", "suggestion", "status", "objective", "best_performance", "first_solve", "seconds"]
EPISODES_BOUND = re.compile(r"^episodes\s*(?:([*/])\s*(\d+(?:\.\d*)?(?:e-?\d+)?))?$")


class _RangeSpec(Model):
    type: Literal["int", "double"]
    min: int | float | str
    max: int | float | str
    transformation: Literal["log"] | None = None


@dataclass(frozen=True)
class ParameterRange:
    """One swept parameter: SigOpt type, bounds (numbers, resolved for the run) and log scale."""

    name: str
    type: Literal["int", "double"]
    min: int | float
    max: int | float
    log: bool = False

    def to_sigopt(self) -> dict[str, Any]:
        definition: dict[str, Any] = {"name": self.name, "type": self.type,
                                      "bounds": {"min": self.min, "max": self.max}}
        if self.log:
            definition["transformation"] = "log"
        return definition

    def to_json(self) -> dict[str, Any]:
        """The range in the search-space file format."""
        return {"type": self.type, "min": self.min, "max": self.max} | ({"transformation": "log"} if self.log else {})

    def parse(self, text: str) -> int | float:
        """A value of this parameter read back from trials.csv."""
        return int(text) if self.type == "int" else float(text)


@dataclass
class SearchSpace:
    """The ranges swept for one agent class, and the warnings found while reading them."""

    agent: str
    ranges: list[ParameterRange]
    warnings: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.ranges]

    def to_json(self) -> dict[str, Any]:
        return {self.agent: {r.name: r.to_json() for r in self.ranges}}


# -- reading a search-space file ---------------------------------------------------------------------
def load_search_space(path: str | Path, agent: str, episodes: int) -> SearchSpace:
    """Read and validate the whole file (every agent's section), and return the space of `agent`,
    with bounds of the form "episodes/2" resolved for a run of `episodes` episodes."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected an object mapping agent classes to parameter ranges")
    spaces = {}
    for name, section in data.items():
        try:
            parameters_class(name)
        except ValueError as error:
            raise ConfigError(f"{path}: {name}: {error}") from None
        spaces[name] = parse_space(section, name, episodes, f"{path}: {name}")
    if agent not in spaces:
        raise ConfigError(f"{path}: no search space for {agent} (the agent of the run's preset)")
    return spaces[agent]


def parse_space(section: Any, agent: str, episodes: int, where: str) -> SearchSpace:
    """Validate one agent's section; `where` prefixes every error ("file: agent")."""
    if not isinstance(section, dict) or not section:
        raise ConfigError(f"{where}: expected a non-empty object of parameter ranges")
    space = SearchSpace(agent, [])
    for name, spec in section.items():
        space.ranges.append(_parse_range(name, spec, agent, episodes, f"{where}.{name}", space.warnings))
    return space


def _parse_range(name: str, spec: Any, agent: str, episodes: int, where: str, warnings: list[str]) -> ParameterRange:
    parameters = parameters_class(agent)
    if name not in parameters.model_fields:
        raise ConfigError(f"{where}: unknown parameter of {agent}, expected one of "
                          f"{', '.join(n for n in parameters.model_fields if _kinds(agent, n))}")
    kinds = _kinds(agent, name)
    if not kinds:
        raise ConfigError(f"{where}: {agent} ignores this parameter: sweeping it would change nothing")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: expected an object with type, min, max (and optionally transformation)")
    try:
        spec = _RangeSpec.model_validate(spec)
    except ValidationError as error:
        first = error.errors()[0]
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        if first["type"] not in ("missing", "extra_forbidden") and isinstance(first.get("input"), str | int | float):
            message += f", got {json.dumps(first['input'])}"
        raise ConfigError(f"{where}.{'.'.join(str(p) for p in first['loc'])}: {message}") from None
    if spec.type not in kinds:
        raise ConfigError(f"{where}.type: {agent}'s {name} is an integer, so the type must be int, not double")
    low = _bound(spec.min, spec.type, episodes, f"{where}.min", round_up=True)
    high = _bound(spec.max, spec.type, episodes, f"{where}.max", round_up=False)
    if low >= high:
        def shown(raw: int | float | str, value: int | float) -> str:
            return f"{value}, from {raw!r} with {episodes} episodes" if isinstance(raw, str) else str(value)
        raise ConfigError(f"{where}: min ({shown(spec.min, low)}) must be less than max ({shown(spec.max, high)})")
    if spec.transformation == "log":
        if spec.type != "double":
            raise ConfigError(f"{where}.transformation: log applies to double parameters only")
        if low <= 0:
            raise ConfigError(f"{where}.transformation: log needs min > 0, got min {low}")
    rejected = {which: reason for which, value in (("min", low), ("max", high))
                if (reason := _rejection(agent, name, value)) is not None}
    if len(rejected) == 2:
        raise ConfigError(f"{where}: {agent} rejects both bounds ({rejected['min']})")
    for which, reason in rejected.items():
        warnings.append(f"{where}.{which}: {agent} rejects {low if which == 'min' else high} ({reason}): "
                        "suggestions there will be failed trials")
    return ParameterRange(name, spec.type, low, high, spec.transformation == "log")


def _kinds(agent: str, name: str) -> set[str]:
    """The SigOpt types a parameter accepts: {"int"} for an integer, both for a float; none if ignored."""
    if name in getattr(parameters_class(agent), "ignored", frozenset()):
        return set()
    annotation = parameters_class(agent).model_fields[name].annotation
    members = typing.get_args(annotation) or (annotation,)
    bases = {typing.get_args(m)[0] if typing.get_origin(m) is typing.Annotated else m for m in members}
    return {"int", "double"} if float in bases else {"int"}


def _bound(value: int | float | str, kind: str, episodes: int, where: str, round_up: bool) -> int | float:
    if isinstance(value, str):
        match = EPISODES_BOUND.match(value.strip())
        if not match:
            raise ConfigError(f"{where}: {value!r} is neither a number nor an expression of the run's episodes "
                              "('episodes', 'episodes/2', 'episodes*0.1')")
        operator, operand = match[1], float(match[2] or 1)
        if operator == "/" and operand == 0:
            raise ConfigError(f"{where}: {value!r} divides by zero")
        resolved = episodes / operand if operator == "/" else episodes * operand
        if kind == "int":
            return math.ceil(resolved) if round_up else math.floor(resolved)
        return resolved
    if kind == "int" and not isinstance(value, int):
        raise ConfigError(f"{where}: {value!r} is not an integer, and the type is int")
    return float(value) if kind == "double" else value


def _rejection(agent: str, name: str, value: int | float) -> str | None:
    """Why the agent's parameter class rejects `value` for `name`, or None."""
    try:
        parameters_class(agent).model_validate({name: value})
    except ValidationError as error:
        return error.errors()[0]["msg"].removeprefix("Value error, ")
    return None


# -- from a suggestion to a trial ----------------------------------------------------------------------
def apply_assignments(config: Config, preset: str, assignments: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's parameters with `assignments` applied, validated by the agent's parameter class.

    Raises ValueError (one line, naming the parameter) when the class rejects them."""
    agent = config.presets[preset].agent
    base = config.to_json()["presets"][preset]["parameters"]
    try:
        parameters = parameters_class(agent).model_validate({**base, **assignments})
    except ValidationError as error:
        first = error.errors()[0]
        value = f", got {first['input']!r}" if "input" in first else ""
        raise ValueError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}{value}") from None
    return {k: v for k, v in parameters.model_dump().items() if v is not None}


def trial_config(config: Config, preset: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """The configuration a trial trains with: `config` with the preset's parameters replaced."""
    data = config.to_json()
    data["presets"][preset]["parameters"] = dict(parameters)
    return data


def objective(curve: list[tuple[int, float]]) -> float | None:
    """The mean of the evaluation mean-performances of a run: the area under its learning curve per
    evaluation. 0 is the maximum (solved from the first evaluation); None when nothing was evaluated."""
    if not curve:
        return None
    return sum(performance for _, performance in curve) / len(curve)


# -- the table of trials -------------------------------------------------------------------------------
@dataclass
class Trial:
    """One row of trials.csv."""

    number: int
    suggestion: str
    status: str  # finished, failed or interrupted
    assignments: dict[str, int | float]
    objective: float | None = None
    best_performance: float | None = None
    first_solve: int | None = None
    seconds: float = 0.0
    error: str | None = None

    @property
    def folder(self) -> str:
        return f"{self.number:03d}"

    @property
    def observed(self) -> bool:
        """Finished and failed trials are SigOpt observations; interrupted ones are not."""
        return self.status in ("finished", "failed")


def write_trials(path: Path, trials: list[Trial], space: SearchSpace) -> None:
    """Rewrite trials.csv atomically: a reader sees the old table or the new one, never half of one."""
    with replace_atomically(path) as temporary, temporary.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRIAL_COLUMNS + space.names)
        for t in trials:
            writer.writerow([t.folder, t.suggestion, t.status, _cell(t.objective), _cell(t.best_performance),
                             _cell(t.first_solve), f"{t.seconds:.1f}"]
                            + [_cell(t.assignments.get(name)) for name in space.names])


def read_trials(path: Path, space: SearchSpace) -> list[Trial]:
    """The trials of a trials.csv written by `write_trials` for the same space."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    trials = []
    for line, row in enumerate(rows, start=2):
        try:
            trials.append(Trial(
                number=int(row["trial"]), suggestion=row["suggestion"], status=row["status"],
                assignments={r.name: r.parse(row[r.name]) for r in space.ranges if row.get(r.name)},
                objective=_number(row["objective"], float), best_performance=_number(row["best_performance"], float),
                first_solve=_number(row["first_solve"], int), seconds=float(row["seconds"] or 0)))
        except (KeyError, TypeError, ValueError) as error:
            raise ConfigError(f"{path}: line {line}: unreadable trial ({type(error).__name__}: {error})") from None
    return trials


def _cell(value: Any) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


def _number(text: str, kind: type) -> Any:
    return kind(float(text)) if kind is int and text else kind(text) if text else None


def best_trial(trials: list[Trial]) -> Trial | None:
    """The finished trial with the highest objective (the earliest among equals)."""
    finished = [t for t in trials if t.status == "finished" and t.objective is not None]
    return max(finished, key=lambda t: (t.objective, -t.number), default=None)


def best_preset(config: Config, preset: str, trial: Trial) -> dict[str, Any]:
    """{preset: {"agent", "parameters"}} with the trial's assignments: ready to paste into config.json."""
    return {preset: {"agent": config.presets[preset].agent,
                     "parameters": apply_assignments(config, preset, trial.assignments)}}
