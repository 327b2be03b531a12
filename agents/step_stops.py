"""Stops inside a long gradient step (docs/guarantees.md, "Stops").

A gradient step of a wide network, or of a large batch, can take seconds (a batch of 65,536 rows on the
DQN preset's network: 6.6 s on 2 CPU cores). A stop asked for during one must not wait for its end. The
step is not cut into chunks: accumulating gradients chunk by chunk would add them in another order and
change the weights. Instead, while a step's forward and backward passes run, `StopChecks` asks before
each torch operation whether a stop was asked for, and raises StopRequested if so; the agent drops the
step whole (its gradients, the draws of its batch) and leaves it owed, so that the resumed run takes
the very same step. The optimiser's update, once begun, is never cut.

Asking costs a few microseconds an operation, too much for the steps of milliseconds the presets take,
so an agent asks during its first step and then only after a step that took longer than CHECKED_AFTER
(`StepTimer`); the operations are the same with or without the checks, so the weights do not depend on
it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode

from synthesis.search import StopRequested

CHECKED_AFTER = 0.1  # seconds: a gradient step slower than this is run under StopChecks from then on


class StopChecks(TorchDispatchMode):
    """Raises StopRequested before any torch operation under it once `should_stop()` says so."""

    def __init__(self, should_stop: Callable[[], bool]) -> None:
        super().__init__()
        self.should_stop = should_stop

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if self.should_stop():
            raise StopRequested
        return func(*args, **(kwargs or {}))


class StepTimer:
    """Times an agent's gradient steps: the first, and each after a slow one, run under StopChecks."""

    def __init__(self) -> None:
        self.checked = True  # until a step is seen to be quick

    @contextlib.contextmanager
    def passes(self, should_stop: Callable[[], bool] | None) -> Iterator[None]:
        """The forward and backward passes of one step: checked for stops once steps are slow."""
        started = time.perf_counter()
        if self.checked and should_stop is not None:
            with StopChecks(should_stop):
                yield
        else:
            yield
        self.checked = time.perf_counter() - started > CHECKED_AFTER

    @contextlib.contextmanager
    def undone_on_stop(self, should_stop: Callable[[], bool] | None, optimizer: Any, rng: Any,
                       drawn_from: dict) -> Iterator[None]:
        """`passes`, and a stop asked for during them undone: the gradients zeroed and the generator `rng`
        put back to `drawn_from` (its state before the step's draws), so the step taken again later is the
        same; StopRequested is raised on."""
        try:
            with self.passes(should_stop):
                yield
        except StopRequested:
            rng.bit_generator.state = drawn_from
            optimizer.zero_grad(set_to_none=True)
            raise
