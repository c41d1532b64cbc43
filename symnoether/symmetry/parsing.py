"""The arguments of a symmetry search, checked: coordinate blocks, data, the loss.

Shared by the continuous search (:mod:`~symnoether.symmetry.search`) and the discrete one
(:mod:`~symnoether.symmetry.discrete`); each raises a
:class:`~symnoether.errors.SymnoetherError` naming the offending argument.

Examples
--------
>>> import symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> [name for name, _ in parse_blocks((w1, w2))]
['w1', 'w2']
>>> parse_data(sn.data("x y"), parse_blocks((w1, w2)))
(x, y)
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp

from ..core.checks import block_symbols, check_distinct, coordinate_blocks
from ..errors import InvalidCoordinatesError, InvalidLossError
from .sampling import coordinate_symbols, short_text

__all__ = ["parse_blocks", "parse_data", "parse_loss"]


def parse_blocks(coords: object) -> tuple:
    """(name, block) pairs: Symbols, explicit matrices of Symbols, MatrixSymbols; checked
    as :class:`~symnoether.core.system.LearningSystem` checks its coordinates."""
    blocks = coordinate_blocks(coords, matrix_symbols=True)
    symbols = [s for _, block in blocks for s in block_symbols(block)]
    bad = [s for s in symbols if not isinstance(s, sp.Symbol | sp.MatrixSymbol)]
    if bad:
        raise InvalidCoordinatesError(
            f"coordinate matrix entry {bad[0]!r} is not a Symbol; build coordinate "
            "matrices with sn.matrix_coordinates('W', rows, cols)"
        )
    check_distinct(symbols, "coordinate")
    return blocks


def parse_data(data: object, blocks: tuple) -> tuple:
    """Flattened data symbols (matrices and tuples of Symbols flattened, MatrixSymbols
    kept whole)."""
    if isinstance(data, sp.Symbol | sp.MatrixBase | sp.MatrixSymbol):
        data = [data]
    if isinstance(data, str) or not isinstance(data, Iterable):
        raise InvalidCoordinatesError(
            f"data = {data!r} is not a sequence of data Symbols; declare data with "
            "sn.data('x y') and pass data=(x, y)"
        )
    flat = []
    for item in data:
        nested = isinstance(item, sp.MatrixBase | tuple | list)
        entries = list(item) if nested else [item]
        for entry in entries:
            if not isinstance(entry, sp.Symbol | sp.MatrixSymbol):
                raise InvalidCoordinatesError(
                    f"data entry {entry!r} is a {type(entry).__name__}, not a Symbol; "
                    "declare data with sn.data('x y')"
                )
            flat.append(entry)
    coordinates = set(coordinate_symbols(blocks)) | {b for _, b in blocks}
    shared = [d for d in flat if d in coordinates]
    if shared:
        raise InvalidCoordinatesError(
            f"{shared[0]} is both a coordinate and a data symbol; rename one of them"
        )
    return tuple(flat)


def parse_loss(loss: object, blocks: tuple) -> sp.Basic:
    if isinstance(loss, sp.MatrixBase | sp.MatrixExpr):
        if tuple(loss.shape) != (1, 1):
            raise InvalidLossError(
                f"the loss is a {loss.shape[0]}×{loss.shape[1]} matrix; it must be a scalar "
                "(write a squared norm as (r.T*r)[0] or r.T*r for a column r)"
            )
        if isinstance(loss, sp.MatrixBase):
            loss = loss[0, 0]
    elif (
        isinstance(loss, str)
        or isinstance(loss, bool)
        or not isinstance(loss, int | float | sp.Expr)
    ):
        raise InvalidLossError(
            f"the loss {loss!r} is a {type(loss).__name__}, not a SymPy expression; build it "
            "from the symbols of sn.coordinates and sn.data"
        )
    loss = loss if isinstance(loss, sp.MatrixExpr) else sp.sympify(loss)
    if not any(loss.has(b) for _, b in blocks if isinstance(b, sp.MatrixSymbol)) and not (
        loss.free_symbols & set(coordinate_symbols(blocks))
    ):
        raise InvalidLossError(
            f"the loss {short_text(loss)} depends on none of the coordinates, so every "
            "generator is a symmetry; build it from these coordinate symbols"
        )
    return loss
