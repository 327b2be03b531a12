"""`config.json` and `training.json`: parsed and validated once into frozen objects (docs/reference.md §7).

Every error is a `ConfigError` whose message is one line naming the file, the run id where there is
one, the field and what was expected. Nothing here is read at import time.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError, field_validator, model_validator

from agents.machine_memory import physical_memory
from agents.parameters import Model, NonNegativeInt, PositiveInt
from agents.registry import parameters_class
from environment.rewards import make_reward
from environment.tasks import (
    MAX_EXAMPLES,
    CustomTasks,
    function_schedule_from_spec,
    is_custom_spec,
    is_function_spec,
    schedule_from_spec,
)
from toycorewar import MachineConfig
from training.files import ConfigError, folder_name_problem, read_json
from training.memory import memory_problem

Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]  # what numpy and torch both take
MAX_RUN_ID = 10**18  # an integer run id names a folder: a few digits, not hundreds


class ToyCorewarSettings(Model):
    NUM_ACTIONS: PositiveInt = 225
    NUM_REGISTERS: Annotated[int, Field(ge=1, le=16)] = 4
    MAX_LENGTH: Annotated[int, Field(ge=1, le=64)] = 5
    N_INSTRUCTIONS: Literal[4] = 4
    N_VARS: Literal[3] = 3
    N_VALS: Annotated[int, Field(ge=1, le=256)] = 20
    N_TARGETS: PositiveInt = 4

    @model_validator(mode="after")
    def _consistent(self) -> ToyCorewarSettings:
        expected = self.machine.num_actions
        if self.NUM_ACTIONS != expected:
            raise ValueError(f"NUM_ACTIONS is {self.NUM_ACTIONS} but NUM_REGISTERS={self.NUM_REGISTERS} and "
                             f"N_VALS={self.N_VALS} give R·V + R² + 2·R³ + 1 = {expected}")
        if self.N_TARGETS != self.NUM_REGISTERS:
            raise ValueError(f"N_TARGETS ({self.N_TARGETS}) must equal NUM_REGISTERS ({self.NUM_REGISTERS}): "
                             "a target holds one value per register")
        return self

    @property
    def machine(self) -> MachineConfig:
        return MachineConfig(self.NUM_REGISTERS, self.N_VALS, self.MAX_LENGTH)


class Settings(Model):
    DEVICE: Literal["cpu", "cuda", "auto"] = "cpu"
    ASSESS_FREQ: PositiveInt = 200
    LOG_FREQ: PositiveInt = 1000
    SAVE_FREQ: NonNegativeInt = 1000
    PERF_MRY: PositiveInt = 100
    EVAL_TARGETS: Annotated[int, Field(ge=1, le=100_000)] = 100  # held-out random targets when targets are null
    EVAL_SEED: Seed = 100
    # Input-output examples an episode of a function task shows (docs/reference.md §10).
    EXAMPLES: Annotated[int, Field(ge=1, le=MAX_EXAMPLES)] = 4
    toy_corewar: ToyCorewarSettings = ToyCorewarSettings()


class Preset(Model):
    # DQN_Agent, AC_Agent, PG_Agent, or MODULE:CLASS, an agent class of your own (agents/registry.py).
    agent: Annotated[str, Field(min_length=1, max_length=300)]
    # Checked against the agent's own parameter class (agents.registry.parameters_class) by parse_config.
    parameters: Any = {}


class Config(Model):
    settings: Settings = Settings()
    presets: dict[str, Preset]

    @property
    def machine(self) -> MachineConfig:
        return self.settings.toy_corewar.machine

    def to_json(self) -> dict:
        """The effective configuration, in the shape of config.json."""
        return {"settings": self.settings.model_dump(),
                "presets": {name: {"agent": p.agent, "parameters": p.parameters.model_dump(
                    exclude={k for k, v in p.parameters.model_dump().items() if v is None})}
                    for name, p in self.presets.items()}}


class Run(Model):
    """One run of training.json."""

    id: int | str
    algo: str
    episodes: PositiveInt
    reward_func: str = "Specific_register_values"
    reward_settings: dict[str, bool] = {}
    targets: dict[str, Any] | None = None
    reg_inits: dict[str, Any] | None = None
    seed: Seed | None = None
    # Evaluation by guided tree search with this many expansions (0: greedy).
    search_budget: Annotated[int, Field(ge=0, le=10**7)] = 0

    @field_validator("id")
    @classmethod
    def _names_a_folder(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 0 <= value <= MAX_RUN_ID:
            raise ValueError(f"an integer run id must be in 0..{MAX_RUN_ID:.0e} (it names a folder)")
        problem = folder_name_problem(value, "run id") if isinstance(value, str) else None
        if problem:
            raise ValueError(problem)
        return value

    @property
    def folder(self) -> str:
        return str(self.id)


def _location(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location, message = _location(first["loc"]), first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (a typo?)"
    elif first["type"] not in ("missing", "value_error") and _jsonable(first.get("input")):
        message += f", got {json.dumps(first['input'])}"
    more = error.error_count() - 1
    return f"{location}: {message}" + (f" (and {more} more error{'s' * (more > 1)})" if more else "")


def _jsonable(value: Any) -> bool:
    try:
        return len(json.dumps(value)) < 80
    except (TypeError, ValueError):
        return False


def parse_config(data: Any, source: str = "config.json") -> Config:
    """Validate config data (already parsed from JSON)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected an object with 'settings' and 'presets', got {type(data).__name__}")
    presets = data.get("presets")
    parameter_classes = {}
    if isinstance(presets, dict):
        for name, preset in presets.items():
            if isinstance(preset, dict) and isinstance(preset.get("agent"), str):
                try:
                    parameter_classes[name] = parameters_class(preset["agent"])
                except ValueError as error:
                    raise ConfigError(f"{source}: presets.{name}.agent: {error}") from None
                params = preset.get("parameters", {})
                try:
                    parameter_classes[name].model_validate(params)
                except ValidationError as error:
                    detail = _describe(error)  # "(top level): ..." for a rule across fields
                    where = "" if detail.startswith("(top level)") else "."
                    detail = detail.removeprefix("(top level)")
                    raise ConfigError(f"{source}: presets.{name}.parameters{where}{detail}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from None
    fixed = {name: Preset.model_construct(agent=p.agent, parameters=parameter_classes[name].model_validate(
        data["presets"][name].get("parameters", {}))) for name, p in config.presets.items()}
    length = config.settings.toy_corewar.MAX_LENGTH
    for name, preset in fixed.items():
        cost = getattr(preset.parameters, "instruction_cost", 0.0)
        if cost * length >= 1:
            raise ConfigError(f"{source}: presets.{name}.parameters.instruction_cost: {cost} times MAX_LENGTH "
                              f"{length} must stay below 1 (no saving of instructions may outweigh one unit of "
                              f"distance): expected less than {1 / length:g}")
    return Config.model_construct(settings=config.settings, presets=fixed)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    return parse_config(read_json(path), str(path))


def parse_training(data: Any, config: Config, source: str = "training.json") -> list[Run]:
    """Validate the runs of a training file against `config` (preset names, task shapes)."""
    if not isinstance(data, list) or not data:
        raise ConfigError(f"{source}: expected a non-empty list of runs")
    runs: list[Run] = []
    seen: set[str] = set()
    for index, raw in enumerate(data):
        label = f"run {raw.get('id')!r}" if isinstance(raw, dict) and "id" in raw else f"run #{index + 1}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{source}: {label}: expected an object, got {type(raw).__name__}")
        try:
            run = Run.model_validate(raw)
        except ValidationError as error:
            raise ConfigError(f"{source}: {label}: {_describe(error)}") from None
        if run.folder in seen:
            raise ConfigError(f"{source}: {label}: id: duplicate run id {run.id!r}")
        seen.add(run.folder)
        if run.algo not in config.presets:
            raise ConfigError(f"{source}: {label}: algo: unknown preset '{run.algo}', expected one of "
                              f"{', '.join(config.presets)}")
        for field in ("reward_func", "reward_settings", "targets", "reg_inits"):
            try:
                _check_run_field(run, field, config)
            except (ValueError, TypeError) as error:
                text = str(error)
                prefix = "" if text.startswith(field) else f"{field}: "
                raise ConfigError(f"{source}: {label}: {prefix}{text}") from None
        problem = _replay_problem(run, config) or _memory_problem(run, config) or \
            memory_problem(run, config, _replay_bytes(run, config))
        if problem:
            raise ConfigError(f"{source}: {label}: {problem}")
        runs.append(run)
    return runs


