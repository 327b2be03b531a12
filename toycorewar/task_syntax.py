"""The task syntax of functions and examples (docs/reference.md §10), read into toycorewar/functions.py's
`Function` and `Examples`.

Expression syntax: `rX = EXPR; rY = EXPR; ...`, each EXPR a sum of terms `[+|-] [INT *] rY` or
`[+|-] INT` (integers mod 256, spaces free, case-insensitive). A term that multiplies two registers
is not affine, and no program of this machine computes it. Examples: `IN->OUT; IN->OUT`, registers
comma-separated, `_` for an output register that does not matter.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from toycorewar.functions import Examples, Function
from toycorewar.machine import MODULUS


class FunctionSyntaxError(ValueError):
    """A malformed expression or examples text: `column` counts characters from 1."""

    def __init__(self, column: int, reason: str) -> None:
        self.column, self.reason = column, reason
        super().__init__(f"column {column}: {reason}")


_TOKEN = re.compile(r"\s*(?:(?P<int>\d+)|(?P<reg>[rR]\d+)|(?P<op>[=+\-*;])|(?P<other>\S))")


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, column from 1) for each token, ending with ("end", "", column after the text)."""
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only spaces are left
            break
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind) + 1))
        position = match.end()
    tokens.append(("end", "", len(text) + 1))
    return tokens


def _register(token: tuple[str, str, int], num_registers: int) -> int:
    number = int(token[1][1:])
    if not 1 <= number <= num_registers:
        raise FunctionSyntaxError(token[2], f"register {token[1]} does not exist: expected r1..r{num_registers}")
    return number - 1


def _describe(token: tuple[str, str, int]) -> str:
    return "the end of the text" if token[0] == "end" else f"'{token[1]}'"


def parse_function(text: str, num_registers: int = 4) -> Function:
    """Parse an expression task (`"r3 = r1 + r2"`, `"r1 = r2; r2 = r1"`); a malformed one is a
    FunctionSyntaxError naming the column and what was expected; a product of registers is one
    saying that no program of this machine computes it."""
    tokens = _tokens(text)
    r = num_registers
    matrix = np.zeros((r, r), dtype=np.int64)
    offset = np.zeros(r, dtype=np.int64)
    assigned = np.zeros(r, dtype=bool)
    inputs = np.zeros(r, dtype=bool)
    at = 0

    def expect(kinds: tuple[str, ...], what: str) -> tuple[str, str, int]:
        nonlocal at
        token = tokens[at]
        if token[0] not in kinds and token[1] not in kinds:
            raise FunctionSyntaxError(token[2], f"expected {what}, got {_describe(token)}")
        at += 1
        return token

    if tokens[0][0] == "end":
        raise FunctionSyntaxError(1, "empty task: expected an assignment 'rX = EXPR'")
    while True:
        if tokens[at][1] == ";":  # empty assignments between separators are allowed
            at += 1
            continue
        if tokens[at][0] == "end":
            break
        target = expect(("reg",), "a register 'rX' to assign")
        dest = _register(target, r)
        if assigned[dest]:
            raise FunctionSyntaxError(target[2], f"{target[1]} is assigned twice")
        expect(("=",), f"'=' after {target[1]}")
        assigned[dest] = True
        terms = 0
        while True:
            sign = 1
            token = tokens[at]
            if token[1] in "+-" and token[0] == "op":
                sign, at = (1 if token[1] == "+" else -1), at + 1
            elif terms:
                break  # the end of this right-hand side
            coefficient, register, first = 1, None, tokens[at]
            while True:  # a product of factors: integers and at most one register
                factor = expect(("int", "reg"), "a register 'rY' or an integer")
                if factor[0] == "int":
                    coefficient = coefficient * (int(factor[1]) % MODULUS) % MODULUS
                elif register is not None:
                    raise FunctionSyntaxError(first[2], "not affine: a product of registers "
                                              f"({tokens[register[1]][1]} * {factor[1]}), and no program of "
                                              "this machine computes it (every program computes r' = M·r + c mod 256)")
                else:
                    register = (_register(factor, r), at - 1)
                if tokens[at][1] != "*":
                    break
                at += 1
            if register is None:
                offset[dest] = (offset[dest] + sign * coefficient) % MODULUS
            else:
                matrix[dest, register[0]] = (matrix[dest, register[0]] + sign * coefficient) % MODULUS
                inputs[register[0]] = True
            terms += 1
        token = tokens[at]
        if token[0] == "end":
            break
        if token[1] != ";":
            raise FunctionSyntaxError(token[2], f"expected '+', '-', '*', ';' or the end, got {_describe(token)}")
    if not assigned.any():
        raise FunctionSyntaxError(1, "empty task: expected an assignment 'rX = EXPR'")
    return Function(matrix, offset, assigned, inputs)


