r"""Compiled matrix kernels and their arguments: :class:`MatrixKernels` (the interface of
:class:`~symnoether.numerics.codegen.Kernels`, plus :meth:`MatrixKernels.pack_state`),
:class:`Entries` (the scalar entries of a list of matrices, row-major, what ``y`` and
``p`` hold) and :func:`matrix_value` (one value of ``q0``/``params`` checked against its
symbol's shape). :mod:`~symnoether.numerics.matrix_codegen` builds the kernels.

Examples
--------
>>> import sympy as sp
>>> W = sp.MatrixSymbol("W", 2, 3)
>>> Entries((W,))[4], matrix_value(W, np.ones((2, 3)), "q0").shape
(W_22, (2, 3))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from ..errors import InvalidInputError
from .kernel_source import KERNEL_NAMES, RightHandSide, source_label

__all__ = ["MatrixKernels", "Entries", "matrix_value", "draw_matrix", "is_matrix"]


def _size(symbol) -> int:
    return int(symbol.shape[0]) * int(symbol.shape[1]) if is_matrix(symbol) else 1


def is_matrix(symbol) -> bool:
    """True for a MatrixSymbol."""
    return isinstance(symbol, sp.MatrixSymbol)


def label(symbol) -> str:
    """A symbol's name for comments and the cache index, with its shape."""
    shape = f"[{symbol.shape[0]}x{symbol.shape[1]}]" if is_matrix(symbol) else ""
    return source_label(str(symbol.name)) + shape


class Entries(Sequence):
    """The scalar entries of a list of matrices, row-major, matrix after matrix: what
    ``y`` (or ``q``, ``p``) holds. ``len`` is the number of entries; an entry is the
    Symbol ``system.explicit()`` names it by (``W1_12`` is W1[0, 1]), made on request.

    Examples
    --------
    >>> import sympy as sp
    >>> entries = Entries((sp.MatrixSymbol("W1", 2, 3), sp.MatrixSymbol("Wdot1", 2, 3)))
    >>> len(entries), entries[1], entries[6], entries.offset(entries.matrices[1])
    (12, W1_12, Wdot1_11, 6)
    >>> entries
    Entries(W1[2×3], Wdot1[2×3])
    """

    def __init__(self, matrices: Sequence):
        self.matrices = tuple(matrices)
        self._starts = np.cumsum([0] + [_size(m) for m in self.matrices])

    def __len__(self) -> int:
        return int(self._starts[-1])

    def offset(self, matrix) -> int:
        """Where ``matrix`` starts."""
        return int(self._starts[self.matrices.index(matrix)])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(len(self))))
        index = int(index) + (len(self) if index < 0 else 0)
        if not 0 <= index < len(self):
            raise IndexError(index)
        block = int(np.searchsorted(self._starts, index, side="right")) - 1
        matrix = self.matrices[block]
        if not is_matrix(matrix):
            return matrix
        rows, cols = (int(n) for n in matrix.shape)
        i, j = divmod(index - int(self._starts[block]), cols)
        joiner = "" if max(rows, cols) < 10 else "_"
        return sp.Symbol(f"{matrix.name}_{i + 1}{joiner}{j + 1}", real=True)

    def __repr__(self) -> str:
        shown = (
            f"{m.name}[{m.shape[0]}×{m.shape[1]}]" if is_matrix(m) else str(m)
            for m in self.matrices
        )
        return f"Entries({', '.join(shown)})"


