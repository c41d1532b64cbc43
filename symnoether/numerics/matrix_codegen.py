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
* ``phi``: ½⟨W, ψ(W) + ψ(0)⟩ for a generator ψ(W) = L(W) + b with L self-adjoint
  (per-layer scalings, or proved by trace-cyclic canonical forms: ψ = (S W1, −W2 S)
  with S = (A + Aᵀ)/2), else 0 (``affine`` says which).
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import sympy as sp

from ..core.matrix_noether import MatrixNoetherLaw
from ..core.matrix_system import MatrixSystem
from ..core.system import TIME
from ..core.traces import trace_identity
from ..errors import InvalidInputError, NotSupportedError, SymnoetherError
from . import kernel_cache, kernel_source, matrix_printer
from .kernel_source import KERNEL_NAMES, check_kernel_source, checked_laws
from .matrix_kernels import Entries, MatrixKernels, is_matrix, label
from .matrix_printer import MatrixBody

__all__ = [
    "MatrixSpec", "compile_spec", "compile_matrix_kernels", "matrix_spec", "generate",
    "undamped", "CODEGEN_VERSION",
]  # fmt: skip

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
        if is_matrix(symbol):
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
            elif kind == "copy":  # a loop: numba compiles a slice copy ~20× slower
                body.lines += [f"for i in range({where}):", f"    out[i] = {expr}"]
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
        rhs.insert(0, ("copy", nq, f"y[{nq} + i]"))
    affine, phis, psis, mpsis = [], [], [], []
    for j, generator in enumerate(spec.generators):
        linear = _affine(generator, spec.layers)
        affine.append(linear)
        phis.append(("scalar", j, _phi(generator, spec.layers) if linear else sp.S.Zero))
        psis.extend(blocks(generator, j * nq))
        mpsis.extend(blocks([spec.mass * g for g in generator], j * nq))
    y_doc = ", ".join(label(m) for m in state.matrices)
    p_doc = ", ".join(label(s) for s in spec.parameters) or "none"
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


def _affine(generator: tuple, layers: tuple) -> bool:
    """Whether ψ(W) = L(W) + b with L self-adjoint (⟨U, L V⟩ = ⟨L U, V⟩): per-layer
    scalings at once, otherwise proved by trace-cyclic canonical forms (additivity and
    symmetry as trace identities in fresh letters U, V, X); False when not proved."""
    if _scaling(generator, layers):
        return True
    letters = [
        [sp.MatrixSymbol(f"_{name}{k}", *W.shape) for k, W in enumerate(layers)] for name in "UVX"
    ]
    U, V, X = letters

    def at(values):
        table = dict(zip(layers, values, strict=True))
        return [sp.sympify(psi).xreplace(table) for psi in generator]

    b = [psi.doit() for psi in at([sp.ZeroMatrix(*W.shape) for W in layers])]
    pu, pv, puv = at(U), at(V), at([u + v for u, v in zip(U, V, strict=True)])
    additive = sp.Add(*(sp.Trace(x.T * (s - a - c + z))
                        for x, s, a, c, z in zip(X, puv, pu, pv, b, strict=True)))  # fmt: skip
    adjoint = sp.Add(*(sp.Trace(u.T * (c - z)) - sp.Trace((a - z).T * v)
                       for u, v, a, c, z in zip(U, V, pu, pv, b, strict=True)))  # fmt: skip
    try:
        return trace_identity(additive) and trace_identity(adjoint)
    except (SymnoetherError, TypeError, ValueError, AttributeError):  # not a trace polynomial
        return False


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
    state_names = [label(m) for m in state.matrices]
    parameter_names = [label(s) for s in spec.parameters]
    cached = kernel_cache.read_index(key, state_names, parameter_names)
    if cached is None:
        body, affine = generate(spec)
        body += "".join(kernel_source.driver_source(d) for d in drivers)
        kernel_cache.write_index(key, body, affine, state_names, parameter_names)
    else:
        body, affine = cached
    return load_matrix_kernels(system, laws, spec, body, affine, backend)


