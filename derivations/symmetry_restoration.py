r"""Symmetry restoration and stochastic collapse: the scalar pair's phase diagram.

The scalar pair ℓ = (y − u w x)²/2 with weight decay (λ/2)(u² + w²), on the dataset
x = (1/2, −1, 3), y = (2, 1, −1), has the discrete symmetries (u, w) → (−u, −w),
(w, u) and (−w, −u), which hold sample by sample; the first fixes only the symmetric
solution u = w = 0, where every per-sample gradient vanishes. Its stability is the
question of symmetry restoration (Ziyin et al. 2025):

* under gradient flow (and gradient descent) the Hessian there is
  [[λ, −m], [−m, λ]], m = mean(xy) = −1, so the symmetric solution attracts iff
  λ > λ_c = |m| = 1, whatever the step size — a larger η never stabilizes a saddle;
* under minibatch SGD the linearized step is the random map I − ηK_b; the per-sample
  Hessians commute, and the top Lyapunov exponent along (1, −1) is
  E_b log|1 − η(λ + m_b)| per step (m_b the batch mean of x_i y_i). By Jensen's inequality
  it is below the GD one: noise lowers the threshold λ_c(η, B) < 1, and for λ < 1 it
  creates a threshold in η — the stochastic collapse of Chen, Kunin et al. (2023).

The phase diagram simulates plain SGD from |θ| ≈ 10⁻³ on a grid of (λ, η) for B = 1 and
B = 2 and records the fraction of runs that collapse onto u = w = 0 (|θ| < 10⁻⁶ at the
end); the predicted GD line λ = 1 and the SGD curves λ_c(η/B) are drawn over it, and every
cell far enough from the boundary (3 standard deviations of the run's log-growth) is
asserted to fall on the predicted side. ``python derivations/symmetry_restoration.py
OUT_DIR`` writes the derivation's LaTeX and the figure next to it.

References
----------
L. Ziyin et al., "Parameter symmetry breaking and restoration determines the hierarchical
learning in AI systems", 2025, arXiv:2502.05300. F. Chen, D. Kunin, A. Yamamura and
S. Ganguli, "Stochastic collapse: how gradient noise attracts SGD dynamics towards simpler
subnetworks", NeurIPS 2023, arXiv:2306.04251.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import sympy as sp

import symnoether as sn

ETA, LAM = sp.symbols("eta lambda", positive=True)
X, Y = sn.data("x y")
U, W = sn.coordinates("u w")
HALF = sp.Rational(1, 2)
DATA = {X: [HALF, -1, 3], Y: [2, 1, -1]}
XS, YS = np.array([0.5, -1.0, 3.0]), np.array([2.0, 1.0, -1.0])
LAMBDAS = np.linspace(0.05, 1.25, 13)
STEP_SIZES = np.linspace(0.05, 0.65, 13)
BATCHES = (1, 2)
STEPS, RUNS = 1500, 48


def system(rule) -> sn.LearningSystem:
    return sn.LearningSystem(
        (U, W), (Y - U * W * X) ** 2 / 2, rule=rule, data=(X, Y), dataset=DATA,
        regularizers=[sn.rules.weight_decay(LAM)],
    )  # fmt: skip


def derivation() -> sn.Derivation:
    """The rescale law, the mirror symmetries, the GD and SGD thresholds, and the
    simulated phase diagram checked against them."""
    flow = system(sn.rules.gradient_flow())
    deriv = sn.derive(flow, {"rescale": (U, -W)}, title=__doc__.splitlines()[0])
    mirrors = sn.find_discrete_symmetries(flow)
    assert mirrors.complete and len(mirrors) == 3 and all(s.per_sample for s in mirrors)
    flip = next(s for s in mirrors if s.kind == "sign flip")
    assert flip.conditions == (U, W)  # its fixed subspace is the point u = w = 0
    gd = sn.stability(flow, {U: 0, W: 0}, parameter=LAM)
    assert gd.threshold == 1  # |mean(xy)|
    diagram = phase_diagram_data()
    checked = check_against_prediction(diagram, predicted_log_growth())
    curves = sgd_thresholds(np.linspace(0.02, 0.65, 64))
    assert all(np.nanmax(curve) < 1 for curve in curves.values())  # noise lowers λ_c
    sgd = sn.stability(system(sn.rules.sgd(ETA)), {U: 0, W: 0}, parameter=LAM, noise=True,
                       params={ETA: sp.Rational(1, 10)})  # fmt: skip
    return (
        deriv.with_result("discrete symmetries", sp.Tuple(*[s.matrix for s in mirrors]))
        .with_result("GD restoration threshold lambda_c", gd.threshold)
        .with_result("SGD Lyapunov exponent along (1, -1), B = 1", _top(sgd))
        .with_result("SGD threshold lambda_c at eta = 1/10", sp.Float(sgd.threshold, 8))
        .with_result("phase-diagram cells checked against the prediction", sp.Integer(checked))
    )


def _top(result) -> sp.Expr:
    """The exponent along (1, −1) (the one that decides, see tests/core/test_collapse.py)."""
    index = [list(d) for d in result.directions].index([-1, 1])
    return result.exponents[index]


def predicted_log_growth() -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Mean and standard deviation of log|δ| over the run, along the top direction, on
    the (λ, η) grid: STEPS·E_b log|1 − ηh_b| and √STEPS·sd_b log|1 − ηh_b|, with h_b the
    batch means of the per-sample Hessians' eigenvalues from ``sn.stability(..., noise=True)``
    (they commute: the closed form)."""
    from symnoether.core.collapse import batches

    out = {}
    lam, eta = np.meshgrid(LAMBDAS, STEP_SIZES, indexing="ij")
    for batch in BATCHES:
        result = sn.stability(system(sn.rules.sgd(ETA, batch)), {U: 0, W: 0}, parameter=LAM,
                              noise=True, params={ETA: sp.Rational(1, 10)})  # fmt: skip
        best = None
        for v in result.directions:
            h = [sp.lambdify(LAM, (v.T * k * v)[0] / (v.T * v)[0]) for k in result.hessians]
            logs, weights = [], []
            for members, p in batches(len(h), batch, True):
                mean = sum(h[i](lam) for i in members) / batch
                with np.errstate(divide="ignore"):
                    logs.append(np.log(np.abs(1 - eta * mean)))
                weights.append(float(p))
            logs, weights = np.array(logs), np.array(weights)[:, None, None]
            mean = (weights * logs).sum(axis=0)
            spread = np.sqrt(np.maximum((weights * logs**2).sum(axis=0) - mean**2, 0))
            if best is None:
                best = (mean, spread)
            else:
                top = mean > best[0]
                best = (np.where(top, mean, best[0]), np.where(top, spread, best[1]))
        out[batch] = (best[0] * STEPS, best[1] * np.sqrt(STEPS))
    return out


