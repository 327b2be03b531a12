"""The native batched ToyCorewar environment: every copy's state in numpy arrays, stepped together."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from environment.function_tasks import FunctionBatch, FunctionTaskSource, execute_runs, keyword_source
from environment.heap import SMALLEST_KEPT, keep_freed_memory
from environment.rewards import make_reward
from environment.single_env import function_observation_space, observation_space
from environment.tasks import TaskSource, check_registers
from toycorewar import ActionTable, Examples, Function, MachineConfig, format_program
from toycorewar.functions import probe_inputs


class FixedOrRandomTasks:
    """The default task source: the given target (or a uniform random one per episode) and reg_init."""

    def __init__(self, target: np.ndarray | None, reg_init: np.ndarray) -> None:
        self.target, self.reg_init = target, reg_init

    def __call__(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        if self.target is None:
            targets = rng.integers(0, 256, size=(count, len(self.reg_init)), dtype=np.int64)
        else:
            targets = np.broadcast_to(self.target, (count, len(self.target)))
        return targets, np.broadcast_to(self.reg_init, (count, len(self.reg_init)))


class ToyCorewarVectorEnv(VectorEnv):
    """`num_envs` copies of `ToyCorewarEnv` held as arrays and stepped with a few vector operations.

    State: `registers[num_envs, R]`, `program[num_envs, MAX_LENGTH]` (NUM_ACTIONS marks an empty
    slot), `length[num_envs]`, `target[num_envs, R]`. A step executes only each copy's new
    instruction; there is no Python loop over copies.

    Observations, actions, rewards and termination are those of `ToyCorewarEnv`, batched. Arguments
    are those of `ToyCorewarEnv`, plus:

    - `autoreset_mode`: "NextStep" (Gymnasium's default: the step after an episode's end resets that
      copy, ignoring its action and returning reward 0) or "SameStep" (a finished copy is reset in the
      step that ends it; its last observation is in `info["final_obs"]`, masked by `info["_final_obs"]`).
    - `tasks`: a task source, `tasks(count, rng) -> (targets[count, R], reg_inits[count, R])`, asked
      for the task of every episode that starts (see `environment.tasks`); it overrides target/reg_init.
    - `max_episodes`: at most this many episodes start after a seeded reset (None: no limit). A copy
      whose episode ends once they have all started becomes idle (`idle[i]`): it keeps its last
      state, ignores its actions, and earns nothing, never ending again. A run of N episodes then
      plays exactly N, however many copies run side by side.

    - Function tasks (docs/reference.md §10): `function` and `examples` as for `ToyCorewarEnv`, or
      `function_tasks`, a source `function_tasks(count, rng) -> environment.function_tasks.FunctionBatch`
      (its `num_examples` fixes E). Then `registers`, `target` and `matters` are [num_envs, E, R]; each
      copy also runs its program on the R + 1 probe inputs (zeros and each unit input: `probes`
      [num_envs, R + 1, R]), stepped with the examples in one array `runs`, so that `correct` is decided
      exactly at an episode's end: the program's affine map follows from these runs.

    A copy's observation is fresh arrays each step. From about 1,300 copies (one observation ≥ 128 KiB)
    the environment asks glibc to keep freed memory in the process (environment/heap.py: without it
    8,192 copies stepped at half the speed of 1,024); a user's own MALLOC_* setting is left alone.

    Info (arrays over copies): `registers` (after the step), and `performance` and `solved` with their
    masks `_performance` and `_solved` marking the copies whose episode ended in this step; on a
    function task also `correct` (masked by `_correct`). Call `program_text(i)` for the assembly text of
    copy i.
    """

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, target: list[int] | None = None, reg_init: list[int] | None = None,
                 max_length: int = 5, num_registers: int = 4, n_vals: int = 20,
                 circular: bool = True, positive: bool = True, cumulative: bool = True,
                 reward_func: str = "Specific_register_values",
                 autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
                 tasks: TaskSource | None = None, max_episodes: int | None = None,
                 function: str | Function | None = None, examples: int | list | Examples | None = None,
                 function_tasks: FunctionTaskSource | None = None) -> None:
        if not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        if self.autoreset_mode == AutoresetMode.DISABLED:
            raise ValueError("autoreset_mode must be NextStep or SameStep")
        self.metadata = {**self.metadata, "autoreset_mode": self.autoreset_mode}
        self.num_envs = num_envs
        self.config = MachineConfig(num_registers, n_vals, max_length)
        self.table = ActionTable(self.config)
        self.reward = make_reward(reward_func, {"circular": circular, "positive": positive,
                                                "cumulative": cumulative})
        r = num_registers
        default_target = None if target is None else check_registers(target, r, "target")
        default_reg_init = (np.zeros(r, dtype=np.int64) if reg_init is None
                            else check_registers(reg_init, r, "reg_init"))
        self.tasks = tasks if tasks is not None else FixedOrRandomTasks(default_target, default_reg_init)
        self.function_tasks = function_tasks if function_tasks is not None else keyword_source(function, examples, r)
        if self.function_tasks is not None and (target is not None or reg_init is not None or tasks is not None):
            raise ValueError("target, reg_init and tasks do not apply to a function task (its inputs are drawn)")
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = spaces.Discrete(self.config.num_actions)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self.registers = np.zeros((num_envs, r), dtype=np.int64)
        self.target = np.zeros((num_envs, r), dtype=np.int64)
        self.runs, self.matters = self.registers, None  # what a step executes on; a function task's mask
        if self.function_tasks is not None:
            self._function_arrays()
        self.program = np.full((num_envs, max_length), self.config.num_actions, dtype=np.int64)
        self.length = np.zeros(num_envs, dtype=np.int64)
        self.distance = np.zeros(num_envs, dtype=np.int64)
        self._rows = np.arange(num_envs)
        self._needs_reset = np.ones(num_envs, dtype=bool)
        if max_episodes is not None and (not isinstance(max_episodes, int) or max_episodes < 0):
            raise ValueError(f"max_episodes must be None or an integer ≥ 0, got {max_episodes!r}")
        self.max_episodes = max_episodes
        self.episodes_started = 0  # since the last seeded reset
        self.idle = np.zeros(num_envs, dtype=bool)
        self._started = False
        self._np_random, self._np_random_seed = seeding.np_random(None)
        if sum(array.nbytes for array in self._observation().values()) >= SMALLEST_KEPT:
            keep_freed_memory()  # else each step's fresh arrays are page-faulted in again (environment/heap.py)

    def _function_arrays(self) -> None:
        """A function task's state: the examples' and the probes' runs, targets and masks."""
        n, r, e = self.num_envs, self.config.num_registers, self.function_tasks.num_examples
        self.num_examples = e
        self.single_observation_space = function_observation_space(self.config, e)
        self.observation_space = batch_space(self.single_observation_space, n)
        self.runs = np.zeros((n, e + r + 1, r), dtype=np.int64)
        self.registers, self.probes = self.runs[:, :e], self.runs[:, e:]  # views of `runs`
        self.target = np.zeros((n, e, r), dtype=np.int64)
        self.matters = np.zeros((n, e, r), dtype=np.int8)
        self.probe_target = np.zeros((n, r + 1, r), dtype=np.int64)
        self.probe_matters = np.zeros((n, r + 1, r), dtype=bool)
        self._probe_inputs = probe_inputs(np.ones(r, dtype=bool))
        self.STATE_ARRAYS = ("runs", "target", "matters", "probe_target", "probe_matters", "program", "length",
                             "distance", "_needs_reset", "idle")

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """Reset every copy, or those of `options["reset_mask"]`; `options["target"]` and
        `options["reg_init"]` ([R] or [num_envs, R]) set the task of the copies reset."""
        if seed is not None:
            self._np_random, self._np_random_seed = seeding.np_random(seed)
            self.episodes_started = 0
            self.idle[:] = False
        options = dict(options or {})
        unknown = sorted(set(options) - {"target", "reg_init", "reset_mask"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {', '.join(unknown)}: "
                             "expected 'target', 'reg_init', 'reset_mask'")
        mask = options.get("reset_mask")
        if mask is None:
            mask = np.ones(self.num_envs, dtype=bool)
        elif not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (self.num_envs,)):
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},)")
        elif not self._started and not mask.all():
            raise ValueError("the first reset() must reset every copy (no reset_mask, or all True)")
        rows = np.flatnonzero(mask)
        if self.function_tasks is not None:
            if options.get("target") is not None or options.get("reg_init") is not None:
                raise ValueError("options 'target' and 'reg_init' do not apply to a function task")
            self._start_function_episodes(rows, self.function_tasks(len(rows), self.np_random))
        else:
            targets, reg_inits = self.tasks(len(rows), self.np_random)
            targets = self._option_rows(options.get("target"), "target", targets, mask)
            reg_inits = self._option_rows(options.get("reg_init"), "reg_init", reg_inits, mask)
            self._start_episodes(rows, targets, reg_inits)
        self.idle[rows] = False
        self._limit(rows)
        self._started = True
        return self._observation(), {"registers": self.registers.copy()}

    def _option_rows(self, value: Any, name: str, default: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if value is None:
            return default
        r = self.config.num_registers
        array = np.asarray(value)
        if array.ndim == 2 and array.shape == (self.num_envs, r):
            if array.dtype.kind in "iu" and array.size and 0 <= array.min() and array.max() <= 255:
                return array.astype(np.int64)[mask]  # every row valid: checked at once
            return np.stack([check_registers(row, r, f"{name}[{i}]") for i, row in enumerate(array)])[mask]
        return np.broadcast_to(check_registers(value, r, name), (int(mask.sum()), r))

    def _limit(self, rows: np.ndarray) -> None:
        """Count the episodes just started in `rows`; those past `max_episodes` make their copies idle."""
        if self.max_episodes is not None:
            allowed = max(0, self.max_episodes - self.episodes_started)
            self.idle[rows[allowed:]] = True
            self._needs_reset[rows[allowed:]] = False
        self.episodes_started += len(rows)

    def _restart(self, rows: np.ndarray) -> None:
        """Start the next episodes of the copies `rows` whose episodes ended; with no more to start,
        they become idle (their task is not drawn)."""
        if self.max_episodes is not None:
            allowed = max(0, self.max_episodes - self.episodes_started)
            self.idle[rows[allowed:]] = True
            rows = rows[:allowed]
        if len(rows):
            if self.function_tasks is not None:
                self._start_function_episodes(rows, self.function_tasks(len(rows), self.np_random))
            else:
                self._start_episodes(rows, *self.tasks(len(rows), self.np_random))
            self.episodes_started += len(rows)

    def _start_episodes(self, rows: np.ndarray, targets: np.ndarray, reg_inits: np.ndarray) -> None:
        self.target[rows] = targets
        self.registers[rows] = reg_inits
        self.program[rows] = self.config.num_actions
        self.length[rows] = 0
        self.distance[rows] = self.reward.distance(self.registers[rows], self.target[rows])
        self._needs_reset[rows] = False

    def _start_function_episodes(self, rows: np.ndarray, batch: FunctionBatch) -> None:
        e = self.num_examples
        self.runs[rows, :e] = batch.inputs
        self.runs[rows, e:] = self._probe_inputs
        self.target[rows], self.matters[rows] = batch.outputs, batch.matters
        self.probe_target[rows], self.probe_matters[rows] = batch.probe_targets()
        self.program[rows] = self.config.num_actions
        self.length[rows] = 0
        self.distance[rows] = self.reward.distance(self.registers[rows], self.target[rows], self.matters[rows])
        self._needs_reset[rows] = False

    def correct(self, rows: np.ndarray | None = None) -> np.ndarray:
        """bool [num_envs]: whether each copy's program so far computes its function on every input (it
        meets the targets of the probes, which fix its affine map) and meets every example; with `rows`,
        decided for those copies only (False elsewhere)."""
        if rows is None:
            rows = np.arange(self.num_envs)
        probes_met = ((self.probes[rows] == self.probe_target[rows]) | ~self.probe_matters[rows]).all(axis=(1, 2))
        correct = np.zeros(self.num_envs, dtype=bool)
        correct[rows] = probes_met & (self.distance[rows] == 0)
        return correct

    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        if not self._started:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = self._check_actions(actions)
        resetting = self._needs_reset.copy() if self.autoreset_mode == AutoresetMode.NEXT_STEP else None
        idle = self.idle.copy()
        if idle.any():  # idle copies keep their state: step the others only
            kept = (self.runs[idle].copy(), self.program[idle].copy(), self.length[idle].copy())
        # Copies about to be reset (NextStep) are stepped too, harmlessly: their state is overwritten.
        if self.matters is None:
            self.table.execute_batch(self.registers, actions)
        else:
            execute_runs(self.table, self.runs, actions)
        max_length = self.config.max_length
        self.program[self._rows, np.minimum(self.length, max_length - 1)] = actions
        self.length += 1
        if idle.any():
            self.runs[idle], self.program[idle], self.length[idle] = kept
        after = self.reward.distance(self.registers, self.target, self.matters)
        terminated = ((actions == self.table.stop_action) | (self.length >= max_length)) & ~idle
        rewards = self.reward.step_reward(self.distance, after, terminated, max_length - self.length)
        rewards[idle] = 0.0
        self.distance = after
        info: dict[str, Any] = {"registers": self.registers.copy(), "performance": -after,
                                "solved": after == 0}
        if self.matters is not None:
            info["correct"] = self.correct(np.flatnonzero(terminated))
        if resetting is not None:
            terminated &= ~resetting
            info["_performance"] = info["_solved"] = terminated.copy()
            if resetting.any():
                rows = np.flatnonzero(resetting)
                self._restart(rows)
                rewards[rows] = 0.0
                info["registers"][rows] = self.registers[rows]
            self._needs_reset = terminated.copy()
        else:
            info["_performance"] = info["_solved"] = terminated.copy()
            if terminated.any():
                info["final_obs"], info["_final_obs"] = self._observation(), terminated.copy()
                self._restart(np.flatnonzero(terminated))
        if self.matters is not None:
            info["_correct"] = info["_performance"]
        truncated = np.zeros(self.num_envs, dtype=bool)
        return self._observation(), rewards, terminated, truncated, info

    def _check_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions)
        if array.shape != (self.num_envs,) or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"actions must be an integer array of shape ({self.num_envs},), "
                             f"got {array.dtype} of shape {array.shape}")
        if array.min() < 0 or array.max() >= self.config.num_actions:
            bad = array[(array < 0) | (array >= self.config.num_actions)][0]
            raise ValueError(f"action {bad} is out of range 0..{self.config.num_actions - 1}")
        return array.astype(np.intp, copy=False)

    def _observation(self) -> dict[str, np.ndarray]:
        observation = {"program": self.program.copy(), "registers": self.registers.copy(), "target": self.target.copy()}
        if self.matters is not None:
            observation["matters"] = self.matters.copy()
        return observation

    def observation(self) -> dict[str, np.ndarray]:
        """The copies' current observation (what the last reset() or step() returned)."""
        return self._observation()

    # -- checkpoints (a resumed run continues every copy's episode where it stood) -----------------------
    STATE_ARRAYS = ("registers", "target", "program", "length", "distance", "_needs_reset", "idle")

    def state(self) -> dict[str, Any]:
        """Everything step() reads: the copies' arrays, the random generator, the episodes started."""
        state = {"arrays": {name: getattr(self, name).copy() for name in self.STATE_ARRAYS},
                 "rng": self.np_random.bit_generator.state, "episodes_started": self.episodes_started,
                 "started": self._started}
        if self.function_tasks is not None and hasattr(self.function_tasks, "state"):
            state["function_tasks"] = self.function_tasks.state()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        for name in self.STATE_ARRAYS:
            array = np.asarray(state["arrays"][name])
            if array.shape != getattr(self, name).shape:
                raise ValueError(f"the saved environment has {name} of shape {array.shape}, this one "
                                 f"{getattr(self, name).shape} (another num_envs or machine)")
            getattr(self, name)[...] = array
        self.np_random.bit_generator.state = state["rng"]
        self.episodes_started, self._started = int(state["episodes_started"]), bool(state["started"])
        if "function_tasks" in state and hasattr(self.function_tasks, "restore"):
            self.function_tasks.restore(state["function_tasks"])
        # Copies idle for want of episodes start again if this environment allows more (a run resumed
        # with a larger budget); with the same budget none can.
        idle = np.flatnonzero(self.idle)
        if len(idle) and (self.max_episodes is None or self.episodes_started < self.max_episodes):
            self.idle[idle] = False
            self._restart(idle)

    def program_text(self, index: int) -> str:
        """The assembly text of copy `index`'s program so far."""
        actions = self.program[index, :self.length[index]]
        return format_program([self.table.instructions[a] for a in actions])


def same_step_env(num_envs: int, machine: MachineConfig, reward: Any, tasks: TaskSource | None = None,
                  max_episodes: int | None = None,
                  function_tasks: FunctionTaskSource | None = None) -> ToyCorewarVectorEnv:
    """The batched environment of a machine and a reward object (environment/rewards.py), SameStep
    autoreset (a finished copy restarts at once): what training and evaluation step on. A function task
    source (environment/function_tasks.py) may come as `function_tasks` or as `tasks` (it has `num_examples`)."""
    if function_tasks is None and hasattr(tasks, "num_examples"):
        function_tasks = tasks
    return ToyCorewarVectorEnv(num_envs, max_length=machine.max_length, num_registers=machine.num_registers,
                               n_vals=machine.n_vals, reward_func=reward.name, autoreset_mode="SameStep",
                               tasks=None if function_tasks is not None else tasks, max_episodes=max_episodes,
                               function_tasks=function_tasks, **reward.settings)
