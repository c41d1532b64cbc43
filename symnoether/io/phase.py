"""Phase diagrams of a sweep: a column of :func:`symnoether.sweep`'s table over two
swept parameters, as a heat map, with a closed-form boundary drawn over it.

Each cell aggregates the rows of one (x, y) pair over seeds and laws (``aggregate``:
the mean for a yes/no column such as ``passed``, so a cell shows the fraction that
passed; the maximum otherwise, the worst case of ``max_error``). An axis whose values
are positive and span two decades or more is drawn in log scale, and so is a
positive colour scale spanning two decades. ``boundary`` is a SymPy relation in the
two parameters (``sp.Eq(lam, eta / 10)``, ``lam * eta < 1e-4``): the curve where its
two sides are equal is drawn over the map.

Examples
--------
>>> import pandas as pd, sympy as sp
>>> eta, lam = sp.symbols("eta lambda", positive=True)
>>> table = pd.DataFrame({"eta": [0.1, 0.1, 0.2, 0.2], "lambda": [1.0, 2.0, 1.0, 2.0],
...                       "max_error": [1e-9, 2e-9, 3e-9, 4e-9], "law": ["psi1"] * 4})
>>> figure = plot_phase(table, x=eta, y=lam, value="max_error", boundary=sp.Eq(lam, 10 * eta))
>>> figure.axes[0].get_xlabel(), figure.axes[0].get_ylabel()
('$\\\\eta$', '$\\\\lambda$')
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..errors import InvalidInputError

__all__ = ["plot_phase", "phase_matrix"]

_AGGREGATES = ("mean", "max", "min", "median")


def phase_matrix(table, x, y, value: str = "max_error", *, aggregate: str | None = None,
                 law: str | None = None):  # fmt: skip
    """(x values, y values, matrix (len y, len x)) of ``value`` aggregated per cell.

    Cells with no row are NaN. See :func:`plot_phase` for the arguments.

    Examples
    --------
    >>> import pandas as pd
    >>> table = pd.DataFrame({"a": [1, 1, 2], "b": [5, 5, 5], "passed": [True, False, True]})
    >>> xs, ys, z = phase_matrix(table, "a", "b", "passed")
    >>> xs.tolist(), ys.tolist(), z.tolist()
    ([1.0, 2.0], [5.0], [[0.5, 1.0]])
    """
    xname, yname = _column(table, x, "x"), _column(table, y, "y")
    value = _column(table, value, "value")
    if xname == yname:
        raise InvalidInputError(f"x and y are both {xname}; pass two different parameters")
    rows = table
    if law is not None:
        if "law" not in table.columns or law not in set(table["law"]):
            known = ", ".join(sorted(set(table["law"]))) if "law" in table.columns else "none"
            raise InvalidInputError(f"law = {law!r} is not in the table; its laws: {known}")
        rows = table[table["law"] == law]
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    column = rows[value]
    boolean = is_bool_dtype(column)
    if aggregate is None:
        aggregate = "mean" if boolean else "max"
    if aggregate not in _AGGREGATES:
        raise InvalidInputError(
            f"aggregate = {aggregate!r} is unknown; use one of {', '.join(_AGGREGATES)}"
        )
    if not (boolean or is_numeric_dtype(column)):
        raise InvalidInputError(f"the column {value} is not numeric; pass e.g. 'max_error'")
    frame = rows[[xname, yname]].assign(_v=column.astype(float))
    cells = frame.groupby([yname, xname])["_v"].agg(aggregate).unstack(xname)
    cells = cells.sort_index().sort_index(axis=1)
    return (np.asarray(cells.columns, dtype=float), np.asarray(cells.index, dtype=float),
            cells.to_numpy(dtype=float))  # fmt: skip


def plot_phase(
    table,
    x,
    y,
    value: str = "max_error",
    *,
    boundary: sp.Basic | None = None,
    aggregate: str | None = None,
    law: str | None = None,
    path: str | None = None,
):
    """A heat map of ``value`` over the swept parameters ``x`` and ``y``.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`symnoether.sweep`.
    x, y : Symbol or str
        Two swept parameters (symbols or column names).
    value : str
        The column to show (``max_error``, ``passed``, ``order``, ``charge_end``, …).
    boundary : SymPy relation in x and y, optional
        Its curve lhs = rhs is drawn over the map (e.g. a restoration threshold).
    aggregate : {'mean', 'max', 'min', 'median'}, optional
        How the rows of a cell (seeds, laws) combine; default mean for a yes/no
        column, max otherwise.
    law : str, optional
        Only this law's rows.
    path : str, optional
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    xs, ys, z = phase_matrix(table, x, y, value, aggregate=aggregate, law=law)
    xname, yname = _column(table, x, "x"), _column(table, y, "y")
    xlog, ylog = _logarithmic(xs), _logarithmic(ys)
    finite = z[np.isfinite(z)]
    norm = None
    if finite.size and finite.min() > 0 and finite.max() >= 100 * finite.min():
        norm = LogNorm(vmin=finite.min(), vmax=finite.max())
    figure, ax = plt.subplots(figsize=(5.5, 4.2))
    mesh = ax.pcolormesh(_edges(xs, xlog), _edges(ys, ylog), z, norm=norm, shading="flat")
    used = aggregate or ("mean" if str(table[value].dtype) == "bool" else "max")
    figure.colorbar(mesh, ax=ax, label=f"{value} ({used} over seeds and laws)")
    ax.set_xscale("log" if xlog else "linear")
    ax.set_yscale("log" if ylog else "linear")
    ax.set_xlabel(f"${sp.latex(sp.Symbol(xname))}$")
    ax.set_ylabel(f"${sp.latex(sp.Symbol(yname))}$")
    if boundary is not None:
        _draw_boundary(ax, boundary, xname, yname, _edges(xs, xlog), _edges(ys, ylog),
                       xlog, ylog)  # fmt: skip
    figure.tight_layout()
    if path is not None:
        figure.savefig(path)
    return figure


