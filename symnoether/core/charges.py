"""First-order charges: the potential φ of a curl-free field, ∇φ = Mψ (gradient flow
and SGD have no velocity, so their Noether charges are such potentials).

Examples
--------
>>> import sympy as sp
>>> u, w = sp.symbols("u w", real=True)
>>> potential_of(sp.Matrix([u, -w]), (u, w))
u**2/2 - w**2/2
"""

from __future__ import annotations

import sympy as sp

from ..budget import check
from ..errors import NoFirstOrderChargeError, NotSupportedError, VerificationError
from .display import vector_text
from .jet import is_zero, readable

__all__ = ["require_gradient_field", "potential_of"]


def require_gradient_field(field_: sp.Matrix, coords: tuple, psi: sp.ImmutableMatrix) -> None:
    """Raise :class:`NoFirstOrderChargeError` naming a non-zero curl of ``field_`` = Mψ."""
    for i, qi in enumerate(coords):
        check()
        for j in range(i + 1, len(coords)):
            qj = coords[j]
            curl = sp.diff(field_[i], qj) - sp.diff(field_[j], qi)
            if curl != 0 and not is_zero(curl):
                raise NoFirstOrderChargeError(
                    f"gradient flow (and SGD) has no first-order Noether charge for ψ = "
                    f"{vector_text(psi)}: Mψ is not a gradient field "
                    f"(∂(Mψ)_{qi}/∂{qj} − ∂(Mψ)_{qj}/∂{qi} = {readable(curl)} ≠ 0). "
                    "Its second-order charge exists under a deterministic finite-step rule "
                    "such as "
                    "rules.gradient_descent(lr)"
                )


def potential_of(field_: sp.Matrix, coords: tuple) -> sp.Expr:
    """φ with ∇φ = field (curl-free), by integrating one coordinate at a time."""
    potential = sp.S.Zero
    for component, q in zip(field_, coords, strict=True):
        check()
        remainder = sp.expand(component - sp.diff(potential, q))
        if remainder == 0:
            continue
        integral = sp.integrate(remainder, q)
        if integral.has(sp.Integral):
            raise NotSupportedError(
                f"could not integrate the gradient field in {q} to a first-order "
                "charge; use a second-order rule such as rules.gradient_descent(lr)"
            )
        potential += integral
    gradient = [sp.diff(potential, q) for q in coords]
    if not all(is_zero(g - f) for g, f in zip(gradient, field_, strict=True)):
        raise VerificationError("the first-order charge's gradient is not Mψ; please report")
    return potential
