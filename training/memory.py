"""What a run needs in memory, estimated before it starts, and the refusal of a run that would need more
than half of this machine (docs/guarantees.md, "Memory").

The parts a run cannot cut into pieces are counted from the run's own network and numbers; the passes
it can cut (acting, evaluating, bootstrapping: agents/passes.py) count as one pass budget:

- the network's state: its parameters (counted on torch's meta device, where building allocates
  nothing) times the copies training keeps: weights, gradients and Adam's two moments, and DQN's
  target network;
- the learning pass: the rows one gradient step learns from (DQN's `batch_size`, an on-policy
  rollout's `n_steps` (or MAX_LENGTH) × `num_envs`) times twice what a row's pass allocates (measured
  as agents/passes.py measures it: the tensors saved for the backward pass, then their gradients);
- an on-policy rollout's observations (numpy, then tensors);
- the replay and demonstration buffers (DQN: agents/replay/buffer.py, allocated whole);
- the evaluation's records (each task's program, registers and rewards, then its log);
- one pass budget, and the interpreter with torch (BASE_BYTES).

Estimates of what Python and torch hold beyond the tensors are rounded up; the figures of
benchmarks/faults.py (the largest accepted value of every bound, run) keep them honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.machine_memory import physical_memory
from agents.parameters import DQNParameters, OnPolicyParameters
from environment.rewards import make_reward
from environment.tasks import is_function_spec

BASE_BYTES = 768 * 2**20  # the interpreter, torch, numpy and the environment's arrays
FLOAT = 4  # bytes of a parameter or an activation (float32)
RECORD_STEP_BYTES = 400  # an evaluation record's step: instruction, registers, reward, and its log line


@dataclass(frozen=True)
class Need:
    """A part of what a run needs: the field that sets it (in the one-line refusal), bytes, what it is."""

    field: str
    bytes: int
    what: str


def network_spec_of(params: Any, config: Any, run: Any) -> dict | None:
    """The spec of the network a built-in agent builds for `run` (None for an agent of your own)."""
    from agents.networks import policy_network_spec, q_network_spec
    extra = {"examples": True} if is_function_spec(run.targets) else {}
    reward = make_reward(run.reward_func, run.reward_settings)
    if isinstance(params, DQNParameters):
        return q_network_spec(params, config.machine, reward, extra)
    if isinstance(params, OnPolicyParameters):
        return policy_network_spec(params, config.machine, reward, extra)
    return None


def parameter_count(spec: dict) -> int:
    """The parameters of the network `spec` builds, counted without allocating them."""
    import torch

    from agents.networks import build_network
    with torch.device("meta"):
        network = build_network(spec)
    return sum(p.numel() for p in network.parameters())


def probe_rows(config: Any, run: Any) -> dict[str, np.ndarray]:
    """One observation of `run` at its start (empty program), as the network reads it."""
    machine = config.machine
    shape = (1, config.settings.EXAMPLES, machine.num_registers) if is_function_spec(run.targets) else \
        (1, machine.num_registers)
    rows = {"program": np.full((1, machine.max_length), machine.num_actions, dtype=np.int64),
            "registers": np.zeros(shape, dtype=np.int64), "target": np.ones(shape, dtype=np.int64)}
    if is_function_spec(run.targets):
        rows["matters"] = np.ones(shape, dtype=np.int8)
    return rows


def evaluation_tasks(config: Any, run: Any) -> int:
    """At most how many tasks the run's evaluations hold (training/context.py): the listed targets,
    functions or examples, else EVAL_TARGETS held-out ones (of each tier with `"held_out": "tiers"`),
    times the listed initial registers."""
    settings, machine = config.settings, config.machine
    targets = run.targets if isinstance(run.targets, dict) else {}
    listed = next((value for key in ("values", "functions", "examples")
                   if isinstance(value := targets.get(key), list)), None)
    count = len(listed) if listed else settings.EVAL_TARGETS
    drawn = targets.get("functions") if isinstance(targets.get("functions"), dict) else targets
    if drawn.get("held_out") == "tiers":
        count = settings.EVAL_TARGETS * machine.max_length
    inits = (run.reg_inits or {}).get("values")
    return count * (len(inits) if isinstance(inits, list) and inits else 1)


def run_needs(run: Any, config: Any, replay_bytes: int = 0) -> list[Need]:
    """What `run` needs, part by part (see the module's docstring); `replay_bytes`: its buffers'."""
    from agents.passes import pass_budget, row_bytes
    name = run.algo
    params = config.presets[name].parameters
    where = f"presets.{name}.parameters"
    machine = config.machine
    tasks = evaluation_tasks(config, run)
    record = (machine.max_length + 1) * (RECORD_STEP_BYTES + 16 * machine.num_registers)
    needs = [Need("", BASE_BYTES, "Python and torch"), Need("", pass_budget(), "a pass in chunks"),
             Need("settings.EVAL_TARGETS", tasks * record, f"the records of {tasks} evaluation tasks")]
    if replay_bytes:
        needs.append(Need(f"{where}.replay_buffer_size", replay_bytes, "the replay buffers"))
    spec = network_spec_of(params, config, run)
    if spec is None:
        return needs
    dqn = isinstance(params, DQNParameters)
    count = parameter_count(spec)
    copies = 5 if dqn else 4  # weights, gradients, Adam's two moments (and DQN's target network)
    width = "middle_size" if spec["kind"].startswith("afterstate") else "h_size"  # what sets the network's size
    needs.append(Need(f"{where}.{width}", count * FLOAT * copies, f"the network ({count:,} parameters) in training"))
    if count * FLOAT * copies > (physical_memory() or 2**62) // 2:
        return needs  # too large to build for the measure of a row: refused on its size alone
    import torch

    from agents.networks import build_network
    rows = probe_rows(config, run)
    with torch.random.fork_rng():  # building draws initial weights: validation leaves torch's generator as it was
        per_row = row_bytes(build_network(spec), rows)
    if dqn:
        needs.append(Need(f"{where}.batch_size", 2 * params.batch_size * per_row,
                          f"a learning step of {params.batch_size} rows"))
    else:
        steps = getattr(params, "n_steps", None) or machine.max_length
        field = f"{where}.num_envs"
        learnt = steps * params.num_envs
        observation = sum(value[0].nbytes for value in rows.values()) + 32
        needs.append(Need(field, 2 * learnt * per_row, f"a rollout's learning step ({learnt} rows)"))
        needs.append(Need(field, 4 * learnt * observation, "a rollout's observations"))
    return needs


def memory_problem(run: Any, config: Any, replay_bytes: int = 0) -> str | None:
    """One line when `run` would need more than half of this machine's memory, naming the field of its
    largest part; None when it fits (or the machine does not say its memory)."""
    memory = physical_memory()
    if memory is None:
        return None
    needs = run_needs(run, config, replay_bytes)
    total = sum(need.bytes for need in needs)
    if total <= memory // 2:
        return None
    largest = max((need for need in needs if need.field), key=lambda need: need.bytes)
    return (f"{largest.field}: the run would need {total / 2**30:.1f} GiB ({largest.what}: "
            f"{largest.bytes / 2**30:.1f} GiB), more than half of this machine's {memory / 2**30:.1f} GiB")