def _replay_problem(run: Run, config: Config) -> str | None:
    """A DQN run of several fixed targets keeps replay_buffer_size // N rows per target
    (`replay_per_task`, agents/replay/buffer.py): each must hold at least one step of every copy."""
    params = config.presets[run.algo].parameters
    if not hasattr(params, "replay_per_task"):
        return None
    if params.replay_buffer_size < params.num_envs:
        return (f"presets.{run.algo}.parameters.replay_buffer_size {params.replay_buffer_size} holds fewer rows than "
                f"num_envs {params.num_envs} (one step of every copy): raise it")
    if not params.replay_per_task or is_function_spec(run.targets) or is_custom_spec(run.targets):  # one ring
        return None
    machine = config.machine
    schedule = schedule_from_spec(run.targets, "targets", machine.num_registers, run.episodes,
                                  np.random.default_rng(0), "random", machine)
    if schedule.kind != "fixed":
        return None
    count = len(np.unique(schedule.values, axis=0))
    if count > 1 and params.replay_buffer_size // count < params.num_envs:
        return (f"targets: {count} targets leave {params.replay_buffer_size // count} replay rows each "
                f"(presets.{run.algo}.parameters.replay_buffer_size {params.replay_buffer_size}), fewer than "
                f"num_envs {params.num_envs}: raise replay_buffer_size or set replay_per_task false")
    return None


