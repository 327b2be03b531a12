"""One ToyCorewar environment (Gymnasium API), run on the plain-Python machine."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from environment.function_tasks import (
    ExamplesTasks,
    FunctionBatch,
    FunctionTasks,
    FunctionTaskSource,
    as_examples,
    as_function,
    keyword_source,
)
from environment.rendering import FrameDrawer, examples_frame, text_frame
from environment.rewards import make_reward
from environment.tasks import check_registers
from toycorewar import ActionTable, Examples, Function, MachineConfig, execute, format_program, program_map


def observation_space(config: MachineConfig) -> spaces.Dict:
    """`program`: one action per slot, NUM_ACTIONS marking an empty slot; `registers`, `target`: 0..255."""
    r = config.num_registers
    return spaces.Dict({
        "program": spaces.MultiDiscrete(np.full(config.max_length, config.num_actions + 1, dtype=np.int64)),
        "registers": spaces.Box(0, 255, shape=(r,), dtype=np.int64),
        "target": spaces.Box(0, 255, shape=(r,), dtype=np.int64),
    })


def function_observation_space(config: MachineConfig, num_examples: int) -> spaces.Dict:
    """A function task's (docs/reference.md §10): `program` as above; per example [E, R] the `registers`
    now, the `target` (0 where a register does not matter) and `matters` (1 where it does)."""
    shape = (num_examples, config.num_registers)
    return spaces.Dict({
        "program": spaces.MultiDiscrete(np.full(config.max_length, config.num_actions + 1, dtype=np.int64)),
        "registers": spaces.Box(0, 255, shape=shape, dtype=np.int64),
        "target": spaces.Box(0, 255, shape=shape, dtype=np.int64),
        "matters": spaces.Box(0, 1, shape=shape, dtype=np.int8),
    })


def batch_task(batch: FunctionBatch) -> Function | Examples:
    """What decides `correct` for the one episode of `batch`: its function, or its examples when it has none."""
    if batch.assigned[0].any():
        return Function(batch.matrix[0], batch.offset[0], batch.assigned[0], batch.reads[0])
    return Examples(batch.inputs[0], batch.outputs[0], batch.matters[0])


def check_action(action: Any, num_actions: int) -> int:
    """`action` as a Python int, or an error saying what an action is."""
    if isinstance(action, np.ndarray) and action.shape == ():
        action = action.item()
    if isinstance(action, bool) or not isinstance(action, int | np.integer):
        raise TypeError(f"action must be an integer in 0..{num_actions - 1}, got {action!r}")
    if not 0 <= action < num_actions:
        raise ValueError(f"action {action} is out of range 0..{num_actions - 1}")
    return int(action)


class ToyCorewarEnv(gym.Env):
    """Write a program for ToyCorewar, one instruction per step.

    - Observation: a Dict with `program` (MAX_LENGTH slots, each an action number, NUM_ACTIONS when
      empty), `registers` (the registers now) and `target` (the values to reach), all int64.
    - Action: Discrete(NUM_ACTIONS), 225 for 4 registers and 20 load values: an instruction with its
      operands, or stop (the last action). See `toycorewar.ActionTable`.
    - Reward: the reward function named by `reward_func` (default `Specific_register_values`, with
      the switches `circular`, `positive`, `cumulative`; see `environment.rewards`).
    - Start: an empty program; registers = `reg_init` (zeros by default); the target is `target`, or a
      uniform random one drawn at each reset when it is None. `reset(options={"target": [...],
      "reg_init": [...]})` sets them for one episode.
    - Termination: the action is stop, or the program holds `max_length` actions (stop takes a slot).
      Both are `terminated`; the environment never truncates.
    - Info: `registers` (list of ints) and `program` (assembly text so far) at every step, and at the
      end of an episode `performance` (−distance of the final registers to the target) and `solved`.
    - Function task (docs/reference.md §10), with `function` (an expression such as "r3 = r1 + r2", or a
      `toycorewar.Function`) and `examples` (how many an episode shows, default 4, their inputs drawn
      at each reset), or `examples` alone as given pairs [inputs, outputs] (None: an output that does
      not matter): the observation holds, per example [E, R], the `registers`, the `target` (0 where
      a register does not matter) and `matters` (int8, 1 where it does); each step executes the
      instruction on every example; the distance of the reward sums over every example and every
      register that matters; `info["registers"]` is `[E][R]` and the end of an episode adds `correct`
      (the program computes the function on every input, decided exactly from its affine map; for
      given examples, it meets them all). `reset(options={"function": ...})` or `{"examples": pairs}`
      sets one episode's task. `target`/`reg_init` do not apply. Mode `rgb_array` draws the first
      example (registers that do not matter greyed); the text of mode `ansi` shows every example.
    - Rendering (`render_mode`): `ansi` returns the program so far and the registers against the
      target as text; `rgb_array` returns an image of the same, a uint8 array of shape
      `environment.rendering.FRAME_SHAPE` (240, 480, 3); `human` prints the text at every reset and
      step (a terminal is this environment's display) and `render()` returns None.
    """

    metadata = {"render_modes": ["ansi", "rgb_array", "human"], "render_fps": 2}

    def __init__(self, target: list[int] | None = None, reg_init: list[int] | None = None,
                 max_length: int = 5, num_registers: int = 4, n_vals: int = 20,
                 circular: bool = True, positive: bool = True, cumulative: bool = True,
                 reward_func: str = "Specific_register_values", render_mode: str | None = None,
                 function: str | Function | None = None, examples: int | list | Examples | None = None) -> None:
        self.config = MachineConfig(num_registers, n_vals, max_length)
        self.table = ActionTable(self.config)
        self.reward = make_reward(reward_func, {"circular": circular, "positive": positive,
                                                "cumulative": cumulative})
        self.default_target = None if target is None else check_registers(target, num_registers, "target")
        self.default_reg_init = (np.zeros(num_registers, dtype=np.int64) if reg_init is None
                                 else check_registers(reg_init, num_registers, "reg_init"))
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            modes = ", ".join(repr(mode) for mode in self.metadata["render_modes"])
            raise ValueError(f"render_mode must be None or one of {modes}, got {render_mode!r}")
        self.render_mode = render_mode
        self.function_tasks: FunctionTaskSource | None = keyword_source(function, examples, num_registers)
        if self.function_tasks is not None:
            if target is not None or reg_init is not None:
                raise ValueError("target and reg_init do not apply to a function task (its inputs are drawn)")
            self.num_examples = self.function_tasks.num_examples
            self.observation_space = function_observation_space(self.config, self.num_examples)
        else:
            self.observation_space = observation_space(self.config)
        self.drawer = FrameDrawer(max_length) if render_mode == "rgb_array" else None
        self.task: Function | Examples | None = None  # a function task's, for `correct`
        self.inputs = self.matters = None  # a function task's [E, R] arrays
        self.action_space = spaces.Discrete(self.config.num_actions)
        self.program: list[int] = []
        self.registers: list[int] = []
        self.target: list[int] = []
        self.done = True
        self.started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = options or {}
        if self.function_tasks is not None:
            return self._reset_function(options)
        unknown = sorted(set(options) - {"target", "reg_init"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(unknown)}: expected 'target', 'reg_init'")
        r = self.config.num_registers
        if options.get("target") is not None:
            target = check_registers(options["target"], r, "target")
        elif self.default_target is not None:
            target = self.default_target
        else:
            target = self.np_random.integers(0, 256, size=r, dtype=np.int64)
        reg_init = (check_registers(options["reg_init"], r, "reg_init") if options.get("reg_init") is not None
                    else self.default_reg_init)
        self.target, self.registers, self.program = target.tolist(), reg_init.tolist(), []
        self.done, self.started = False, True
        if self.render_mode == "human":
            self.render()
        return self._observation(), {"registers": list(self.registers), "program": ""}

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self.done:
            raise RuntimeError("step() called after the episode ended; call reset() first" if self.started
                               else "step() called before reset(); call reset() first")
        action = check_action(action, self.config.num_actions)
        instruction = self.table.instructions[action]
        if self.task is not None:
            return self._step_function(action, instruction)
        before = self.reward.distance(self.registers, self.target)
        self.registers = execute(instruction, self.registers)
        self.program.append(action)
        after = self.reward.distance(self.registers, self.target)
        self.done = instruction.op == "stop" or len(self.program) == self.config.max_length
        unused = self.config.max_length - len(self.program)
        reward = float(self.reward.step_reward(before, after, self.done, unused))
        info: dict[str, Any] = {"registers": list(self.registers), "program": self.program_text()}
        if self.done:
            info["performance"] = -int(after)
            info["solved"] = bool(after == 0)
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, self.done, False, info

    def _reset_function(self, options: dict) -> tuple[dict, dict]:
        unknown = sorted(set(options) - {"function", "examples"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(unknown)}: expected 'function', 'examples'")
        r, source = self.config.num_registers, self.function_tasks
        if options.get("function") is not None and options.get("examples") is not None:
            raise ValueError("reset options: give 'function' or 'examples', not both")
        if options.get("function") is not None:
            source = FunctionTasks([as_function(options["function"], r, "options['function']")], self.num_examples)
        elif options.get("examples") is not None:
            source = ExamplesTasks(as_examples(options["examples"], r, "options['examples']"))
            if source.num_examples != self.num_examples:
                raise ValueError(f"options['examples'] holds {source.num_examples} examples, this environment "
                                 f"shows {self.num_examples}")
        batch = source(1, self.np_random)
        self.task, self.inputs = batch_task(batch), batch.inputs[0]
        self.target, self.matters = batch.outputs[0], batch.matters[0].astype(np.int8)
        self.registers, self.program = batch.inputs[0].tolist(), []
        self.done, self.started = False, True
        if self.render_mode == "human":
            self.render()
        return self._observation(), {"registers": [list(row) for row in self.registers], "program": ""}

    def _step_function(self, action: int, instruction: Any) -> tuple[dict, float, bool, bool, dict]:
        """A step of a function task: the instruction runs on every example; the distance sums over them."""
        before = self.reward.distance(np.array(self.registers), self.target, self.matters)
        self.registers = [execute(instruction, row) for row in self.registers]
        self.program.append(action)
        after = self.reward.distance(np.array(self.registers), self.target, self.matters)
        self.done = instruction.op == "stop" or len(self.program) == self.config.max_length
        unused = self.config.max_length - len(self.program)
        reward = float(self.reward.step_reward(before, after, self.done, unused))
        info: dict[str, Any] = {"registers": [list(row) for row in self.registers], "program": self.program_text()}
        if self.done:
            info["performance"] = -int(after)
            info["solved"] = bool(after == 0)
            info["correct"] = self.computes_task()
        if self.render_mode == "human":
            self.render()
        return self._observation(), reward, self.done, False, info

    def computes_task(self) -> bool:
        """Whether the program so far computes this episode's function on every input (decided from its
        affine map), or meets every given example."""
        function = program_map([self.table.instructions[a] for a in self.program], self.config.num_registers)
        if isinstance(self.task, Function):
            return self.task.is_computed_by(function)
        return self.task.met_by(function)

    def program_text(self) -> str:
        return format_program([self.table.instructions[a] for a in self.program])

    def _observation(self) -> dict[str, np.ndarray]:
        program = np.full(self.config.max_length, self.config.num_actions, dtype=np.int64)
        program[:len(self.program)] = self.program
        if self.task is not None:
            return {"program": program, "registers": np.array(self.registers, dtype=np.int64),
                    "target": np.array(self.target, dtype=np.int64), "matters": self.matters.copy()}
        return {"program": program, "registers": np.array(self.registers, dtype=np.int64),
                "target": np.array(self.target, dtype=np.int64)}

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "rgb_array":
            if not self.started:
                raise RuntimeError("render() called before reset(); call reset() first")
            instructions = [str(self.table.instructions[a]) for a in self.program]
            if self.task is not None:  # the first example (mode ansi shows every one)
                return self.drawer(instructions, self.registers[0], self.target[0], self.done, self.matters[0] == 1,
                                   f"example 1 of {self.num_examples}: registers (bars) and target (|)")
            return self.drawer(instructions, self.registers, self.target, self.done and self.started)
        if self.render_mode in ("ansi", "human"):
            text = (text_frame(self.program_text(), self.registers, self.target) if self.task is None
                    else examples_frame(self.program_text(), self.inputs, self.registers, self.target, self.matters))
            if self.render_mode == "ansi":
                return text
            print(text, end="", flush=True)
        return None

    def close(self) -> None:
        if self.drawer is not None:
            self.drawer.close()
        super().close()
