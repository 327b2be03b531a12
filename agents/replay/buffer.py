"""The replay buffer: the transitions of every copy in preallocated arrays, in one ring or one region
per target, each row linked to its episode's next step, saved and restored whole with a checkpoint."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from toycorewar import MachineConfig


class FollowingSteps(NamedTuple):
    """For sampled rows (one column each): `rows[k]` is the row of the episode's k-th step after the
    sampled one (`rows[0]` the sampled row itself), `valid[k]` whether that step exists."""

    rows: np.ndarray
    valid: np.ndarray


class ReplayBuffer:
    """Transitions (observation, action, reward, next observation, terminated) of `num_envs` copies,
    in preallocated arrays. Each `add` writes one row per copy, copy c's row at position c.

    `targets`, when it holds two or more distinct targets (a run's fixed list), splits the capacity
    into one region per target, each a ring of its own (capacity // N rows): a block schedule's last
    block then overwrites only its own target's transitions, and every target seen keeps its share
    (docs/keeping_every_task.md). Otherwise the buffer is one ring of `capacity` rows.

    Each row knows the row of its episode's next step (`following`), and that row's write number
    (`following_serial`), so that a step overwritten since is not mistaken for it: the next step of an
    episode need not lie `num_envs` rows on once targets have regions of their own.

    `examples` > 0: transitions of function tasks (docs/reference.md §10), whose registers and target
    hold one row per example ([E, R]) beside `matters`; their buffer is one ring."""

    def __init__(self, capacity: int, machine: MachineConfig, num_envs: int,
                 targets: np.ndarray | None = None, examples: int = 0) -> None:
        self.capacity, self.num_envs = capacity, num_envs
        length, r = machine.max_length, machine.num_registers
        self.examples = examples
        shape = (capacity, examples, r) if examples else (capacity, r)
        if examples:
            targets = None
        self.max_length, self.empty_slot = length, machine.num_actions
        self.weights = 256 ** np.arange(r, dtype=np.int64)  # a target's code: its registers as base-256 digits
        codes = np.unique(np.asarray(targets, dtype=np.int64).reshape(-1, r) @ self.weights
                          if targets is not None else np.zeros(0, dtype=np.int64))
        self.region_codes = codes if len(codes) > 1 else np.zeros(0, dtype=np.int64)
        regions = max(1, len(self.region_codes))
        self.region_capacity = capacity // regions
        if self.region_capacity < num_envs:
            raise ValueError(f"replay_buffer_size {capacity} leaves {self.region_capacity} rows to each of "
                             f"{regions} targets, fewer than num_envs {num_envs}")
        self.region_start = np.arange(regions, dtype=np.int64) * self.region_capacity
        self.region_index = np.zeros(regions, dtype=np.int64)
        self.region_size = np.zeros(regions, dtype=np.int64)
        self.arrays = {
            "program": np.zeros((capacity, length), dtype=np.int16),
            "registers": np.zeros(shape, dtype=np.uint8),
            "target": np.zeros(shape, dtype=np.uint8),
            "next_program": np.zeros((capacity, length), dtype=np.int16),
            "next_registers": np.zeros(shape, dtype=np.uint8),
            "action": np.zeros(capacity, dtype=np.int64),
            "reward": np.zeros(capacity, dtype=np.float32),
            "terminated": np.zeros(capacity, dtype=bool),
            # Prioritized replay's per-row priority lives with the rows, so a checkpoint keeps it with them;
            # a new row gets the largest priority seen so far (drawn soon).
            "priority": np.zeros(capacity, dtype=np.float64),
            **({"matters": np.zeros(shape, dtype=bool)} if examples else {}),
        }
        self.serial = np.full(capacity, -1, dtype=np.int64)  # each row's write number
        self.following = np.full(capacity, -1, dtype=np.int64)  # the row of the episode's next step
        self.following_serial = np.full(capacity, -2, dtype=np.int64)
        self.last_rows = np.full(num_envs, -1, dtype=np.int64)  # each copy's latest row
        self.last_serials = np.full(num_envs, -1, dtype=np.int64)  # and its write number
        self.written = 0  # rows written so far
        self.max_priority = 1.0

    @property
    def regions(self) -> int:
        return len(self.region_start)

    @property
    def index(self) -> int:
        """Where the next row goes (one ring); with regions, the rows written so far modulo capacity."""
        return int(self.region_index[0]) if self.regions == 1 else self.written % self.capacity

    @property
    def size(self) -> int:
        return int(self.region_size.sum())

    def region_of(self, targets: np.ndarray) -> np.ndarray:
        """The region of each target (all 0 with one ring)."""
        if self.regions == 1:
            return np.zeros(len(targets), dtype=np.int64)
        codes = np.asarray(targets, dtype=np.int64) @ self.weights
        region = np.minimum(np.searchsorted(self.region_codes, codes), self.regions - 1)
        if not np.array_equal(self.region_codes[region], codes):
            raise ValueError("a transition's target is not one of the run's targets the buffer was made for")
        return region

    def slots_for(self, targets: np.ndarray) -> np.ndarray:
        """The rows the next transitions go to (advancing each region's write index)."""
        region = self.region_of(targets)
        slots = np.empty(len(targets), dtype=np.int64)
        for k in np.unique(region):
            mine = np.flatnonzero(region == k)
            offset = (self.region_index[k] + np.arange(len(mine))) % self.region_capacity
            slots[mine] = self.region_start[k] + offset
            self.region_index[k] = (self.region_index[k] + len(mine)) % self.region_capacity
            self.region_size[k] = min(self.region_size[k] + len(mine), self.region_capacity)
        return slots

    def add(self, obs: dict[str, np.ndarray], actions: np.ndarray, rewards: np.ndarray,
            next_obs: dict[str, np.ndarray], terminated: np.ndarray, copies: np.ndarray | None = None) -> None:
        """Store one transition per copy (the target does not change within an episode). More rows than
        copies are successive steps: row j's previous step is row j - num_envs. `copies`, when given,
        names the copy of each row (distinct copies, one step each): the copies that stepped while
        others sat idle."""
        n = len(actions)
        slots = self.slots_for(obs["target"])
        a = self.arrays
        a["program"][slots], a["registers"][slots], a["target"][slots] = obs["program"], obs["registers"], obs["target"]
        if self.examples:
            a["matters"][slots] = obs["matters"]
        a["next_program"][slots], a["next_registers"][slots] = next_obs["program"], next_obs["registers"]
        a["action"][slots], a["reward"][slots], a["terminated"][slots] = actions, rewards, terminated
        a["priority"][slots] = self.max_priority
        serials = self.written + np.arange(n)
        self.serial[slots], self.following[slots], self.following_serial[slots] = serials, -1, -2
        # Row j's previous step: its copy's latest row before this add, or (several steps at once) row
        # j - num_envs of this one; linked only if that row still holds that step (a small region may
        # have overwritten it).
        if copies is None:
            copies, first = np.arange(n) % self.num_envs, min(n, self.num_envs)
            previous = np.concatenate([self.last_rows[copies[:first]], slots[:n - first]])
            previous_serial = np.concatenate([self.last_serials[copies[:first]], serials[:n - first]])
            latest, latest_slots, latest_serials = copies[n - first:], slots[n - first:], serials[n - first:]
        else:
            copies = np.asarray(copies, dtype=np.int64)
            previous, previous_serial = self.last_rows[copies], self.last_serials[copies]
            latest, latest_slots, latest_serials = copies, slots, serials
        linked = (previous >= 0) & (self.serial[np.maximum(previous, 0)] == previous_serial)
        self.following[previous[linked]], self.following_serial[previous[linked]] = slots[linked], serials[linked]
        self.last_rows[latest], self.last_serials[latest] = latest_slots, latest_serials
        self.written += n

    def following_steps(self, rows: np.ndarray) -> FollowingSteps:
        """The rows of each sampled row's episode from it on (up to a whole program's length), and which
        of them exist: the episode has not ended before, and the step has been written (and not
        overwritten since)."""
        chain = np.empty((self.max_length, len(rows)), dtype=np.int64)
        valid = np.zeros(chain.shape, dtype=bool)
        chain[0], valid[0] = rows, True
        for k in range(1, self.max_length):
            previous = chain[k - 1]
            following = self.following[previous]
            safe = np.where(following >= 0, following, previous)
            valid[k] = (valid[k - 1] & ~self.arrays["terminated"][previous] & (following >= 0)
                        & (self.serial[safe] == self.following_serial[previous]))
            chain[k] = safe
        return FollowingSteps(chain, valid)

    def filled_rows(self) -> np.ndarray:
        """Every stored row, region by region (each region fills from its start)."""
        return np.concatenate([start + np.arange(size) for start, size in zip(self.region_start, self.region_size,
                                                                              strict=True)])

    def unused_slots(self, rows: np.ndarray) -> np.ndarray:
        """Empty program slots after each row's step."""
        return self.max_length - (self.arrays["next_program"][rows] != self.empty_slot).sum(axis=1)

    def set_priorities(self, rows: np.ndarray, priorities: np.ndarray) -> None:
        self.arrays["priority"][rows] = priorities
        self.max_priority = max(self.max_priority, float(priorities.max()))

    LINKS = ("serial", "following", "following_serial")

    def state(self) -> dict:
        """The filled rows as tensors (a checkpoint holds tensors and numbers only), the links between
        steps and each copy's latest row, so that a resumed run samples exactly what it would have;
        with regions, their write indices and sizes too."""
        rows = self.filled_rows()
        state = {"index": self.index, "size": self.size, "max_priority": self.max_priority,
                 "arrays": {name: torch.from_numpy(np.ascontiguousarray(array[rows]))
                            for name, array in self.arrays.items()},
                 "links": {"written": self.written, "last_rows": torch.from_numpy(self.last_rows.copy()),
                           "last_serials": torch.from_numpy(self.last_serials.copy()),
                           **{name: torch.from_numpy(np.ascontiguousarray(getattr(self, name)[rows]))
                              for name in self.LINKS}}}
        if self.regions > 1:
            state["regions"] = {"codes": torch.from_numpy(self.region_codes.copy()),
                                "index": torch.from_numpy(self.region_index.copy()),
                                "size": torch.from_numpy(self.region_size.copy())}
        return state

    def load_state(self, state: dict) -> None:
        def numpy(array: torch.Tensor | np.ndarray) -> np.ndarray:
            return array.cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)

        regions = state.get("regions")
        if regions is not None:
            if not np.array_equal(numpy(regions["codes"]), self.region_codes):
                raise ValueError("the saved replay buffer was made for other targets")
            self.region_index, self.region_size = numpy(regions["index"]).copy(), numpy(regions["size"]).copy()
        elif self.regions > 1:
            raise ValueError("the saved replay buffer has one ring, this run's has one region per target")
        else:
            self.region_index[0], self.region_size[0] = int(state["index"]), int(state["size"])
        rows = self.filled_rows()
        for name, array in state["arrays"].items():
            self.arrays[name][rows] = numpy(array)
        self.max_priority = float(state.get("max_priority", max(1.0, float(self.arrays["priority"][rows].max(
            initial=0.0)))))
        # Checkpoints before the links were saved: regions kept them beside their indices, one ring not.
        links = state.get("links", regions if regions is not None and "written" in regions else None)
        if links is not None:
            self.written, self.last_rows = int(links["written"]), numpy(links["last_rows"]).copy()
            self.last_serials = numpy(links["last_serials"]).copy()
            for name in self.LINKS:
                getattr(self, name)[rows] = numpy(links[name])
            return
        # One ring: the rows were written in ring order, and row i's next step is row i + num_envs.
        size, index, capacity = self.size, self.index, self.capacity
        self.serial[:] = -1
        self.serial[:size] = (np.arange(size) - index) % capacity if size == capacity else np.arange(size)
        self.written = size
        nxt = (np.arange(size) + self.num_envs) % capacity
        later = (self.serial[nxt] > self.serial[:size])
        self.following[:size] = np.where(later, nxt, -1)
        self.following_serial[:size] = np.where(later, self.serial[nxt], -2)
        self.last_rows[:], self.last_serials[:] = -1, -1
        if size >= self.num_envs:
            self.last_rows[:] = (index - self.num_envs + np.arange(self.num_envs)) % capacity
            self.last_serials[:] = self.serial[self.last_rows]
