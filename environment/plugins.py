"""Classes of your own named by their import path, `"MODULE:CLASS"`: an agent (agents/registry.py) or a
task source (environment.tasks.CustomTasks). The module is imported from Python's path (the folder of
the command, or PYTHONPATH); whatever goes wrong is one line."""

from __future__ import annotations

import importlib


def import_class(path: str, what: str) -> type:
    """The class at `path` ("MODULE:CLASS"); a ValueError naming `what` when it is not one."""
    module_name, colon, class_name = path.partition(":") if isinstance(path, str) else ("", "", "")
    if not colon or not module_name.strip() or not class_name.strip():
        raise ValueError(f"{what} {path!r}: expected the import path MODULE:CLASS of a class of your own")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # whatever importing the user's module raises, said in one line
        detail = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(f"cannot import {module_name!r} for {what} {path!r} ({type(error).__name__}: {detail})") \
            from None
    found = getattr(module, class_name, None)
    if not isinstance(found, type):
        raise ValueError(f"module {module_name!r} has no class {class_name!r}")
    return found
