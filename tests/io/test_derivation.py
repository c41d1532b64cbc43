"""derive(): the one recipe — discovered or given generators, laws, notes."""

from __future__ import annotations

import pytest
import sympy as sp

import symnoether as sn
from symnoether import models

ETA = sp.Symbol("eta", positive=True)


def test_derive_discovers_the_rescale_law_of_a_scalar_pair():
    """V = ½(y − w₂w₁x)²: the only affine symmetry is ψ = (w₁, −w₂) (up to scale);
    under GD its kinetic breaking is e^{2t/η}(η/2)(ẇ₁² − ẇ₂²) (pr ψ of T = η/4|ẇ|²)."""
    pair = models.scalar_pair()
    system = pair.system(sn.rules.gradient_descent(ETA))
    deriv = sn.derive(system)
    assert len(deriv.laws) == 1
    law = deriv.laws[0]
    w1, w2 = system.coords
    v1, v2 = system.velocities
    scale = law.generator[0] / w1  # the basis vector may be any multiple of (w1, -w2)
    assert sp.simplify(law.generator[1] + scale * w2) == 0
    hand = scale * sp.exp(2 * sn.TIME / ETA) * ETA / 2 * (v1**2 - v2**2)
    assert sp.simplify(law.kinetic_breaking - hand) == 0
    assert law.is_symmetry
    assert any("symmetry search" in note for note in deriv.notes)


def test_derive_under_gradient_flow_notes_generators_without_first_order_charge():
    """gl(2) of a two-layer linear net V = ½|Y − W₂W₁X|² under gradient flow. ψ_A =
    (AW₁, −W₂A) has Mψ_A = ψ_A a gradient iff A is symmetric (the Jacobian of
    W₁ ↦ AW₁ is A ⊗ I, symmetric iff A is), and then Q_A = ½ tr(A(W₁W₁ᵀ − W₂ᵀW₂)).
    So 3 conserved charges: E₁₁, E₁₂ + E₂₁, E₂₂; E₁₂ − E₂₁ goes to the notes; the
    matrix form is B = W₁W₁ᵀ − W₂ᵀW₂ with Q_{E₁₁} = B₁₁/2, Q_{E₁₂+E₂₁} = B₁₂."""
    net = models.linear_network(3, 2, 2)
    system = net.system(sn.rules.gradient_flow())
    deriv = sn.derive(system)
    assert deriv.names == ("gl(2)[E_11]", "gl(2)[E_12 + E_21]", "gl(2)[E_22]")
    assert all(law.conserved for law in deriv.laws)
    no_charge = [note for note in deriv.notes if "no first-order charge" in note]
    assert no_charge == [
        "gl(2)[E_12 - E_21]: no first-order charge under gradient flow (Mψ not a gradient)"
    ]
    assert any("bound: 3 independent laws" in n and "(complete)" in n for n in deriv.notes)
    W1, W2 = (sp.Matrix(block) for block in net.coords)
    B = W1 * W1.T - W2.T * W2
    hand = {"gl(2)[E_11]": B[0, 0] / 2, "gl(2)[E_12 + E_21]": B[0, 1], "gl(2)[E_22]": B[1, 1] / 2}
    for name, charge in hand.items():
        assert sp.expand(deriv.law(name).charge - charge) == 0
    ((plain, latex, matrix),) = deriv.matrix_forms
    assert plain == "W1*W1.T - W2.T*W2"
    assert (sp.Matrix(matrix) - B).expand() == sp.zeros(2, 2)
    assert "matrix forms of the conserved charges" in str(deriv)
    assert "W1*W1.T - W2.T*W2" in str(deriv)
    assert r"W_{1} W_{1}^{\top} - W_{2}^{\top} W_{2}" in deriv.to_markdown(kernels=False)
    assert r"W_{1} W_{1}^{\top} - W_{2}^{\top} W_{2}" in deriv._repr_latex_()


def test_derive_under_momentum_names_the_conserved_antisymmetric_direction():
    """Under heavy-ball momentum (second order, no regularizer) the charge of ψ_A is
    e^{t/τ} q̇ᵀψ_A and its rate e^{t/τ} pr ψ_A(T) with T = ½|q̇|²: pr ψ_A(T) =
    tr(A Ẇ₁Ẇ₁ᵀ) − tr(Ẇ₂ᵀẆ₂A) = tr(A S), S symmetric, which vanishes for every q̇ iff A
    is antisymmetric. Conserved: E₁₂ − E₂₁ only; E₁₁, E₁₂ + E₂₁, E₂₂ are laws broken by
    the kinetic term (in the derivation, not in the notes)."""
    net = models.linear_network(3, 2, 2)
    deriv = sn.derive(net.system(sn.rules.momentum(ETA, sp.Rational(9, 10))))
    conserved = [name for name, law in zip(deriv.names, deriv.laws) if law.conserved]
    assert conserved == ["gl(2)[E_12 - E_21]"]
    assert sorted(deriv.names[1:]) == ["gl(2)[E_11]", "gl(2)[E_12 + E_21]", "gl(2)[E_22]"]
    assert all(law.broken_by == ("kinetic term",) for law in deriv.laws[1:])
    assert not any("no first-order charge" in note for note in deriv.notes)


def test_direction_names_read_as_combinations_of_the_basis():
    from symnoether.io.derivation import direction_name

    assert direction_name(["gl(2)[E_11]", "gl(2)[E_12]"], (1, -2)) == "gl(2)[E_11 - 2 E_12]"
    assert direction_name(["rescale_1", "rescale_2"], (-1, 1)) == "-rescale_1 + rescale_2"


def test_given_generators_without_charge_still_raise():
    net = models.linear_network(3, 2, 2)
    with pytest.raises(sn.NoFirstOrderChargeError):
        sn.derive(net.system(sn.rules.gradient_flow()), {"gl_12": net.generators["gl_12"]})


def test_too_many_discovered_symmetries_asks_for_a_choice(monkeypatch):
    """gl(2) has dimension 4; with the limit lowered to 3 derive() asks for a choice."""
    from symnoether.io import derivation

    monkeypatch.setattr(derivation, "MAX_DISCOVERED_LAWS", 3)
    system = models.linear_network(3, 2, 2).system(sn.rules.gradient_flow())
    with pytest.raises(sn.NotSupportedError, match="4-dimensional"):
        sn.derive(system)


def test_validate_attaches_continuous_and_discrete_reports():
    """deriv.validate(...) (issue 5): the rescale law under GD holds along the flow and
    against the real optimizer; a copy carries the reports, the original is unchanged."""
    pair = models.scalar_pair()
    deriv = sn.derive(pair.system(sn.rules.gradient_descent(ETA)), pair.generators)
    x, y = pair.data
    values = {ETA: 0.05, x: 1.0, y: 0.5}
    checked = deriv.validate([1.2, 0.3], params=values, t_end=3.0, discrete=True, backend="numpy")
    assert deriv.reports == ()
    continuous, discrete = checked.reports
    assert continuous.passed and discrete.passed
    assert discrete.order >= 1.65  # the modified equation is second-order accurate
    assert "validation PASSED" in str(checked)
