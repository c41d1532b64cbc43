"""The exact one-step identity of validate_discrete can fail (issue 11, "The laws' checks").

For an affine generator ψ = Aq + b with A symmetric, φ = ½qᵀAq + bᵀq is quadratic, so
for any step Δ = q_{k+1} − q_k, exactly (Taylor's formula stops at second order):

    φ(q_k + Δ) − φ(q_k) = ψ(q_k)·Δ + ½ ΔᵀAΔ.

Write Δ = −η∇V_loss(q_k) + r_k (r_k: what is not the loss gradient: momentum, weight
decay). When ψ is a symmetry of the loss, ψ·∇V_loss ≡ 0, so ψ(q_k)·Δ = ψ(q_k)·r_k and

    φ(q_{k+1}) − φ(q_k) − ψ(q_k)·r_k − ½ ΔᵀAΔ = 0          (the identity)

to round-off. Two ways to break it, each of which the report must see:

* a kernel that drops ½ΔᵀAΔ: its residual is ½ΔᵀAΔ, of order η²|∇V|², far above
  round-off. For the pair below at η = 0.02 from (1.5, 0.2): ∇V = −(1 − w1w2)(w2, w1)
  = (−0.14, −1.05), Δ = (0.0028, 0.021), ½ΔᵀAΔ = ½(Δ₁² − Δ₂²) ≈ −2.2·10⁻⁴; the kernel
  divides by the size of the terms, |φ(q_k)| + |φ(q_{k+1})| + … ≈ 2.2, so about 10⁻⁴
  ≫ 10⁻¹⁰ (the first step has the largest gradient of the run);
* a law labelled as a symmetry whose ψ is not one: the residual is −ηψ·∇V_loss(q_k);
  for V = ½(1 − w1w2)² + (c/2)w1² and ψ = (w1, −w2), ψ·∇V = c·w1², so the first step
  alone leaves η·c·w1² = 0.02·0.1·1.5² = 4.5·10⁻³, relative ≈ 2·10⁻³ ≫ 10⁻¹⁰.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

import symnoether as sn

eta, lam = sp.symbols("eta lam", positive=True)
w1, w2 = sn.coordinates("w1 w2")
PSI = (w1, -w2)  # A = diag(1, −1), b = 0: φ = ½(w1² − w2²)
Q0 = [1.5, 0.2]
MESSAGE = "exact one-step identity fails"


def gd_pair(*regularizers):
    return sn.LearningSystem(
        (w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta),
        regularizers=list(regularizers),
    )  # fmt: skip


def python_identity(module, *, with_quadratic: bool):
    """drive_identity re-implemented in the test from the module's own φ, ψ and ∇V_loss
    kernels (the formula of the module docstring), optionally without ½ΔᵀAΔ."""
    nl, nq = module.NL, module.NQ

    def drive_identity(Q, p, step, out):
        a, b = np.empty(nl), np.empty(nl)
        s0, s1, g = np.empty(nl * nq), np.empty(nl * nq), np.empty(nq)
        for k in range(out.shape[0]):
            q, qn = Q[k], Q[k + 1]
            module.phi(q, p, a)
            module.phi(qn, p, b)
            module.psi(q, p, s0)
            module.psi(qn, p, s1)
            module.loss_grad(q, p, g)
            delta = qn - q
            for j in range(nl):
                psi0, psi1 = s0[j * nq : (j + 1) * nq], s1[j * nq : (j + 1) * nq]
                along = psi0 @ (delta + step * g)  # ψ(q_k)·r_k
                quad = 0.5 * delta @ (psi1 - psi0) if with_quadratic else 0.0  # ½ΔᵀAΔ
                out[k, 0, j] = b[j] - a[j] - along - quad
                out[k, 1, j] = abs(a[j]) + abs(b[j]) + abs(along) + abs(quad)

    return drive_identity


def run(system, law, kernels, params=None):
    return sn.validate_discrete(system, law, Q0, params={eta: 0.02, **(params or {})}, steps=200,
                                kernels=kernels)  # fmt: skip


@pytest.mark.parametrize("regularized", [False, True], ids=["gd", "gd+decay"])
def test_the_generated_identity_holds_and_one_without_the_quadratic_term_fails(
    monkeypatch, regularized
):
    """With weight decay the step is −η∇V_loss − ηλq, so r_k = −ηλq_k ≠ 0: the identity
    then also checks ψ(q_k)·r_k (the decay's part of |w|²-type charges)."""
    system = gd_pair(sn.rules.weight_decay(lam)) if regularized else gd_pair()
    params = {lam: 0.05} if regularized else {}
    law = sn.noether(system, PSI)
    assert law.is_symmetry
    kernels = sn.compile(system, [law], backend="numpy")
    right = run(system, law, kernels, params)
    assert right.passed and right.identity_residual is not None, right
    assert right.identity_residual < 1e-12
    # The test's own implementation of the identity agrees (so the harness is faithful) ...
    monkeypatch.setattr(
        kernels.module, "drive_identity", python_identity(kernels.module, with_quadratic=True)
    )
    again = run(system, law, kernels, params)
    assert again.passed and again.identity_residual < 1e-12
    # ... and the same one without ½ΔᵀAΔ fails the report, and only through the identity.
    monkeypatch.setattr(
        kernels.module, "drive_identity", python_identity(kernels.module, with_quadratic=False)
    )
    wrong = run(system, law, kernels, params)
    assert not wrong.passed and wrong.status == "failed"
    assert MESSAGE in wrong.message
    assert 3e-5 < wrong.identity_residual < 3e-4  # ≈ 10⁻⁴, module docstring
    assert wrong.errors == right.errors  # the charge comparison is untouched
    assert wrong.law_verdicts == (False,)
    with pytest.raises(sn.ValidationFailedError, match=MESSAGE):
        wrong.raise_if_failed()


def as_symmetry(law: sn.NoetherLaw) -> sn.NoetherLaw:
    """The same law (same rate) with its loss breaking booked as a regularizer's, so that
    ``is_symmetry`` claims ψ·∇V_loss ≡ 0 while the continuous law stays correct."""
    breaking = law.loss_breaking
    return dataclasses.replace(
        law, loss_breaking=sp.S.Zero, regularizer_breaking=law.regularizer_breaking + breaking
    )


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_non_symmetry_fed_as_a_symmetry_fails_the_identity(isolated_caches, backend):
    c = sp.Symbol("c", positive=True)
    system = sn.LearningSystem(
        (w1, w2), (1 - w1 * w2) ** 2 / 2 + c * w1**2 / 2, rule=sn.rules.gradient_descent(eta)
    )
    law = sn.noether(system, PSI)
    assert not law.is_symmetry  # ψ·∇V = c·w1² (module docstring)
    fake = as_symmetry(law)
    assert fake.is_symmetry and sp.simplify(fake.rate - law.rate) == 0
    kernels = sn.compile(system, [law, fake], backend=backend)
    honest = run(system, law, kernels, {"c": 0.1})
    assert honest.passed and honest.identity_residual is None  # not a symmetry: not checked
    report = run(system, fake, kernels, {"c": 0.1})
    assert report.errors == pytest.approx(honest.errors, rel=1e-12)  # the same, correct law
    assert not report.passed and report.status == "failed"
    assert MESSAGE in report.message and "not a symmetry" in report.message
    assert report.identity_residual > 1e-3  # first step alone: ≈ 2·10⁻³ relative
