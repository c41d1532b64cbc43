r"""Kernels of a matrix-level learning system: the layers as arrays, never entries.

A :class:`~symnoether.core.matrix_system.MatrixSystem` and its
:class:`~symnoether.core.matrix_noether.MatrixNoetherLaw`\ s compile into a
module with the SAME kernels, signatures and constants as
:mod:`symnoether.numerics.codegen` (``rhs loss potential grad loss_grad charge
rate inv_tau metric phi psi mpsi``, ``NS NQ NP NL``), so the drivers of
:mod:`symnoether.numerics.drivers`, the discrete optimizers and the reports run
unchanged. Only the bodies differ: each kernel reads its layers as views of the
flat vectors and computes with matrix products
(:mod:`~symnoether.numerics.matrix_printer`).

Layout
------
* ``y`` = (layers, then velocities for a second-order rule), each layer
  row-major, in declared order: W[i, j] of a layer at offset o is ``y[o + i·c + j]``
  (the explicit entry ``W_{i+1}{j+1}`` of ``system.explicit()``).
* ``p`` = scalar hyper-parameters and scalar constants of the laws (by name), then
  matrix constants (A, D, …; by name, each row-major), then the data (declared
  order, matrices row-major).
* ``psi``/``mpsi``: row-major (law, entry), as in codegen; ``mpsi`` = m ψ (M = m I).
* ``phi``: ½⟨W, ψ(W) + ψ(0)⟩ for a generator ψ(W) = c_B W_B + b_B per layer (linear
  and self-adjoint up to a constant), else 0 (``affine`` says which).
* ``metric(y, p, out)`` writes ONE number, the scalar preconditioner g (1 without
  one): an n×n metric does not fit at width 64 (12,288² entries). The discrete
  optimizer folds it into its step (η/g); nothing calls ``metric`` with n×n room.

The kernel cache is the one codegen uses (the index authenticated by HMAC, the
source checked by :func:`~symnoether.numerics.kernel_source.check_kernel_source`
with ``arrays=True`` before anything runs).

Examples
--------
>>> import numpy as np, sympy as sp
>>> W = sp.MatrixSymbol("W", 2, 2)
>>> x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
>>> e = y - W * x
>>> spec = MatrixSpec(layers=(W,), velocities=(), order=1, parameters=(x, y),
...                   accelerations=(e * x.T,), loss=sp.Trace(e.T * e) / 2,
...                   potential=sp.Trace(e.T * e) / 2, gradients=(-e * x.T,),
...                   loss_gradients=(-e * x.T,))
>>> kernels = compile_spec(spec, backend="numpy")
>>> p = kernels.pack({x: [[1.0], [0.0]], y: [[1.0], [2.0]]})
>>> out = np.empty(4)
>>> kernels.rhs(0.0, np.zeros(4), p, out); out.tolist()       # Ẇ = (y − Wx)xᵀ
[1.0, 0.0, 2.0, 0.0]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from ..core.system import TIME
from ..errors import InvalidInputError, NotSupportedError
from . import kernel_cache, kernel_source, matrix_printer
from .kernel_source import KERNEL_NAMES, check_kernel_source, source_label
from .matrix_printer import MatrixBody

__all__ = ["MatrixSpec", "MatrixKernels", "Entries", "compile_spec", "generate", "CODEGEN_VERSION"]

CODEGEN_VERSION = "m1"
"""Bumped whenever the generated matrix source changes meaning (part of the content hash)."""

_GENERATOR_HASH = hashlib.sha256(
    b"".join(Path(m.__file__).read_bytes() for m in (kernel_source, matrix_printer))
    + Path(__file__).read_bytes()
).hexdigest()


@dataclass(frozen=True)
class MatrixSpec:
    """Everything the matrix kernels are generated from (filled from a MatrixSystem and
    its laws by :func:`~symnoether.numerics.matrix_kernels.matrix_spec`, or by hand in tests).

    ``charges`` and ``rates`` are undamped (e^{−t/τ} divided out, free of t);
    ``accelerations`` are Ẅ_B (order 2) or Ẇ_B (order 1), one per layer; ``mass`` is
    m (M = m·I), ``metric`` the scalar preconditioner g, ``inv_tau`` 1/τ (0 for none).
    """

    layers: tuple
    velocities: tuple
    order: int
    parameters: tuple
    accelerations: tuple
    loss: sp.Expr
    potential: sp.Expr
    gradients: tuple
    loss_gradients: tuple
    charges: tuple = ()
    rates: tuple = ()
    generators: tuple = ()
    mass: sp.Expr = sp.S.One
    inv_tau: sp.Expr = sp.S.Zero
    metric: sp.Expr = sp.S.One

    def key(self, drivers: str) -> str:
        """Hash of every field in SymPy's exact ``srepr``, with the versions."""
        text = "\n".join(
            sp.srepr(sp.Tuple(*item) if isinstance(item, tuple) else item, order="none")
            for item in (
                self.layers, self.velocities, sp.Integer(self.order), self.parameters,
                self.accelerations, self.loss, self.potential, self.gradients,
                self.loss_gradients, self.charges, self.rates,
                tuple(sp.Tuple(*g) for g in self.generators), self.mass, self.inv_tau,
                self.metric,
            )
        )  # fmt: skip
        versions = (
            f"{CODEGEN_VERSION} {_GENERATOR_HASH} {sp.__version__} {kernel_source.numba_version()}"
        )
        return kernel_cache.body_hash(f"{versions}\n{drivers}\n{text}")


