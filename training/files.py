"""The files a command reads and writes: experiment folders (named safely, never overwritten without
-f), JSON inputs read with one-line errors, and outputs written atomically (a reader sees the old file
or the new one, never half of one)."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# A folder name: an experiment NAME or a run id. '..', '' or 'a/b' would write outside experiments/.
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class ConfigError(ValueError):
    """Bad input (a file or a command-line value): the message is one line, ready to print; exit status 2."""


def folder_name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot name a folder (`what`: "NAME", "run id"), or None when it can."""
    if FOLDER_NAME.fullmatch(name):
        return None
    return f"{what} {name!r} must be letters, digits, '.', '_' or '-' (it names a folder)"


def read_json(path: Path) -> Any:
    """The JSON content of `path`, or a ConfigError naming the file and what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the file ({error.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


@contextmanager
def replace_atomically(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block ends, the file written there replaces `path`."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_atomic(path: Path, text: str) -> None:
    with replace_atomically(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json(path: Path, data: Any) -> None:
    """`data` as indented JSON, written atomically."""
    write_atomic(path, json.dumps(data, indent=2) + "\n")


def claim_experiment_folders(experiment: Path, tensorboard: Path, force: bool) -> None:
    """Refuse an existing `experiment` without `force`; with it, replace only `experiment` and `tensorboard`."""
    if experiment.exists() and not force:
        raise ConfigError(f"{experiment} already exists: use -f to replace it, --resume to continue it, "
                          "or choose another NAME")
    for folder in (experiment, tensorboard):
        if folder.exists():
            shutil.rmtree(folder)
