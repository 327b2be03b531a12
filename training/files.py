"""The files a command reads and writes: experiment folders (named safely, never overwritten without
-f), JSON inputs read with one-line errors, and outputs written atomically (a reader sees the old file
or the new one, never half of one)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# A folder name: an experiment NAME or a run id. '..', '' or 'a/b' would write outside experiments/.
FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class ConfigError(ValueError):
    """Bad input (a file or a command-line value): the message is one line, ready to print; exit status 2."""


MAX_NAME_LENGTH = 100


def folder_name_problem(name: str, what: str) -> str | None:
    """Why `name` cannot name a folder (`what`: "NAME", "run id"), or None when it can."""
    if len(name) > MAX_NAME_LENGTH:
        return f"{what} {name[:20]!r}... is {len(name)} characters long: at most {MAX_NAME_LENGTH} (it names a folder)"
    if FOLDER_NAME.fullmatch(name):
        return None
    return f"{what} {name!r} must be letters, digits, '.', '_' or '-' (it names a folder)"


MAX_INPUT_BYTES = 10 * 2**20  # an input file (training, config, search space) larger than this is refused
MAX_NESTING = 32  # objects and lists inside one another: the files need a handful
MAX_INTEGER = 2**63 - 1  # larger integers fit no field (and numpy's int64 cannot hold them)


class _RefusedJSONError(ValueError):
    """What the strict JSON reader refuses, with the reason."""


def _no_constant(name: str) -> Any:
    raise _RefusedJSONError(f"{name} is not a JSON number (strict JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _RefusedJSONError(f"the number {text[:40]} is too large (not finite)")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19 or abs(int(text)) > MAX_INTEGER:
        shown = text[:40] + ("…" if len(text) > 40 else "")
        raise _RefusedJSONError(f"the integer {shown} is too large (at most {MAX_INTEGER})")
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _RefusedJSONError(f"the key {json.dumps(key)[:60]} appears twice in one object "
                                    "(one would be ignored)")
        seen[key] = value
    return seen


def _nesting(text: str) -> int:
    """How deep lists and objects nest in JSON `text` (brackets inside strings are skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    return deepest


def parse_strict_json(text: str) -> Any:
    """JSON as the files must be written: no NaN or Infinity, no number too large for a field, no key
    twice in an object, nesting at most MAX_NESTING deep. A json.JSONDecodeError or a ValueError
    says what is wrong."""
    if _nesting(text) > MAX_NESTING:
        raise _RefusedJSONError(f"lists and objects nest more than {MAX_NESTING} deep")
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int,
                      object_pairs_hook=_unique_keys)


def read_json(path: Path) -> Any:
    """The JSON content of `path`, or a ConfigError naming the file and what is wrong (strict JSON:
    `parse_strict_json`; UTF-8 text of at most MAX_INPUT_BYTES)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, expected a JSON file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the file ({error.strerror})") from None
    if len(data) > MAX_INPUT_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_INPUT_BYTES // 2**20} MiB: not an input file of this project")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text (byte {error.start}): expected a JSON file") from None
    try:
        return parse_strict_json(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not valid JSON: {error.msg} at line {error.lineno} column {error.colno}") from None
    except ValueError as error:  # _RefusedJSONError, or Python's own limit on the digits of an integer
        raise ConfigError(f"{path}: not accepted: {error}") from None


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


def finite_json(data: Any) -> Any:
    """`data` with every NaN or infinite float replaced by null: strict JSON, which every reader takes."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: finite_json(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [finite_json(value) for value in data]
    return data


def write_json(path: Path, data: Any) -> None:
    """`data` as indented strict JSON (NaN and infinities as null), written atomically."""
    write_atomic(path, json.dumps(finite_json(data), indent=2, allow_nan=False) + "\n")


def claim_experiment_folders(experiment: Path, tensorboard: Path, force: bool) -> None:
    """Refuse an existing `experiment` or `tensorboard` folder without `force`; with it, replace only
    those two. Something there that is not a plain folder (a file, a symbolic link) is never replaced."""
    check_experiment_folders(experiment, tensorboard, force)
    for folder in (experiment, tensorboard):
        if folder.exists():
            shutil.rmtree(folder)


def check_experiment_folders(experiment: Path, tensorboard: Path, force: bool) -> None:
    """What `claim_experiment_folders` would refuse, as a ConfigError, touching nothing (a command checks
    before it takes the experiment's lock, so that a refusal leaves not even a lock file behind)."""
    for folder in (experiment, tensorboard):
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            kind = "a symbolic link" if folder.is_symlink() else "a file"
            raise ConfigError(f"{folder} is {kind}, not a folder this project wrote: it is not replaced; "
                              "choose another NAME")
    if not force:
        for folder in (experiment, tensorboard):
            if folder.exists():
                raise ConfigError(f"{folder} already exists: use -f to replace it, --resume to continue it, "
                                  "or choose another NAME")


class ExperimentLock:
    """One writer per experiment: an exclusive lock (flock, taken atomically) on experiments/.NAME.lock,
    a file that holds the writer's process id and command. The kernel releases the lock when its
    process ends, however it ends, so a lock left by a dead process is simply taken over (and said so).
    The file sits beside the folder, so -f replacing the folder leaves the lock in place."""

    def __init__(self, experiment: Path) -> None:
        self.path = experiment.parent / f".{experiment.name}.lock"
        self.experiment = experiment
        self.handle: Any = None
        self.taken_over: str | None = None  # the holder a dead process left in the file, if any

    def check_free(self) -> None:
        """Raise the ConfigError of `acquire` if another process holds the lock now, creating nothing (so
        that a command refused for another reason first names the writer, and leaves no file behind)."""
        import fcntl

        try:
            handle = open(self.path, encoding="utf-8")  # noqa: SIM115 (closed below)
        except OSError:
            return  # no lock file: nobody holds it
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = handle.read().strip() or "another process"
                raise ConfigError(f"{self.experiment} is being written by {holder}: wait for it to end, "
                                  "or stop it (nothing was changed)") from None

    def acquire(self, command: str) -> None:
        """Take the lock, or raise a ConfigError naming the process that holds it."""
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 (held until release)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise ConfigError(f"{self.experiment} is being written by {holder}: wait for it to end, "
                              "or stop it (nothing was changed)") from None
        handle.seek(0)
        self.taken_over = handle.read().strip() or None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()} ({command})\n")
        handle.flush()
        self.handle = handle

    def take(self, command: str, tensorboard: Path, force: bool, resume: bool) -> None:
        """What a command does before it writes the experiment: name a writer at work, make the refusals
        that need no lock (so that they leave nothing behind), then take the lock, saying so when it
        takes over one a dead process left. `command`: how the holder is named to a second command."""
        self.check_free()
        if not resume:
            check_experiment_folders(self.experiment, tensorboard, force)
        self.acquire(command)
        if self.taken_over:
            print(f"note: taking over the lock of {self.experiment} left by {self.taken_over}, which is no longer "
                  "running", file=sys.stderr)

    def release(self) -> None:
        if self.handle is not None:
            self.handle.seek(0)
            self.handle.truncate()  # an empty file: nothing to take over
            self.handle.close()  # closing releases the flock
            self.handle = None
