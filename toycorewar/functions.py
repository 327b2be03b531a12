"""What a program computes, and the functions a task asks for (docs/reference.md §10).

Every instruction is affine over the integers mod 256 (`ld` writes a constant, `st` copies, `add` and
`sub` add or subtract two registers), so a whole program computes an affine map of its initial
registers, r' = M·r + c (mod 256). The map follows from the program's runs on k + 1 inputs (zeros and
each unit input): what the program does on all 256^k inputs is known exactly, never by sampling.

A *function* (a task of §10) gives, for some registers (the *assigned* ones), an affine form of the
*input* registers (those its right-hand sides read); the other registers start at 0 and do not matter
at the end. A program is *correct* for it when it computes every assigned register on every input.
An *examples* task gives input-output pairs instead, with registers that do not matter left out.

The task syntax (`rX = EXPR; ...`) is read by toycorewar/task_syntax.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toycorewar.machine import MODULUS, Instruction

# -- the map of a program ------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class AffineMap:
    """r' = matrix · r + offset (mod 256): `matrix` int64 [R, R], `offset` int64 [R]."""

    matrix: np.ndarray
    offset: np.ndarray

    @property
    def num_registers(self) -> int:
        return len(self.offset)

    @classmethod
    def identity(cls, num_registers: int) -> AffineMap:
        return cls(np.eye(num_registers, dtype=np.int64), np.zeros(num_registers, dtype=np.int64))

    def apply(self, registers: np.ndarray | Sequence[int]) -> np.ndarray:
        """The registers after the program from `registers` ([..., R]), as int64."""
        values = np.asarray(registers, dtype=np.int64)
        return (values @ self.matrix.T + self.offset) % MODULUS

    def changed(self) -> np.ndarray:
        """bool [R]: the registers whose final value is not their initial one on some input."""
        unchanged = (self.matrix == np.eye(self.num_registers, dtype=np.int64)).all(axis=1) & (self.offset == 0)
        return ~unchanged

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, AffineMap) and np.array_equal(self.matrix, other.matrix)
                and np.array_equal(self.offset, other.offset))

    def __hash__(self) -> int:
        return hash((self.matrix.tobytes(), self.offset.tobytes()))

    def __str__(self) -> str:
        return format_map(self)


def program_map(program: Sequence[Instruction], num_registers: int = 4) -> AffineMap:
    """The affine map a program computes (it ends at its first `stop`).

    Each register holds an affine form of the initial registers (a row of coefficients and a
    constant); an instruction combines rows exactly as it combines values."""
    rows = np.eye(num_registers, dtype=np.int64)
    constants = np.zeros(num_registers, dtype=np.int64)
    for op, args in program:
        if op == "stop":
            break
        if op == "ld":
            value, x = args
            rows[x - 1], constants[x - 1] = 0, value
        elif op == "st":
            a, b = args
            rows[b - 1], constants[b - 1] = rows[a - 1], constants[a - 1]
        elif op in ("add", "sub"):
            a, b, c = args
            sign = 1 if op == "add" else -1
            rows[c - 1] = (rows[a - 1] + sign * rows[b - 1]) % MODULUS
            constants[c - 1] = (constants[a - 1] + sign * constants[b - 1]) % MODULUS
        else:
            raise ValueError(f"unknown instruction {op!r}")
    return AffineMap(rows, constants)


def probe_inputs(inputs: np.ndarray) -> np.ndarray:
    """int64 [k + 1, R]: the zero input and the unit input of each of the k registers marked in
    `inputs` (bool [R]); the runs on these decide what a program computes on every input."""
    marked = np.flatnonzero(np.asarray(inputs, dtype=bool))
    probes = np.zeros((len(marked) + 1, len(inputs)), dtype=np.int64)
    probes[np.arange(1, len(marked) + 1), marked] = 1
    return probes


# -- printing ------------------------------------------------------------------------------------------

