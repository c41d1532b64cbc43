"""Parameter values given to validate / validate_discrete (issue 10, §2).

* A value must satisfy the assumptions its symbol was declared with: η = −0.01 for
  ``Symbol('eta', positive=True)`` used to reach the integrator and come back as a
  DivergenceError; now it is refused before anything is integrated, naming the
  symbol, the assumption and the value.
* A value for a symbol the system does not use (η for gradient flow) is ignored
  with a warning naming it, instead of an error.
* A constant only the laws mention (the entries of A in the gl(r) generator
  ψ_A = (AW₁, −W₂A)) may be left out: it is drawn, seeded, listed on the report and
  printed, so the run can be repeated.

Expected values are hand derivations written here: the gl(r) charge of a symmetric
A under gradient flow is ½ tr(A C), C = W₁W₁ᵀ − W₂ᵀW₂ (Arora, Cohen & Hazan, ICML
2018; Tanaka & Kunin, NeurIPS 2021, Sec. 4), conserved, so it equals its value at q0.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.errors import (
    DivergenceError,
    InvalidInputError,
    InvalidParameterError,
    UnusedParameterWarning,
)
from symnoether.numerics.arguments import check_assumptions, draw_constant, resolve_params
from symnoether.numerics.validate import compile, validate, validate_discrete

pytestmark = pytest.mark.usefixtures("isolated_caches")

ETA = sp.Symbol("eta", positive=True)
LAM = sp.Symbol("lam", nonnegative=True)
PAIR = models.scalar_pair()


@pytest.fixture(scope="module")
def gd():
    system = PAIR.system(sn.rules.gradient_descent(ETA), [sn.rules.weight_decay(LAM)])
    law = sn.noether(system, PAIR.generators["rescale"])
    return system, law, compile(system, [law], backend="numpy")


GOOD = {ETA: 0.05, LAM: 0.01, "x": 0.4, "y": 0.5}


# -- declared assumptions ------------------------------------------------------------


def test_negative_step_for_a_positive_eta_is_refused_before_integrating(gd):
    """The issue's case: η = −0.01 diverged in the integrator (DivergenceError)."""
    system, law, kernels = gd
    bad = {**GOOD, ETA: -0.01}
    with pytest.raises(InvalidParameterError) as caught:
        validate(system, law, [1.5, 0.3], params=bad, t_end=50.0, kernels=kernels)
    message = str(caught.value)
    assert "eta = -0.01" in message and "declared positive=True" in message
    assert not isinstance(caught.value, DivergenceError)
    assert isinstance(caught.value, InvalidInputError)  # the input family
    with pytest.raises(InvalidParameterError, match=r"eta = -0.01 is not positive.*positive=True"):
        validate_discrete(system, law, [1.5, 0.3], params=bad, steps=50, kernels=kernels)


def test_the_declaration_is_checked_when_the_symbol_is_given_by_name(gd):
    system, law, kernels = gd
    bad = {"eta": 0.05, "lam": -0.1, "x": 0.4, "y": 0.5}
    with pytest.raises(InvalidParameterError, match=r"lam = -0.1 is not nonnegative.*lam is "
                       r"declared nonnegative=True"):  # fmt: skip
        validate(system, law, [1.5, 0.3], params=bad, kernels=kernels)
    zero = {**GOOD, LAM: 0.0}  # nonnegative admits 0
    assert validate(system, law, [1.5, 0.3], params=zero, t_end=1.0, kernels=kernels).passed


def test_derivation_validate_checks_the_declarations(gd):
    system, _, _ = gd
    deriv = sn.derive(system, PAIR.generators)
    with pytest.raises(InvalidParameterError, match="eta = -0.01 is not positive"):
        deriv.validate([1.5, 0.3], params={**GOOD, ETA: -0.01}, backend="numpy")


@pytest.mark.parametrize(
    "symbol, value, match",
    [
        (sp.Symbol("k", integer=True), 2.5, r"k = 2.5 is not an integer, but k is declared "
                                            r"integer=True; pass an integer value"),
        (sp.Symbol("k", positive=True, integer=True), -2, "k = -2 is not positive"),
        (sp.Symbol("g", negative=True), 0.3, "g = 0.3 is not negative.*negative=True"),
        (sp.Symbol("g", nonpositive=True), 0.3, "g = 0.3 is not nonpositive"),
        (sp.Symbol("m", nonzero=True), 0, "m = 0 is not nonzero"),
        (sp.Symbol("r", real=True), 1 + 2j, r"r = \(1\+2j\) is not real, but r is declared real"),
        (sp.Symbol("r"), complex(0, 1), "r = 1j is not real, but r enters float64 kernels"),
        (sp.Symbol("r", real=True), float("inf"), r"params\[r\] = inf is not a finite number"),
        (sp.Symbol("r"), "0.1", r"params\[r\] = '0.1' is not a finite number"),
        (sp.Symbol("r"), True, r"params\[r\] = True is not a finite number"),
    ],
    ids=["integer", "positive-integer", "negative", "nonpositive", "nonzero", "real",
         "complex", "inf", "str", "bool"],
)  # fmt: skip
def test_each_assumption_is_named(symbol, value, match):
    with pytest.raises(InvalidParameterError, match=match):
        check_assumptions(symbol, value)


