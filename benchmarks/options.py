"""Command-line pieces the benchmarks share."""

from __future__ import annotations

import argparse
import json

SET_HELP = ("change a parameter of the preset, as in config.json (repeatable; the value is JSON, else a "
            "string), e.g. --set instruction_cost=0")


def parameter_overrides(parser: argparse.ArgumentParser, items: list[str]) -> dict:
    """The `--set NAME=VALUE` items as {name: value}: the value read as JSON (1, 0.5, true), else kept as
    text; a malformed item is the parser's one-line error (exit 2)."""
    overrides = {}
    for item in items:
        name, equals, text = item.partition("=")
        if not equals or not name.strip():
            parser.error(f"--set {item}: expected NAME=VALUE, e.g. learning_freq=32")
        try:
            overrides[name.strip()] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name.strip()] = text
    return overrides
