"""Checks of the arguments of :func:`~symnoether.numerics.validate.validate` and
:func:`~symnoether.numerics.validate.validate_discrete`, made before anything is compiled or
integrated: each bad value raises :class:`InvalidInputError` naming the argument and
what to pass instead.

Parameter values go through :func:`resolve_params`: a value must be a finite real
number that satisfies the assumptions its symbol was declared with (a value −0.01
for ``Symbol('eta', positive=True)`` raises :class:`InvalidParameterError` instead
of diverging in the integrator); a value for a symbol the system does not use is
ignored with an :class:`UnusedParameterWarning`; a constant that only the laws
mention (an entry of A in a gl(r) generator ψ_A) is drawn when not given — the laws
hold for every value of it and it does not enter the dynamics — and reported.

Examples
--------
>>> positive(0.5, "t_end", "10.0")
0.5
>>> count(0, "steps", "2000")
Traceback (most recent call last):
  ...
symnoether.errors.InvalidInputError: steps = 0 must be an integer ≥ 1; pass e.g. steps=2000
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Iterable, Mapping

import numpy as np

from ..core.matrix_noether import MatrixNoetherLaw
from ..core.matrix_system import MatrixSystem
from ..core.noether import NoetherLaw
from ..core.system import LearningSystem
from ..errors import InvalidInputError, InvalidParameterError, UnusedParameterWarning
from .matrix_kernels import draw_matrix, is_matrix, matrix_value

__all__ = [
    "check_system", "check_laws", "check_params", "finite_real", "positive", "count",
    "initial_states", "as_array", "resolve_params", "check_assumptions", "draw_constant",
]  # fmt: skip


def check_system(system) -> None:
    """InvalidInputError unless ``system`` is a LearningSystem (or a MatrixSystem)."""
    if not isinstance(system, LearningSystem | MatrixSystem):
        raise InvalidInputError(
            f"system is a {type(system).__name__}, not a LearningSystem; pass "
            "sn.LearningSystem(coords, loss, rule=...)"
        )


def check_laws(law, name, allow_empty=False) -> tuple:
    """``law`` (one NoetherLaw or MatrixNoetherLaw, or a sequence of them) as a tuple of
    laws; empty only when ``allow_empty``."""
    kinds = NoetherLaw | MatrixNoetherLaw
    laws = (law,) if isinstance(law, kinds) else law
    if isinstance(laws, Iterable) and not isinstance(laws, (str, bytes, Mapping)):
        laws = tuple(laws)
        if all(isinstance(item, kinds) for item in laws) and (laws or allow_empty):
            return laws
    raise InvalidInputError(
        f"{name} = {law!r} is not a NoetherLaw; pass sn.noether(system, ψ), or a list of them"
    )


def check_params(params) -> None:
    """InvalidInputError unless ``params`` is None or a mapping."""
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(
            f"params is a {type(params).__name__}, not a mapping; pass a dict "
            "{symbol or name: value}, e.g. params={eta: 0.01, 'x': 1.0}"
        )


def finite_real(value, name: str, example: str) -> float:
    """``value`` as a finite float, or InvalidInputError naming ``name``."""
    if not isinstance(value, (str, bytes, bool)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
        else:
            if math.isfinite(number):
                return number
    raise InvalidInputError(f"{name} = {value!r} is not a finite number; pass e.g. {example}")


def positive(value, name: str, example: str, least: float | None = None) -> float:
    """A finite float > 0 (or ≥ ``least``)."""
    number = finite_real(value, name, f"{name}={example}")
    if least is None and number <= 0:
        raise InvalidInputError(f"{name} = {value!r} must be positive; pass e.g. {name}={example}")
    if least is not None and number < least:
        raise InvalidInputError(
            f"{name} = {value!r} is below its floor {least:g}; pass e.g. {name}={example}"
        )
    return number


def count(value, name: str, example: str, low: int = 1, high: int | None = None) -> int:
    """An int in [low, high]."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if low <= value and (high is None or value <= high):
            return int(value)
    bound = f"≥ {low}" if high is None else f"from {low} to {high}"
    raise InvalidInputError(
        f"{name} = {value!r} must be an integer {bound}; pass e.g. {name}={example}"
    )


