"""The ToyCorewar environment: rewards, task schedules, one Gymnasium env and the native batched one.

Importing this package registers `ToyCorewar-v0` with Gymnasium, with an `entry_point` (one
environment) and a `vector_entry_point` (the batched environment):

    gymnasium.make("ToyCorewar-v0", target=[0, 10, 30, 250])
    gymnasium.make_vec("ToyCorewar-v0", num_envs=1024, vectorization_mode="vector_entry_point")

and, for a function task (docs/reference.md §10), with `function` and `examples`:

    gymnasium.make("ToyCorewar-v0", function="r3 = r1 + r2", examples=4)
    gymnasium.make_vec("ToyCorewar-v0", num_envs=1024, vectorization_mode="vector_entry_point",
                       examples=[[[1, 2, 0, 0], [None, None, 3, None]]])
"""

import gymnasium

from environment.function_tasks import ExamplesTasks, FunctionBatch, FunctionTasks, RandomFunctions
from environment.rewards import REWARD_FUNCTIONS, Specific_register_values, make_reward
from environment.single_env import ToyCorewarEnv
from environment.tasks import (
    ScheduledTasks,
    TaskSchedule,
    function_schedule_from_spec,
    heldout_targets,
    is_function_spec,
    schedule_from_spec,
)
from environment.vector_env import ToyCorewarVectorEnv

ENV_ID = "ToyCorewar-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="environment.single_env:ToyCorewarEnv",
        vector_entry_point="environment.vector_env:ToyCorewarVectorEnv",
    )

__all__ = [
    "ENV_ID", "REWARD_FUNCTIONS", "ExamplesTasks", "FunctionBatch", "FunctionTasks", "RandomFunctions",
    "ScheduledTasks", "Specific_register_values", "TaskSchedule", "ToyCorewarEnv", "ToyCorewarVectorEnv",
    "function_schedule_from_spec", "heldout_targets", "is_function_spec", "make_reward", "schedule_from_spec",
]
