"""Load a run's trained model and print the program it writes for a target, a function or examples.

    python synthesize.py NAME RUN_ID --target A,B,C,D [--init A,B,C,D] [--model best|last] [--search BUDGET]
    python synthesize.py NAME RUN_ID --function "r3 = r1 + r2" [--model best|last] [--search BUDGET]
    python synthesize.py NAME RUN_ID --examples "1,2,0,0->_,_,3,_; 5,7,0,0->_,_,12,_" [...]

A target: prints each instruction with the registers after it and its reward, then the performance
(0 = the target is reached). A function or examples (docs/reference.md §10): prints the program, the
function it computes, and either "correct on every input" or the first input where it is wrong (for
examples: whether it meets every example, or the first it misses). For --function the model is shown
EXAMPLES examples (the experiment's settings, default 4) whose inputs are drawn with seed 0.
Reads experiments/NAME/RUN_ID/models/MODEL. With --search, the program is the first that RL-guided
tree search finds within BUDGET expansions (the greedy one when none); for a function, only a program
correct on every input counts as found.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from torch import nn

from agents.networks import greedy_policy, network_scorer
from environment import ToyCorewarEnv, make_reward
from synthesis.search import FunctionTask, guided_search, plan_action
from toycorewar import (
    ActionTable,
    Instruction,
    MachineConfig,
    final_registers,
    format_map,
    parse_examples,
    parse_function,
    program_map,
    without_dead_instructions,
)
from toycorewar.assembly import shorten
from training.checkpoints import load_network
from training.cli import ArgumentParser, UsageError, check_name, fail, parse_register_list, quiet_closed_pipe
from training.files import folder_name_problem

MAX_SEARCH = 10**7  # expansions (as a run's search_budget)
OPTIMUM_LIMIT = 10.0  # seconds the exact synthesizer may take to prove the optimum printed beside a program
EXAMPLES_SEED = 0  # the inputs of the examples a --function task shows: the same at every call
DEFAULT_EXAMPLES = 4  # settings.EXAMPLES when the experiment's config.json does not say


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python synthesize.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="experiment name (experiments/NAME)")
    parser.add_argument("run_id", help="run id within the experiment")
    task = parser.add_mutually_exclusive_group(required=True)
    task.add_argument("--target", help="target registers A,B,C,D")
    task.add_argument("--function", metavar="EXPR",
                      help="a function to compute, e.g. 'r3 = r1 + r2' or 'r1 = r2; r2 = r1'; the model is shown "
                           f"EXAMPLES examples (the experiment's settings, default {DEFAULT_EXAMPLES}) whose inputs "
                           f"are drawn with the fixed seed {EXAMPLES_SEED}")
    task.add_argument("--examples", metavar="'IN->OUT; ...'",
                      help="input-output examples, registers separated by commas, '_' for an output register "
                           "that does not matter, e.g. '1,2,0,0->_,_,3,_; 5,7,0,0->_,_,12,_'")
    parser.add_argument("--init", help="initial registers A,B,C,D for --target (default zeros)")
    parser.add_argument("--model", choices=("best", "last"), default="best", help="which model (default best)")
    parser.add_argument("--search", type=int, default=0, metavar="BUDGET",
                        help="guided tree search with this many expansions (default 0: the greedy policy)")
    args = parser.parse_args(argv)
    check_name(parser, args.name)
    problem = folder_name_problem(args.run_id, "RUN_ID")
    if problem:
        parser.error(problem)
    if not 0 <= args.search <= MAX_SEARCH:
        parser.error(f"--search must be in 0..{MAX_SEARCH}, got {args.search}")
    if args.init is not None and args.target is None:
        parser.error("--init applies to --target only: a function task's examples give the inputs")
    path = Path("experiments") / args.name / args.run_id / "models" / args.model
    try:
        if not path.is_file():
            raise UsageError(f"{path}: no such model (train it with: python main.py {args.name})")
        network, checkpoint = load_network(path)
        machine = checkpoint["machine"]
        if args.target is not None:
            target = parse_register_list(args.target, machine["num_registers"], "--target")
            reg_init = parse_register_list(args.init, machine["num_registers"], "--init") if args.init else None
    except (UsageError, ValueError) as error:  # ValueError: not a model file of this version
        fail(str(error))
    if args.target is not None:
        return write_for_target(network, checkpoint, path, target, reg_init, args.search)
    return write_for_function(network, checkpoint, path, read_function_task(args, machine["num_registers"]),
                              args.search)


def model_line(path: Path, checkpoint: dict) -> str:
    return (f"model: {path} ({checkpoint['agent']}, episode {checkpoint['episode']}, "
            f"evaluation performance {checkpoint['performance']:g})")


def write_for_target(network: nn.Module, checkpoint: dict, path: Path, target: list[int],
                     reg_init: list[int] | None, budget: int) -> int:
    """The program for a constant target, step by step with the registers and rewards the environment gives."""
    machine, run = checkpoint["machine"], checkpoint["run"]
    settings = run.get("reward_settings") or {}
    env = ToyCorewarEnv(target=target, reg_init=reg_init, max_length=machine["max_length"],
                        num_registers=machine["num_registers"], n_vals=machine["n_vals"],
                        reward_func=run.get("reward_func", "Specific_register_values"), **settings)
    policy = greedy_policy(network)
    plan = None
    if budget:
        scale = checkpoint.get("reward_scale", 1.0)
        found = guided_search(network_scorer(network, env.config), env.config, env.reward, target, reg_init,
                              budget, scale)
        plan = found.program
        print(f"guided search: {'found a program' if plan is not None else 'no program found'} "
              f"after {found.expansions} expansions" + ("" if plan is not None else "; the greedy program follows"))
    obs, info = env.reset()
    print(model_line(path, checkpoint))
    print(f"target {target}, initial registers {info['registers']}")
    total, done = 0.0, False
    while not done:
        step = len(env.program)
        if plan is not None:
            action = plan_action(env.table, plan, step)
        else:
            action = int(policy({k: v[np.newaxis] for k, v in obs.items()})[0])
        obs, reward, done, _, info = env.step(action)
        total += reward
        print(f"  {str(env.table.instructions[action]):<18} registers {info['registers']}  reward {reward:g}")
    print(f"total reward {total:g}, performance {info['performance']}{' (solved)' if info['solved'] else ''}")
    if info["solved"]:
        from synthesis.exact import Synthesizer
        program = [env.table.instructions[action] for action in env.program if action != env.table.stop_action]
        result = Synthesizer(env.config).shortest_program(target, reg_init, time_limit=OPTIMUM_LIMIT)
        print(length_line(len(program), result))
        start = reg_init or [0] * len(target)
        print_cleaned(program, lambda shorter: final_registers(shorter, start, len(target)) == target)
    return 0


def print_cleaned(program: list[Instruction], keeps: object) -> None:
    """The program without its dead instructions (toycorewar.without_dead_instructions), when shorter:
    a clean-up pass, printed apart from what the model wrote."""
    cleaned = without_dead_instructions(program, keeps)
    if len(cleaned) < len(program):
        print(f"without dead instructions (a clean-up pass, not the model's program): {len(cleaned)} "
              f"instruction{'' if len(cleaned) == 1 else 's'}: {'; '.join(map(str, cleaned))}")


def length_line(length: int, result: object | None) -> str:
    """The program's length beside the proven optimum (the exact synthesizer's `SynthesisResult`, None
    when it was not proved within OPTIMUM_LIMIT)."""
    if result is None:
        optimum = f"optimum not proved within {OPTIMUM_LIMIT:g} s"
    elif result.program is None:
        optimum = f"no program of at most {result.max_length} instructions does it"
    else:
        optimum = f"optimum {result.length}, proved by the exact synthesizer"
        if length > result.length:
            optimum += f": {length - result.length} more than needed"
    return f"length {length} instruction{'' if length == 1 else 's'}; {optimum}"


def shown_examples(experiment: Path) -> int:
    """settings.EXAMPLES of the experiment's config.json (what its runs were shown), or the default."""
    try:
        count = json.loads((experiment / "config.json").read_text(encoding="utf-8"))["settings"]["EXAMPLES"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_EXAMPLES
    return count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else DEFAULT_EXAMPLES


def read_function_task(args: argparse.Namespace, num_registers: int) -> FunctionTask:
    """The task of --function (its examples drawn) or --examples; bad input is a one-line error."""
    flag, text = ("--function", args.function) if args.function is not None else ("--examples", args.examples)
    try:
        if args.function is not None:
            function = parse_function(args.function, num_registers)
            count = shown_examples(Path("experiments") / args.name)
            return FunctionTask.drawn(function, count, np.random.default_rng(EXAMPLES_SEED))
        return FunctionTask(parse_examples(args.examples, num_registers))
    except ValueError as error:  # FunctionSyntaxError is one, and names the column
        fail(f"{flag} '{shorten(text)}': {error}")


def reads_examples(network: nn.Module, machine: MachineConfig) -> bool:
    """Whether `network` takes a function task's observation (a network of constant targets refuses it)."""
    zeros = np.zeros((1, 1, machine.num_registers), dtype=np.int64)
    program = np.full((1, machine.max_length), machine.num_actions, dtype=np.int64)
    try:
        greedy_policy(network)({"program": program, "registers": zeros, "target": zeros,
                                "matters": np.ones_like(zeros, dtype=np.int8)})
    except (TypeError, ValueError):
        return False
    return True


def greedy_program(network: nn.Module, machine: MachineConfig, task: FunctionTask) -> list[Instruction]:
    """The program the network writes, greedily, on the task's examples: registers, target and matters
    [1, E, R], each instruction run on every example, until stop or a full program."""
    table, policy, examples = ActionTable(machine), greedy_policy(network), task.examples
    registers = examples.inputs.copy()
    program = np.full((1, machine.max_length), machine.num_actions, dtype=np.int64)
    obs = {"program": program, "registers": registers[np.newaxis],
           "target": (examples.outputs * examples.matters)[np.newaxis],
           "matters": examples.matters.astype(np.int8)[np.newaxis]}
    for step in range(machine.max_length):
        action = int(policy(obs)[0])
        if action == table.stop_action:
            break
        program[0, step] = action
        table.execute_batch(registers, np.full(len(registers), action))
        obs["registers"] = registers[np.newaxis]
    return [table.instructions[a] for a in program[0] if a < table.stop_action]


def function_length_line(program: list[Instruction], task: object, machine: MachineConfig) -> str:
    """`length_line` for a function or examples task: the optimum of the exact synthesizer for functions."""
    from synthesis.function_exact import FunctionSynthesizer
    return length_line(len(program), FunctionSynthesizer(machine).shortest_program(task, time_limit=OPTIMUM_LIMIT))


def registers_text(values: np.ndarray, shown: np.ndarray | None = None) -> str:
    """'1,2,0,0', or with `shown` (bool [R]) '_' where a register is not shown."""
    return ",".join(str(v) if shown is None or s else "_" for v, s in zip(values, shown if shown is not None
                                                                            else values, strict=True))


def difference(given: np.ndarray, wanted: np.ndarray, counted: np.ndarray) -> str:
    """'r3 = 5, wanted r3 = 1' over the counted registers that differ."""
    wrong = np.flatnonzero(counted & (given != wanted))
    return (", ".join(f"r{i + 1} = {given[i]}" for i in wrong) + ", wanted "
            + ", ".join(f"r{i + 1} = {wanted[i]}" for i in wrong))


def write_for_function(network: nn.Module, checkpoint: dict, path: Path, task: FunctionTask, budget: int) -> int:
    """The program for a function or examples task, the function it computes, and whether it is correct."""
    spec = checkpoint["machine"]
    machine = MachineConfig(spec["num_registers"], spec["n_vals"], spec["max_length"])
    if not reads_examples(network, machine):
        fail(f"{path}: this model was trained on constant targets and does not read examples; "
             "train one on a function task (docs/reference.md §10)")
    examples, function = task.examples, task.function
    print(model_line(path, checkpoint))
    if function is not None:
        print(f"function {function}: shown {len(examples.inputs)} examples "
              f"drawn with seed {EXAMPLES_SEED}")
    else:
        print(f"{len(examples.inputs)} examples")
    for inputs, outputs, matters in zip(examples.inputs, examples.outputs, examples.matters, strict=True):
        print(f"  {registers_text(inputs)} -> {registers_text(outputs, matters)}")
    program = None
    if budget:
        run = checkpoint["run"]
        reward = make_reward(run.get("reward_func", "Specific_register_values"), run.get("reward_settings"))
        found = guided_search(network_scorer(network, machine), machine, reward, task, budget=budget,
                              reward_scale=checkpoint.get("reward_scale", 1.0))
        program = found.program
        what = "a program correct on every input" if function is not None else "a program that meets every example"
        print(f"guided search: {'found ' + what if program is not None else 'no program found'} "
              f"after {found.expansions} expansions" + ("" if program is not None else "; the greedy program follows"))
    if program is None:
        program = greedy_program(network, machine, task)
    print(f"program ({len(program)} instruction{'' if len(program) == 1 else 's'}):")
    for instruction in program:
        print(f"  {instruction}")
    computed = program_map(program, machine.num_registers)
    print("computes:")
    for line in format_map(computed).splitlines():
        print(f"  {line}")
    if function is not None:
        wrong = function.first_wrong_input(computed)
        print("correct on every input" if wrong is None else
              f"wrong on input {registers_text(wrong)}: gives "
              f"{difference(computed.apply(wrong), function.outputs(wrong), function.assigned)}")
        if wrong is None:
            print(function_length_line(program, function, machine))
            print_cleaned(program, lambda shorter: function.is_computed_by(program_map(shorter, machine.num_registers)))
        return 0
    missed = ((computed.apply(examples.inputs) != examples.outputs) & examples.matters).any(axis=1)
    if not missed.any():
        print("meets every example")
        print(function_length_line(program, examples, machine))
        print_cleaned(program, lambda shorter: examples.met_by(program_map(shorter, machine.num_registers)))
        return 0
    e = int(np.argmax(missed))
    print(f"misses the example {registers_text(examples.inputs[e])} -> "
          f"{registers_text(examples.outputs[e], examples.matters[e])}: gives "
          f"{difference(computed.apply(examples.inputs[e]), examples.outputs[e], examples.matters[e])}")
    return 0


if __name__ == "__main__":
    quiet_closed_pipe()
    sys.exit(main())