def initial_states(kernels, q0, v0, batch, seed, spread) -> np.ndarray:
    """The initial states y₀ = (q₀, v₀) (or q₀ for gradient flow), one row per run;
    ``batch`` draws them around q₀, v₀ with ``spread``·N(0, 1), seeded."""
    nq = len(kernels.coords)
    second = len(kernels.state) > nq
    q = as_array(q0, "q0", nq)
    v = np.zeros_like(q) if v0 is None or not second else as_array(v0, "v0", nq)
    if v.shape[0] == 1 and q.shape[0] > 1:
        v = np.repeat(v, q.shape[0], axis=0)
    if v.shape != q.shape:
        raise InvalidInputError(f"v0 has shape {v.shape} but q0 has {q.shape}; match them")
    if batch is not None:
        if batch < 1 or q.shape[0] != 1:
            raise InvalidInputError("batch= needs one q0 (shape (n,)) and batch ≥ 1")
        rng = np.random.default_rng(seed)
        q = q + spread * rng.standard_normal((batch, nq))
        if second:
            v = v + spread * rng.standard_normal((batch, nq))
        else:
            v = np.repeat(v, batch, axis=0)
    states = np.concatenate([q, v], axis=1) if second else q
    return np.ascontiguousarray(states, dtype=np.float64)


