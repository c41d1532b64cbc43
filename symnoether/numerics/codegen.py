r"""Compile a learning system and its Noether laws into numba kernels.

SymPy expressions become Python source (common subexpressions eliminated with
:func:`sympy.cse`, every number printed as a float so Piecewise, Max,
Heaviside and integer-zero entries type-check). Symbols reach the source only
as the generator's own variables (``y{i}``, ``p{i}``; a symbol that is none of
the system's is refused with :class:`~symnoether.errors.InvalidInputError`),
their names only in comments through
:func:`~symnoether.numerics.kernel_source.source_label`, and the kernels are
parsed and checked (:func:`~symnoether.numerics.kernel_source.check_kernel_source`)
before anything runs. The source is written to the kernel cache under its
content hash and the same bytes compiled from memory under the file's name, so
numba's on-disk cache (``cache=True``) works across processes — numba cannot
cache functions built from strings. The generated body is also recorded, with
an HMAC under this user's key, under a hash of the symbolic inputs, so a warm
start skips SymPy's elimination and printing altogether
(:mod:`symnoether.numerics.kernel_cache`). When the cache directory
(``$SYMNOETHER_CACHE_DIR``) cannot be created or written, or is not safe (owner
and mode, OpenSSH's rule), freshly generated source is compiled in memory with
numba's cache off, and a :class:`~symnoether.errors.KernelCacheWarning` names
the directory.

Kernels (all scalars float64, arrays 1-D float64; ``p`` the parameter vector):

=====================  ======================================================
``rhs(t, y, p, out)``  first-order equations of motion ẏ = F(t, y): y = (q, q̇),
                       or y = q for gradient flow
``loss(q, p)``         the loss V_loss (without regularizers)
``potential(q, p)``    V = loss + regularizers, what the optimizer descends
``grad(q, p, out)``    ∇V (of the potential)
``loss_grad(q, p, out)`` ∇V_loss
``charge(y, p, out)``  undamped charges Q̃_j = e^{−t/τ} Q_j, one per law
``rate(y, p, out)``    undamped rates R̃_j = e^{−t/τ} dQ_j/dt
``inv_tau(p)``         1/τ (0 for τ = ∞ and for gradient flow)
``metric(q, p, out)``  G(q), the preconditioner (identity for GD and momentum), n×n
``phi(q, p, out)``     position charge ½qᵀAq + bᵀq of an affine generator ψ = Aq + b
``psi(q, p, out)``     the generators ψ_j(q), row-major (law, coordinate)
``mpsi(q, p, out)``    M ψ_j(q) (the metric times ψ for gradient flow), same layout
=====================  ======================================================

The damping factor is divided out of charges and rates because e^{t/τ}
overflows for τ = η/2 within a few hundred steps; the law
dQ/dt = R then reads dQ̃/dt = R̃ − Q̃/τ. ``Kernels.fun(t, y)`` has
``scipy.integrate.solve_ivp``'s signature, with the parameters bound.

The parameter vector ``p`` lists the system's hyper-parameters and any
constant only the laws mention, such as the entries of A in a gl generator
(sorted by name, :func:`law_parameters`), followed by its data symbols in
declaration order; ``Kernels.parameters`` holds them and
``Kernels.pack(params)`` builds ``p`` from a ``{symbol or name: value}`` dict.

Every kernel module also exists as a plain-Python/NumPy backend
(``backend="numpy"``): the same source executed without numba, behind the same
interface, to cross-check the compiled code.

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics: Role of Symmetry
   Breaking in Neural Networks", NeurIPS 2021, arXiv:2105.02716 (the laws compiled).

Examples
--------
>>> import numpy as np, sympy as sp
>>> import symnoether as sn
>>> from symnoether.numerics.codegen import compile_kernels
>>> w1, w2 = sn.coordinates("w1 w2")
>>> eta = sp.Symbol("eta", positive=True)
>>> system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2,
...                            rule=sn.rules.gradient_descent(eta))
>>> kernels = compile_kernels(system, [sn.noether(system, (w1, -w2))], backend="numpy")
>>> kernels.state, kernels.parameters
((w1, w2, wdot1, wdot2), (eta,))
>>> p = kernels.pack({eta: 0.1})
>>> out = np.zeros(4)
>>> kernels.rhs(0.0, np.array([1.0, 2.0, 0.0, 0.0]), p, out)
>>> out.tolist()          # q̈ = −(2/η)(q̇ + ∇V), ∇V = (w1 w2 − 1)(w2, w1)
[0.0, 0.0, -40.0, -20.0]
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType

import numpy as np
import sympy as sp

from ..core.dag import derivatives, free_symbols, is_rational_dag, nodes, substitute
from ..core.dynamics import FirstOrderSystem, equations_of_motion
from ..core.matrix_system import MatrixSystem
from ..core.noether import NoetherLaw
from ..core.system import TIME, LearningSystem
from ..errors import InvalidInputError, NotSupportedError
from . import kernel_cache, kernel_source
from .kernel_cache import cache_dir
from .kernel_source import (
    FloatPrinter,
    RightHandSide,
    check_kernel_source,
    checked_laws,
    kernel_function,
    source_label,
)
from .matrix_codegen import compile_matrix_kernels
from .matrix_kernels import MatrixKernels

__all__ = ["Kernels", "compile_kernels", "cache_dir", "law_parameters", "CODEGEN_VERSION"]

CODEGEN_VERSION = "1"
"""Bumped whenever the generated source changes meaning (part of the content hash)."""


@dataclass(frozen=True)
class Kernels(RightHandSide):
    """Compiled kernels of one learning system and its laws; they describe themselves.

    Attributes
    ----------
    system : LearningSystem
    laws : tuple of NoetherLaw
    state : tuple of Symbols
        Order of ``y``: (q, q̇), or q for gradient flow.
    coords : tuple of Symbols
        Order of ``q`` (the first ``len(coords)`` entries of ``y``).
    parameters : tuple of Symbols
        Order of ``p``: hyper-parameters (by name), then data symbols.
    affine : tuple of bool
        Per law: ψ = Aq + b with A symmetric, so ``phi``/``psi`` are meaningful.
    source : str
        The generated Python source.
    path : Path or None
        Where the source lives (None for the numpy backend, and for kernels
        compiled in memory because the cache directory was not writable or not safe).
    backend : str
        ``'numba'`` or ``'numpy'``.
    module : module
        The imported kernel module (kernels and any drivers).

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (q,) = sn.coordinates("q")
    >>> flow = sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_flow())
    >>> k = compile_kernels(flow, backend="numpy")
    >>> k.state, k.order
    ((q,), 1)
    """

    system: LearningSystem
    laws: tuple
    state: tuple
    coords: tuple
    parameters: tuple
    affine: tuple
    source: str
    path: Path | None
    backend: str
    module: ModuleType = field(repr=False)

    @property
    def order(self) -> int:
        """1 for gradient flow, 2 for a Lagrangian system."""
        return self.system.order

    def __getattr__(self, name: str) -> Callable:
        if name in _KERNEL_NAMES or name.startswith("drive_"):
            return getattr(self.module, name)
        raise AttributeError(name)

    def pack(self, params: Mapping | None = None) -> np.ndarray:
        """The parameter vector ``p`` from ``{symbol or name: value}``.

        Raises :class:`InvalidInputError` naming a missing or unknown parameter.

        Examples
        --------
        >>> import sympy as sp, symnoether as sn
        >>> (q,) = sn.coordinates("q")
        >>> k = sp.Symbol("k", positive=True)
        >>> flow = sn.LearningSystem((q,), k * q**2 / 2, rule=sn.rules.gradient_flow())
        >>> compile_kernels(flow, backend="numpy").pack({"k": 2}).tolist()
        [2.0]
        """
        params = dict(params or {})
        by_name = {_name(s): s for s in self.parameters}
        values: dict = {}
        for key, value in params.items():
            symbol = by_name.get(_name(key))
            if symbol is None:
                known = ", ".join(by_name) or "none"
                raise InvalidInputError(
                    f"params has {key!s}, which is not a parameter of the system; "
                    f"its parameters are: {known}"
                )
            try:
                values[symbol] = float(value)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"params[{key!s}] = {value!r} is not a number; pass a float"
                ) from None
        missing = [str(s) for s in self.parameters if s not in values]
        if missing:
            raise InvalidInputError(
                f"params is missing {', '.join(missing)}; pass a value for every "
                f"hyper-parameter and data symbol, e.g. params={{{missing[0]}: 0.1, ...}}"
            )
        return np.array([values[s] for s in self.parameters], dtype=np.float64)

    def describe(self) -> str:
        """Argument order of every kernel, in plain text."""
        return (
            f"state y = ({', '.join(map(str, self.state))})\n"
            f"parameters p = ({', '.join(map(str, self.parameters))})\n"
            f"laws: {len(self.laws)}; backend {self.backend}; source {self.path}"
        )

    def __str__(self) -> str:
        return self.describe()


def _name(key) -> str:
    """A parameter's name: ``Symbol.name`` without SymPy's printer (``pack`` runs on
    every validation), ``str`` of anything else."""
    return key.name if isinstance(key, sp.Symbol) else str(key)


_KERNEL_NAMES = kernel_source.KERNEL_NAMES


def compile_kernels(
    system: LearningSystem,
    laws: Sequence[NoetherLaw] | NoetherLaw = (),
    *,
    backend: str = "numba",
    drivers: Sequence[Callable] = (),
) -> Kernels | MatrixKernels:
    """Generate, cache and import the kernels of ``system`` and ``laws``.

    Parameters
    ----------
    system : LearningSystem or MatrixSystem
        A MatrixSystem (layers as ``MatrixSymbol`` objects) compiles into
        :class:`~symnoether.numerics.matrix_kernels.MatrixKernels` working on the layer
        arrays (:mod:`~symnoether.numerics.matrix_codegen`), with the same kernels.
    laws : NoetherLaw or sequence of them
        Laws of ``system`` whose charges and rates to compile.
    backend : {'numba', 'numpy'}
        ``'numpy'`` runs the same source as plain Python (for cross-checks).
    drivers : sequence of functions
        Plain-Python functions copied verbatim into the kernel module (so numba
        caches them with the kernels); they call the kernels by name and are
        decorated with ``@jit`` (or ``@pjit`` when named ``*_parallel``).
        :mod:`symnoether.numerics.validate` passes its integrators and optimizers here.

    Returns
    -------
    Kernels

    Raises
    ------
    InvalidInputError
        A law of another system, an unknown backend, a parameter that is not a
        plain symbol, or a symbol that is no state entry or parameter.
    NotSupportedError
        An expression with a function the code printer cannot translate.

    Symbol names never become code: the kernels read ``y[i]`` and ``p[i]``, and a
    name is shown only in comments, escaped (a name such as ``'k\\nimport os'``
    cannot end its comment line).

    Examples
    --------
    >>> import numpy as np, sympy as sp, symnoether as sn
    >>> (q,) = sn.coordinates("q")
    >>> flow = sn.LearningSystem((q,), sp.Max(0, q) ** 2 / 2, rule=sn.rules.gradient_flow())
    >>> k = compile_kernels(flow, backend="numpy")
    >>> out = np.zeros(1); k.grad(np.array([-1.0]), k.pack(), out); out.tolist()
    [0.0]
    """
    if isinstance(system, MatrixSystem):
        return compile_matrix_kernels(system, laws, backend=backend, drivers=drivers)
    if backend not in ("numba", "numpy"):
        raise InvalidInputError(f"backend {backend!r} is unknown; use 'numba' or 'numpy'")
    laws = checked_laws(system, laws, NoetherLaw, "sn.noether(system, generator)")
    eom = equations_of_motion(system).first_order()
    state = tuple(eom.state)
    parameters = law_parameters(system, laws) + tuple(system.data)
    for symbol in parameters:
        if not isinstance(symbol, sp.Symbol):
            raise InvalidInputError(
                f"the kernels read {str(symbol)!r}, a {type(symbol).__name__}; a loss, rule "
                "or law compiles only with plain symbols as parameters, so write each entry "
                "as its own sp.Symbol"
            )
    body, affine = _body(system, laws, eom, parameters, drivers)
    digest = kernel_cache.body_hash(CODEGEN_VERSION + _numba_version() + body)
    if backend == "numpy":
        path, module, source = kernel_cache.numpy_module(body, digest)
    else:
        path, module, source = kernel_cache.load_module(body, digest)
    return Kernels(
        system=system,
        laws=laws,
        state=state,
        coords=tuple(system.coords),
        parameters=parameters,
        affine=affine,
        source=source,
        path=path,
        backend=backend,
        module=module,
    )


# -- code generation ------------------------------------------------------------


def law_parameters(system: LearningSystem, laws: tuple) -> tuple:
    """The system's hyper-parameters and those only the laws mention (a generator's
    own constants, e.g. the entries of A in ψ_A = (A W₁, −W₂ A)), sorted by name."""
    known = {*system.coords, *system.velocities, *system.data, TIME}
    extra: set = set()
    for law in laws:
        for expr in (law.charge, law.rate, *law.generator):
            extra |= sp.sympify(expr).free_symbols - known
    return tuple(sorted(set(system.hyperparameters) | extra, key=lambda s: s.name))


def _body(
    system: LearningSystem, laws: tuple, eom: FirstOrderSystem, parameters: tuple, drivers
) -> tuple[str, tuple]:
    """The module body (kernels, then drivers) and which laws have affine generators:
    from the index of the kernel cache when these inputs were generated before (a
    warm start skips SymPy), else generated and recorded there."""
    key = _inputs_key(system, laws, eom, parameters, _drivers_fingerprint(drivers))
    state_names = [_name(s) for s in eom.state]
    parameter_names = [_name(s) for s in parameters]
    cached = kernel_cache.read_index(key, state_names, parameter_names)
    if cached is not None:
        return cached
    body, affine = _generate(system, laws, eom, parameters)
    body += "".join(_driver_source(d) for d in drivers)
    kernel_cache.write_index(key, body, affine, state_names, parameter_names)
    return body, affine


_GENERATOR_HASH = hashlib.sha256(
    Path(__file__).read_bytes() + Path(kernel_source.__file__).read_bytes()
).hexdigest()


def _inputs_key(system, laws, eom, parameters, drivers: str) -> str:
    """Hash of everything :func:`_generate` reads, in SymPy's exact ``srepr`` (symbols
    with their assumptions), with the versions of SymPy, numba and this module."""
    rule = system.rule
    inputs = (
        eom.state, eom.rhs, parameters, system.coords, system.loss, system.potential,
        system.mass_matrix, system.tau, system.order,
        None if rule is None else rule.preconditioner,
        tuple((law.charge, law.rate, tuple(law.generator)) for law in laws),
    )  # fmt: skip
    text = "\n".join(sp.srepr(item, order="none") for item in inputs)
    versions = f"{CODEGEN_VERSION} {_GENERATOR_HASH} {sp.__version__} {_numba_version()}"
    return kernel_cache.body_hash(f"{versions}\n{drivers}\n{text}")


_drivers_fingerprint = kernel_source.drivers_fingerprint
_file_hash = kernel_source.file_hash


def _generate(
    system: LearningSystem, laws: tuple, eom: FirstOrderSystem, parameters: tuple
) -> tuple[str, tuple]:
    state = tuple(eom.state)
    coords = tuple(system.coords)
    n, ns, nl = len(coords), len(state), len(laws)
    names: dict = {TIME: sp.Symbol("t")}
    names.update({s: sp.Symbol(f"y{i}") for i, s in enumerate(state)})
    names.update({s: sp.Symbol(f"p{i}") for i, s in enumerate(parameters)})
    printer = FloatPrinter({"standard": "python3", "strict": True})
    renamed = dict(names)  # one memo for every kernel: the gradient's residuals, renamed once

    def emit(name, args, exprs, doc, *, scalar=False, uses=("y", "p")):
        exprs = [sp.sympify(e) for e in exprs]
        _refuse_stray_symbols(name, exprs, names)
        exprs = [substitute(e, names, memo=renamed) for e in exprs]
        return kernel_function(
            printer, name, args, exprs, doc, ns, len(parameters), scalar, uses, cse=_cse
        )

    gradient = derivatives(system.potential, coords)
    loss_gradient = derivatives(system.loss, coords)
    charges, rates, affine, phis, psis, mpsis = [], [], [], [], [], []
    for law in laws:
        charges.append(_undamped(law.charge, system, "charge"))
        rates.append(_undamped(law.rate, system, "rate"))
        is_affine, phi = _position_charge(law.generator, coords)
        affine.append(is_affine)
        phis.append(phi)
        psis.extend(law.generator)
        mpsis.extend(_sparse_product(system.mass_matrix, law.generator))
    inv_tau = sp.S.Zero if system.order == 1 or system.tau == sp.oo else 1 / system.tau
    metric = _metric(system)
    y_doc = ", ".join(source_label(_name(s)) for s in state)
    q_doc = ", ".join(source_label(_name(s)) for s in coords)
    p_doc = ", ".join(source_label(_name(s)) for s in parameters) or "none"
    parts = [
        f"NS = {ns}\nNQ = {n}\nNP = {len(parameters)}\nNL = {nl}\n",
        emit("rhs", "t, y, p, out", eom.rhs, f"dy/dt at time t; y = ({y_doc})"),
        emit("loss", "y, p", [system.loss], "loss V_loss(q)", scalar=True),
        emit("potential", "y, p", [system.potential], "V = loss + regularizers", scalar=True),
        emit("grad", "y, p, out", gradient, f"gradient of V over q = ({q_doc})"),
        emit("loss_grad", "y, p, out", loss_gradient, "gradient of the loss alone"),
        emit("charge", "y, p, out", charges, "undamped charges e^{-t/tau} Q_j"),
        emit("rate", "y, p, out", rates, "undamped rates e^{-t/tau} dQ_j/dt"),
        emit("inv_tau", "p", [inv_tau], "1/tau", scalar=True, uses=("p",)),
        _sparse_kernel(emit, "metric", list(metric), "preconditioner G(q), row-major"),
        emit("phi", "y, p, out", phis, "position charges 1/2 q.A q + b.q"),
        emit("psi", "y, p, out", psis, "generators psi_j(q), row-major (law, coord)"),
        emit("mpsi", "y, p, out", mpsis, "M psi_j(q), row-major (law, coord)"),
    ]
    header = f"# parameters p = ({p_doc})\n# state y = ({y_doc})\n"
    kernels = header + "\n".join(parts)
    check_kernel_source(kernels, _KERNEL_NAMES)
    return kernels, tuple(affine)


_SYMENGINE_NODES = 3_000  # distinct nodes from which SymEngine's cse is worth converting


def _cse(exprs: list) -> tuple[list, list]:
    """Common subexpressions ``c{k}`` of ``exprs``: SymPy's ``cse``, or SymEngine's (the
    optional ``fast`` extra; C++, some hundred times faster on the large sums of an
    element-wise network) for large rational functions only, which convert both ways
    exactly (integers and rationals, no floats or functions). ``SYMNOETHER_SYMENGINE=0``
    turns SymEngine off."""
    found: set = set()
    for expr in exprs:
        found |= nodes(expr)
    if len(found) >= _SYMENGINE_NODES and is_rational_dag(found) and _symengine() is not None:
        return _symengine_cse(exprs)
    return sp.cse(exprs, symbols=sp.numbered_symbols("c"), optimizations=None)


@lru_cache(maxsize=1)
def _symengine():
    if os.environ.get("SYMNOETHER_SYMENGINE", "1") == "0":
        return None
    try:
        import symengine
    except ImportError:
        return None
    return symengine


def _symengine_cse(exprs: list) -> tuple[list, list]:
    se = _symengine()
    replacements, reduced = se.cse([se.sympify(e) for e in exprs])
    rename = {old: se.Symbol(f"c{k}") for k, (old, _) in enumerate(replacements)}
    pairs = [
        (sp.Symbol(f"c{k}"), sp.sympify(value.xreplace(rename)))
        for k, (_, value) in enumerate(replacements)
    ]
    return pairs, [sp.sympify(e.xreplace(rename)) for e in reduced]


def _sparse_kernel(emit: Callable, name: str, entries: list, doc: str) -> str:
    """A kernel ``name(y, p, out)`` that writes only the entries of ``entries`` that are
    not identically 0 (a metric is often I: n² lines of zeros would dominate the
    compile time); the caller zero-fills ``out`` once (the zeros are structural)."""
    nonzero = [(k, e) for k, e in enumerate(entries) if sp.sympify(e) != 0]
    doc += "; only its nonzero entries are written (out starts zero-filled)"
    source = emit(name, "y, p, out", [e for _, e in nonzero], doc)
    index = [k for k, _ in nonzero]
    return re.sub(
        r"^    out\[(\d+)\] = ",
        lambda m: f"    out[{index[int(m.group(1))]}] = ",
        source,
        flags=re.MULTILINE,
    )


def _sparse_product(mass: sp.MatrixBase, column: Sequence) -> list:
    """M·column over the nonzero entries of M."""
    out: list = [[] for _ in range(mass.shape[0])]
    for (i, j), entry in mass.todok().items():
        if entry != 0 and column[j] != 0:
            out[i].append(entry * column[j])
    return [sp.Add(*terms) for terms in out]


def _refuse_stray_symbols(kernel: str, exprs: list, names: dict) -> None:
    """Refuse a symbol that is neither time, a state entry nor a parameter: the
    printer would write its name into the source as an identifier."""
    stray = set().union(*(free_symbols(e) for e in exprs)) - set(names)
    if stray:
        symbol = min(stray, key=sp.default_sort_key)
        raise InvalidInputError(
            f"kernel {kernel!r} would read the symbol {str(symbol)!r}, which is neither a "
            "coordinate, a velocity, a hyper-parameter nor a data symbol of the system; "
            "declare it (e.g. as data) or substitute a value for it"
        )


def _undamped(expr: sp.Expr, system: LearningSystem, what: str) -> sp.Expr:
    """e^{−t/τ}·expr, free of t (the damping factor divided out exactly)."""
    if system.order == 1 or system.tau == sp.oo:
        core = sp.sympify(expr)
    else:
        core = sp.sympify(expr) / system.damping_factor  # e^{t/τ}·core: cancels as it is
        if TIME in free_symbols(core):  # else expand to let the exponentials meet
            core = sp.powsimp(sp.expand(core))
    if TIME in core.free_symbols:
        raise NotSupportedError(
            f"the {what} {expr} depends on t other than through e^(t/τ); "
            "only autonomous laws can be compiled"
        )
    return core


def _position_charge(generator: sp.Matrix, coords: tuple) -> tuple[bool, sp.Expr]:
    """(affine with symmetric A, φ = ½qᵀAq + bᵀq) for ψ = Aq + b."""
    psi = sp.Matrix(generator)
    coordinate_set = set(coords)
    rows = []
    for entry in psi:  # the Jacobian, differentiating each entry by its own coordinates
        free = free_symbols(entry)
        moving = [q for q in coords if q in free]
        slopes = dict(zip(moving, derivatives(entry, moving), strict=True))
        rows.append([slopes.get(q, sp.S.Zero) for q in coords])
    A = sp.Matrix(rows)
    if any(coordinate_set & entry.free_symbols for entry in A.values()):
        return False, sp.S.Zero
    if not (A - A.T).is_zero_matrix:
        return False, sp.S.Zero
    q = sp.Matrix(coords)
    b = sp.expand(psi - A * q)
    return True, sp.expand((q.T * A * q)[0] / 2 + (b.T * q)[0])


def _metric(system: LearningSystem) -> sp.Matrix:
    rule = system.rule
    n = len(system.coords)
    if rule is None or rule.preconditioner is None:
        return sp.eye(n)
    G = rule.preconditioner
    return sp.Matrix(G) if isinstance(G, sp.MatrixBase) else G * sp.eye(n)


_driver_source = kernel_source.driver_source
_numba_version = kernel_source.numba_version
