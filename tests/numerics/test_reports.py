"""How validation reports read and plot (issue 10, §2).

* ``print(report)`` is a short table, one row per law (name, passed, residual or
  error, order), the status, and the fix-it message when a law failed; arrays are
  never printed, and ``repr`` is short too. ``str(derivation)`` shows these tables.
* Plots: legends carry the law names, every label renders with matplotlib's
  mathtext (no raw TeX outside ``$…$``), a law has one colour in both panels, the
  title fits in the figure, and a charge that moves only in the first 5 % of the
  window is not drawn as a flat line (symmetric-log time axis).

Expected values are hand derivations: under gradient flow on V = k q²/2 the scale
charge Q = q²/2 decays as Q(0)e^{−2kt}; the antisymmetric gl(2) charge of a linear
network is conserved exactly by gradient descent (Tanaka & Kunin, NeurIPS 2021,
Sec. 4), so its discrete error is round-off while the symmetric one's is O(η²).
"""

from __future__ import annotations

import dataclasses
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402
from matplotlib.mathtext import MathTextParser  # noqa: E402

import symnoether as sn  # noqa: E402
from symnoether import models  # noqa: E402
from symnoether.errors import InvalidInputError  # noqa: E402
from symnoether.numerics.validate import compile, validate, validate_discrete  # noqa: E402

pytestmark = pytest.mark.usefixtures("isolated_caches")

ETA = sp.Symbol("eta", positive=True)
PAIR = models.scalar_pair()
PAIR_PARAMS = {ETA: 0.05, "x": 0.4, "y": 0.5}


@pytest.fixture(scope="module")
def validated():
    """The rescale pair under GD, through Derivation.validate (names pass through)."""
    deriv = sn.derive(PAIR.system(sn.rules.gradient_descent(ETA)), PAIR.generators)
    return deriv.validate([1.5, 0.3], params=PAIR_PARAMS, t_end=5.0, discrete=True,
                          backend="numpy")  # fmt: skip


@pytest.fixture(scope="module")
def linear_gd():
    """gl(2) of a 2-2-1 linear network under GD: a symmetric A (broken by the kinetic
    term, O(η²) discrete error) and an antisymmetric A (conserved exactly)."""
    model = models.linear_network(2, 2, 1)
    gd = model.system(sn.rules.gradient_descent(ETA))
    W1, W2 = model.coords
    sym, anti = sp.Matrix([[0, 1], [1, 0]]), sp.Matrix([[0, 1], [-1, 0]])
    laws = [sn.noether(gd, (A * W1, -W2 * A)) for A in (sym, anti)]
    params = {ETA: 0.05, "x1": 1.0, "x2": 0.5, "y1": 1.0}
    q0 = [0.5, -0.3, 0.2, 0.8, 0.7, -0.4]
    return gd, laws, params, q0


# -- text ------------------------------------------------------------------------------


def test_continuous_report_is_a_table_with_the_derivations_names(validated):
    report = validated.reports[0]
    lines = str(report).splitlines()
    assert lines[0].startswith("continuous validation PASSED (dopri5, ")
    assert lines[1].split() == ["law", "passed", "max", "residual", "charge", "Q"]
    name, passed, residual = lines[2].split()[:3]
    assert (name, passed) == ("rescale", "yes")
    assert float(residual) == pytest.approx(report.max_residual, rel=0.06)  # printed %.1e
    assert len(lines) == 3  # passed: no message, no arrays
    assert report.t.size > 50 and "array" not in str(report) and "[" not in str(report)


def test_repr_is_short(validated):
    for report in validated.reports:
        text = repr(report)
        assert len(text) < 300 and "array" not in text and "rescale" in text


def test_discrete_report_rows_give_error_and_order_per_law(linear_gd):
    gd, laws, params, q0 = linear_gd
    report = validate_discrete(gd, laws, q0, params=params, steps=200, backend="numpy",
                               names=["balance_12", "rotation"])  # fmt: skip
    assert report.passed, report
    lines = str(report).splitlines()
    assert lines[1].split()[:5] == ["law", "passed", "error", "at", "eta=0.05"]
    balance, rotation = (line.split() for line in lines[2:4])
    assert balance[:2] == ["balance_12", "yes"] and rotation[:2] == ["rotation", "yes"]
    # symmetric A: O(η²), so the order of its own errors is about 2 (≥ 1.65)
    assert float(balance[3]) > 1.65
    assert float(balance[2]) == pytest.approx(report.law_errors[0, 0], rel=0.06)
    # antisymmetric A: exact, its errors are round-off and have no order
    assert rotation[3] == "exact" and report.law_errors[:, 1].max() < 1e-11
    assert "step sizes eta: 0.05, 0.025, 0.0125" in lines[4]


