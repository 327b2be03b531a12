"""A one-line description of the machine a benchmark ran on, for the tables of docs/."""

from __future__ import annotations

import os
import platform


def describe_machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numpy
    import torch
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"torch {torch.__version__}")