def examples_from_pairs(pairs: Sequence[tuple[Sequence[int], Sequence[int | None]]], num_registers: int = 4,
                        what: str = "examples") -> Examples:
    """Examples from (inputs, outputs) pairs, `None` for an output register that does not matter.
    Errors (ValueError) name `what` and the example: a wrong length or value, an empty set, no
    register that matters, and two examples with the same input and different outputs."""
    if not isinstance(pairs, Sequence) or isinstance(pairs, str) or not pairs:
        raise ValueError(f"{what}: empty task: expected at least one example [inputs, outputs]")
    r = num_registers
    inputs = np.zeros((len(pairs), r), dtype=np.int64)
    outputs = np.zeros((len(pairs), r), dtype=np.int64)
    matters = np.zeros((len(pairs), r), dtype=bool)
    for e, pair in enumerate(pairs):
        if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
            raise ValueError(f"{what}[{e}] must be a pair [inputs, outputs], got {_shown(pair)}")
        for side, values, allow_none in (("inputs", pair[0], False), ("outputs", pair[1], True)):
            if not isinstance(values, Sequence) or isinstance(values, str) or len(values) != r:
                raise ValueError(f"{what}[{e}] {side} must be {r} registers, got {_shown(values)} "
                                 "(every example lists every register)")
            for i, v in enumerate(values):
                if v is None and allow_none:
                    continue
                if isinstance(v, bool) or not isinstance(v, int | np.integer) or not 0 <= v <= 255:
                    expected = "an integer in 0..255" + (" or null (does not matter)" if allow_none else "")
                    raise ValueError(f"{what}[{e}] {side} r{i + 1} must be {expected}, got {_shown(v)}")
                if side == "inputs":
                    inputs[e, i] = v
                else:
                    outputs[e, i], matters[e, i] = v, True
    if not matters.any():
        raise ValueError(f"{what}: no output register matters in any example (every one is null)")
    for e in range(len(pairs)):
        same = np.flatnonzero((inputs[:e] == inputs[e]).all(axis=1))
        for f in same:
            clash = matters[f] & matters[e] & (outputs[f] != outputs[e])
            if clash.any():
                i = int(np.argmax(clash))
                raise ValueError(f"{what}: contradictory examples {f} and {e}: the same input "
                                 f"{inputs[e].tolist()} with r{i + 1} = {outputs[f, i]} and {outputs[e, i]}")
    return Examples(inputs, outputs, matters)


def parse_examples(text: str, num_registers: int = 4) -> Examples:
    """Parse `"IN->OUT; IN->OUT"` (registers comma-separated, `_` for an output register that does
    not matter), as `synthesize.py --examples` takes it. Errors name the column."""
    pairs, column = [], 1
    for part in text.split(";"):
        start = column
        column += len(part) + 1
        if not part.strip():
            continue
        if part.count("->") != 1:
            raise FunctionSyntaxError(start, f"expected an example 'IN->OUT', got '{_cut(part.strip())}'")
        left, right = part.split("->")
        sides = []
        for side_text, offset, allow in ((left, start, False), (right, start + len(left) + 2, True)):
            values: list[int | None] = []
            position = offset
            for item in side_text.split(","):
                stripped = item.strip()
                item_column = position + len(item) - len(item.lstrip())
                position += len(item) + 1
                if stripped == "_" and allow:
                    values.append(None)
                elif stripped.isdigit() and int(stripped) <= 255:
                    values.append(int(stripped))
                else:
                    expected = "an integer in 0..255" + (" or '_'" if allow else "")
                    raise FunctionSyntaxError(item_column, f"expected {expected}, got '{_cut(stripped)}'")
            if len(values) != num_registers:
                raise FunctionSyntaxError(offset, f"expected {num_registers} registers separated by commas, "
                                          f"got {len(values)}")
            sides.append(values)
        pairs.append((sides[0], sides[1]))
    if not pairs:
        raise FunctionSyntaxError(1, "empty task: expected examples 'IN->OUT; IN->OUT'")
    return examples_from_pairs(pairs, num_registers)


def _cut(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
