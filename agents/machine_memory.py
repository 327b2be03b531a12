"""This machine's memory, for the bounds of validation (training/config.py) and of a pass
(agents/passes.py); without torch, so that validation loads none."""

from __future__ import annotations

import os
from functools import lru_cache


@lru_cache(maxsize=1)  # asked at every pass of a network (agents/passes.py): the answer does not change
def physical_memory() -> int | None:
    """This machine's memory in bytes (None where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
