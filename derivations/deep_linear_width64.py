"""A three-layer linear network of width 64 at matrix level: balancedness, broken and kept.

The loss V = ½‖y − W₃W₂W₁x‖² (W₁ 64×32, W₂ 64×64, W₃ 10×64: 10,240 parameters) is
invariant under W_a → G W_a, W_b → W_b G⁻¹ at each hidden interface a → b, G ∈ GL(64);
the generators ψ_A = (A W_a, −W_b A) form two gl(64) families. symnoether derives every
law once, with a generic 64×64 matrix A, in trace form — never entry by entry — so the
cost does not depend on the width (issue 14):

* gradient flow: the symmetric piece S of each family has the charge ½tr(S C) with the
  balancedness C = W_a W_aᵀ − W_bᵀ W_b, conserved (Arora, Cohen and Hazan 2018; Du, Hu
  and Lee 2018); an antisymmetric A has no first-order charge;
* heavy-ball momentum with weight decay (mass m = η(1+β)/2, damping τ = m/(1−β)): the
  charge Q_A = m e^{t/τ}[tr(Ẇ_aᵀAW_a) − tr(Ẇ_bᵀW_bA)] moves at
  m e^{t/τ} tr(A(Ẇ_aẆ_aᵀ − Ẇ_bᵀẆ_b)) − λ e^{t/τ} tr(A(W_aW_aᵀ − W_bᵀW_b)) (Kunin et al.
  2021): both brackets are symmetric, so the antisymmetric piece is exactly conserved and
  the symmetric piece is broken by the kinetic term and by weight decay.

Everything is derived by symnoether and asserted against these hand formulas (by
trace-cyclic canonical forms, which hold at every width): run
``symnoether run derivations/deep_linear_width64.py --validate``.

References
----------
D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 3–5.
H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021, arXiv:2105.02716.
S. Arora, N. Cohen and E. Hazan, "On the optimization of deep networks: implicit
acceleration by overparameterization", ICML 2018 (balancedness under gradient flow).
"""

from __future__ import annotations

import sympy as sp

import symnoether as sn
from symnoether.core import trace_identity

ETA, BETA, LAM = sp.symbols("eta beta lambda", positive=True)
WIDTH, INPUTS, OUTPUTS = 64, 32, 10
W1, W2, W3 = sn.layers(W1=(WIDTH, INPUTS), W2=(WIDTH, WIDTH), W3=(OUTPUTS, WIDTH))
X, Y = sn.layers(x=(INPUTS, 1), y=(OUTPUTS, 1), data=True)
RESIDUAL = Y - W3 * W2 * W1 * X
LOSS = RESIDUAL.T * RESIDUAL / 2


def derivation() -> sn.Derivation:
    """Derive the laws of both gl(64) families under momentum and weight decay, and the
    balancedness under gradient flow; assert them against the hand formulas."""
    heavy = sn.LearningSystem((W1, W2, W3), LOSS, rule=sn.rules.momentum(ETA, BETA),
                              data=(X, Y), regularizers=[sn.rules.weight_decay(LAM)])  # fmt: skip
    deriv = sn.derive(heavy, title=__doc__.splitlines()[0])
    m = ETA * (1 + BETA) / 2
    factor = heavy.damping_factor
    V = dict(zip((W1, W2, W3), heavy.velocities, strict=True))
    for name, law in zip(deriv.names, deriv.laws, strict=True):
        Wa, Wb = (W1, W2) if "W1 -> W2" in name else (W2, W3)
        (A,) = [c for c in law.constants if isinstance(c, sp.MatrixSymbol)]
        P = (A - A.T) / 2 if name.endswith("antisymmetric") else (A + A.T) / 2
        charge = m * factor * (sp.Trace(V[Wa].T * P * Wa) - sp.Trace(V[Wb].T * Wb * P))
        assert trace_identity(law.charge - charge), name
        if name.endswith("antisymmetric"):
            assert law.conserved, name
            continue
        kinetic = m * factor * sp.Trace(P * (V[Wa] * V[Wa].T - V[Wb].T * V[Wb]))
        decay = -LAM * factor * sp.Trace(P * (Wa * Wa.T - Wb.T * Wb))
        assert trace_identity(law.kinetic_breaking - kinetic), name
        assert trace_identity(law.rate - kinetic - decay), name
    return deriv.with_result("gradient flow: balancedness, conserved", _balancedness())


def _balancedness() -> sp.Eq:
    """Under gradient flow the symmetric piece of gl(64) at W1 -> W2 conserves
    C = ½(W1W1ᵀ − W2ᵀW2) (charge tr(Sᵀ C)); asserted by hand."""
    flow = sn.LearningSystem((W1, W2, W3), LOSS, rule=sn.rules.gradient_flow(), data=(X, Y))
    A = sp.MatrixSymbol("A", WIDTH, WIDTH)
    S = (A + A.T) / 2
    law = sn.noether(flow, (S * W1, -W2 * S, 0))
    assert law.conserved and law.is_symmetry
    C = law.matrix_charges[A]
    Z = sp.MatrixSymbol("Z", WIDTH, WIDTH)
    assert trace_identity(sp.Trace(Z.T * (C - (W1 * W1.T - W2.T * W2) / 2)))
    return sp.Eq(sp.MatrixSymbol("C", WIDTH, WIDTH), C)


def validation() -> dict:
    """A short run (the kernels of a 10,240-parameter system: `--validate` takes seconds
    with numba; the tests run the plain-NumPy backend)."""
    return {"params": {"eta": 0.01, "beta": 0.9, "lambda": 1e-4}, "t_end": 0.01}


if __name__ == "__main__":
    print(derivation())
