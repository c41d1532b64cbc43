"""Kernels with the validation drivers, shared by continuous and discrete validation:
:func:`compile` (memoized per process, cached on disk by :mod:`symnoether.numerics.codegen`),
the Runge–Kutta tableaus the drivers take, and the translation of a driver's status
into a :class:`DivergenceError`.

References
----------
.. [1] J. R. Dormand and P. J. Prince, "A family of embedded Runge–Kutta formulae",
   J. Comput. Appl. Math. 6 (1980) 19–26.

Examples
--------
>>> sorted(TABLEAUS)
['dopri5', 'rk4']
>>> round(float(TABLEAUS["dopri5"][1].sum()), 12)   # the fifth-order weights sum to one
1.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..core.noether import NoetherLaw
from ..core.system import LearningSystem
from ..errors import DivergenceError, InvalidInputError, NotSupportedError
from . import drivers
from .arguments import check_laws, check_system
from .codegen import Kernels, compile_kernels
from .matrix_kernels import MatrixKernels

__all__ = ["compile", "prepare", "check_status", "flat_state", "state_text", "TABLEAUS", "MEMO"]

MEMO: dict = {}
"""Kernels by (system, laws, backend), for this process."""

# Dormand & Prince (1980), RK5(4)7M: nodes c, matrix A, 5th-order weights b
# (= the last row of A: first same as last) and error weights e = b − b̂.
_DOPRI_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_DOPRI_A = np.zeros((7, 7))
_DOPRI_A[1, :1] = [1 / 5]
_DOPRI_A[2, :2] = [3 / 40, 9 / 40]
_DOPRI_A[3, :3] = [44 / 45, -56 / 15, 32 / 9]
_DOPRI_A[4, :4] = [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]
_DOPRI_A[5, :5] = [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]
_DOPRI_A[6, :6] = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
_DOPRI_B = _DOPRI_A[6].copy()
_DOPRI_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
# Classical fourth-order Runge–Kutta.
RK4_C = np.array([0.0, 0.5, 0.5, 1.0])
RK4_A = np.array([[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]])
RK4_B = np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6])
TABLEAUS = {
    "dopri5": (_DOPRI_A, _DOPRI_B, _DOPRI_E, _DOPRI_C, True),
    "rk4": (RK4_A, RK4_B, np.empty(0), RK4_C, False),
}
_STATUS = {
    1: "the step budget max_steps ran out",
    2: "the step size underflowed",
    3: "the state became non-finite or exploded",
}


def compile(  # noqa: A001 - exported as sn.compile, like re.compile
    system: LearningSystem, laws: Sequence[NoetherLaw] | NoetherLaw = (), *, backend="numba"
) -> Kernels | MatrixKernels:
    """Compiled kernels of ``system`` and ``laws``, with the validation drivers.

    See :mod:`symnoether.numerics.codegen` for the kernels and their argument order (a
    MatrixSystem gets :class:`~symnoether.numerics.matrix_kernels.MatrixKernels`, the
    same kernels on the layer arrays).
    Results are memoized within the process and cached on disk across processes.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (q,) = sn.coordinates("q")
    >>> k = compile(sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_flow()),
    ...             backend="numpy")
    >>> k.parameters
    ()
    """
    check_system(system)
    laws = check_laws(laws, "laws", allow_empty=True)
    try:
        key = (system, laws, backend)
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in MEMO:
        return MEMO[key]
    kernels = compile_kernels(system, laws, backend=backend, drivers=drivers.DRIVERS)
    if key is not None:
        MEMO[key] = kernels
    return kernels


def prepare(system, law, kernels, backend):
    """(laws, kernels, index of each law among the kernels' laws), the kernels compiled
    when not given; InvalidInputError when given kernels do not fit."""
    check_system(system)
    if system.rule is not None and system.rule.stochastic:
        raise NotSupportedError(
            "the laws of a minibatch-SGD system are expectations over the batch noise, which "
            "validate and validate_discrete do not simulate; check it by Monte Carlo with "
            "sn.validate_sgd(system, law, q0, params=...), or validate the same loss under "
            "rules.gradient_descent(eta)"
        )
    laws = check_laws(law, "law")
    if kernels is None:
        kernels = compile(system, laws, backend=backend)
    elif not isinstance(kernels, Kernels | MatrixKernels):
        raise InvalidInputError(
            f"kernels is a {type(kernels).__name__}; pass the result of "
            "sn.compile(system, laws), or omit kernels="
        )
    if kernels.system != system:
        raise InvalidInputError("kernels were compiled for another system; pass matching ones")
    index = []
    for item in laws:
        if item not in kernels.laws:
            raise InvalidInputError(
                f"the law with charge {item.charge} is not among the compiled laws; "
                "compile(system, laws) with it, or omit kernels="
            )
        index.append(kernels.laws.index(item))
    if not hasattr(kernels.module, "drive_integrate"):
        raise InvalidInputError("kernels lack the validation drivers; build them with sn.compile")
    return laws, kernels, np.array(index, dtype=np.int64)


def check_status(info, zlast, kernels, member=None) -> None:
    """Raise :class:`DivergenceError` naming the time and the last state when a driver
    stopped early (``info[0]`` ≠ 0: step budget, step-size underflow, non-finite)."""
    status = int(info[0])
    if status == 0:
        return
    shown = state_text(kernels.state, zlast[: len(kernels.state)])
    who = "" if member is None else f" (batch member {member})"
    fix = (
        "raise max_steps, or shorten t_end"
        if status == 1
        else "the trajectory diverges: lower the learning rate or the initial velocity, "
        "check the parameters, or shorten t_end"
    )
    raise DivergenceError(f"{_STATUS[status]} at t = {info[1]:.6g}{who}; state {shown}. {fix}")


def state_text(names, values, shown: int = 12) -> str:
    """``name=value`` of a state; beyond ``shown`` entries (a layer of a matrix system
    has thousands), the ``shown`` largest in magnitude, and how many there are.

    Examples
    --------
    >>> state_text(["a", "b"], [1.0, -2.5])
    'a=1, b=-2.5'
    >>> state_text([f"w{i}" for i in range(20)], np.arange(20.0), shown=2)
    'w19=19, w18=18 (the 2 largest of 20 entries)'
    """
    values = np.asarray(values, dtype=float)
    if len(values) <= shown:
        return ", ".join(f"{n}={v:.6g}" for n, v in zip(names, values))
    magnitude = np.where(np.isfinite(values), np.abs(values), np.inf)
    order = np.argsort(-magnitude, kind="stable")[:shown]
    parts = ", ".join(f"{names[int(i)]}={values[int(i)]:.6g}" for i in order)
    return f"{parts} (the {shown} largest of {len(values)} entries)"


def flat_state(kernels, values, name: str):
    """``q0``/``v0`` as given, or, for matrix kernels given a dict of layer arrays, the
    flat vector of their entries (:meth:`MatrixKernels.pack_state`)."""
    if isinstance(kernels, MatrixKernels) and isinstance(values, Mapping):
        return kernels.pack_state(values, name)
    return values
