"""One ToyCorewar environment (Gymnasium API), run on the plain-Python machine."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from environment.rendering import FrameDrawer, text_frame
from environment.rewards import make_reward
from environment.tasks import check_registers
from toycorewar import ActionTable, MachineConfig, execute, format_program


def observation_space(config: MachineConfig) -> spaces.Dict:
    """`program`: one action per slot, NUM_ACTIONS marking an empty slot; `registers`, `target`: 0..255."""
    r = config.num_registers
    return spaces.Dict({
        "program": spaces.MultiDiscrete(np.full(config.max_length, config.num_actions + 1, dtype=np.int64)),
        "registers": spaces.Box(0, 255, shape=(r,), dtype=np.int64),
        "target": spaces.Box(0, 255, shape=(r,), dtype=np.int64),
    })


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
    - Rendering (`render_mode`): `ansi` returns the program so far and the registers against the
      target as text; `rgb_array` returns an image of the same, a uint8 array of shape
      `environment.rendering.FRAME_SHAPE` (240, 480, 3); `human` prints the text at every reset and
      step (a terminal is this environment's display) and `render()` returns None.
    """

    metadata = {"render_modes": ["ansi", "rgb_array", "human"], "render_fps": 2}

    def __init__(self, target: list[int] | None = None, reg_init: list[int] | None = None,
                 max_length: int = 5, num_registers: int = 4, n_vals: int = 20,
                 circular: bool = True, positive: bool = True, cumulative: bool = True,
                 reward_func: str = "Specific_register_values", render_mode: str | None = None) -> None:
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
        self.drawer = FrameDrawer(max_length) if render_mode == "rgb_array" else None
        self.observation_space = observation_space(self.config)
        self.action_space = spaces.Discrete(self.config.num_actions)
        self.program: list[int] = []
        self.registers: list[int] = []
        self.target: list[int] = []
        self.done = True
        self.started = False

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        options = options or {}
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

    def program_text(self) -> str:
        return format_program([self.table.instructions[a] for a in self.program])

    def _observation(self) -> dict[str, np.ndarray]:
        program = np.full(self.config.max_length, self.config.num_actions, dtype=np.int64)
        program[:len(self.program)] = self.program
        return {"program": program, "registers": np.array(self.registers, dtype=np.int64),
                "target": np.array(self.target, dtype=np.int64)}

    def render(self) -> str | np.ndarray | None:
        if self.render_mode == "rgb_array":
            if not self.started:
                raise RuntimeError("render() called before reset(); call reset() first")
            instructions = [str(self.table.instructions[a]) for a in self.program]
            return self.drawer(instructions, self.registers, self.target, self.done and self.started)
        if self.render_mode in ("ansi", "human"):
            text = text_frame(self.program_text(), self.registers, self.target)
            if self.render_mode == "ansi":
                return text
            print(text, end="", flush=True)
        return None

    def close(self) -> None:
        if self.drawer is not None:
            self.drawer.close()
        super().close()