def test_a_failed_law_shows_no_and_the_fix(linear_gd):
    gd, laws, params, q0 = linear_gd
    wrong = dataclasses.replace(laws[0], kinetic_breaking=-laws[0].kinetic_breaking)
    kernels = compile(gd, [laws[1], wrong], backend="numpy")
    report = validate(gd, [laws[1], wrong], q0, params=params, t_end=5.0, kernels=kernels)
    assert not report.passed
    lines = str(report).splitlines()
    assert "FAILED" in lines[0]
    assert lines[2].split()[:2] == ["psi1", "yes"]  # default names; the right law passes
    assert lines[3].split()[:2] == ["psi2", "NO"]
    assert lines[-1] == report.message and "the law is wrong for this system" in lines[-1]


def test_names_are_checked():
    flow = PAIR.system(sn.rules.gradient_flow())
    law = sn.noether(flow, PAIR.generators["rescale"])
    with pytest.raises(InvalidInputError, match=r"pass 1 non-empty strings, one per law"):
        validate(flow, law, [1.0, 0.5], params={"x": 1, "y": 1}, names=["a", "b"],
                 backend="numpy")  # fmt: skip
    with pytest.raises(InvalidInputError, match="one name per law"):
        validate(flow, law, [1.0, 0.5], params={"x": 1, "y": 1}, names="a", backend="numpy")


def test_derivation_prints_the_tables_not_the_arrays(validated):
    text = str(validated)
    tail = text[text.index("numerical validation") :]
    assert "continuous validation PASSED" in tail and "discrete validation PASSED" in tail
    assert re.search(r"^  rescale +yes ", tail, flags=re.MULTILINE)
    assert "array" not in text and "e-01 " not in text


def test_batch_report_says_over_how_many_runs_and_refuses_to_plot():
    flow = PAIR.system(sn.rules.gradient_flow())
    law = sn.noether(flow, PAIR.generators["rescale"])
    report = validate(flow, law, [1.0, 0.5], params={"x": 1, "y": 1}, t_end=1.0, batch=4,
                      backend="numpy", parallel=False)  # fmt: skip
    assert "max over 4 runs" in str(report).splitlines()[0]
    assert str(report).splitlines()[2].split()[:2] == ["psi1", "yes"]
    with pytest.raises(InvalidInputError, match="keeps no trajectory to plot"):
        report.plot()


# -- plots -----------------------------------------------------------------------------


def texts(figure):
    """Every text a reader sees: title, axis labels, legend entries."""
    found = [figure.get_suptitle()]
    for axes in figure.axes:
        found += [axes.get_xlabel(), axes.get_ylabel(), axes.get_title()]
        legend = axes.get_legend()
        if legend is not None:
            found += [t.get_text() for t in legend.get_texts()]
    return [t for t in found if t]


def assert_renders(text):
    """Math only inside $…$, and mathtext parses it; no raw TeX outside it."""
    assert text.count("$") % 2 == 0, text
    outside = re.sub(r"\$[^$]*\$", "", text)
    assert "\\" not in outside and "^{" not in outside and "_{" not in outside, text
    if "$" in text:
        MathTextParser("path").parse(text)  # raises ValueError on what it cannot render


def inside(figure, artist):
    figure.canvas.draw()
    box = artist.get_window_extent(figure.canvas.get_renderer())
    whole = figure.bbox
    return box.x0 >= whole.x0 and box.x1 <= whole.x1 and box.y0 >= whole.y0 and box.y1 <= whole.y1


@pytest.mark.parametrize("which", [0, 1], ids=["continuous", "discrete"])
def test_plot_legends_labels_colours_and_title(validated, which):
    report = validated.reports[which]
    figure = report.plot()
    try:
        top, bottom = figure.axes[:2]
        legend = [t.get_text() for t in top.get_legend().get_texts()]
        assert legend and all("rescale" in entry for entry in legend)
        assert not any(re.search(r"charge \d|law \d|prediction \d", e) for e in legend)
        for text in texts(figure):
            assert_renders(text)
        assert "$" in top.get_ylabel() and "$" in bottom.get_xlabel()
        charge, predicted = top.lines[:2]
        residual = bottom.lines[0]
        assert mcolors.to_rgba(charge.get_color()) == mcolors.to_rgba(residual.get_color())
        assert mcolors.to_rgba(predicted.get_color()) == mcolors.to_rgba(residual.get_color())
        assert inside(figure, figure._suptitle)
        assert len(figure.get_suptitle()) < 70
    finally:
        plt.close(figure)


