"""Phase diagrams (symnoether.io.phase): cells aggregate seeds and laws, the boundary
curve lies where its relation says."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402
from matplotlib.collections import QuadMesh  # noqa: E402
from matplotlib.contour import ContourSet  # noqa: E402

import symnoether as sn  # noqa: E402
from symnoether.io.phase import phase_matrix  # noqa: E402

ETA, LAM = sp.symbols("eta lambda", positive=True)


def _table() -> pd.DataFrame:
    rows = []
    for i, eta in enumerate((1e-3, 1e-2, 1e-1)):
        for j, lam in enumerate((1.0, 2.0)):
            for seed in (0, 1):
                error = 10.0 ** (-(9 - i - 3 * j)) * (1 + seed)  # seed 1 is twice seed 0
                rows.append({"eta": eta, "lambda": lam, "seed": seed, "law": "scale",
                             "passed": seed == 0 or i == 0, "max_error": error})  # fmt: skip
    return pd.DataFrame(rows)


def test_cells_hold_the_worst_error_and_the_fraction_passed():
    xs, ys, z = phase_matrix(_table(), ETA, LAM, "max_error")
    assert xs.tolist() == [1e-3, 1e-2, 1e-1] and ys.tolist() == [1.0, 2.0]
    # max over the two seeds: 2·10^-(9 - i - 3j), rows are λ, columns η
    assert z == pytest.approx(np.array([[2e-9, 2e-8, 2e-7], [2e-6, 2e-5, 2e-4]]), rel=1e-12)
    _, _, passed = phase_matrix(_table(), "eta", "lambda", "passed")
    assert passed.tolist() == [[1.0, 0.5, 0.5], [1.0, 0.5, 0.5]]
    _, _, least = phase_matrix(_table(), ETA, LAM, "max_error", aggregate="min")
    assert least == pytest.approx(z / 2, rel=1e-12)


def test_the_heat_map_and_the_boundary(tmp_path):
    boundary = sp.Eq(LAM, 1 + 10 * ETA)
    figure = sn.plot_phase(_table(), x=ETA, y=LAM, value="max_error", boundary=boundary,
                           path=tmp_path / "phase.png")  # fmt: skip
    ax = figure.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"  # η spans 2 decades
    (mesh,) = [c for c in ax.collections if isinstance(c, QuadMesh)]
    assert np.asarray(mesh.get_array()).ravel() == pytest.approx(
        [2e-9, 2e-8, 2e-7, 2e-6, 2e-5, 2e-4], rel=1e-12
    )
    (curve,) = [c for c in ax.collections if isinstance(c, ContourSet)]
    vertices = np.concatenate([p.vertices for p in curve.get_paths()])
    assert len(vertices) > 10
    assert vertices[:, 1] == pytest.approx(1 + 10 * vertices[:, 0], abs=0.02)
    assert (tmp_path / "phase.png").stat().st_size > 0
    matplotlib.pyplot.close(figure)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"x": "beta"}, "x = beta is not a column of the table; its columns: eta, lambda"),
        ({"value": "law"}, "not numeric"),
        ({"aggregate": "sum"}, "aggregate = 'sum' is unknown"),
        ({"law": "rescale"}, "law = 'rescale' is not in the table; its laws: scale"),
        ({"boundary": LAM - ETA}, "is not a relation"),
        ({"boundary": sp.Eq(LAM, sp.Symbol("mu"))}, "uses mu, which is neither"),
    ],
)
def test_bad_phase_arguments(kwargs, match):
    arguments = {"x": ETA, "y": LAM, **kwargs}
    with pytest.raises(sn.InvalidInputError, match=match):
        sn.plot_phase(_table(), **arguments)
