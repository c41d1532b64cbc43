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
    """gl(2) of a two-layer linear network: E₁₁ and E₂₂ give charges, the
    off-diagonal E₁₂, E₂₁ (not symmetric) have none under gradient flow."""
    net = models.linear_network(3, 2, 2)
    deriv = sn.derive(net.system(sn.rules.gradient_flow()))
    assert len(deriv.laws) == 2
    assert all(law.conserved for law in deriv.laws)
    assert sum("no first-order charge" in note for note in deriv.notes) == 2


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
