"""Keep freed memory in the process: the glibc malloc setting the batched environment and training share.

A step of the batched environment returns fresh arrays (the observation, its info, and in SameStep
mode the final observation too), about 2.5 MB a step at 8,192 copies, freed a step later; a training
step allocates and frees tensors of a few megabytes (an afterstate network's [B, 225, hidden]
activations). glibc's malloc serves a block over its *mmap threshold* with its own `mmap` and gives it
back to the kernel when freed, and trims the heap's top once more than its *trim threshold* lies free
there; both start at 128/256 KiB and climb only as far as the largest single block freed. So each
step's memory was page-faulted in afresh: 661 minor faults a step at 8,192 copies, which made them
step slower than 1,024 (docs/environment_throughput.md), and as much time as the arithmetic on the
Generalist preset (docs/training_speed.md).

`keep_freed_memory` raises the thresholds so that such blocks stay in the heap and are reused: blocks
below MMAP come from the heap, and free memory at its top is returned once it exceeds TRIM. The
process keeps at most its peak. It is set once per process, does nothing elsewhere than glibc (macOS,
musl), and is never set over the user's own setting (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_,
a glibc.malloc tunable in GLIBC_TUNABLES); OPT_OUT=0 leaves glibc's own rule in place
(benchmarks/env_throughput.py measures both).
"""

from __future__ import annotations

import ctypes
import functools
import os

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # mallopt parameters of glibc's malloc.h
MMAP = 32 * 2**20  # blocks below this come from the heap (glibc's largest accepted value on 64 bits)
TRIM = 256 * 2**20  # free memory at the heap top kept before any is returned to the system
TOP_PAD = 16 * 2**20  # extra asked of the system each time the heap grows
SMALLEST_KEPT = 128 * 2**10  # glibc's starting mmap threshold: the environment's steps below it fault nothing
OPT_OUT = "TOYCOREWAR_KEEP_FREED_MEMORY"


def malloc_left_alone() -> bool:
    """Whether the user tuned glibc's malloc through the environment, or opted out (OPT_OUT=0)."""
    return ("MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ
            or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or os.environ.get(OPT_OUT) == "0")


@functools.cache
def keep_freed_memory() -> bool:
    """Set glibc's malloc to keep and reuse blocks of up to MMAP bytes; True where it took effect."""
    if malloc_left_alone():
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(parameter, value) == 1 for parameter, value in
               [(M_MMAP_THRESHOLD, MMAP), (M_TRIM_THRESHOLD, TRIM), (M_TOP_PAD, TOP_PAD)])
