"""A network's passes over many rows, in chunks whose size is bounded in bytes (docs/guarantees.md,
"Memory").

A pass without gradients (acting, evaluation, the bootstrap values of a learning batch) needs memory in
proportion to its rows: an afterstate network values every afterstate of every row, so 100,000 rows
ask gigabytes of one pass. `rows_per_pass` says how many rows one pass may take so that what it
allocates stays within `pass_budget()` bytes; `in_chunks` applies a function of rows that many at a time.
The bytes a row costs are measured, not guessed: the network's pass is run once on a probe of two and
of four rows, with every tensor it creates counted (a `TorchDispatchMode`), and the difference per row
is kept for that network and that shape of observation. The sum of all the tensors a pass creates is an
upper bound on what it holds at once, so the bound is conservative. Every row's values are its own, so
a pass in chunks gives each row what one pass would; a batch that fits in one pass is not cut at all.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from agents.machine_memory import physical_memory
from synthesis.search import check_stop

PASS_BYTES = 256 * 2**20  # at most this much allocated by one pass; less on a machine under 8 GiB
MEMORY_SHARE = 32  # and at most this share (1/32) of the machine's memory

Rows = dict[str, np.ndarray]


def pass_budget() -> int:
    """The bytes one pass may allocate: PASS_BYTES, or 1/MEMORY_SHARE of the machine if that is less."""
    memory = physical_memory()
    return PASS_BYTES if memory is None else min(PASS_BYTES, memory // MEMORY_SHARE)


class _AllocationCounter(TorchDispatchMode):
    """Counts the bytes of every tensor the operations under it create (an operation that writes into
    or returns one of its inputs creates none)."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.untyped_storage().data_ptr() not in inputs:
                self.bytes += t.untyped_storage().nbytes()
        return out


_ROW_BYTES: weakref.WeakKeyDictionary[torch.nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


INPUT_NAMES = ("program", "registers", "target", "matters")  # a network's inputs, in order


def _signature(rows: Rows) -> tuple:
    return tuple((name, rows[name].shape[1:], str(rows[name].dtype)) for name in INPUT_NAMES if name in rows)


def first_rows(inputs: tuple[torch.Tensor, ...]) -> Rows:
    """The first row of a network's input tensors (program, registers, target[, matters]), as the
    observation `rows_per_pass` measures with."""
    return {name: x[:1].cpu().numpy() for name, x in zip(INPUT_NAMES, inputs, strict=False)}


def _probe(rows: Rows, count: int) -> Rows:
    """`count` copies of the first row, its program emptied (every slot the empty marker, the largest
    value of an observation's programs): the row that costs a pass the most."""
    probe = {name: np.repeat(rows[name][:1], count, axis=0) for name in INPUT_NAMES if name in rows}
    if "program" in probe:
        probe["program"][:] = rows["program"].max()
    return probe


def row_bytes(network: torch.nn.Module, rows: Rows, device: torch.device | str = "cpu") -> int:
    """The bytes one row adds to a pass of `network` (measured once per network and shape of rows)."""
    from agents.machine_arithmetic import observation_tensors
    known = _ROW_BYTES.setdefault(network, {})
    key = _signature(rows)
    if key not in known:
        counts = []
        for count in (2, 4):
            with torch.no_grad(), _AllocationCounter() as counter:
                network(*observation_tensors(_probe(rows, count), torch.device(device)))
            counts.append(counter.bytes)
        known[key] = max(1, (counts[1] - counts[0]) // 2)
    return known[key]


def rows_per_pass(network: torch.nn.Module, rows: Rows, device: torch.device | str = "cpu") -> int:
    """How many rows one pass of `network` may take within `pass_budget()`."""
    return max(1, pass_budget() // row_bytes(network, rows, device))


def in_chunks(rows: Rows, apply: Callable[[Rows], np.ndarray], size: int,
              should_stop: Callable[[], bool] | None = None) -> np.ndarray:
    """`apply` (rows -> one result per row, a numpy array) over `rows`, at most `size` rows at a time,
    the results joined in order. `should_stop` is asked between two chunks (raising StopRequested,
    synthesis/search.py, when it says so)."""
    count = len(next(iter(rows.values())))
    if count <= size:
        return apply(rows)
    parts = []
    for low in range(0, count, size):
        if low:
            check_stop(should_stop)
        parts.append(apply({name: value[low:low + size] for name, value in rows.items()}))
    return np.concatenate(parts)


def network_pass(network: torch.nn.Module, rows: Rows, apply: Callable[[Rows], np.ndarray],
                 device: torch.device | str = "cpu") -> np.ndarray:
    """`in_chunks` with as many rows a chunk as a pass of `network` may take (`pass_size`)."""
    return in_chunks(rows, apply, pass_size(network, rows, device))


def pass_size(network: torch.nn.Module, rows: Rows, device: torch.device | str = "cpu") -> int:
    """The rows of one chunk of a pass of `network` over `rows`: all of a handful (not measured), else
    `rows_per_pass`."""
    count = len(rows["program"])
    return count if count <= 4 else rows_per_pass(network, rows, device)


def tensor_chunks(network: torch.nn.Module, inputs: tuple[torch.Tensor, ...],
                  apply: Callable[[tuple[torch.Tensor, ...]], torch.Tensor], passes: int = 1) -> torch.Tensor:
    """`apply` (network inputs -> a tensor with one row per input row, no gradient) in chunks of as many
    rows as `passes` passes of `network` may take together, joined in order."""
    count = len(inputs[0])
    if count <= 4:
        return apply(inputs)
    known = _ROW_BYTES.setdefault(network, {})
    key = ("tensors",) + tuple((tuple(x.shape[1:]), str(x.dtype)) for x in inputs)
    if key not in known:  # measured once: the first row goes to the host only then (no sync at every step)
        known[key] = row_bytes(network, first_rows(inputs), inputs[0].device)
    size = max(1, pass_budget() // known[key] // passes)
    if count <= size:
        return apply(inputs)
    return torch.cat([apply(tuple(x[low:low + size] for x in inputs)) for low in range(0, count, size)])
