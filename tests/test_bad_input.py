"""The bad-input catalogue of the derivation core (issues 2 and 6).

Every public entry point of the core (symbols, LearningSystem, rules,
equations_of_motion, noether) fed malformed input must raise a specific
SymnoetherError subclass whose message names the culprit; never a bare
SymPy/Python exception, never a silently wrong law.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

import symnoether as sn

eta, lam = sp.symbols("eta lambda", positive=True)
w1, w2 = sn.coordinates("w1 w2")
v1, v2 = sn.velocities((w1, w2))
x, y = sn.data("x y")
LOSS = (y - w2 * w1 * x) ** 2 / 2
KINETIC = (v1**2 + v2**2) / 2
GD = sn.rules.gradient_descent(eta)


def system(**overrides):
    arguments = {"coords": (w1, w2), "loss": LOSS, "rule": GD, "data": (x, y)}
    arguments.update(overrides)
    return sn.LearningSystem(**arguments)


def physical(**overrides):
    return system(**{"rule": None, "kinetic": KINETIC, **overrides})


_SYSTEM = system()
W1 = sn.matrix_coordinates("W1", 2, 2)
W2 = sn.matrix_coordinates("W2", 1, 2)
_X = sp.Matrix(sn.data("x1 x2"))
_LAYERS = sn.LearningSystem(
    (W1, W2), (W2 * W1 * _X)[0] ** 2, rule=sn.rules.gradient_flow(), data=tuple(_X)
)


# Matrix-level layers (issue 14) and a minibatch-SGD system's dataset (issue 15).
_M1, _M2 = sn.layers(M1=(3, 2), M2=(1, 3))
_MX, _MY = sn.layers(mx=(2, 1), my=(1, 1), data=True)
_RESIDUAL = _MY - _M2 * _M1 * _MX
_MATRIX = sn.LearningSystem(
    (_M1, _M2), _RESIDUAL.T * _RESIDUAL / 2, rule=sn.rules.gradient_descent(eta), data=(_MX, _MY)
)
_A = sp.MatrixSymbol("A", 3, 3)


def matrix_system(**overrides):
    arguments = {"coords": (_M1, _M2), "loss": _RESIDUAL.T * _RESIDUAL / 2,
                 "rule": sn.rules.gradient_flow(), "data": (_MX, _MY)}  # fmt: skip
    arguments.update(overrides)
    return sn.LearningSystem(**arguments)


def sgd_system(dataset):
    return system(rule=sn.rules.sgd(eta), dataset=dataset)


def matrix_validation(q0):
    law = sn.noether(_MATRIX, (_A * _M1, -_M2 * _A))
    params = {eta: 0.1, _MX: np.ones((2, 1)), _MY: np.ones((1, 1)), _A: np.eye(3)}
    return sn.validate(_MATRIX, law, q0, params=params, backend="numpy")


def generator(psi, on=_SYSTEM):
    return sn.noether(on, psi)


def case(name, make, error, culprit, *marks):
    return pytest.param(make, error, culprit, id=name, marks=marks)


CASES = [
    # -- loss ------------------------------------------------------------------------------
    case(
        "loss-string",
        lambda: system(loss="(y - w1*w2*x)**2"),
        sn.InvalidLossError,
        "'(y - w1*w2*x)**2' is a string",
    ),
    case("loss-list", lambda: system(loss=[w1, w2]), sn.InvalidLossError, "is a list"),
    case(
        "loss-callable", lambda: system(loss=lambda w: w**2), sn.InvalidLossError, "is a function"
    ),
    case("loss-None", lambda: system(loss=None), sn.InvalidLossError, "NoneType"),
    case("loss-bool", lambda: system(loss=True), sn.InvalidLossError, "bool"),
    case("loss-ndarray", lambda: system(loss=np.array([w1])), sn.InvalidLossError, "ndarray"),
    case("loss-equation", lambda: system(loss=sp.Eq(w1, w2)), sn.InvalidLossError, "Equality"),
    case(
        "loss-velocity", lambda: system(loss=LOSS + v1**2), sn.InvalidLossError, "depends on wdot1"
    ),
    case("loss-time", lambda: system(loss=LOSS * sn.TIME), sn.InvalidLossError, "depends on t,"),
    case(
        "loss-lookalike-coordinates",
        lambda: system(loss=sp.Symbol("w1") ** 2),
        sn.InvalidLossError,
        "a symbol w1 that has the name of the engine's w1",
    ),
    case(
        "loss-lookalike-one-coordinate",
        lambda: system(loss=(w1 * sp.Symbol("w2") - 1) ** 2),
        sn.InvalidLossError,
        "w2",
    ),
    case(
        "loss-lookalike-time", lambda: system(loss=LOSS * sp.Symbol("t")), sn.InvalidLossError, "t"
    ),
    case(
        "loss-lookalike-velocity",
        lambda: system(loss=LOSS + sp.Symbol("wdot1") ** 2),
        sn.InvalidLossError,
        "wdot1",
    ),
    case(
        "loss-matrix", lambda: system(loss=sp.Matrix([w1, w2])), sn.InvalidLossError, "2×1 matrix"
    ),
    case("loss-nan", lambda: system(loss=w1 * sp.nan), sn.InvalidLossError, "nan"),
    case(
        "loss-derivative",
        lambda: system(loss=sp.Derivative(w1**2 * w2, w1)),
        sn.InvalidLossError,
        "Derivative",
    ),
    case(
        "loss-no-coordinate",
        lambda: system(loss=x * y),
        sn.InvalidLossError,
        "the loss x*y depends on none of the coordinates",
    ),
    case("loss-complex", lambda: system(loss=LOSS + sp.I * w1), sn.InvalidLossError, "I"),
    # -- coordinates and data -------------------------------------------------------------
    case(
        "coords-number", lambda: system(coords=(w1, 2)), sn.InvalidCoordinatesError, "coordinate 2"
    ),
    case(
        "coords-expression",
        lambda: system(coords=(w1, w1 + w2)),
        sn.InvalidCoordinatesError,
        "w1 + w2",
    ),
    case(
        "coords-duplicated",
        lambda: system(coords=(w1, w1, w2)),
        sn.InvalidCoordinatesError,
        "coordinate w1 appears twice",
    ),
    case(
        "coords-overlap-data",
        lambda: system(data=(x, y, w2)),
        sn.InvalidCoordinatesError,
        "w2 is both a coordinate and a data symbol",
    ),
    case("coords-empty", lambda: system(coords=()), sn.InvalidCoordinatesError, "coords is empty"),
    case(
        "coords-string",
        lambda: system(coords="w1 w2"),
        sn.InvalidCoordinatesError,
        "coords = 'w1 w2'",
    ),
    case("coords-None", lambda: system(coords=None), sn.InvalidCoordinatesError, "coords = None"),
    case(
        "coords-time",
        lambda: system(coords=(w1, w2, sn.TIME)),
        sn.InvalidCoordinatesError,
        "symbol t is reserved",
    ),
    case(
        "coords-velocity",
        lambda: system(coords=(w1, w2, v1)),
        sn.InvalidCoordinatesError,
        "symbol wdot1 is reserved",
    ),
    case(
        "coords-matrix-symbol",  # a MatrixSystem (issue 14) whose loss ignores its layer
        lambda: system(coords=(sp.MatrixSymbol("W", 2, 2),)),
        sn.InvalidLossError,
        "depends on none of the layers",
    ),
    case("coords-set", lambda: system(coords={w1, w2}), sn.InvalidCoordinatesError, "set"),
    case("data-number", lambda: system(data=(x, 1)), sn.InvalidCoordinatesError, "data entry 1"),
    case(
        "data-duplicated",
        lambda: system(data=(x, y, x)),
        sn.InvalidCoordinatesError,
        "data symbol x appears twice",
    ),
    case("data-string", lambda: system(data="x y"), sn.InvalidCoordinatesError, "'x y'"),
    case(
        "data-velocity",
        lambda: system(data=(x, y, v2)),
        sn.InvalidCoordinatesError,
        "symbol wdot2 is reserved",
    ),
    case(
        "parameters-string", lambda: system(parameters="eta"), sn.InvalidCoordinatesError, "'eta'"
    ),
    case(
        "coordinates-empty-string",
        lambda: sn.coordinates(""),
        sn.InvalidCoordinatesError,
        "coordinates('')",
    ),
    case(
        "coordinates-not-string",
        lambda: sn.coordinates(3),
        sn.InvalidCoordinatesError,
        "coordinates(3)",
    ),
    case("data-not-string", lambda: sn.data(["x"]), sn.InvalidCoordinatesError, "data(['x'])"),
    case(
        "matrix-rows-zero",
        lambda: sn.matrix_coordinates("W", 0, 2),
        sn.InvalidCoordinatesError,
        "rows = 0",
    ),
    case(
        "matrix-cols-float",
        lambda: sn.matrix_coordinates("W", 2, 2.5),
        sn.InvalidCoordinatesError,
        "cols = 2.5",
    ),
    case(
        "matrix-name-empty",
        lambda: sn.matrix_coordinates("", 2, 2),
        sn.InvalidCoordinatesError,
        "name ''",
    ),
    case(
        "velocity-of-expression", lambda: sn.velocity(w1 + 1), sn.InvalidCoordinatesError, "w1 + 1"
    ),
    # -- generators ---------------------------------------------------------------------
    case(
        "generator-too-long",
        lambda: generator([w1, -w2, 1]),
        sn.InvalidGeneratorError,
        "3 entries but the system has 2 coordinates",
    ),
    case(
        "generator-column-too-long",
        lambda: generator(sp.Matrix([w1, -w2, 1])),
        sn.InvalidGeneratorError,
        "shape 3×1",
    ),
    case(
        "generator-square-matrix",
        lambda: generator(sp.eye(2)),
        sn.InvalidGeneratorError,
        "shape 2×2",
    ),
    case(
        "generator-block-shapes",
        lambda: generator((W1, W2.T), _LAYERS),
        sn.InvalidGeneratorError,
        "has shape 2×1 but W2 is 1×2",
    ),
    case(
        "generator-block-shapes-named",
        lambda: generator((W1, W2.T), _LAYERS),
        sn.InvalidGeneratorError,
        "W2",
    ),
    case(
        "generator-velocity",
        lambda: generator([w1 + v1, -w2]),
        sn.InvalidGeneratorError,
        "depends on wdot1",
    ),
    case(
        "generator-time",
        lambda: generator([w1 * sn.TIME, -w2]),
        sn.InvalidGeneratorError,
        "depends on t",
    ),
    case(
        "generator-data",
        lambda: generator([x * w1, -w2]),
        sn.InvalidGeneratorError,
        "data symbol x",
    ),
    case("generator-zero", lambda: generator([0, 0]), sn.InvalidGeneratorError, "identically zero"),
    case(
        "generator-float-zero",
        lambda: generator([0.0, 0.0]),
        sn.InvalidGeneratorError,
        "identically zero",
    ),
    case(
        "generator-string-entries",
        lambda: generator(["w1", "-w2"]),
        sn.InvalidGeneratorError,
        "'w1'",
    ),
    case(
        "generator-string",
        lambda: generator("w1 -w2"),
        sn.InvalidGeneratorError,
        "'w1 -w2' is a str",
    ),
    case("generator-None", lambda: generator(None), sn.InvalidGeneratorError, "generator None"),
    case(
        "generator-nested-list",
        lambda: generator([[w1], [-w2]]),
        sn.InvalidGeneratorError,
        "[w1] is a list",
    ),
    case("generator-nan", lambda: generator([sp.nan, -w2]), sn.InvalidGeneratorError, "nan"),
    case("generator-infinite", lambda: generator([sp.oo, -w2]), sn.InvalidGeneratorError, "oo"),
    # -- kinetic terms ----------------------------------------------------------------------
    case(
        "kinetic-cubic",
        lambda: physical(kinetic=KINETIC + v1**3),
        sn.InvalidKineticError,
        "wdot1**3",
    ),
    case(
        "kinetic-linear-term",
        lambda: physical(kinetic=KINETIC + w1 * v1),
        sn.InvalidKineticError,
        "has terms w1*wdot1",
    ),
    case(
        "kinetic-constant",
        lambda: physical(kinetic=KINETIC + 3),
        sn.InvalidKineticError,
        "has terms 3",
    ),
    case(
        "kinetic-singular",
        lambda: physical(kinetic=v1**2 / 2),
        sn.InvalidKineticError,
        "T = wdot1**2/2 is singular",
    ),
    case(
        "kinetic-singular-coupled",
        lambda: physical(kinetic=(v1 + v2) ** 2 / 2),
        sn.InvalidKineticError,
        "(wdot1 + wdot2)**2/2 is singular",
    ),
    case(
        "kinetic-foreign-velocities",
        lambda: physical(kinetic=(sp.Symbol("v1") ** 2 + sp.Symbol("v2") ** 2) / 2),
        sn.InvalidKineticError,
        "does not depend on the velocities wdot1, wdot2",
    ),
    case(
        "kinetic-indefinite",
        lambda: physical(kinetic=(v1**2 - v2**2) / 2),
        sn.InvalidKineticError,
        "positive definite",
    ),
    case(
        "kinetic-time",
        lambda: physical(kinetic=KINETIC * (1 + sn.TIME)),
        sn.NotSupportedError,
        "time t",
    ),
    case(
        "kinetic-string",
        lambda: physical(kinetic="wdot1**2/2"),
        sn.InvalidKineticError,
        "'wdot1**2/2' is a string",
    ),
    case(
        "kinetic-matrix",
        lambda: physical(kinetic=sp.Matrix([v1**2, v2**2])),
        sn.InvalidKineticError,
        "2×1 matrix",
    ),
    case("rule-and-kinetic", lambda: system(kinetic=KINETIC), sn.InvalidKineticError, "not both"),
    case("no-rule-no-kinetic", lambda: system(rule=None), sn.InvalidKineticError, "no dynamics"),
    case(
        "rule-not-a-rule",
        lambda: system(rule="gradient_descent"),
        sn.InvalidRuleError,
        "rule = 'gradient_descent'",
    ),
    # -- damping time ---------------------------------------------------------------------
    case("tau-zero", lambda: physical(tau=0), sn.InvalidKineticError, "tau = 0"),
    case("tau-negative", lambda: physical(tau=-2), sn.InvalidKineticError, "tau = -2"),
    case("tau-negative-symbol", lambda: physical(tau=-eta), sn.InvalidKineticError, "tau = -eta"),
    case("tau-nan", lambda: physical(tau=float("nan")), sn.InvalidKineticError, "tau = nan"),
    case("tau-string", lambda: physical(tau="5"), sn.InvalidKineticError, "tau = '5'"),
    case("tau-velocity", lambda: physical(tau=1 + v1**2), sn.InvalidKineticError, "wdot1"),
    case(
        "tau-with-rule",
        lambda: system(tau=2),
        sn.InvalidRuleError,
        "tau = 2 given with rule gradient_descent",
    ),
    # -- learning rates and momentum ------------------------------------------------------
    case("lr-zero", lambda: sn.rules.gradient_descent(0), sn.InvalidRuleError, "lr = 0"),
    case("lr-negative", lambda: sn.rules.gradient_descent(-0.1), sn.InvalidRuleError, "lr = -0.1"),
    case(
        "lr-negative-symbol", lambda: sn.rules.momentum(-eta, 0.5), sn.InvalidRuleError, "lr = -eta"
    ),
    case(
        "lr-nan", lambda: sn.rules.gradient_descent(float("nan")), sn.InvalidRuleError, "lr = nan"
    ),
    case(
        "lr-inf", lambda: sn.rules.gradient_descent(float("inf")), sn.InvalidRuleError, "lr = inf"
    ),
    case(
        "lr-sympy-zoo", lambda: sn.rules.gradient_descent(sp.zoo), sn.InvalidRuleError, "lr = zoo"
    ),
    case("lr-string", lambda: sn.rules.gradient_descent("0.1"), sn.InvalidRuleError, "lr = '0.1'"),
    case("lr-bool", lambda: sn.rules.gradient_descent(True), sn.InvalidRuleError, "lr = True"),
    case("lr-complex", lambda: sn.rules.preconditioned(1j, 2), sn.InvalidRuleError, "lr = 1j"),
    case("beta-negative", lambda: sn.rules.momentum(eta, -0.1), sn.InvalidRuleError, "beta = -0.1"),
    case("beta-one", lambda: sn.rules.momentum(eta, 1), sn.InvalidRuleError, "beta = 1 "),
    case("beta-above-one", lambda: sn.rules.momentum(eta, 1.5), sn.InvalidRuleError, "beta = 1.5"),
    case(
        "beta-symbolic-above-one",
        lambda: sn.rules.momentum(eta, 1 + eta),
        sn.InvalidRuleError,
        "beta = eta + 1",
    ),
    case(
        "beta-nan", lambda: sn.rules.momentum(eta, float("nan")), sn.InvalidRuleError, "beta = nan"
    ),
    case("beta-string", lambda: sn.rules.momentum(eta, "0.9"), sn.InvalidRuleError, "beta = '0.9'"),
    # -- preconditioners ------------------------------------------------------------------
    case(
        "G-non-square",
        lambda: sn.rules.preconditioned(eta, sp.ones(2, 3)),
        sn.InvalidRuleError,
        "shape 2×3",
    ),
    case(
        "G-non-symmetric",
        lambda: sn.rules.preconditioned(eta, sp.Matrix([[1, 1], [0, 1]])),
        sn.InvalidRuleError,
        "preconditioner G is not symmetric",
    ),
    case(
        "G-singular",
        lambda: sn.rules.preconditioned(eta, sp.ones(2, 2)),
        sn.InvalidRuleError,
        "preconditioner G is singular",
    ),
    case(
        "G-indefinite",
        lambda: sn.rules.preconditioned(eta, sp.diag(1, -1)),
        sn.InvalidRuleError,
        "G = [[1, 0], [0, -1]] is not positive definite",
    ),
    case(
        "G-indefinite-state-dependent",
        lambda: sn.rules.preconditioned(eta, sp.diag(1 + w1**2, -1)),
        sn.InvalidRuleError,
        "not positive definite",
    ),
    case(
        "G-wrong-size",
        lambda: system(rule=sn.rules.preconditioned(eta, sp.eye(3))),
        sn.InvalidRuleError,
        "shape 3×3 but the system has 2 coordinates",
    ),
    case(
        "G-negative-scalar", lambda: sn.rules.preconditioned(eta, -2), sn.InvalidRuleError, "G = -2"
    ),
    case(
        "G-list",
        lambda: sn.rules.preconditioned(eta, [[1, 0], [0, 1]]),
        sn.InvalidRuleError,
        "is a list",
    ),
    case(
        "metric-singular",
        lambda: sn.rules.gradient_flow(sp.zeros(2, 2)),
        sn.InvalidRuleError,
        "G is singular",
    ),
    # -- regularizers ---------------------------------------------------------------------
    case(
        "decay-on-data",
        lambda: system(regularizers=[sn.rules.weight_decay(lam, on=[x])]),
        sn.InvalidRuleError,
        "names x",
    ),
    case(
        "decay-on-hyperparameter",
        lambda: system(regularizers=[sn.rules.weight_decay(lam, on=[w1, eta])]),
        sn.InvalidRuleError,
        "names eta",
    ),
    case(
        "decay-on-string",
        lambda: sn.rules.weight_decay(lam, on=["w1"]),
        sn.InvalidRuleError,
        "got 'w1'",
    ),
    case("decay-negative", lambda: sn.rules.weight_decay(-1), sn.InvalidRuleError, "lam = -1"),
    case(
        "decay-nan", lambda: sn.rules.weight_decay(float("nan")), sn.InvalidRuleError, "lam = nan"
    ),
    case(
        "regularizer-expression",
        lambda: system(regularizers=[w1**2]),
        sn.InvalidRuleError,
        "regularizer w1**2",
    ),
    # -- matrix-level layers -----------------------------------------------------------------
    case(
        "layers-loss-not-1x1",
        lambda: matrix_system(loss=_M1 * _MX),
        sn.InvalidLossError,
        "the loss is a 3×1 matrix",
    ),
    case(
        "layers-data-and-coordinate",
        lambda: matrix_system(data=(_MX, _MY, _M1)),
        sn.InvalidCoordinatesError,
        "M1 is both a layer (coordinate) and data",
    ),
    case(
        "layers-generator-arity",
        lambda: sn.noether(_MATRIX, (_A * _M1,)),
        sn.InvalidGeneratorError,
        "generator has 1 entries but the system has 2 layers (M1, M2)",
    ),
    case(
        "layers-generator-shape",
        lambda: sn.noether(_MATRIX, (_M1.T, 0)),
        sn.InvalidGeneratorError,
        "the generator entry for M1 has shape 2×3 but M1 is 3×2",
    ),
    case(
        "layers-generator-velocity",
        lambda: sn.noether(_MATRIX, (_MATRIX.velocities[0], 0)),
        sn.InvalidGeneratorError,
        "depends on the velocity Mdot1",
    ),
    case(
        "layers-q0-shape",
        lambda: matrix_validation({_M1: np.ones((2, 3)), _M2: np.ones((1, 3))}),
        sn.InvalidInputError,
        "q0[M1] has shape (2, 3), but M1 is 3×2",
    ),
    # -- minibatch SGD: the dataset ----------------------------------------------------------
    case("dataset-empty", lambda: sgd_system({x: [], y: []}), sn.InvalidDatasetError, "is empty"),
    case(
        "dataset-ragged",
        lambda: sgd_system({x: [1, 2], y: [1]}),
        sn.InvalidDatasetError,
        "dataset is ragged (x: 2, y: 1 values)",
    ),
    case(
        "sgd-without-dataset",
        lambda: system(rule=sn.rules.sgd(eta)),
        sn.InvalidDatasetError,
        "rules.sgd needs a finite training set",
    ),
    case(
        "sgd-batch-zero",
        lambda: sn.rules.sgd(eta, batch_size=0),
        sn.InvalidRuleError,
        "batch_size = 0 is not a positive integer",
    ),
]


@pytest.mark.parametrize(("make", "error", "culprit"), CASES)
def test_bad_input_raises_a_named_error(make, error, culprit):
    with pytest.raises(error, match=re.escape(culprit)):
        make()


def test_catalogue_is_large_enough():
    assert len(CASES) >= 30


# -- no case leaks a non-Symnoether exception ---------------------------------------------

LEAKS = [pytest.param(p.values[0], id=p.id) for p in CASES] + [
    pytest.param(lambda: system(loss=sp.MatrixSymbol("A", 2, 2)), id="loss-matrix-symbol"),
    pytest.param(lambda: system(loss=np.float64("nan") * w1), id="loss-numpy-nan"),
    pytest.param(lambda: generator(np.array([w1, -w2])), id="generator-ndarray"),
    pytest.param(lambda: generator({w1: w1, w2: -w2}), id="generator-dict"),
    pytest.param(lambda: generator(sp.zeros(0, 0)), id="generator-empty-matrix"),
    pytest.param(lambda: sn.rules.gradient_descent(np.float32(0.1)), id="lr-float32"),
    pytest.param(lambda: sn.rules.gradient_descent(sp.I), id="lr-imaginary"),
    pytest.param(lambda: sn.rules.preconditioned(eta, np.eye(2)), id="G-ndarray"),
    pytest.param(
        lambda: sn.rules.preconditioned(eta, sp.Matrix([[sp.nan, 0], [0, 1]])), id="G-nan"
    ),
    pytest.param(lambda: sn.equations_of_motion("not a system"), id="eom-not-a-system"),
    pytest.param(lambda: sn.noether("not a system", [w1, -w2]), id="noether-not-a-system"),
    pytest.param(lambda: system(regularizers=None), id="regularizers-None"),
    pytest.param(
        lambda: system(regularizers=[sn.rules.weight_decay(lam, on=w1)]), id="decay-on-bare-symbol"
    ),
    pytest.param(
        lambda: system(regularizers=sn.rules.weight_decay(lam, on=[W1])),
        id="decay-on-foreign-matrix",
    ),
]


@pytest.mark.parametrize("make", LEAKS)
def test_no_case_leaks_a_foreign_exception(make):
    """Bad input may be accepted (some of it is meaningful) or rejected, but only with
    a SymnoetherError: never a bare SymPy/NumPy/Python exception."""
    try:
        make()
    except Exception as err:  # noqa: BLE001 - the point of the test
        assert isinstance(err, sn.SymnoetherError), f"{type(err).__name__}: {err}"


def test_undeclared_symbol_warns_only_when_parameters_are_given():
    c = sp.Symbol("c", real=True)
    with pytest.warns(sn.UndeclaredSymbolWarning, match=r"symbols c are"):
        system(loss=LOSS + c * w1, parameters=(eta,))


def test_review_cases_raise_named_errors():
    """Cases a review found escaping as bare Python errors or wrong messages."""
    (w,) = sn.coordinates("w")
    (x,) = sn.data("x")
    with pytest.raises(sn.InvalidInputError, match="needs a LearningSystem"):
        sn.derive(None)
    with pytest.raises(sn.SpecFileError, match="not a int"):
        sn.load(3)
    for lr in (x, w):
        with pytest.raises(sn.InvalidRuleError, match=f"depends on {lr}"):
            sn.LearningSystem((w,), (w * x) ** 2, rule=sn.rules.gradient_descent(lr), data=(x,))