def test_each_law_has_its_own_colour_in_both_panels(linear_gd):
    gd, laws, params, q0 = linear_gd
    report = validate_discrete(gd, laws, q0, params=params, steps=100, backend="numpy",
                               names=["balance_12", "rotation"])  # fmt: skip
    figure = report.plot()
    try:
        top, bottom = figure.axes[:2]
        colours = [mcolors.to_rgba(line.get_color()) for line in top.lines[::2]]
        residuals = [mcolors.to_rgba(line.get_color()) for line in bottom.lines[:2]]
        assert colours == residuals and colours[0] != colours[1]
        legend = [t.get_text() for t in top.get_legend().get_texts()]
        assert legend[0].startswith("balance_12") and legend[2].startswith("rotation")
    finally:
        plt.close(figure)


def decay(k, t_end):
    """V = k q²/2, gradient flow, ψ = q: Q = q²/2 = ½e^{−2kt} (q0 = 1)."""
    (q,) = sn.coordinates("q")
    kk = sp.Symbol("k", positive=True)
    flow = sn.LearningSystem((q,), kk * q**2 / 2, rule=sn.rules.gradient_flow())
    law = sn.noether(flow, (q,))
    return validate(flow, law, [1.0], params={kk: k}, t_end=t_end, backend="numpy")


def share_of_width(axes, t0, t1):
    """The fraction of the axes' width between times t0 and t1, as drawn."""
    (x0, _), (x1, _) = axes.transData.transform([(t0, 0), (t1, 0)])
    return (x1 - x0) / axes.bbox.width


def test_early_action_is_spread_over_the_panel():
    """k = 50: Q falls from 5 % to 95 % of its drop between t = ln(1/0.95)/100 ≈ 5·10⁻⁴
    and t = ln(20)/100 ≈ 0.030 — 0.3 % of a window of 10. On a linear axis that is a
    vertical step; it must take a good part of the panel."""
    report = decay(50.0, 10.0)
    assert report.passed
    np.testing.assert_allclose(report.charge[-1, 0], 0.5 * np.exp(-1000.0), atol=1e-12)
    t5, t95 = np.log(1 / 0.95) / 100, np.log(20) / 100
    figure = report.plot()
    try:
        top = figure.axes[0]
        figure.canvas.draw()
        assert top.get_xscale() == "symlog"
        assert share_of_width(top, t5, t95) > 0.3
        assert share_of_width(top, 0, 10.0) == pytest.approx(1.0, abs=0.06)  # whole window
        assert_renders(figure.axes[1].get_xlabel())
    finally:
        plt.close(figure)


def test_a_flat_law_beside_a_moving_one_does_not_hide_the_early_action():
    """A conserved charge at 0 jitters at round-off all along the window; it must not
    count as 'moving late' (it did: the GD gl(2) plot stayed linear and flat)."""
    report = decay(50.0, 10.0)
    rng = np.random.default_rng(0)
    noise = 1e-19 * rng.standard_normal(report.t.size)
    two = np.column_stack([report.charge[:, 0], noise])
    pair = dataclasses.replace(
        report, laws=report.laws * 2, charge=two, predicted=two, residuals=np.zeros(2),
        scale=np.ones(2), names=("a", "b"),
    )  # fmt: skip
    figure = pair.plot()
    try:
        figure.canvas.draw()
        assert figure.axes[0].get_xscale() == "symlog"
        assert share_of_width(figure.axes[0], np.log(1 / 0.95) / 100, np.log(20) / 100) > 0.3
    finally:
        plt.close(figure)


def test_action_across_the_window_keeps_a_linear_axis():
    report = decay(0.2, 10.0)  # 95 % of the drop by t = ln(20)/0.4 ≈ 7.5
    figure = report.plot()
    try:
        assert figure.axes[0].get_xscale() == "linear"
    finally:
        plt.close(figure)


def test_plot_writes_a_png(validated, tmp_path):
    path = tmp_path / "discrete.png"
    validated.reports[1].plot(path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