def sgd_thresholds(step_sizes: np.ndarray) -> dict[int, np.ndarray]:
    """λ_c(η) for each batch size: where the closed-form top exponent changes sign."""
    from scipy.optimize import brentq

    out = {}
    for batch in BATCHES:
        result = sn.stability(system(sn.rules.sgd(ETA, batch)), {U: 0, W: 0}, parameter=LAM,
                              noise=True, params={ETA: sp.Rational(1, 10)})  # fmt: skip
        fns = [sp.lambdify((LAM, ETA), e, "numpy") for e in result.exponents]

        def top(lam: float, eta: float, fns=fns) -> float:
            with np.errstate(divide="ignore"):
                return float(max(f(lam, eta) for f in fns))

        curve = []
        for eta in step_sizes:
            grid = np.linspace(0.0, 1.2, 121)
            values = [top(g, eta) for g in grid]
            roots = [brentq(top, a, b, args=(eta,)) for a, b, fa, fb in
                     zip(grid[:-1], grid[1:], values[:-1], values[1:], strict=True)
                     if fa > 0 >= fb]  # fmt: skip
            curve.append(roots[0] if roots else np.nan)
        out[batch] = np.array(curve)
    return out


def phase_diagram_data(seed: int = 0) -> dict[int, np.ndarray]:
    """The fraction of SGD runs that collapse onto u = w = 0, on the (λ, η) grid."""
    out = {}
    for batch in BATCHES:
        lam, eta = (a.ravel()[:, None] for a in np.meshgrid(LAMBDAS, STEP_SIZES, indexing="ij"))
        rng = np.random.default_rng(seed + batch)
        shape = (lam.shape[0], RUNS)
        u, w = rng.normal(size=shape) * 1e-3, rng.normal(size=shape) * 1e-3
        for _ in range(STEPS):
            i = rng.integers(0, 3, size=(*shape, batch))
            xi, yi = XS[i], YS[i]
            r = ((yi - (u * w)[..., None] * xi) * xi).mean(axis=-1)
            u, w = u - eta * (-r * w + lam * u), w - eta * (-r * u + lam * w)
            away = ~np.isfinite(u) | ~np.isfinite(w) | (np.abs(u) > 1e6)
            u[away], w[away] = 1e6, 1e6  # diverged: far from the symmetric solution
        collapsed = np.hypot(u, w) < 1e-6
        out[batch] = collapsed.mean(axis=1).reshape(len(LAMBDAS), len(STEP_SIZES))
    return out


