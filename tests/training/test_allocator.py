"""The allocator setting of training/allocator.py: it takes effect with glibc, and changes no result."""

from __future__ import annotations

import ctypes
import platform

import pytest

from training.allocator import keep_freed_memory


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt")
def test_freed_memory_is_kept_with_glibc():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # setting it again is harmless
    assert hasattr(ctypes.CDLL(None), "mallopt")
