"""Keep freed memory in the process: the allocator setting that makes training about twice as fast on CPU.

A training step allocates and frees tensors of a few megabytes (an afterstate network's [B, 225, hidden]
activations). glibc's malloc serves a block that large with its own `mmap` and gives it back to the
system when freed, or trims it from the top of the heap, so each step's tensors page-fault their memory
afresh: on the Generalist preset the page faults cost as much as the arithmetic (benchmarks/
training_speed.py). `keep_freed_memory` raises the thresholds so that such blocks stay in the heap and
are reused. Memory is not lost: the process keeps at most its peak, less `TRIM` returned when more
than that lies free at the top of the heap. Elsewhere than glibc (macOS, musl) it does nothing.
"""

from __future__ import annotations

import ctypes

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # mallopt parameters of glibc's malloc.h
MMAP = 32 * 2**20  # blocks below this come from the heap (glibc's largest accepted value on 64 bits)
TRIM = 256 * 2**20  # free memory at the heap top kept before any is returned to the system
TOP_PAD = 16 * 2**20  # extra asked of the system each time the heap grows


def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep and reuse blocks of up to MMAP bytes; True where it took effect."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(parameter, value) == 1 for parameter, value in
               [(M_MMAP_THRESHOLD, MMAP), (M_TRIM_THRESHOLD, TRIM), (M_TOP_PAD, TOP_PAD)])