def _column(table, key, role: str) -> str:
    name = key.name if isinstance(key, sp.Symbol) else str(key)
    if name not in table.columns:
        raise InvalidInputError(
            f"{role} = {name} is not a column of the table; its columns: "
            f"{', '.join(map(str, table.columns))}"
        )
    return name


def _logarithmic(values: np.ndarray) -> bool:
    return bool(values.size > 1 and values.min() > 0 and values.max() >= 100 * values.min())


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around sorted centres: midpoints (geometric on a log axis)."""
    v = np.log(values) if log else values.astype(float)
    if v.size == 1:
        edges = np.array([v[0] - 0.5, v[0] + 0.5]) if not log else v[0] + np.array([-0.5, 0.5])
    else:
        inner = (v[1:] + v[:-1]) / 2
        edges = np.concatenate([[2 * v[0] - inner[0]], inner, [2 * v[-1] - inner[-1]]])
    return np.exp(edges) if log else edges


def _draw_boundary(ax, boundary, xname, yname, xedges, yedges, xlog, ylog) -> None:
    if not isinstance(boundary, sp.core.relational.Relational):
        raise InvalidInputError(
            f"boundary = {boundary!r} is not a relation; pass e.g. sp.Eq(lam, eta / 10)"
        )
    expr = boundary.lhs - boundary.rhs
    symbols = {s.name: s for s in expr.free_symbols}
    stray = sorted(set(symbols) - {xname, yname})
    if stray:
        raise InvalidInputError(
            f"the boundary uses {', '.join(stray)}, which is neither x = {xname} nor "
            f"y = {yname}; substitute a value for it"
        )
    xsym = symbols.get(xname, sp.Symbol(xname))
    ysym = symbols.get(yname, sp.Symbol(yname))
    function = sp.lambdify((xsym, ysym), expr, "numpy")
    span = (np.geomspace if xlog else np.linspace)(xedges[0], xedges[-1], 200)
    height = (np.geomspace if ylog else np.linspace)(yedges[0], yedges[-1], 200)
    X, Y = np.meshgrid(span, height)
    with np.errstate(all="ignore"):
        F = np.broadcast_to(np.asarray(function(X, Y), dtype=float), X.shape)
    ax.contour(X, Y, F, levels=[0.0], colors="red", linewidths=1.5)
    ax.plot([], [], color="red", label=f"${sp.latex(boundary)}$")
    ax.legend(loc="best", fontsize="small")
