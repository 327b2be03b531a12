"""The Ray tests reuse the end-to-end helpers of tests/cli (tiny input files, running main.py, reading logs)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

CLI_TESTS = str(Path(__file__).resolve().parents[2] / "cli")
if CLI_TESTS not in sys.path:
    sys.path.insert(0, CLI_TESTS)
if "experiment_files" not in sys.modules:
    pytest.register_assert_rewrite("experiment_files")
