r"""The symbols a learning system is written in: coordinates (scalars, or the entries of
a :func:`matrix_coordinates` matrix), data symbols, the engine's velocity symbols
(``w1`` → ``wdot1``, printed \dot{w}_{1}) and time :data:`TIME`. All are real.

Examples
--------
>>> w1, w2 = coordinates("w1 w2")
>>> velocities((w1, w2))
(wdot1, wdot2)
>>> matrix_coordinates("W", 1, 2)
Matrix([[W_11, W_12]])
>>> matrix_name(matrix_coordinates("W1", 2, 10))        # entries W1_1_1 … W1_2_10
'W1'
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence

import sympy as sp

from ..errors import InvalidCoordinatesError

__all__ = [
    "TIME",
    "coordinates",
    "matrix_coordinates",
    "matrix_name",
    "block_name",
    "data",
    "velocities",
    "velocity",
]

TIME = sp.Symbol("t", real=True)
"""The engine's time symbol t (also ``LearningSystem.time``)."""

_BASE_NAME = re.compile(r"[A-Za-z]+")


def coordinates(names: str) -> tuple[sp.Symbol, ...]:
    """Real coordinate (parameter) symbols, named as in :func:`sympy.symbols`.

    Always returns a tuple, even for one name.

    Examples
    --------
    >>> coordinates("w1:4")
    (w1, w2, w3)
    >>> coordinates("theta")
    (theta,)
    """
    return real_symbols(names, "coordinates")


def data(names: str) -> tuple[sp.Symbol, ...]:
    """Real data symbols (inputs, targets): laws must hold for every value.

    Always returns a tuple, even for one name.

    Examples
    --------
    >>> x, y = data("x y")
    >>> x.is_real
    True
    """
    return real_symbols(names, "data")


def matrix_coordinates(name: str, rows: int, cols: int) -> sp.ImmutableMatrix:
    """A matrix of real coordinate symbols, 1-based: ``W1_12`` is row 1, column 2.

    Entries are named ``{name}_{i}{j}`` (``{name}_{i}_{j}`` when a dimension
    exceeds 9), and print as :math:`W_{1\\,12}`.

    Examples
    --------
    >>> matrix_coordinates("W1", 2, 2)
    Matrix([
    [W1_11, W1_12],
    [W1_21, W1_22]])
    """
    if not isinstance(name, str) or not name:
        raise InvalidCoordinatesError(
            f"matrix_coordinates name {name!r} is not a non-empty string; pass e.g. 'W1'"
        )
    for label, size in (("rows", rows), ("cols", cols)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidCoordinatesError(
                f"matrix_coordinates({name!r}, ...): {label} = {size!r} is not a positive "
                "integer; pass the layer's shape, e.g. matrix_coordinates('W1', 2, 3)"
            )
    joiner = "" if max(rows, cols) < 10 else "_"
    return sp.ImmutableMatrix(
        rows,
        cols,
        lambda i, j: sp.Symbol(f"{name}_{i + 1}{joiner}{j + 1}", real=True),
    )


def velocity(coordinate: sp.Symbol) -> sp.Symbol:
    """The velocity symbol of one coordinate: ``w1`` → ``wdot1`` (\\dot{w}_{1}).

    Examples
    --------
    >>> velocity(sp.Symbol("theta_2", real=True))
    thetadot_2
    """
    if not isinstance(coordinate, sp.Symbol):
        raise InvalidCoordinatesError(
            f"{coordinate!r} is not a coordinate Symbol; create coordinates with "
            "sn.coordinates('w1 w2') or sn.matrix_coordinates('W', 2, 3)"
        )
    name = coordinate.name
    match = _BASE_NAME.match(name)
    if match:
        dotted = name[: match.end()] + "dot" + name[match.end() :]
    else:
        dotted = name + "dot"
    return sp.Symbol(dotted, real=True)


def velocities(coords: Iterable) -> tuple[sp.Symbol, ...]:
    """The engine's velocity symbols for ``coords`` (Symbols and/or matrices).

    Examples
    --------
    >>> velocities(coordinates("w1 w2"))
    (wdot1, wdot2)
    """
    return tuple(velocity(q) for q in flatten(coords))


def real_symbols(names: str, what: str) -> tuple[sp.Symbol, ...]:
    """Real Symbols from a names string (``'w1 w2'``, ``'w1:4'``); ``what`` names the
    caller in the error."""
    if not isinstance(names, str) or not names.strip():
        raise InvalidCoordinatesError(
            f"{what}({names!r}): expected a non-empty string of names, e.g. 'w1 w2' or 'w1:4'"
        )
    made = sp.symbols(names, real=True, seq=True)
    return tuple(made)


def matrix_name(matrix: sp.MatrixBase) -> str:
    """The ``name`` given to :func:`matrix_coordinates` (entries ``name_ij``); for a
    matrix of other Symbols (a column of ``coordinates('c1:4')``), their common stem.

    Examples
    --------
    >>> matrix_name(sp.Matrix(coordinates("c1:4")))
    'c'
    >>> matrix_name(sp.Matrix(coordinates("x y")))
    'x_y'
    """
    first = matrix[0] if len(matrix) else None
    if not isinstance(first, sp.Symbol):
        return str(first)
    suffix = r"_\d+_\d+$" if max(matrix.shape) >= 10 else r"_\d+$"
    name = re.sub(suffix, "", first.name)
    joiner = "" if max(matrix.shape) < 10 else "_"
    rows, cols = matrix.shape
    entries = [matrix[i, j] for i in range(rows) for j in range(cols)]
    expected = [f"{name}_{i + 1}{joiner}{j + 1}" for i in range(rows) for j in range(cols)]
    if [getattr(e, "name", None) for e in entries] == expected:
        return name
    return block_name([e for e in entries if isinstance(e, sp.Symbol)])


def block_name(symbols: Sequence[sp.Symbol]) -> str:
    """A name for a block of scalar coordinates: the common stem of their names
    (``c1, c2, c3`` → ``c``), else the names joined by ``_``.

    Examples
    --------
    >>> block_name(coordinates("b_1 b_2"))
    'b'
    """
    names = [s.name for s in symbols]
    stem = os.path.commonprefix(names).rstrip("0123456789_") if len(names) > 1 else ""
    return stem or "_".join(names)


def flatten(items: object) -> list:
    """The Symbols of ``items`` (Symbols, matrices, tuples or lists of Symbols), in order;
    sets are refused."""
    if isinstance(items, set | frozenset | dict):
        raise InvalidCoordinatesError(
            f"{type(items).__name__} {items!r} has no fixed order; pass a tuple or list"
        )
    if isinstance(items, sp.Basic) and not isinstance(items, sp.MatrixBase):
        return [items]
    if isinstance(items, sp.MatrixBase):
        return list(items)
    if isinstance(items, str) or not isinstance(items, Iterable):
        raise InvalidCoordinatesError(
            f"{items!r} is not a sequence of Symbols; pass e.g. sn.coordinates('w1 w2')"
        )
    flat = []
    for item in items:
        if isinstance(item, sp.MatrixBase):
            flat.extend(item)
        elif isinstance(item, tuple | list):  # a block of scalars, as LearningSystem takes
            flat.extend(flatten(item))
        else:
            flat.append(item)
    return flat