@pytest.mark.parametrize(
    "symbol, value",
    [(sp.Symbol("k", integer=True), 3), (sp.Symbol("k", integer=True), 2.0),
     (sp.Symbol("b", nonnegative=True), 0.0), (sp.Symbol("r", real=True), -1e300),
     (sp.Symbol("e", positive=True), sp.Rational(1, 10)), (sp.Symbol("z"), np.float32(0.5))],
)  # fmt: skip
def test_admissible_values_pass_as_floats(symbol, value):
    number = check_assumptions(symbol, value)
    assert type(number) is float and number == float(value)


def test_data_values_are_checked_against_their_declarations():
    """A datum declared positive (a variance, say) is checked like a hyper-parameter."""
    (q,) = sn.coordinates("q")
    s2 = sp.Symbol("s2", positive=True)
    system = sn.LearningSystem((q,), q**2 / (2 * s2), rule=sn.rules.gradient_flow(), data=(s2,))
    law = sn.noether(system, (q,))
    with pytest.raises(InvalidParameterError, match="s2 = -1 is not positive"):
        validate(system, law, [1.0], params={s2: -1.0}, backend="numpy")
    # q̇ = −q/s2: the charge ½q² decays as e^{−2t/s2}; the law's rate −q²/s2 predicts it
    report = validate(system, law, [1.0], params={s2: 2.0}, t_end=1.0, backend="numpy")
    assert report.passed
    np.testing.assert_allclose(report.charge[-1, 0], 0.5 * np.exp(-1.0), rtol=1e-8)


# -- symbols the system does not use ---------------------------------------------------


def test_a_symbol_the_system_does_not_use_is_ignored_with_a_warning():
    """η for a gradient-flow system: it used to raise 'not a parameter of the system'."""
    flow = PAIR.system(sn.rules.gradient_flow())
    law = sn.noether(flow, PAIR.generators["rescale"])
    kernels = compile(flow, [law], backend="numpy")
    data = {"x": 0.4, "y": 0.5}
    with pytest.warns(UnusedParameterWarning, match=r"params has eta, which this system and "
                      r"its laws do not use \(their parameters: x, y\); ignored"):  # fmt: skip
        report = validate(flow, law, [1.5, 0.3], params={**data, ETA: 0.1}, t_end=2.0,
                          kernels=kernels)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning without the extra symbol
        clean = validate(flow, law, [1.5, 0.3], params=data, t_end=2.0, kernels=kernels)
    np.testing.assert_array_equal(report.charge, clean.charge)
    assert issubclass(UnusedParameterWarning, sn.SymnoetherWarning)


def test_a_coordinate_in_params_is_ignored_and_pointed_to_q0(gd):
    system, law, kernels = gd
    with pytest.warns(UnusedParameterWarning, match="params has w1, a coordinate: its value "
                      "comes from q0; ignored"):  # fmt: skip
        validate(system, law, [1.5, 0.3], params={**GOOD, "w1": 3.0}, t_end=1.0,
                 kernels=kernels)  # fmt: skip


def test_unused_symbols_are_ignored_by_the_discrete_check_too(gd):
    system, law, kernels = gd
    with pytest.warns(UnusedParameterWarning, match="params has beta"):
        report = validate_discrete(system, law, [1.5, 0.3], params={**GOOD, "beta": 0.9},
                                   steps=100, kernels=kernels)  # fmt: skip
    assert report.passed


def test_a_symbol_given_twice_is_refused(gd):
    system, law, kernels = gd
    with pytest.raises(InvalidInputError, match="params gives eta twice"):
        validate(system, law, [1.5, 0.3], params={**GOOD, "eta": 0.1}, kernels=kernels)


# -- constants drawn for the laws ------------------------------------------------------


@pytest.fixture(scope="module")
def generic_gl():
    """gl(2) of a 2-2-1 linear network, gradient flow, A a generic symmetric matrix."""
    model = models.linear_network(2, 2, 1)
    flow = model.system(sn.rules.gradient_flow())
    W1, W2 = model.coords
    a11, a12, a22 = sp.symbols("A_11 A_12 A_22")
    A = sp.Matrix([[a11, a12], [a12, a22]])
    law = sn.noether(flow, (A * W1, -W2 * A))
    return flow, law, (a11, a12, a22), compile(flow, [law], backend="numpy")