def as_array(values, name, n, batch=True) -> np.ndarray:
    """``values`` as a finite float array of shape (runs, n); without ``batch`` a 2-D
    input is refused (one run only)."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} is not numeric; pass {n} floats") from None
    if not batch and array.ndim > 1:
        raise InvalidInputError(
            f"{name} has shape {array.shape}; validate_discrete runs one optimizer: pass "
            f"{n} values (one per coordinate), shape ({n},)"
        )
    array = np.atleast_2d(array)
    if array.ndim != 2 or array.shape[1] != n:
        raise InvalidInputError(
            f"{name} has shape {np.shape(values)}; pass {n} values (one per coordinate), "
            f"or an array of shape (batch, {n})"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or inf; pass finite values")
    return array


# -- parameter values -----------------------------------------------------------------

# (assumption, test on the value, what the value must be), strongest first: a symbol
# declared positive is also nonnegative and nonzero, and is named by the first.
_ASSUMPTIONS = (
    ("integer", lambda v: float(v).is_integer(), "an integer"),
    ("even", lambda v: float(v).is_integer() and v % 2 == 0, "even"),
    ("odd", lambda v: float(v).is_integer() and v % 2 == 1, "odd"),
    ("positive", lambda v: v > 0, "positive"),
    ("negative", lambda v: v < 0, "negative"),
    ("nonnegative", lambda v: v >= 0, "nonnegative"),
    ("nonpositive", lambda v: v <= 0, "nonpositive"),
    ("nonzero", lambda v: v != 0, "nonzero"),
    ("zero", lambda v: v == 0, "zero"),
)
_EXAMPLE = {"positive": 0.1, "nonnegative": 0.1, "negative": -0.1, "nonpositive": -0.1}


def check_assumptions(symbol, value) -> float:
    """``value`` as a float, or :class:`InvalidParameterError` naming ``symbol``, the
    assumption it was declared with and the value (finite and real are checked for
    every symbol: the kernels compute in float64).

    Examples
    --------
    >>> import sympy as sp
    >>> check_assumptions(sp.Symbol("eta", positive=True), 0.01)
    0.01
    >>> try:
    ...     check_assumptions(sp.Symbol("eta", positive=True), -0.01)
    ... except InvalidParameterError as err:
    ...     for part in str(err).split("; "):
    ...         print(part)
    eta = -0.01 is not positive, but eta is declared positive=True
    pass a positive value, e.g. params={eta: 0.1}, or declare eta without it
    """
    name = getattr(symbol, "name", str(symbol))
    if not isinstance(value, (str, bytes, bool)):
        try:
            number = complex(value)
        except (TypeError, ValueError):
            pass
        else:
            if number.imag != 0:
                declared = "is declared real" if symbol.is_real else "enters float64 kernels"
                raise InvalidParameterError(
                    f"{name} = {value!r} is not real, but {name} {declared}; pass a real value"
                )
            if math.isfinite(number.real):
                return _declared(symbol, name, number.real)
    raise InvalidParameterError(
        f"params[{name}] = {value!r} is not a finite number; pass e.g. params={{{name}: 0.1}}"
    )


def _declared(symbol, name: str, number: float) -> float:
    for assumption, holds, what in _ASSUMPTIONS:
        if getattr(symbol, f"is_{assumption}", None) is True and not holds(number):
            adjective = what.removeprefix("an ")
            article = "an" if adjective[0] in "aeiou" else "a"
            raise InvalidParameterError(
                f"{name} = {number:g} is not {what}, but {name} is declared {assumption}=True; "
                f"pass {article} {adjective} value, e.g. params={{{name}: "
                f"{_EXAMPLE.get(assumption, 1)}}}, or declare {name} without it"
            )
    return number


def draw_constant(symbol, rng: np.random.Generator) -> float:
    """A value for a constant of a generator: magnitude in [0.5, 1.5] rounded to three
    digits (1, 2 or 3 for an integer), with a random sign unless the symbol's sign is
    declared; it satisfies the symbol's assumptions.

    Examples
    --------
    >>> import sympy as sp
    >>> rng = np.random.default_rng(0)
    >>> a, k = sp.Symbol("a", positive=True), sp.Symbol("k", integer=True)
    >>> 0.5 <= draw_constant(a, rng) <= 1.5, draw_constant(k, rng) in (-3, -2, -1, 1, 2, 3)
    (True, True)
    """
    magnitude = round(float(rng.uniform(0.5, 1.5)), 3)
    sign = float(rng.choice((-1.0, 1.0)))  # always drawn: one stream shape for every symbol
    if symbol.is_integer:
        magnitude = float(rng.integers(1, 4))
        if (symbol.is_even and magnitude % 2) or (symbol.is_odd and not magnitude % 2):
            magnitude += 1.0
    if symbol.is_nonnegative:
        sign = 1.0
    elif symbol.is_nonpositive:
        sign = -1.0
    try:
        return _declared(symbol, symbol.name, sign * magnitude)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"{symbol.name} is a constant of a generator and no value for it can be drawn "
            f"under its assumptions; pass one, e.g. params={{{symbol.name}: ...}}"
        ) from None


def resolve_params(kernels, params, *, seed: int = 0) -> tuple[dict, dict]:
    """(value of every kernel parameter by Symbol, the constants that were drawn).

    Each given value is checked against its symbol's declared assumptions
    (:func:`check_assumptions`); a key the kernels do not take is ignored with an
    :class:`UnusedParameterWarning` naming it; a missing constant that only the laws
    mention (not a hyper-parameter of the system, not data) is drawn with
    :func:`draw_constant` from ``numpy.random.default_rng(seed)`` in the order of
    ``kernels.parameters``; any other missing value raises :class:`InvalidInputError`.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> from symnoether.numerics.compiled import compile
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> a = sp.Symbol("a")
    >>> flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
    >>> kernels = compile(flow, sn.noether(flow, (a * w1, -a * w2)), backend="numpy")
    >>> values, drawn = resolve_params(kernels, {})
    >>> drawn == values, list(drawn), 0.5 <= abs(drawn[a]) <= 1.5
    (True, [a], True)
    """
    check_params(params)
    system = kernels.system
    by_name = {str(s.name): s for s in kernels.parameters}
    values: dict = {}
    given: dict = {}
    for key, value in dict(params or {}).items():
        name = key.name if hasattr(key, "name") else str(key)
        symbol = by_name.get(name)
        if symbol is None:
            warnings.warn(_unused(system, key, name, by_name), UnusedParameterWarning,
                          stacklevel=3)  # fmt: skip
            continue
        if symbol in given:
            raise InvalidInputError(
                f"params gives {name} twice (as {given[symbol]!r} and {key!r}); keep one"
            )
        given[symbol] = key
        values[symbol] = (
            matrix_value(symbol, value, "params")
            if is_matrix(symbol)
            else check_assumptions(symbol, value)
        )
    constants = set(kernels.parameters) - set(system.hyperparameters) - set(system.data)
    rng = np.random.default_rng(seed)
    drawn = {}
    for symbol in kernels.parameters:
        if symbol not in values and symbol in constants:
            draw = draw_matrix if is_matrix(symbol) else draw_constant
            drawn[symbol] = values[symbol] = draw(symbol, rng)
    missing = [str(s.name) for s in kernels.parameters if s not in values]
    if missing:
        raise InvalidInputError(
            f"params is missing {', '.join(missing)}; pass a value for every "
            f"hyper-parameter and data symbol, e.g. params={{{missing[0]}: 0.1, ...}}"
        )
    return values, drawn


def _unused(system, key, name: str, by_name: Mapping) -> str:
    roles = (("coords", "a coordinate: its value comes from q0"),
             ("layers", "a layer: its value comes from q0"),
             ("velocities", "a velocity: its value comes from v0"))  # fmt: skip
    for attribute, role in roles:
        if name in {str(s.name) for s in getattr(system, attribute, ())}:
            return f"params has {name}, {role}; ignored"
    known = ", ".join(by_name) or "none"
    return (
        f"params has {name!s}, which this system and its laws do not use (their "
        f"parameters: {known}); ignored"
    )
