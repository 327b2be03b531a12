"""The agents a preset may name (`"agent"` in config.json): the three built in, and any agent class of
your own named by its import path, `"MODULE:CLASS"` (docs/tutorials/add_an_agent.md). A class of your
own carries its parameter class as `Parameters` (a pydantic model, such as a subclass of
agents.parameters.NetworkParameters); the module is imported from Python's path (the folder of the
command, or PYTHONPATH), in the command and in every process that trains a run.
"""

from __future__ import annotations

import importlib

from pydantic import BaseModel

from agents.parameters import PARAMETERS
from environment.plugins import import_class

# The built-in agents: their modules are imported only when a run is built (they import torch).
BUILT_IN = {"DQN_Agent": "agents.dqn", "AC_Agent": "agents.actor_critic", "PG_Agent": "agents.policy_gradient"}


def parameters_class(name: str) -> type[BaseModel]:
    """The parameter class of agent `name`; a ValueError (one line) when the name is not an agent."""
    if name in PARAMETERS:
        return PARAMETERS[name]
    return _imported(name).Parameters


def agent_class(name: str) -> type:
    """The agent class named `name` (a built-in name or MODULE:CLASS)."""
    if name in BUILT_IN:
        return getattr(importlib.import_module(BUILT_IN[name]), name)
    return _imported(name)


def _imported(name: str) -> type:
    if ":" not in name:
        raise ValueError(f"unknown agent {name!r}: expected one of {', '.join(BUILT_IN)}, or the import path "
                         f"MODULE:CLASS of an agent class of your own")
    agent = import_class(name, "agent")
    parameters = getattr(agent, "Parameters", None)
    if not (isinstance(parameters, type) and issubclass(parameters, BaseModel)):
        raise ValueError(f"{name}: the class needs a `Parameters` attribute, a pydantic model of its parameters "
                         f"(for example a subclass of agents.parameters.NetworkParameters)")
    return agent