def _size(symbol) -> int:
    return int(symbol.shape[0]) * int(symbol.shape[1]) if _is_matrix(symbol) else 1


def _is_matrix(symbol) -> bool:
    return isinstance(symbol, sp.MatrixSymbol)


def _label(symbol) -> str:
    shape = f"[{symbol.shape[0]}x{symbol.shape[1]}]" if _is_matrix(symbol) else ""
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
        if not _is_matrix(matrix):
            return matrix
        rows, cols = (int(n) for n in matrix.shape)
        i, j = divmod(index - int(self._starts[block]), cols)
        joiner = "" if max(rows, cols) < 10 else "_"
        return sp.Symbol(f"{matrix.name}_{i + 1}{joiner}{j + 1}", real=True)

    def __repr__(self) -> str:
        shown = (
            f"{m.name}[{m.shape[0]}×{m.shape[1]}]" if _is_matrix(m) else str(m)
            for m in self.matrices
        )
        return f"Entries({', '.join(shown)})"


# -- generation ---------------------------------------------------------------------


def generate(spec: MatrixSpec) -> tuple[str, tuple]:
    """(the kernels' source, which laws have an affine self-adjoint generator)."""
    state = Entries((*spec.layers, *spec.velocities))
    coords = Entries(spec.layers)
    params = Entries(spec.parameters)
    nq, ns, nl = len(coords), len(state), len(spec.charges)
    arrays, views, reads_from = {}, {}, {}
    for k, matrix in enumerate(state.matrices):
        start = state.offset(matrix)
        arrays[matrix] = f"a{k}"
        views[f"a{k}"] = _view("y", start, matrix)
        reads_from[f"a{k}"] = "y"
    scalars = {TIME: sp.Symbol("t")}
    for k, symbol in enumerate(spec.parameters):
        start = params.offset(symbol)
        if _is_matrix(symbol):
            arrays[symbol] = f"b{k}"
            views[f"b{k}"] = _view("p", start, symbol)
            reads_from[f"b{k}"] = "p"
        else:
            scalars[symbol] = sp.Symbol(f"p{start}")
            views[f"p{start}"] = f"p[{start}]"

    def emit(name, args, doc, outputs, *, reads=("y", "p")):
        usable = {m: v for m, v in arrays.items() if reads_from[v] in reads}
        usable_scalars = scalars if "p" in reads else {TIME: scalars[TIME]}
        body = MatrixBody(usable, usable_scalars)
        body.count([expr for kind, _, expr in outputs if kind != "copy"])
        for kind, where, expr in outputs:
            if kind == "return":
                body.lines.append(f"return {body.scalar(expr)}")
            elif kind == "scalar":
                body.lines.append(f"out[{where}] = {body.scalar(expr)}")
            elif kind == "copy":
                body.lines.append(f"out[{where}] = {expr}")
            else:
                body.write(expr, where)
        used = set(re.findall(r"\b[abp][0-9]+\b", "\n".join(body.lines)))
        head = [f"{v} = {views[v]}" for v in sorted(views, key=_natural) if v in used]
        text = "\n".join(f"    {line}" for line in head + body.lines)
        return f'@jit\ndef {name}({args}):\n    """{doc}."""\n{text}\n'

    def blocks(exprs, base=0):
        out = []
        for layer, expr in zip(spec.layers, exprs):
            out.append(("matrix", base + coords.offset(layer), expr))
        return out

    rhs = blocks(spec.accelerations, nq if spec.order == 2 else 0)
    if spec.order == 2:
        rhs.insert(0, ("copy", f"0:{nq}", f"y[{nq}:{ns}]"))
    affine, phis, psis, mpsis = [], [], [], []
    for j, generator in enumerate(spec.generators):
        linear = _scaling(generator, spec.layers)
        affine.append(linear)
        phis.append(("scalar", j, _phi(generator, spec.layers) if linear else sp.S.Zero))
        psis.extend(blocks(generator, j * nq))
        mpsis.extend(blocks([spec.mass * g for g in generator], j * nq))
    y_doc = ", ".join(_label(m) for m in state.matrices)
    p_doc = ", ".join(_label(s) for s in spec.parameters) or "none"
    parts = [
        f"NS = {ns}\nNQ = {nq}\nNP = {len(params)}\nNL = {nl}\n",
        emit("rhs", "t, y, p, out", f"dy/dt at time t; y = ({y_doc}), row-major", rhs),
        emit("loss", "y, p", "loss V_loss(q)", [("return", None, spec.loss)]),
        emit("potential", "y, p", "V = loss + regularizers", [("return", None, spec.potential)]),
        emit("grad", "y, p, out", "gradient of V, layer by layer", blocks(spec.gradients)),
        emit("loss_grad", "y, p, out", "gradient of the loss", blocks(spec.loss_gradients)),
        emit("charge", "y, p, out", "undamped charges e^{-t/tau} Q_j",
             [("scalar", j, c) for j, c in enumerate(spec.charges)]),
        emit("rate", "y, p, out", "undamped rates e^{-t/tau} dQ_j/dt",
             [("scalar", j, r) for j, r in enumerate(spec.rates)]),
        emit("inv_tau", "p", "1/tau", [("return", None, spec.inv_tau)], reads=("p",)),
        emit("metric", "y, p, out", "the scalar preconditioner g (one number)",
             [("scalar", 0, spec.metric)]),
        emit("phi", "y, p, out", "position charges 1/2 <W, psi(W) + psi(0)>", phis),
        emit("psi", "y, p, out", "generators psi_j, row-major (law, entry)", psis),
        emit("mpsi", "y, p, out", "m psi_j, row-major (law, entry)", mpsis),
    ]  # fmt: skip
    header = f"# parameters p = ({p_doc})\n# state y = ({y_doc})\n"
    source = header + "\n".join(parts)
    check_kernel_source(source, KERNEL_NAMES, arrays=True)
    return source, tuple(affine)


