"""Checks made when a :class:`~symnoether.core.system.LearningSystem` is built: coordinates
distinct real Symbols, a scalar loss of coordinates, data and hyper-parameters
only, regularizers of known kinds, a kinetic term quadratic in the velocities
with a mass matrix that may be positive definite. Each failure raises the
:class:`~symnoether.errors.SymnoetherError` subclass that names the culprit and
the fix.

Examples
--------
>>> import sympy as sp
>>> from symnoether.core.vocabulary import coordinates
>>> w1, w2 = coordinates("w1 w2")
>>> check_distinct((w1, w2, w1), "coordinates")
Traceback (most recent call last):
  ...
symnoether.errors.InvalidCoordinatesError: ...
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Iterable, Sequence

import sympy as sp

from ..errors import (
    IgnoredCoordinateWarning,
    InvalidCoordinatesError,
    InvalidDatasetError,
    InvalidKineticError,
    InvalidLossError,
    InvalidRuleError,
    NotSupportedError,
    UndeclaredSymbolWarning,
)
from .dag import derivatives
from .rules import WeightDecay
from .vocabulary import TIME, matrix_name, velocities

__all__ = [
    "coordinate_blocks", "block_symbols", "check_coordinates", "check_distinct",
    "as_scalar", "check_loss", "reject_look_alikes", "check_regularizers", "mass_from_kinetic",
    "definitely_not_positive_definite", "check_positive_definite", "warn_undeclared",
    "ignored_coordinates", "ignored_message", "warn_ignored", "check_dataset",
]  # fmt: skip


def coordinate_blocks(coords: object, *, matrix_symbols: bool = False) -> tuple:
    """(name, block) pairs of ``coords``: Symbols, matrices of Symbols and tuples or lists
    of Symbols (one column block each, named by their common stem), in order (and whole
    MatrixSymbols when ``matrix_symbols``: the structured symmetry search takes them).

    Examples
    --------
    >>> from symnoether.core.vocabulary import coordinates, matrix_coordinates
    >>> W, c = matrix_coordinates("W", 2, 2), coordinates("c1:3")
    >>> [(name, getattr(block, "shape", ())) for name, block in coordinate_blocks((W, c))]
    [('W', (2, 2)), ('c', (2, 1))]
    """
    if isinstance(coords, set | frozenset | dict):
        raise InvalidCoordinatesError(
            f"coords is a {type(coords).__name__}, which has no fixed order; the order of "
            "coordinates fixes velocities, generators and equations: pass a tuple or list"
        )
    if isinstance(coords, sp.MatrixBase | sp.Symbol | sp.MatrixSymbol):
        coords = [coords]
    elif isinstance(coords, str) or not isinstance(coords, Iterable):
        raise InvalidCoordinatesError(
            f"coords = {coords!r} is not a sequence of coordinate Symbols or matrices; "
            "pass e.g. sn.coordinates('w1 w2') or (W1, W2) from sn.matrix_coordinates"
        )
    blocks = []
    for item in coords:
        if isinstance(item, tuple | list):
            item = _scalar_block(item)
        if isinstance(item, sp.MatrixBase):
            blocks.append((matrix_name(item), sp.ImmutableMatrix(item)))
        elif isinstance(item, sp.Symbol) or (matrix_symbols and isinstance(item, sp.MatrixSymbol)):
            blocks.append((item.name, item))
        else:
            raise InvalidCoordinatesError(
                f"coordinate {item!r} is a {type(item).__name__}, not a Symbol; coordinates "
                "must be distinct Symbols: create them with sn.coordinates('w1 w2')"
            )
    if not blocks:
        raise InvalidCoordinatesError(
            "coords is empty; pass at least one coordinate, e.g. sn.coordinates('w1 w2')"
        )
    return tuple(blocks)


def _scalar_block(items: tuple | list) -> sp.Symbol | sp.ImmutableMatrix:
    """A tuple or list of scalar coordinates in ``coords`` (such as the biases
    ``sn.coordinates('c1:4')``): one column block, named by the symbols' common stem
    (``c``); a single symbol stays a scalar."""
    wrong = [s for s in items if not isinstance(s, sp.Symbol)]
    if wrong or not items:
        culprit = f"holds {wrong[0]!r} ({type(wrong[0]).__name__})" if wrong else "is empty"
        raise InvalidCoordinatesError(
            f"the coordinate block {tuple(items)!r} {culprit}; a tuple or list inside coords "
            "is a block of scalar coordinate Symbols (e.g. sn.coordinates('c1:4')): pass "
            "matrices as items of coords themselves"
        )
    if len(items) == 1:
        return items[0]
    return sp.ImmutableMatrix(len(items), 1, list(items))


def block_symbols(block: object) -> list:
    """The Symbols of one coordinate block."""
    return list(block) if isinstance(block, sp.MatrixBase) else [block]


def check_coordinates(coords: tuple, data: tuple) -> None:
    """Coordinates and data: Symbols, each distinct, none both a coordinate and data,
    none reserved by the engine (a velocity symbol or the time t)."""
    for q in coords:
        if not isinstance(q, sp.Symbol):
            raise InvalidCoordinatesError(
                f"coordinate {q!r} is not a Symbol; coordinates must be distinct Symbols: "
                "create them with sn.coordinates('w1 w2') or sn.matrix_coordinates"
            )
    check_distinct(coords, "coordinate")
    for d in data:
        if not isinstance(d, sp.Symbol):
            raise InvalidCoordinatesError(
                f"data entry {d!r} is not a Symbol; declare data with sn.data('x y')"
            )
    check_distinct(data, "data symbol")
    shared = [q for q in coords if q in set(data)]
    if shared:
        raise InvalidCoordinatesError(
            f"{shared[0]} is both a coordinate and a data symbol; a parameter cannot be "
            "data: rename one of them"
        )
    engine = set(velocities(coords)) | {TIME}
    clash = [s for s in (*coords, *data) if s in engine]
    if clash:
        raise InvalidCoordinatesError(
            f"symbol {clash[0]} is reserved by the engine (a velocity or the time t); "
            "rename that coordinate or data symbol"
        )


def check_distinct(symbols: tuple, what: str) -> None:
    """InvalidCoordinatesError naming a Symbol that appears twice in ``symbols``."""
    seen: set = set()
    for s in symbols:
        if s in seen:
            raise InvalidCoordinatesError(
                f"{what} {s} appears twice; each {what} must be a distinct Symbol"
            )
        seen.add(s)


def as_scalar(expr: object, what: str, error: type) -> sp.Expr:
    """``expr`` as a scalar SymPy expression (a 1×1 matrix unwrapped); ``error`` otherwise."""
    if isinstance(expr, sp.MatrixBase):
        if expr.shape == (1, 1):
            return expr[0, 0]
        raise error(
            f"the {what} is a {expr.shape[0]}×{expr.shape[1]} matrix; it must be a scalar "
            "(for a squared norm write e.g. (r.T*r)[0] or sum of squares)"
        )
    if isinstance(expr, str):
        raise error(
            f"the {what} {expr!r} is a string; build it from SymPy symbols (strings are "
            "never parsed: spec files have their own safe parser)"
        )
    if isinstance(expr, bool) or not isinstance(expr, int | float | sp.Expr):
        raise error(
            f"the {what} is a {type(expr).__name__}, not a SymPy expression; build it "
            "from the symbols of sn.coordinates and sn.data"
        )
    expr = sp.sympify(expr)
    if expr.has(sp.Derivative):
        raise error(f"the {what} {expr} contains an unevaluated Derivative; call .doit() first")
    if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise error(f"the {what} {expr} is not finite")
    return expr


def check_loss(loss: object, coords: tuple, data: tuple, vels: tuple) -> sp.Expr:
    """The loss as a scalar free of I, of velocities and of time, depending on at
    least one coordinate (named look-alikes of engine symbols rejected)."""
    loss = as_scalar(loss, "loss", InvalidLossError)
    if loss.has(sp.I):
        raise InvalidLossError(
            f"the loss {loss} contains the imaginary unit I; a loss must be real-valued"
        )
    free = loss.free_symbols
    reject_look_alikes(free, (*coords, *data, *vels, TIME), "loss")
    moving = sorted((free & set(vels)) | (free & {TIME}), key=str)
    if moving:
        raise InvalidLossError(
            f"the loss depends on {moving[0]}, a velocity or the time; a loss is a function "
            "of coordinates and data only (put velocity terms in the kinetic term)"
        )
    if not free & set(coords):
        impostors = [s for s in free if any(s.name == q.name for q in coords)]
        hint = (
            f": its symbol {impostors[0]} has the name of a coordinate but other "
            "assumptions; create the loss from the symbols sn.coordinates returns"
            if impostors
            else "; check that it is built from these coordinates"
        )
        raise InvalidLossError(f"the loss {loss} depends on none of the coordinates{hint}")
    return loss


def reject_look_alikes(free: set, engine: tuple, what: str) -> None:
    """A free symbol named like a coordinate, data symbol, velocity or t but not
    equal to it (other assumptions) would silently become a hyper-parameter."""
    by_name = {s.name: s for s in engine}
    for symbol in sorted(free, key=str):
        twin = by_name.get(symbol.name)
        if twin is not None and twin != symbol:
            raise InvalidLossError(
                f"the {what} contains a symbol {symbol} that has the name of the engine's "
                f"{symbol} but other assumptions, so it is not the same symbol; build the "
                f"{what} from sn.coordinates, sn.data, sn.velocities and system.time"
            )


def check_regularizers(
    regularizers: object, coords: tuple, *, what: str = "coordinate", fix: str = ""
) -> tuple:
    """The regularizers as a tuple of ``rules.weight_decay`` terms whose ``on=``
    names only coordinates of this system (``what`` names them in the message, e.g.
    'layer' for MatrixSymbol layers, and ``fix`` ends it)."""
    if regularizers is None:
        return ()
    if isinstance(regularizers, WeightDecay):
        regularizers = (regularizers,)
    checked = tuple(regularizers)
    for regularizer in checked:
        if not isinstance(regularizer, WeightDecay):
            raise InvalidRuleError(
                f"regularizer {regularizer!r} is not supported; use "
                "sn.rules.weight_decay(lam) (add other penalties to the loss itself)"
            )
        outside = [q for q in regularizer.on or () if q not in set(coords)]
        if outside:
            raise InvalidRuleError(
                f"weight_decay(on=...) names {outside[0]}, which is not a {what} of this "
                f"system{fix}"
            )
    return checked


def mass_from_kinetic(kinetic: sp.Expr, coords: tuple, vels: tuple) -> sp.ImmutableMatrix:
    """M(q) of a hand-written kinetic term T = ½ q̇ᵀ M(q) q̇, checked to be quadratic in
    q̇, and positive definite at sample points (:func:`check_positive_definite`).

    M is the Hessian of T in q̇, left as differentiated (simplified only for display).
    T is quadratic when that Hessian is free of q̇ and T has no terms of degree 0 or 1
    in q̇: T − ½q̇ᵀMq̇ = T(q, 0) + q̇·∂T/∂q̇(q, 0) exactly then (Taylor), and both are
    decided zero.

    Examples
    --------
    >>> import sympy as sp
    >>> from symnoether.core.vocabulary import coordinates, velocities
    >>> r, th = coordinates("r th")
    >>> vr, vth = velocities((r, th))
    >>> mass_from_kinetic((vr**2 + r**2 * vth**2) / 2, (r, th), (vr, vth))
    Matrix([
    [1,    0],
    [0, r**2]])
    """
    if kinetic.free_symbols & {TIME}:
        raise NotSupportedError(
            "a kinetic term that depends on the time t is not supported yet; "
            "time dependence enters only through the damping factor e^{t/τ}"
        )
    free = kinetic.free_symbols
    if not free & set(vels):
        names = ", ".join(map(str, vels[:3])) + (", ..." if len(vels) > 3 else "")
        raise InvalidKineticError(
            f"the kinetic term T = {kinetic} does not depend on the velocities {names}; "
            "build it from the symbols sn.velocities(coords) returns"
        )
    v = list(vels)
    momenta = derivatives(kinetic, v)
    rows = []
    for momentum in momenta:
        moving = [w for w in v if w in momentum.free_symbols]
        slopes = dict(zip(moving, derivatives(momentum, moving), strict=True))
        rows.append([slopes.get(w, sp.S.Zero) for w in v])
    mass = sp.Matrix(rows)
    if any(entry.free_symbols & set(v) for entry in mass):
        raise InvalidKineticError(
            f"the kinetic term T = {kinetic} is not quadratic in the velocities "
            "(its Hessian in q̇ depends on q̇); T must be ½q̇ᵀM(q)q̇"
        )
    rest = {w: sp.S.Zero for w in v}
    linear = [p.xreplace(rest) * w for p, w in zip(momenta, v, strict=True)]
    remainder = sp.expand(kinetic.xreplace(rest) + sp.Add(*linear))
    if remainder != 0:
        raise InvalidKineticError(
            f"the kinetic term T = {kinetic} has terms {remainder} that are not quadratic "
            "in the velocities; T must be ½q̇ᵀM(q)q̇ (no linear or constant terms)"
        )
    check_positive_definite(mass, coords, f"T = {kinetic}")
    return sp.ImmutableMatrix(mass)


_DEFINITENESS_POINTS = 4
_SINGULAR = 1e-10  # |λ|min ≤ this · |λ|max at a point: singular there


def check_positive_definite(mass: sp.MatrixBase, coords: tuple, what: str, seed: int = 0) -> None:
    """InvalidKineticError when M is not positive definite at one of a few random points.

    M is evaluated numerically at ``_DEFINITENESS_POINTS`` seeded random points (the
    coordinates between −2 and 2, of the declared sign; every other symbol, a mass or
    hyper-parameter, between 0.2 and 2.2, negative only when declared so) and factored by
    Cholesky there. A failure names the point; a matrix singular at every point (a
    velocity with no inertia) is called singular. Points where M is not a finite real
    matrix are skipped; when there is none, M passes (only a matrix shown not to be
    positive definite is refused). No symbolic determinant or simplification: the cost
    is a few numeric evaluations of M's nonzero entries.

    Examples
    --------
    >>> import sympy as sp
    >>> q1, q2 = sp.symbols("q1 q2", real=True)
    >>> check_positive_definite(sp.diag(1, q2**2 + 1), (q1, q2), "T")
    >>> check_positive_definite(sp.diag(1, -1), (q1, q2), "T")
    Traceback (most recent call last):
      ...
    symnoether.errors.InvalidKineticError: the mass matrix of T is not positive definite at ...
    """
    entries = {key: value for key, value in mass.todok().items() if value != 0}
    symbols = sorted(set().union(*(e.free_symbols for e in entries.values())), key=str)
    rng = random.Random(seed)
    coordinate_set = set(coords)
    draws = (
        {s: _sample(s, s in coordinate_set, rng) for s in symbols}
        for _ in range(3 * _DEFINITENESS_POINTS)
    )
    points = [(p, e) for p, e in ((p, _eigenvalues(entries, p, mass.shape[0])) for p in draws)]
    points = [(p, e) for p, e in points if e is not None][:_DEFINITENESS_POINTS]
    for point, eigenvalues in points:
        if eigenvalues.min() > _SINGULAR * abs(eigenvalues).max():
            continue  # Cholesky succeeds: positive definite at this point
        if all(_is_singular(e) for _, e in points):
            raise InvalidKineticError(
                f"the mass matrix of {what} is singular (det M = 0 at every sample point): "
                "some velocity has no inertia; give every coordinate a kinetic term, or "
                "use gradient flow"
            )
        shown = ", ".join(f"{s} = {float(value):.4g}" for s, value in point.items())
        raise InvalidKineticError(
            f"the mass matrix of {what} is not positive definite at {shown or 'any point'} "
            f"(its smallest eigenvalue there is {eigenvalues.min():.3g}), so T is not a "
            "kinetic energy; every velocity needs positive inertia"
        )


def _eigenvalues(entries: dict, point: dict, n: int):
    """The eigenvalues of the symmetric part of M at ``point`` (NumPy), or None when M
    is not a finite real matrix there."""
    import numpy as np  # numerics only for this check

    values = np.zeros((n, n))
    for (i, j), entry in entries.items():
        try:
            value = complex(entry.xreplace(point).evalf(20))
        except (TypeError, ValueError, ZeroDivisionError, OverflowError):
            return None
        if not np.isfinite(value) or abs(value.imag) > 1e-12 * max(1.0, abs(value.real)):
            return None
        values[i, j] = value.real
    return np.linalg.eigvalsh((values + values.T) / 2)


def _is_singular(eigenvalues) -> bool:
    return bool(abs(eigenvalues).min() <= _SINGULAR * max(abs(eigenvalues).max(), 1e-300))


def _sample(symbol: sp.Symbol, coordinate: bool, rng: random.Random) -> sp.Rational:
    """A random value for ``symbol``: a coordinate in (−2, 2), another symbol in
    (0.2, 2.2); of the declared sign either way."""
    if coordinate:
        magnitude = sp.Rational(rng.randint(1, 2000), 1000)
        negative = rng.random() < 0.5
    else:
        magnitude = sp.Rational(rng.randint(200, 2200), 1000)
        negative = False
    if symbol.is_nonnegative:
        negative = False
    elif symbol.is_nonpositive:
        negative = True
    if symbol.is_integer:
        magnitude = sp.Integer(max(1, round(magnitude)))
    return -magnitude if negative else magnitude


def definitely_not_positive_definite(matrix: sp.MatrixBase) -> bool:
    """True only when M is provably not positive definite (a diagonal entry or
    leading minor that cannot be positive, or SymPy's own verdict)."""
    for k in range(1, matrix.shape[0] + 1):
        minor = sp.simplify(matrix[:k, :k].det())
        if minor.is_positive is False or (minor.is_number and not minor.is_positive):
            return True
    for entry in matrix.diagonal():
        if entry.is_positive is False:
            return True
    return False


def warn_undeclared(system) -> None:
    """UndeclaredSymbolWarning naming the hyper-parameters missing from
    ``system.parameters`` (symbols that are neither coordinates, data nor declared)."""
    declared = set(system.parameters or ())
    undeclared = [s for s in system.hyperparameters if s not in declared]
    if undeclared:
        names = ", ".join(map(str, undeclared))
        warnings.warn(
            f"symbols {names} are neither coordinates, data nor declared parameters; "
            "they are treated as hyper-parameters (add them to parameters= to silence this)",
            UndeclaredSymbolWarning,
            stacklevel=4,
        )


def ignored_coordinates(loss: sp.Basic, coords: Sequence) -> tuple:
    """The coordinates (Symbols or whole MatrixSymbol layers) that do not occur in
    ``loss``, in order: biases a normalization cancels, a cyclic coordinate."""
    free = loss.free_symbols
    out = []
    for q in coords:
        absent = not loss.has(q) if isinstance(q, sp.MatrixSymbol) else q not in free
        if absent:
            out.append(q)
    return tuple(out)


def ignored_message(ignored: Sequence) -> str:
    """The text of the :class:`IgnoredCoordinateWarning` naming ``ignored``."""
    names = ", ".join(map(str, ignored[:8])) + (", ..." if len(ignored) > 8 else "")
    return (
        f"the loss does not depend on the coordinates {names} (biases cancelled by a "
        "normalization, or a cyclic coordinate): every vector field on them is a symmetry "
        "of the loss, so the symmetry search leaves them out and reports them as "
        "algebra.ignored; drop them from coords, or derive a law for one of them yourself "
        "(sn.noether(system, ψ) with ψ the translation along it)"
    )


def warn_ignored(loss: sp.Basic, coords: Sequence, *, stacklevel: int) -> tuple:
    """IgnoredCoordinateWarning naming the coordinates the loss ignores; returns them."""
    ignored = ignored_coordinates(loss, coords)
    if ignored:
        warnings.warn(ignored_message(ignored), IgnoredCoordinateWarning, stacklevel=stacklevel + 1)
    return ignored


def check_dataset(dataset: object, data: tuple, rule: object) -> tuple | None:
    """The ``dataset=`` of a LearningSystem as ((data symbol, values), ...) in the order
    of ``data``: a mapping from every data symbol to N ≥ 1 numbers or expressions free
    of the coordinates (None when there is none). Minibatch SGD needs one, and a batch
    drawn without replacement at most N samples.

    Examples
    --------
    >>> from symnoether.core.vocabulary import data
    >>> x, y = data("x y")
    >>> check_dataset({x: [1, 2], y: [0, 1]}, (x, y), None)
    ((x, (1, 2)), (y, (0, 1)))
    >>> check_dataset({x: [1, 2]}, (x, y), None)
    Traceback (most recent call last):
      ...
    symnoether.errors.InvalidDatasetError: dataset has no values for the data symbol y; ...
    """
    stochastic = getattr(rule, "stochastic", False)
    if dataset is None:
        if stochastic:
            raise InvalidDatasetError(
                "rules.sgd needs a finite training set to draw minibatches from; pass "
                "dataset={x: [...], y: [...]} (one list of values per data symbol)"
            )
        return None
    if not isinstance(dataset, dict):
        raise InvalidDatasetError(
            f"dataset is a {type(dataset).__name__}; pass a dict from each data symbol "
            "to its list of values, e.g. {x: [0.5, -1], y: [2, 1]}"
        )
    if not data:
        raise InvalidDatasetError(
            "dataset given but the system declares no data symbols; pass data=(x, y)"
        )
    for key in dataset:
        if key not in data:
            raise InvalidDatasetError(
                f"dataset key {key!r} is not one of the data symbols "
                f"{', '.join(map(str, data))}; declare it in data=... or drop it"
            )
    columns = []
    for symbol in data:
        if symbol not in dataset:
            raise InvalidDatasetError(
                f"dataset has no values for the data symbol {symbol}; add {symbol}: [...] "
                "(the loss must be evaluable on every sample)"
            )
        values = dataset[symbol]
        if isinstance(values, str | sp.Basic) or not isinstance(values, Iterable):
            raise InvalidDatasetError(
                f"dataset[{symbol}] = {values!r} is not a list of values; pass e.g. [1, 2]"
            )
        columns.append((symbol, tuple(_sample_value(v, symbol) for v in values)))
    sizes = {symbol: len(values) for symbol, values in columns}
    if 0 in sizes.values():
        empty = next(s for s, n in sizes.items() if n == 0)
        raise InvalidDatasetError(
            f"dataset[{empty}] is empty; a training set needs at least one sample"
        )
    if len(set(sizes.values())) > 1:
        shown = ", ".join(f"{s}: {n}" for s, n in sizes.items())
        raise InvalidDatasetError(
            f"dataset is ragged ({shown} values); every data symbol needs one value per sample"
        )
    size = next(iter(sizes.values()))
    batch = getattr(rule, "batch_size", None)
    if stochastic and not rule.replacement and batch > size:
        raise InvalidDatasetError(
            f"batch_size = {batch} is larger than the dataset ({size} samples) and batches "
            f"are drawn without replacement; pass batch_size ≤ {size} or replacement=True"
        )
    return tuple(columns)


def _sample_value(value: object, symbol: sp.Symbol) -> sp.Expr:
    if isinstance(value, bool) or not isinstance(value, int | float | sp.Expr):
        raise InvalidDatasetError(
            f"dataset[{symbol}] holds {value!r}, not a number or SymPy expression"
        )
    expr = sp.sympify(value)
    if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise InvalidDatasetError(f"dataset[{symbol}] holds {value}, which is not finite")
    return expr