Q0 = [0.5, -0.3, 0.2, 0.8, 0.7, -0.4]
DATA = {"x1": 1.0, "x2": 0.5, "y1": 1.0}


def test_generic_generator_constants_are_drawn_reported_and_printed(generic_gl):
    flow, law, constants, kernels = generic_gl
    report = validate(flow, law, Q0, params=DATA, t_end=5.0, kernels=kernels)
    assert report.passed, report
    assert set(report.drawn) == set(constants)
    values = np.array([report.drawn[c] for c in constants])
    assert np.all((np.abs(values) >= 0.5) & (np.abs(values) <= 1.5))
    # hand derivation: Q = ½ tr(A C), C = W1W1ᵀ − W2ᵀW2, conserved: Q(t) = Q(q0)
    a11, a12, a22 = values
    A = np.array([[a11, a12], [a12, a22]])
    w1, w2 = np.array(Q0[:4]).reshape(2, 2), np.array(Q0[4:]).reshape(1, 2)
    expected = 0.5 * np.trace(A @ (w1 @ w1.T - w2.T @ w2))
    np.testing.assert_allclose(report.charge[:, 0], expected, rtol=1e-8)
    text = str(report)
    for symbol in constants:
        assert f"{symbol} = {report.drawn[symbol]:g}" in text
    assert "drawn constants" in text and "drawn=" in repr(report)


def test_drawn_constants_repeat_with_the_seed_and_from_the_report(generic_gl):
    flow, law, constants, kernels = generic_gl
    first = validate(flow, law, Q0, params=DATA, t_end=1.0, kernels=kernels, seed=3)
    same = validate(flow, law, Q0, params=DATA, t_end=1.0, kernels=kernels, seed=3)
    other = validate(flow, law, Q0, params=DATA, t_end=1.0, kernels=kernels, seed=4)
    assert first.drawn == same.drawn and first.drawn != other.drawn
    # what the report prints is enough to repeat the run: the printed values are exact
    printed = {c: float(f"{first.drawn[c]:g}") for c in constants}
    assert printed == first.drawn
    again = validate(flow, law, Q0, params={**DATA, **printed}, t_end=1.0, kernels=kernels)
    assert again.drawn == {}
    np.testing.assert_array_equal(again.charge, first.charge)


def test_a_given_constant_is_used_and_only_the_rest_is_drawn(generic_gl):
    flow, law, (a11, a12, a22), kernels = generic_gl
    report = validate(flow, law, Q0, params={**DATA, "A_12": 0.0}, t_end=1.0, kernels=kernels)
    assert set(report.drawn) == {a11, a22}


def test_derivation_validate_uses_one_draw_for_both_runs():
    model = models.linear_network(2, 2, 1)
    gd = model.system(sn.rules.gradient_descent(ETA))
    W1, W2 = model.coords
    a = sp.Symbol("a")
    A = sp.Matrix([[0, a], [-a, 0]])  # antisymmetric: conserved under GD (no KSB)
    deriv = sn.derive(gd, {"rotation": (A * W1, -W2 * A)})
    checked = deriv.validate(Q0, params={**DATA, ETA: 0.05}, t_end=2.0, discrete=True,
                             backend="numpy", seed=5)  # fmt: skip
    continuous, discrete = checked.reports
    assert list(continuous.drawn) == [a]
    assert discrete.drawn == {}  # given to it: the continuous run's draw
    assert continuous.passed and discrete.passed


def test_draws_satisfy_the_declarations():
    rng = np.random.default_rng(0)
    positive, negative = sp.Symbol("p", positive=True), sp.Symbol("n", negative=True)
    even, odd = sp.Symbol("e", even=True), sp.Symbol("o", odd=True)
    for _ in range(50):
        assert draw_constant(positive, rng) > 0 and draw_constant(negative, rng) < 0
        assert draw_constant(even, rng) % 2 == 0 and draw_constant(odd, rng) % 2 == 1
    with pytest.raises(InvalidParameterError, match="no value for it can be drawn"):
        draw_constant(sp.Symbol("z", zero=True), rng)


def test_hyper_parameters_and_data_are_never_drawn(gd):
    """They shape the trajectory: only constants that do not (the laws') are drawn."""
    _, _, kernels = gd
    with pytest.raises(InvalidInputError, match="params is missing eta, lam, x, y"):
        resolve_params(kernels, {})