def _view(vector: str, start: int, matrix) -> str:
    rows, cols = (int(n) for n in matrix.shape)
    stop = start + rows * cols
    return f"np.ascontiguousarray({vector}[{start}:{stop}]).reshape(({rows}, {cols}))"


def _natural(name: str) -> tuple:
    return name[0], int(name[1:])


def _scaling(generator: tuple, layers: tuple) -> bool:
    """Whether every ψ_B is c_B W_B + b_B (c_B a scalar, b_B free of the layers): then ψ is
    affine with a self-adjoint linear part, and the one-step identity holds with φ."""
    for layer, psi in zip(layers, generator):
        for term in sp.Add.make_args(psi) if not isinstance(psi, sp.MatAdd) else psi.args:
            free = term.free_symbols & set(layers)
            if not free:
                continue
            coefficient, factors = matrix_printer.split_product(term)
            if factors != [layer] or coefficient.free_symbols & set(layers):
                return False
            if any(isinstance(s, sp.MatrixSymbol) for s in coefficient.free_symbols):
                return False
    return True


def _phi(generator: tuple, layers: tuple) -> sp.Expr:
    """½⟨W, ψ(W) + ψ(0)⟩ = ½⟨W, L W⟩ + ⟨b, W⟩ for ψ = L W + b."""
    zero = {layer: sp.ZeroMatrix(*layer.shape) for layer in layers}
    total = sp.S.Zero
    for layer, psi in zip(layers, generator):
        if psi == 0 or isinstance(psi, sp.ZeroMatrix):
            continue
        at_zero = psi.xreplace(zero).doit()
        total += sp.Trace(layer.T * psi) / 2
        if not (at_zero == 0 or isinstance(at_zero, sp.ZeroMatrix)):
            total += sp.Trace(layer.T * at_zero) / 2
    return total