@dataclass(frozen=True)
class MatrixKernels(RightHandSide):
    """Compiled matrix kernels: the interface of :class:`~symnoether.numerics.codegen.Kernels`,
    plus :meth:`pack_state`; ``state``, ``coords`` and ``parameters`` lists of entries.

    Attributes
    ----------
    system, laws
        The MatrixSystem and its laws (None and () for kernels built from a bare spec).
    spec : MatrixSpec
    state, coords : Entries
        Order of ``y`` and of ``q`` (``len`` is NS, NQ).
    parameters : tuple
        Order of ``p``: Symbols and MatrixSymbols (:attr:`parameter_entries` the entries).
    affine : tuple of bool
    source, path, backend, module
        As for codegen's Kernels.
    """

    system: object
    laws: tuple
    spec: object = field(repr=False)
    state: Entries
    coords: Entries
    parameters: tuple
    affine: tuple
    source: str = field(repr=False)
    path: Path | None
    backend: str
    module: ModuleType = field(repr=False)

    @property
    def order(self) -> int:
        """1 for gradient flow, 2 for a second-order rule."""
        return self.spec.order

    @property
    def parameter_entries(self) -> Entries:
        """The entries of ``p``."""
        return Entries(self.parameters)

    def __getattr__(self, name: str) -> Callable:
        if name in KERNEL_NAMES or name.startswith("drive_"):
            return getattr(self.module, name)
        raise AttributeError(name)

    def pack(self, params: Mapping | None = None) -> np.ndarray:
        """The parameter vector ``p`` from ``{symbol, MatrixSymbol or name: value}``
        (NumPy arrays of the declared shapes for MatrixSymbols).

        Raises :class:`InvalidInputError` naming a missing or unknown parameter, or an
        array of the wrong shape (both shapes named).
        """
        by_name = {str(s.name): s for s in self.parameters}
        values: dict = {}
        for key, value in dict(params or {}).items():
            name = key.name if isinstance(key, (sp.Symbol, sp.MatrixSymbol)) else str(key)
            symbol = by_name.get(str(name))
            if symbol is None:
                known = ", ".join(by_name) or "none"
                raise InvalidInputError(
                    f"params has {name}, which is not a parameter of the system; its "
                    f"parameters are: {known}"
                )
            values[symbol] = matrix_value(symbol, value, "params")
        missing = [str(s.name) for s in self.parameters if s not in values]
        if missing:
            raise InvalidInputError(
                f"params is missing {', '.join(missing)}; pass a value for every "
                f"hyper-parameter, constant and data symbol (arrays for matrices)"
            )
        if not self.parameters:
            return np.empty(0)
        return np.concatenate([np.ravel(values[s]) for s in self.parameters]).astype(np.float64)

    def pack_state(self, values: Mapping, name: str = "q0") -> np.ndarray:
        """The flat coordinates (NQ entries) from ``{W: array}``, one array per layer.

        Examples
        --------
        >>> import sympy as sp
        >>> from symnoether.numerics.matrix_codegen import MatrixSpec, compile_spec
        >>> W = sp.MatrixSymbol("W", 1, 2)
        >>> spec = MatrixSpec((W,), (), 1, (), (-W,), sp.Trace(W * W.T) / 2,
        ...                   sp.Trace(W * W.T) / 2, (W,), (W,))
        >>> compile_spec(spec, backend="numpy").pack_state({"W": [[1, 2]]}).tolist()
        [1.0, 2.0]
        """
        if not isinstance(values, Mapping):
            raise InvalidInputError(
                f"{name} is a {type(values).__name__}; pass a dict of arrays keyed by layer, "
                f"e.g. {{{self.coords.matrices[0].name}: array}}"
            )
        by_name = {str(m.name): m for m in self.coords.matrices}
        given: dict = {}
        for key, value in values.items():
            label = str(key.name) if isinstance(key, sp.MatrixSymbol) else str(key)
            layer = by_name.get(label)
            if layer is None:
                raise InvalidInputError(
                    f"{name} has {label}, which is not a layer of the system; its layers "
                    f"are: {', '.join(by_name)}"
                )
            given[layer] = matrix_value(layer, value, name)
        missing = [str(m.name) for m in self.coords.matrices if m not in given]
        if missing:
            raise InvalidInputError(
                f"{name} is missing the layer(s) {', '.join(missing)}; pass one array per layer"
            )
        return np.concatenate([np.ravel(given[m]) for m in self.coords.matrices])

    def describe(self) -> str:
        """Argument order of every kernel, in plain text."""
        return (
            f"state y = {self.state!r} ({len(self.state)} entries, row-major)\n"
            f"parameters p = {self.parameter_entries!r} ({len(self.parameter_entries)} entries)\n"
            f"laws: {len(self.laws) or len(self.spec.charges)}; backend {self.backend}; "
            f"source {self.path}"
        )

    def __str__(self) -> str:
        return self.describe()


def matrix_value(symbol, value, where: str):
    """``value`` as a float, or for a MatrixSymbol as a finite float array of its shape
    (a column (r, 1) also from r numbers); :class:`InvalidInputError` naming both shapes.

    Examples
    --------
    >>> import sympy as sp
    >>> matrix_value(sp.MatrixSymbol("x", 2, 1), [1, 2], "params").tolist()
    [[1.0], [2.0]]
    >>> matrix_value(sp.MatrixSymbol("W", 2, 3), np.zeros((3, 2)), "q0")
    Traceback (most recent call last):
    ...
    symnoether.errors.InvalidInputError: q0[W] has shape (3, 2), but W is 2×3; pass an array ...
    """
    name = str(symbol.name)
    if not is_matrix(symbol):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"{where}[{name}] = {value!r} is not a number; pass a float"
            ) from None
    shape = (int(symbol.shape[0]), int(symbol.shape[1]))
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"{where}[{name}] is not numeric; pass an array of shape {shape}"
        ) from None
    if array.shape == (shape[0],) and shape[1] == 1:
        array = array.reshape(shape)
    if array.shape != shape:
        raise InvalidInputError(
            f"{where}[{name}] has shape {array.shape}, but {name} is {shape[0]}×{shape[1]}; "
            f"pass an array of shape {shape}"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{where}[{name}] contains NaN or inf; pass finite values")
    return array


def draw_matrix(symbol, rng: np.random.Generator) -> np.ndarray:
    """A value for a matrix constant of a generator (A in ψ_A): standard normal entries
    over √columns, so that A W has the scale of W.

    Examples
    --------
    >>> import sympy as sp
    >>> draw_matrix(sp.MatrixSymbol("A", 3, 3), np.random.default_rng(0)).shape
    (3, 3)
    """
    rows, cols = (int(n) for n in symbol.shape)
    return rng.standard_normal((rows, cols)) / np.sqrt(cols)
