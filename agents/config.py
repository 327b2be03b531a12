"""`config.json` and `training.json`: parsed and validated once into frozen objects (SPEC §7).

Every error is a `ConfigError` whose message is one line naming the file, the run id where there is
one, the field and what was expected. Nothing here is read at import time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from environment.rewards import make_reward
from environment.tasks import schedule_from_spec
from toycorewar import MachineConfig


class ConfigError(ValueError):
    """A bad configuration or training file: the message is one line, ready to print."""


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeInt = Annotated[int, Field(ge=0)]


class ToyCorewarSettings(Model):
    NUM_ACTIONS: PositiveInt = 225
    NUM_REGISTERS: PositiveInt = 4
    MAX_LENGTH: PositiveInt = 5
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
    EVAL_TARGETS: PositiveInt = 100  # held-out random targets evaluated when a run's targets are null
    EVAL_SEED: NonNegativeInt = 100
    toy_corewar: ToyCorewarSettings = ToyCorewarSettings()


class NetworkParameters(Model):
    """What every agent's network and optimiser take."""

    ignored: ClassVar[frozenset[str]] = frozenset()  # keys accepted for compatibility that change nothing

    h_size: PositiveInt = 64
    middle_size: PositiveInt = 128
    lstm_layers: PositiveInt = 1
    # Width of the registers-and-target reader (its per-value vectors and MLP); null: h_size. The
    # program's LSTM keeps h_size, so a small LSTM can sit beside a wide register reader.
    register_size: PositiveInt | None = None
    lr: Annotated[float, Field(gt=0)] = 1e-3
    gamma: Annotated[float, Field(ge=0, le=1)] = 0.99
    num_envs: PositiveInt = 32  # episodes played side by side on the batched environment
    reward_scale: Annotated[float, Field(gt=0)] = 0.01  # rewards are multiplied by this for learning


class DQNParameters(NetworkParameters):
    learning_starts: NonNegativeInt = 0  # episodes before the first gradient step
    learning_freq: PositiveInt = 4  # environment steps per gradient step
    target_update_freq: PositiveInt = 1000  # environment steps between target-network copies
    batch_size: PositiveInt = 128
    replay_buffer_size: PositiveInt = 100_000
    epsilon_decay_steps: Annotated[float, Field(ge=0)] | NonNegativeInt = 0.5
    initial_epsilon: Annotated[float, Field(ge=0, le=1)] = 1.0
    final_epsilon: Annotated[float, Field(ge=0, le=1)] = 0.05
    n_step: PositiveInt = 1  # rewards summed before bootstrapping (1: classic DQN)
    # Q(s, a) = r(s, a) + learned residual, with r computed exactly from the machine and the reward
    # function (agents/networks.py KnownRewardQNetwork); false: the whole Q-value is learned.
    known_rewards: bool = False
    # Width of the action-effect term of the advantage (agents/networks.py DuelingQNetwork): each
    # action's advantage also reads the value it writes and that value's gap to the target; 0: off.
    effect_size: NonNegativeInt = 0
    # Boltzmann exploration: when not exploring uniformly (probability ε), draw the action from
    # softmax(Q / temperature) instead of taking the argmax; 0 is plain ε-greedy.
    temperature: Annotated[float, Field(ge=0)] = 0.0
    # Hindsight relabelling: this fraction of sampled transitions learn to reach a goal the episode reached.
    relabel_fraction: Annotated[float, Field(ge=0, le=1)] = 0.0
    # Prioritized replay: transitions drawn with probability ∝ (|TD error| + 0.01)^priority_alpha
    # (0: uniform), their loss weighted by (N·P)^−priority_beta to correct the bias.
    priority_alpha: Annotated[float, Field(ge=0, le=1)] = 0.0
    priority_beta: Annotated[float, Field(ge=0, le=1)] = 0.5

    def decay_episodes(self, episodes: int) -> int:
        """epsilon_decay_steps in episodes: a float is a fraction of the run's episodes, an int a count."""
        if isinstance(self.epsilon_decay_steps, int):
            return self.epsilon_decay_steps
        return int(round(self.epsilon_decay_steps * episodes))