# -- compiled kernels -----------------------------------------------------------------


@dataclass(frozen=True)
class MatrixKernels:
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
    spec: MatrixSpec = field(repr=False)
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

    def fun(self, t: float, y: np.ndarray, params: Mapping | np.ndarray | None = None):
        """ẏ = F(t, y) as a new array (``solve_ivp``'s signature once params are bound)."""
        p = params if isinstance(params, np.ndarray) else self.pack(params)
        out = np.empty(len(self.state))
        self.module.rhs(float(t), np.ascontiguousarray(y, dtype=np.float64), p, out)
        return out

    def bind(self, params: Mapping | np.ndarray) -> Callable:
        """``fun(t, y)`` with the parameters bound, for ``scipy.integrate.solve_ivp``."""
        p = params if isinstance(params, np.ndarray) else self.pack(params)
        rhs, n = self.module.rhs, len(self.state)

        def fun(t, y):
            out = np.empty(n)
            rhs(float(t), np.ascontiguousarray(y, dtype=np.float64), p, out)
            return out

        return fun

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
    if not _is_matrix(symbol):
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


def compile_spec(
    spec: MatrixSpec,
    *,
    backend: str = "numba",
    drivers: Sequence[Callable] = (),
    system=None,
    laws: tuple = (),
) -> MatrixKernels:
    """Generate (or read from the authenticated index), cache and import the kernels of
    ``spec``; ``drivers`` are copied into the module as codegen does."""
    if backend not in ("numba", "numpy"):
        raise InvalidInputError(f"backend {backend!r} is unknown; use 'numba' or 'numpy'")
    for symbol in spec.parameters:
        if not isinstance(symbol, (sp.Symbol, sp.MatrixSymbol)):
            raise InvalidInputError(
                f"the kernels read {symbol}, a {type(symbol).__name__}; parameters are "
                "Symbols or MatrixSymbols"
            )
    state = Entries((*spec.layers, *spec.velocities))
    key = spec.key(kernel_source.drivers_fingerprint(drivers))
    state_names = [_label(m) for m in state.matrices]
    parameter_names = [_label(s) for s in spec.parameters]
    cached = kernel_cache.read_index(key, state_names, parameter_names)
    if cached is None:
        body, affine = generate(spec)
        body += "".join(kernel_source.driver_source(d) for d in drivers)
        kernel_cache.write_index(key, body, affine, state_names, parameter_names)
    else:
        body, affine = cached
    digest = kernel_cache.body_hash(CODEGEN_VERSION + kernel_source.numba_version() + body)
    if backend == "numpy":
        path, module, source = kernel_cache.numpy_module(body, digest)
    else:
        path, module, source = kernel_cache.load_module(body, digest)
    return MatrixKernels(
        system=system,
        laws=tuple(laws),
        spec=spec,
        state=state,
        coords=Entries(spec.layers),
        parameters=tuple(spec.parameters),
        affine=tuple(affine),
        source=source,
        path=path,
        backend=backend,
        module=module,
    )


def undamped(expr, damping_factor, what: str) -> sp.Expr:
    """e^{−t/τ}·expr, free of t (the damping factor divided out exactly)."""
    core = sp.sympify(expr) if damping_factor == 1 else sp.sympify(expr) / damping_factor
    if TIME in core.free_symbols:
        core = sp.powsimp(sp.expand(core, deep=False, power_exp=False, log=False))
    if TIME in core.free_symbols:
        raise NotSupportedError(
            f"the {what} {expr} depends on t other than through e^(t/τ); "
            "only autonomous laws can be compiled"
        )
    return core