def load_matrix_kernels(system, laws, spec, body: str, affine, backend: str) -> MatrixKernels:
    """The :class:`MatrixKernels` of a generated ``body``: its module loaded from the
    kernel cache under the digest of the codegen version, numba's version and the body
    (the one recipe for a local compile and a sweep's worker)."""
    digest = kernel_cache.body_hash(CODEGEN_VERSION + kernel_source.numba_version() + body)
    if backend == "numpy":
        path, module, source = kernel_cache.numpy_module(body, digest)
    else:
        path, module, source = kernel_cache.load_module(body, digest)
    return MatrixKernels(
        system=system,
        laws=tuple(laws),
        spec=spec,
        state=Entries((*spec.layers, *spec.velocities)),
        coords=Entries(spec.layers),
        parameters=tuple(spec.parameters),
        affine=tuple(affine),
        source=source,
        path=path,
        backend=backend,
        module=module,
    )


def compile_matrix_kernels(
    system: MatrixSystem,
    laws: Sequence[MatrixNoetherLaw] | MatrixNoetherLaw = (),
    *,
    backend: str = "numba",
    drivers: Sequence[Callable] = (),
) -> MatrixKernels:
    """The kernels of a :class:`~symnoether.core.matrix_system.MatrixSystem` and its laws
    (what :func:`~symnoether.numerics.codegen.compile_kernels` returns for one).

    Examples
    --------
    >>> import numpy as np, sympy as sp, symnoether as sn
    >>> W1, W2 = sn.layers(W1=(3, 2), W2=(1, 3))
    >>> x = sp.MatrixSymbol("x", 2, 1)
    >>> flow = sn.LearningSystem((W1, W2), W2 * W1 * x, rule=sn.rules.gradient_flow(),
    ...                          data=(x,))
    >>> k = compile_matrix_kernels(flow, backend="numpy")
    >>> len(k.state), k.parameters
    (9, (x,))
    """
    laws = checked_laws(system, laws, MatrixNoetherLaw, "sn.noether(system, ψ)")
    spec = matrix_spec(system, laws)
    return compile_spec(spec, backend=backend, drivers=drivers, system=system, laws=laws)


def matrix_spec(system: MatrixSystem, laws: tuple = ()) -> MatrixSpec:
    """The :class:`MatrixSpec` of a MatrixSystem and its laws (the contract's fields)."""
    known = {*system.layers, *system.velocities, *system.data, TIME}
    extra: set = set()
    for law in laws:
        extra |= set(law.constants)
        for expr in (law.charge, law.rate, *law.generator):
            extra |= sp.sympify(expr).free_symbols - known
    scalars = {s for s in (*system.hyperparameters, *extra) if not is_matrix(s)}
    matrices = {s for s in extra if is_matrix(s)}
    parameters = (
        *sorted(scalars, key=lambda s: s.name),
        *sorted(matrices, key=lambda s: str(s.name)),
        *system.data,
    )
    factor = system.damping_factor
    tau = system.tau
    metric = system.rule.preconditioner
    generators = tuple(
        tuple(
            sp.ZeroMatrix(*W.shape) if g == 0 else g for W, g in zip(system.layers, law.generator)
        )
        for law in laws
    )
    return MatrixSpec(
        layers=tuple(system.layers),
        velocities=tuple(system.velocities) if system.order == 2 else (),
        order=system.order,
        parameters=parameters,
        accelerations=tuple(system.accelerations),
        loss=system.loss,
        potential=system.potential,
        gradients=tuple(system.gradients),
        loss_gradients=tuple(system.loss_gradients),
        charges=tuple(undamped(law.charge, factor, "charge") for law in laws),
        rates=tuple(undamped(law.rate, factor, "rate") for law in laws),
        generators=generators,
        mass=system.mass,
        inv_tau=sp.S.Zero if system.order == 1 or tau == sp.oo else 1 / tau,
        metric=sp.S.One if metric is None else sp.sympify(metric),
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


def _size(symbol) -> int:
    return int(symbol.shape[0]) * int(symbol.shape[1]) if is_matrix(symbol) else 1