class ACParameters(NetworkParameters):
    entropy_coef: Annotated[float, Field(ge=0)] = 0.01
    value_coef: Annotated[float, Field(ge=0)] = 0.5


class PGParameters(NetworkParameters):
    ignored: ClassVar[frozenset[str]] = frozenset({
        "learning_starts", "learning_freq", "target_update_freq", "batch_size", "replay_buffer_size",
        "epsilon_decay_steps", "initial_epsilon", "final_epsilon"})
    entropy_coef: Annotated[float, Field(ge=0)] = 0.01
    # Accepted and ignored, as the original project's PG preset carries the DQN keys; still typed, so
    # that a malformed value is reported rather than silently kept.
    learning_starts: NonNegativeInt | None = None
    learning_freq: PositiveInt | None = None
    target_update_freq: PositiveInt | None = None
    batch_size: PositiveInt | None = None
    replay_buffer_size: PositiveInt | None = None
    epsilon_decay_steps: Annotated[float, Field(ge=0)] | NonNegativeInt | None = None
    initial_epsilon: Annotated[float, Field(ge=0, le=1)] | None = None
    final_epsilon: Annotated[float, Field(ge=0, le=1)] | None = None


PARAMETERS = {"DQN_Agent": DQNParameters, "AC_Agent": ACParameters, "PG_Agent": PGParameters}


class Preset(Model):
    agent: Literal["DQN_Agent", "AC_Agent", "PG_Agent"]
    # Checked against the agent's own parameter class (PARAMETERS) by parse_config.
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
    seed: NonNegativeInt | None = None
    search_budget: NonNegativeInt = 0  # evaluation by guided tree search with this many expansions (0: greedy)

    @field_validator("id")
    @classmethod
    def _names_a_folder(cls, value: int | str) -> int | str:
        # The id names the run's folders: '..', '' or 'a/b' would write outside experiments/NAME.
        if isinstance(value, str) and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", value):
            raise ValueError(f"run id {value!r} must be letters, digits, '.', '_' or '-' (it names a folder)")
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


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the file ({error.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def parse_config(data: Any, source: str = "config.json") -> Config:
    """Validate config data (already parsed from JSON)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected an object with 'settings' and 'presets', got {type(data).__name__}")
    presets = data.get("presets")
    if isinstance(presets, dict):
        for name, preset in presets.items():
            if isinstance(preset, dict) and preset.get("agent") in PARAMETERS:
                params = preset.get("parameters", {})
                try:
                    PARAMETERS[preset["agent"]].model_validate(params)
                except ValidationError as error:
                    raise ConfigError(f"{source}: presets.{name}.parameters.{_describe(error)}") from None
    try:
        config = Config.model_validate(data)
    except ValidationError as error:
        raise ConfigError(f"{source}: {_describe(error)}") from None
    fixed = {name: Preset.model_construct(agent=p.agent, parameters=PARAMETERS[p.agent].model_validate(
        data["presets"][name].get("parameters", {}))) for name, p in config.presets.items()}
    return Config.model_construct(settings=config.settings, presets=fixed)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    return parse_config(_read_json(path), str(path))


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
                _check_run_field(run, field, config.machine)
            except (ValueError, TypeError) as error:
                text = str(error)
                prefix = "" if text.startswith(field) else f"{field}: "
                raise ConfigError(f"{source}: {label}: {prefix}{text}") from None
        runs.append(run)
    return runs


def _check_run_field(run: Run, field: str, machine: MachineConfig) -> None:
    """Build what `field` describes once, so that a bad value is found before any run starts."""
    if field == "reward_func":
        make_reward(run.reward_func)
    elif field == "reward_settings":
        make_reward(run.reward_func, run.reward_settings)
    else:
        null = "random" if field == "targets" else "zeros"
        schedule_from_spec(getattr(run, field), field, machine.num_registers, run.episodes,
                           np.random.default_rng(0), null, machine)


def load_training(path: str | Path, config: Config) -> list[Run]:
    path = Path(path)
    return parse_training(_read_json(path), config, str(path))
