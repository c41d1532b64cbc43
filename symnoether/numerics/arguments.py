"""Checks of the arguments of :func:`~symnoether.numerics.validate.validate` and
:func:`~symnoether.numerics.validate.validate_discrete`, made before anything is compiled or
integrated: each bad value raises :class:`InvalidInputError` naming the argument and
what to pass instead.

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
from collections.abc import Iterable, Mapping

import numpy as np

from ..core.noether import NoetherLaw
from ..core.system import LearningSystem
from ..errors import InvalidInputError

__all__ = [
    "check_system", "check_laws", "check_params", "finite_real", "positive", "count",
    "initial_states", "as_array",
]  # fmt: skip


def check_system(system) -> None:
    """InvalidInputError unless ``system`` is a LearningSystem."""
    if not isinstance(system, LearningSystem):
        raise InvalidInputError(
            f"system is a {type(system).__name__}, not a LearningSystem; pass "
            "sn.LearningSystem(coords, loss, rule=...)"
        )


def check_laws(law, name, allow_empty=False) -> tuple:
    """``law`` (one NoetherLaw or a sequence of them) as a tuple of laws; empty only when
    ``allow_empty``."""
    laws = (law,) if isinstance(law, NoetherLaw) else law
    if isinstance(laws, Iterable) and not isinstance(laws, (str, bytes, Mapping)):
        laws = tuple(laws)
        if all(isinstance(item, NoetherLaw) for item in laws) and (laws or allow_empty):
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