def check_against_prediction(diagram: dict, growth: dict) -> int:
    """A run collapses when log|θ| falls by log(10⁻³/10⁻⁶) = 6.9 over the run: in the
    Gaussian approximation of the log-growth (mean M, deviation S), with z = (−6.9 − M)/S,
    every cell with z ≥ 3 must have ≥ 80 % of its runs collapsed and every cell with
    z ≤ −3 at most 20 % (48 runs: a binomial false failure below 10⁻⁶ per cell);
    returns how many cells were checked."""
    checked = 0
    drop = np.log(1e3)
    for batch in BATCHES:
        mean, spread = growth[batch]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(spread > 0, (-drop - mean) / spread, np.sign(-drop - mean) * np.inf)
        stable, unstable = z >= 3, z <= -3
        assert np.all(diagram[batch][stable] >= 0.8), f"B = {batch}: a stable cell escaped"
        assert np.all(diagram[batch][unstable] <= 0.2), f"B = {batch}: an unstable cell collapsed"
        checked += int(stable.sum() + unstable.sum())
    assert checked > len(LAMBDAS) * len(STEP_SIZES)  # most of the grid is decided
    return checked


def figure(path: str | Path, diagram: dict | None = None) -> Path:
    """Draw the phase diagram (collapsed fraction over η/B and λ, one panel per B) with
    the predicted GD and SGD thresholds, and save it to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    diagram = diagram or phase_diagram_data()
    fine = np.linspace(0.02, 0.65, 64)
    curves = sgd_thresholds(fine)
    fig, axes = plt.subplots(1, len(BATCHES), figsize=(9, 3.6), sharey=True, layout="constrained")
    for ax, batch in zip(axes, BATCHES, strict=True):
        scale = STEP_SIZES / batch
        mesh = ax.pcolormesh(scale, LAMBDAS, diagram[batch], vmin=0, vmax=1, cmap="viridis",
                             shading="nearest")  # fmt: skip
        ax.axhline(1.0, color="white", ls="--", label="GD threshold λ = |mean(xy)|")
        ax.plot(fine / batch, curves[batch], color="red", label="SGD threshold (Lyapunov)")
        ax.set_xlabel(f"η/B (B = {batch})")
        ax.set_title(f"batch size {batch}")
    axes[0].set_ylabel("weight decay λ")
    axes[0].legend(loc="lower left", fontsize=7)
    fig.colorbar(mesh, ax=axes, label="fraction collapsed onto u = w = 0")
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


if __name__ == "__main__":
    result = derivation()
    print(result)
    if len(sys.argv) > 1:
        out = Path(sys.argv[1])
        image = figure(out / "symmetry_restoration.png")
        result.to_latex(str(out / "symmetry_restoration.tex"), figure=image)
        print(f"wrote {out / 'symmetry_restoration.tex'} and {image}")
