"""Many copies step without page faults: the batched environment keeps freed memory (environment/heap.py).

glibc's settings are per process and set once, so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from environment.heap import OPT_OUT, keep_freed_memory, malloc_left_alone

ROOT = Path(__file__).resolve().parents[2]
ON_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

FAULTS_PER_STEP = """
import resource, numpy as np
from environment import ToyCorewarVectorEnv
env = ToyCorewarVectorEnv(8192, target=[0, 10, 30, 250], autoreset_mode="SameStep")
env.reset(seed=0)
actions = np.random.default_rng(0).integers(0, 225, size=(40, 8192))
for row in actions[:5]:
    env.step(row)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for row in actions[5:]:
    env.step(row)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 35)
"""


def faults_per_step(**environment: str) -> float:
    variables = {name: value for name, value in os.environ.items()
                 if not name.startswith("MALLOC_") and name not in ("GLIBC_TUNABLES", OPT_OUT)}
    child = subprocess.run([sys.executable, "-c", FAULTS_PER_STEP], cwd=ROOT, capture_output=True, text=True,
                           env={**variables, **environment}, check=True)
    return float(child.stdout.split()[-1])


@pytest.mark.skipif(not ON_GLIBC, reason="the thresholds are glibc's")
def test_8192_copies_step_without_page_faults_unless_opted_out():
    assert faults_per_step() < 5
    # glibc's own rule hands a step's arrays back to the kernel (hundreds of faults a step): what the
    # environment's setting removes.
    assert faults_per_step(**{OPT_OUT: "0"}) > 100


@pytest.mark.skipif(not ON_GLIBC, reason="glibc's mallopt")
def test_freed_memory_is_kept_with_glibc(monkeypatch):
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES", OPT_OUT):
        monkeypatch.delenv(name, raising=False)
    keep_freed_memory.cache_clear()
    assert keep_freed_memory() is True
    keep_freed_memory.cache_clear()
    assert keep_freed_memory() is True  # setting it again is harmless


@pytest.mark.parametrize("variable", ["MALLOC_TRIM_THRESHOLD_=1048576", "MALLOC_MMAP_THRESHOLD_=65536",
                                      "GLIBC_TUNABLES=glibc.malloc.trim_threshold=1048576",
                                      f"{OPT_OUT}=0"])
def test_a_users_own_malloc_setting_is_left_alone(monkeypatch, variable):
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES", OPT_OUT):
        monkeypatch.delenv(name, raising=False)
    assert not malloc_left_alone()
    name, value = variable.split("=", 1)
    monkeypatch.setenv(name, value)
    assert malloc_left_alone()
