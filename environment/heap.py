"""Why the batched environment asks glibc to keep freed memory (docs/environment_throughput.md).

Each step of the batched environment returns fresh arrays (the observation, its info, and in SameStep
mode the final observation too): at 8,192 copies about 2.5 MB a step, freed a step later. glibc's
malloc returns a freed block to the kernel when it is larger than its mmap threshold or leaves more
than its trim threshold free at the heap's top; both start at 128/256 KiB and climb only as far as the
largest single block freed (here 320 KiB), while a step frees far more in all. So every step faulted
its pages in again (682 minor page faults a step), and 8,192 copies ran slower than 1,024.

`keep_freed_memory` fixes the two thresholds at the ceilings glibc's own rule climbs to on a 64-bit
machine (mmap 32 MiB, trim twice that), so a block under 32 MiB is reused rather than handed back,
and at most 64 MiB freed memory stays in the process. It is set once per process, only on glibc,
and never over a user's own setting (MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_, or a
glibc.malloc tunable in GLIBC_TUNABLES); TOYCOREWAR_KEEP_FREED_MEMORY=0 leaves glibc's rule as it is
(benchmarks/env_throughput.py measures both).
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit machines
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc's dynamic rule sets beside it
SMALLEST_KEPT = 128 * 1024  # glibc's starting mmap threshold: smaller steps are never handed back


OPT_OUT = "TOYCOREWAR_KEEP_FREED_MEMORY"


def malloc_left_alone() -> bool:
    """Whether the user tuned glibc's malloc through the environment, or opted out (OPT_OUT=0)."""
    return ("MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ
            or "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", "") or os.environ.get(OPT_OUT) == "0")


@functools.cache
def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds as above; True when they were set by this call's process."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or malloc_left_alone():
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # mallopt returns 1 on success; setting either threshold also stops glibc's dynamic adjustment.
    kept = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and kept
