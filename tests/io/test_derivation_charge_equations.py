"""Derivation.with_charge_equations: each linear-symmetric law's ODE among the results.

Expected forms by hand (see tests/core/test_charge_equation.py): the rescale pair
V = ½(y − w₂w₁x)² under GD + weight decay, D = w₁² − w₂²,
(η/4)D'' + ½D' + λD = (η/2)(ẇ₁² − ẇ₂²); a translation (1, 1) has none and is noted.
"""

from __future__ import annotations

import sympy as sp

import symnoether as sn
from symnoether import models

t = sn.TIME
eta, lam = sp.symbols("eta lambda", positive=True)
D = sp.Function("D")(t)


def test_results_and_note():
    pair = models.scalar_pair()
    system = pair.system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam)])
    deriv = sn.derive(system, {**pair.generators, "shift": (1, 1)}).with_charge_equations()
    w1, w2 = system.coords
    v1, v2 = system.velocities
    assert deriv.result("rescale: quadratic").rhs == w1**2 - w2**2
    equation = deriv.result("rescale: charge equation")
    lhs = eta * D.diff(t, 2) / 4 + D.diff(t) / 2 + lam * D
    assert sp.simplify(equation.lhs - lhs) == 0
    assert sp.simplify(equation.rhs - eta * (v1**2 - v2**2) / 2) == 0
    assert [label for label, _ in deriv.results if label.startswith("shift")] == []
    assert any("no quadratic charge equation for shift" in note for note in deriv.notes)
    assert "rescale: charge equation" in str(deriv)
    assert r"\lambda D{\left(t \right)}" in deriv.to_latex()


def test_gradient_flow_solution_is_a_result():
    pair = models.scalar_pair()
    system = pair.system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)])
    deriv = sn.derive(system, pair.generators).with_charge_equations()
    solution = deriv.result("rescale: D(t)")
    assert solution.lhs == D
    assert sp.simplify(solution.rhs - sp.Symbol("D_0", real=True) * sp.exp(-2 * lam * t)) == 0
    assert deriv.notes == sn.derive(system, pair.generators).notes