def _memory_problem(run: Run, config: Config) -> str | None:
    """A DQN run's replay (and demonstration) buffers are allocated whole at its start: refuse those that
    would take more than half of this machine's memory, before anything is written."""
    params = config.presets[run.algo].parameters
    if not hasattr(params, "replay_buffer_size") or params.replay_buffer_size is None or \
            not hasattr(params, "demo_buffer_size"):
        return None
    memory, needed = physical_memory(), _replay_bytes(run, config)
    if memory is not None and needed > memory // 2:
        return (f"presets.{run.algo}.parameters.replay_buffer_size {params.replay_buffer_size}: the replay buffers "
                f"would take {needed / 2**30:.1f} GiB, more than half of this machine's {memory / 2**30:.1f} GiB")
    return None


def _replay_bytes(run: Run, config: Config) -> int:
    """The bytes of a DQN run's replay and demonstration buffers (agents/replay/buffer.py arrays; a
    function task's registers, target and matters hold a row per example); 0 for other agents."""
    params = config.presets[run.algo].parameters
    if getattr(params, "replay_buffer_size", None) is None or not hasattr(params, "demo_buffer_size"):
        return 0
    machine = config.machine
    examples = config.settings.EXAMPLES if is_function_spec(run.targets) else 1
    row = 4 * machine.max_length + (3 + examples * 4) * machine.num_registers + 8 + 4 + 1 + 8 + 3 * 8
    return (params.replay_buffer_size + params.demo_buffer_size) * row


def _check_run_field(run: Run, field: str, config: Config) -> None:
    """Build what `field` describes once, so that a bad value is found before any run starts."""
    machine = config.machine
    if field == "reward_func":
        make_reward(run.reward_func)
    elif field == "reward_settings":
        make_reward(run.reward_func, run.reward_settings)
    elif is_custom_spec(run.targets):
        if field == "reg_inits" and run.reg_inits is not None:
            raise ValueError("reg_inits does not apply to a task source of your own (it gives the initial registers): "
                             "remove it")
        if field == "targets":
            CustomTasks(run.targets, "targets", machine, run.episodes, np.random.default_rng(0))
    elif is_function_spec(run.targets):
        if field == "reg_inits" and run.reg_inits is not None:
            raise ValueError("reg_inits does not apply to a function task (its inputs are drawn): remove it")
        if field == "targets":
            function_schedule_from_spec(run.targets, "targets", machine, run.episodes, np.random.default_rng(0),
                                        config.settings.EXAMPLES)
    else:
        null = "random" if field == "targets" else "zeros"
        schedule_from_spec(getattr(run, field), field, machine.num_registers, run.episodes,
                           np.random.default_rng(0), null, machine)


def load_training(path: str | Path, config: Config) -> list[Run]:
    path = Path(path)
    return parse_training(read_json(path), config, str(path))
