"""The sweep's checks 'sgd' (Monte Carlo validate_sgd per point) and 'stability'.

Hand derivations used as expectations, for the scalar pair ℓ = (y − w₁w₂x)²/2 on the
dataset x = (1/2, −1, 3), y = (2, 1, −1), so x·y = (1, −1, −3), m = mean(xy) = −1:

* GD with weight decay λ at the symmetric solution w₁ = w₂ = 0: ∇²V = [[λ, −m], [−m, λ]],
  eigenvalues λ ± m, so the growth rate per unit time is −λ_min = abs(m) − λ and the point
  is stable (restoration) for λ > λ_c = abs(m) = 1.
* SGD, B = 1, step η: the per-sample Hessians K_i = [[λ, −c_i], [−c_i, λ]] (c_i = x_i y_i)
  commute, with common eigenvectors (1, ±1)/√2 and eigenvalues λ ∓ c_i; along each the
  linearized map multiplies by 1 − η(λ ∓ c_i), so the top Lyapunov exponent per unit time
  is max over ± of mean_i log abs(1 − η(λ ∓ c_i)) / η.
* SGD checks: the law of balance Q = ½(w₁² − w₂²) of the rescaling passes; the same law with
  its noise drift's sign flipped misses by far more than 4 standard errors (z_max = 4: a
  correct law fails with probability ≈ 6·10⁻⁵ per row; the seeds are fixed).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import sympy as sp

import symnoether as sn
from symnoether.core import models
from symnoether.errors import InvalidInputError

eta, lam = sp.symbols("eta lam", positive=True)
PAIR = models.scalar_pair()
W1, W2 = PAIR.coords
X, Y = PAIR.data
XS, YS = [0.5, -1.0, 3.0], [2.0, 1.0, -1.0]
DATA = {X: [sp.Rational(1, 2), -1, 3], Y: [2, 1, -1]}
MC = {"runs": 64, "steps": 100, "backend": "numpy"}


def pair(rule) -> sn.LearningSystem:
    return sn.LearningSystem(PAIR.coords, PAIR.loss, rule=rule, data=PAIR.data, dataset=DATA,
                             regularizers=[sn.rules.weight_decay(lam)])  # fmt: skip


@pytest.fixture(scope="module")
def sgd_laws():
    system = pair(sn.rules.sgd(eta))
    law = sn.noether(system, PAIR.generators["rescale"])
    wrong = replace(law, noise_drift=-law.noise_drift)  # a deliberately wrong law
    return system, [law, wrong]


# -- sgd --------------------------------------------------------------------------------


def test_sgd_check_passes_the_law_of_balance_and_fails_a_wrong_one(sgd_laws):
    system, laws = sgd_laws
    grid = sn.grid({eta: [0.01, 0.05], lam: [1e-3]}, seeds=[0, 1])
    table = sn.sweep((system, laws), grid, q0=[1.0, 0.2], check="sgd", **MC)
    assert len(table) == 2 * 2 * 2  # points × seeds × laws
    right, wrong = table[table["law"] == "psi1"], table[table["law"] == "psi2"]
    assert right["passed"].all() and (right["max_error"] <= 4).all()
    assert not wrong["passed"].any() and (wrong["max_error"] > 4 * 4).all()
    assert table["order"].isna().all() and not table["diverged"].any()
    assert (table["error"] == "").all()
    # the mean charge at the end: the same runs for both laws (same seed), and the noise
    # drives Q = ½(1 − 0.04) = 0.48 down (the law of balance) while staying positive
    assert (right["charge_end"].values == wrong["charge_end"].values).all()
    assert ((right["charge_end"] < 0.48) & (right["charge_end"] > 0)).all()
    # max_error is abs(z) of validate_sgd with the sweep's seed, at the point's values
    report = sn.validate_sgd(system, laws[1], [1.0, 0.2], params={eta: 0.05, lam: 1e-3},
                             seed=1, **MC)  # fmt: skip
    last = table[(table["eta"] == 0.05) & (table["seed"] == 1) & (table["law"] == "psi2")]
    assert last["max_error"].item() == abs(report.z)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                 host="127.0.0.1", dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):  # fmt: skip
        yield client


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.drop(columns="wall_s"), b.drop(columns="wall_s"),
                                  check_exact=True)  # fmt: skip


def test_sgd_rows_are_the_same_on_a_local_cluster(sgd_laws, client):
    # the tasks carry the system and laws; each worker process compiles the SGD kernels
    system, laws = sgd_laws
    grid = sn.grid({eta: [0.02, 0.04]}, seeds=[3])
    options = {"q0": [0.8, -0.5], "params": {lam: 1e-3}, "check": "sgd", "runs": 32,
               "steps": 50, "backend": "numpy"}  # fmt: skip
    here = sn.sweep((system, laws), grid, **options)
    _same(here, sn.sweep((system, laws), grid, client=client, chunk=1, **options))
    assert list(here["passed"]) == [True, False, True, False]


# -- stability --------------------------------------------------------------------------


def test_stability_sign_flips_at_the_hand_derived_gd_threshold():
    m = float(np.mean(np.multiply(XS, YS)))  # −1
    critical = abs(m)
    system = pair(sn.rules.gradient_descent(eta))
    values = [0.25, 0.5, 0.9, 1.1, 1.5, 3.0]
    grid = sn.grid({lam: values, eta: [0.01, 0.1]}, seeds=[0])
    table = sn.sweep(system, grid, q0=[0, 0], check="stability", point={W1: 0, W2: 0})
    assert len(table) == len(values) * 2 and set(table["law"]) == {"stability"}
    expected = critical - table["lam"]
    assert np.allclose(table["max_error"], expected, rtol=0, atol=1e-12)
    assert (table["passed"] == (table["lam"] > critical)).all()
    assert np.allclose(table["charge_end"], critical)  # the threshold λ_c
    assert table["order"].isna().all() and (table["error"] == "").all()


def test_stability_under_sgd_noise_is_the_hand_lyapunov_exponent():
    system = pair(sn.rules.sgd(eta))
    step = 0.1
    c = np.multiply(XS, YS)

    def top(value):
        return max(np.mean(np.log(abs(1 - step * (value - s * c)))) / step for s in (1, -1))

    values = [0.5, 0.8, 0.9, 1.2]
    grid = sn.grid({lam: values}, seeds=[0])
    table = sn.sweep(system, grid, q0=[0, 0], check="stability", point={"w1": 0, "w2": 0},
                     params={eta: step}, noise=True, parameter=lam)  # fmt: skip
    hand = [top(v) for v in values]
    assert np.allclose(table["max_error"], hand, rtol=1e-9, atol=1e-12)
    assert list(table["passed"]) == [h < 0 for h in hand] == [False, False, True, True]
    # the SGD threshold lies where the hand exponent changes sign, below the GD one (1)
    threshold = table["charge_end"].iloc[0]
    assert top(threshold - 1e-6) > 0 > top(threshold + 1e-6) and threshold < 1
    # swept η: the numeric threshold found at the first η is not every point's: NaN
    grid = sn.grid({lam: values, eta: [0.05, 0.1]}, seeds=[0])
    table = sn.sweep(system, grid, q0=[0, 0], check="stability", point={W1: 0, W2: 0},
                     noise=True)  # fmt: skip
    assert table["charge_end"].isna().all()
    at = table[table["eta"] == 0.1]
    assert np.allclose(at["max_error"], hand, rtol=1e-9, atol=1e-12)


def test_stability_rows_are_the_same_on_a_local_cluster(client):
    # the tasks carry the linearization derived once (with noise=True its closures)
    system = pair(sn.rules.sgd(eta))
    grid = sn.grid({lam: [0.5, 1.0, 1.5]}, seeds=[0])
    options = {"q0": [0, 0], "check": "stability", "point": {W1: 0, W2: 0},
               "params": {eta: 0.1}, "noise": True}  # fmt: skip
    here = sn.sweep(system, grid, **options)
    _same(here, sn.sweep(system, grid, client=client, chunk=1, **options))
    assert list(here["passed"]) == [False, True, True]


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check, options, match",
    [
        ("stability", {}, "needs point="),
        ("stability", {"point": {W1: 0, W2: 0}, "pointt": 1}, "pointt is not an option"),
        ("stability", {"point": {W1: 0, "v": 0}}, "point gives v, which is not a coordinate"),
        ("stability", {"point": {W1: 0, W2: 0}, "parameter": "mu"}, "parameter = mu is not"),
        ("stability", {"point": {W1: 0, W2: 0}, "noise": "yes"}, "noise = 'yes'"),
        ("sgd", {"runz": 10}, "runz is not an option of the 'sgd' check"),
        ("sgd", {"prediction": "best", **MC}, "prediction = 'best'"),
    ],
)
def test_bad_options_are_refused_naming_them(sgd_laws, check, options, match):
    system, laws = sgd_laws
    grid = sn.grid({lam: [0.5, 2.0]}, seeds=[0])
    with pytest.raises(InvalidInputError, match=match):
        sn.sweep((system, laws[:1]), grid, q0=[1.0, 0.2], params={eta: 0.1}, check=check,
                 **options)  # fmt: skip


def test_a_stability_point_that_is_not_fixed_is_refused():
    system = pair(sn.rules.gradient_descent(eta))
    grid = sn.grid({lam: [0.5]}, seeds=[0])
    with pytest.raises(InvalidInputError, match="does not vanish"):
        sn.sweep(system, grid, q0=[1, 1], check="stability", point={W1: 1, W2: 1})


# -- the error policy -------------------------------------------------------------------


def test_an_error_of_every_point_stops_the_sweep_one_of_a_point_is_its_row():
    # ψ = (0, w₂²) = ∇(w₂³/3): its charge w₂³/3 is cubic, so prediction='exact' (which
    # needs ψ = Aθ + b) cannot apply at any point: NotSupportedError at the first point,
    # not an error in every row
    loss = (Y - X * W1) ** 2 / 2 + W2**4 / 4
    system = sn.LearningSystem(PAIR.coords, loss, rule=sn.rules.sgd(eta), data=PAIR.data,
                               dataset=DATA)  # fmt: skip
    law = sn.noether(system, (0, W2**2))
    grid = sn.grid({eta: [0.01, 0.02]}, seeds=[0])
    run = {"q0": [0.3, 1.0], "check": "sgd", "runs": 8, "steps": 10, "backend": "numpy"}
    with pytest.raises(sn.NotSupportedError, match="prediction='exact' does not apply: the "
                       "charge is not quadratic"):  # fmt: skip
        sn.sweep((system, [law]), grid, prediction="exact", **run)
    # validate on a minibatch-SGD system: refused whatever the point, naming check='sgd'
    with pytest.raises(sn.NotSupportedError, match="minibatch-SGD.*use check='sgd'"):
        sn.sweep((system, [law]), grid, q0=[0.3, 0.1], backend="numpy")
    # a step that blows up at one point only: from w₂ = 1, η = 50 maps w₂ ↦ w₂ − ηw₂³ =
    # −49, then ≈ 6·10⁶, 10²², … (non-finite by the sixth step); that row records the
    # divergence, the other point runs
    grid = sn.grid({eta: [0.01, 50.0]}, seeds=[0])
    table = sn.sweep((system, [law]), grid, prediction="rate", **run)
    ok, bad = table.iloc[0], table.iloc[1]
    assert ok["error"] == "" and not ok["diverged"]
    assert bad["diverged"] and not bad["passed"] and "diverge" in bad["error"]
