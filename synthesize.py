"""Load a run's trained model and print the program it writes for a target.

    python synthesize.py NAME RUN_ID --target A,B,C,D [--init A,B,C,D] [--model best|last] [--search BUDGET]

Prints each instruction with the registers after it and its reward, then the performance
(0 = the target is reached). Reads experiments/NAME/RUN_ID/models/MODEL. With --search, the program
is the first that RL-guided tree search finds within BUDGET expansions (the greedy one when none).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from agents.networks import greedy_policy, network_scorer
from environment import ToyCorewarEnv
from synthesis.search import guided_search, plan_action
from training.checkpoints import load_network
from training.cli import ArgumentParser, UsageError, check_name, fail, parse_register_list, quiet_closed_pipe
from training.files import folder_name_problem

MAX_SEARCH = 10**7  # expansions (as a run's search_budget)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python synthesize.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="experiment name (experiments/NAME)")
    parser.add_argument("run_id", help="run id within the experiment")
    parser.add_argument("--target", required=True, help="target registers A,B,C,D")
    parser.add_argument("--init", help="initial registers A,B,C,D (default zeros)")
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
    path = Path("experiments") / args.name / args.run_id / "models" / args.model
    try:
        if not path.is_file():
            raise UsageError(f"{path}: no such model (train it with: python main.py {args.name})")
        network, checkpoint = load_network(path)
        machine, run = checkpoint["machine"], checkpoint["run"]
        target = parse_register_list(args.target, machine["num_registers"], "--target")
        reg_init = parse_register_list(args.init, machine["num_registers"], "--init") if args.init else None
    except (UsageError, ValueError) as error:  # ValueError: not a model file of this version
        fail(str(error))
    settings = run.get("reward_settings") or {}
    env = ToyCorewarEnv(target=target, reg_init=reg_init, max_length=machine["max_length"],
                        num_registers=machine["num_registers"], n_vals=machine["n_vals"],
                        reward_func=run.get("reward_func", "Specific_register_values"), **settings)
    policy = greedy_policy(network)
    plan = None
    if args.search:
        scale = checkpoint.get("reward_scale", 1.0)
        found = guided_search(network_scorer(network, env.config), env.config, env.reward, target, reg_init,
                              args.search, scale)
        plan = found.program
        print(f"guided search: {'found a program' if plan is not None else 'no program found'} "
              f"after {found.expansions} expansions" + ("" if plan is not None else "; the greedy program follows"))
    obs, info = env.reset()
    print(f"model: {path} ({checkpoint['agent']}, episode {checkpoint['episode']}, "
          f"evaluation performance {checkpoint['performance']:g})")
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
    return 0


if __name__ == "__main__":
    quiet_closed_pipe()
    sys.exit(main())