def format_form(coefficients: Sequence[int], constant: int) -> str:
    """An affine form in the task syntax: `r1 + r2`, `2*r1 - r3`, `-r1`, `r1 + 100`, `250`.

    A coefficient above 128 is written as its negative (255·r1 is −r1 mod 256); so is the constant
    when the form has registers (`r1 - 1`); a constant alone is written as the value a register holds."""
    terms = []
    for register, coefficient in enumerate(coefficients, start=1):
        c = int(coefficient) % MODULUS
        if c:
            terms.append((c - MODULUS if c > MODULUS // 2 else c, f"r{register}"))
    constant = int(constant) % MODULUS
    if not terms:
        return str(constant)
    if constant:
        terms.append((constant - MODULUS if constant > MODULUS // 2 else constant, ""))
    text = ""
    for c, register in terms:
        sign = "-" if c < 0 else "+"
        size = abs(c)
        body = register if size == 1 and register else (f"{size}*{register}" if register else str(size))
        text += (f"-{body}" if sign == "-" else body) if not text else f" {sign} {body}"
    return text


def format_assignments(matrix: np.ndarray, offset: np.ndarray, registers: Sequence[int]) -> str:
    """`rX = FORM` for each register index in `registers`, joined by '; '."""
    return "; ".join(f"r{i + 1} = {format_form(matrix[i], offset[i])}" for i in registers)


def format_map(function: AffineMap) -> str:
    """What a program computes, one line per register it changes (`r3 = r1 + r2`); a program that
    changes nothing prints `(no register changes)`."""
    changed = np.flatnonzero(function.changed())
    if not len(changed):
        return "(no register changes)"
    return "\n".join(f"r{i + 1} = {format_form(function.matrix[i], function.offset[i])}" for i in changed)


# -- functions -----------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Function:
    """A function task: each assigned register's final value as an affine form of the inputs.

    `matrix` [R, R] and `offset` [R] (int64, rows of unassigned registers are zero), `assigned` and
    `inputs` bool [R]. Inputs are the registers the right-hand sides read; every other register
    starts at 0."""

    matrix: np.ndarray
    offset: np.ndarray
    assigned: np.ndarray
    inputs: np.ndarray

    @property
    def num_registers(self) -> int:
        return len(self.offset)

    @classmethod
    def of_map(cls, function: AffineMap, assigned: np.ndarray | None = None) -> Function:
        """The function of a program's map: its changed registers (or `assigned`), reading the
        registers their rows read."""
        assigned = function.changed() if assigned is None else np.asarray(assigned, dtype=bool)
        matrix = np.where(assigned[:, None], function.matrix, 0)
        offset = np.where(assigned, function.offset, 0)
        return cls(matrix, offset, assigned, (matrix != 0).any(axis=0))

    def outputs(self, inputs: np.ndarray) -> np.ndarray:
        """int64 [..., R]: the wanted final registers for `inputs` [..., R] (0 where not assigned)."""
        values = np.asarray(inputs, dtype=np.int64) * self.inputs
        return np.where(self.assigned, (values @ self.matrix.T + self.offset) % MODULUS, 0)

    def draw_inputs(self, count: int, rng: np.random.Generator) -> np.ndarray:
        """int64 [count, R]: uniform values on the input registers, 0 on the others."""
        return rng.integers(0, MODULUS, size=(count, self.num_registers), dtype=np.int64) * self.inputs

    def probes(self) -> np.ndarray:
        """The inputs that decide correctness: zeros and each unit input ([k + 1, R])."""
        return probe_inputs(self.inputs)

    def first_wrong_input(self, function: AffineMap) -> np.ndarray | None:
        """The first probe input on which a program of map `function` gives a wrong assigned register,
        or None when it computes this function on every input."""
        for probe in self.probes():
            if (function.apply(probe) != self.outputs(probe))[self.assigned].any():
                return probe
        return None

    def is_computed_by(self, function: AffineMap) -> bool:
        """Whether a program of map `function` is correct on every input: decided exactly."""
        return self.first_wrong_input(function) is None

    def __str__(self) -> str:
        """The task syntax; an input that no assignment reads with a coefficient other than 0 is shown as
        `0*rX` (in its own assignment, or the first), so that the text parses back to the same inputs."""
        assigned = np.flatnonzero(self.assigned)
        lines = [f"r{i + 1} = {format_form(self.matrix[i], self.offset[i])}" for i in assigned]
        for j in np.flatnonzero(self.inputs & ~(self.matrix[self.assigned] != 0).any(axis=0)):
            at = int(np.flatnonzero(assigned == j)[0]) if self.assigned[j] else 0
            left, form = lines[at].split(" = ", 1)
            lines[at] = f"{left} = " + (f"0*r{j + 1}" if form == "0" else f"{form} + 0*r{j + 1}")
        return "; ".join(lines)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Function) and all(
            np.array_equal(getattr(self, name), getattr(other, name))
            for name in ("matrix", "offset", "assigned", "inputs")))

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name).tobytes() for name in ("matrix", "offset", "assigned", "inputs")))


# -- examples ------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Examples:
    """An examples task: `inputs`, `outputs` int64 [E, R] and `matters` bool [E, R] (an output register
    that does not matter holds 0). A program is correct for it when it meets every example."""

    inputs: np.ndarray
    outputs: np.ndarray
    matters: np.ndarray

    @property
    def num_registers(self) -> int:
        return self.inputs.shape[1]

    def met_by(self, function: AffineMap) -> bool:
        return not ((function.apply(self.inputs) != self.outputs) & self.matters).any()

    def first_wrong_input(self, function: AffineMap) -> np.ndarray | None:
        wrong = ((function.apply(self.inputs) != self.outputs) & self.matters).any(axis=1)
        return self.inputs[np.argmax(wrong)] if wrong.any() else None

    def __str__(self) -> str:
        def side(values: np.ndarray, matters: np.ndarray | None = None) -> str:
            return ",".join(str(v) if matters is None or m else "_"
                            for v, m in zip(values, matters if matters is not None else values, strict=True))
        return "; ".join(f"{side(i)}->{side(o, m)}" for i, o, m in zip(self.inputs, self.outputs, self.matters,
                                                                        strict=True))
