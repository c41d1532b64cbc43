r"""The batched validation of a sweep: many grid points and seeds in one compiled call.

:func:`~symnoether.numerics.validate.validate` spends most of a short run in Python:
checking and resolving the parameters, drawing the initial state, building a report.
A sweep repeats the same symbolic work at every point. Here it is done once per
chunk and seed: the parameters are resolved (and the constants a law leaves undrawn
drawn, seeded) once per seed, the initial state is drawn once per seed, and a grid
point only overwrites the swept entries of the packed parameter vector (plain
NumPy). The chunk then runs through the kernel module's ``drive_sweep`` (serially) or
``drive_sweep_parallel`` (across cores): one ``drive_integrate`` per member, with
its own parameter vector, the same compiled integrator ``validate`` calls.

Every number is computed as ``validate`` computes it — the same option defaults,
the same inputs to the same driver, the same residual ``stats[0] / scale`` — so a
row agrees bit for bit with ``validate(system, laws, q, v, params=..., seed=s)`` at
its point (``tests/numerics/test_sweep.py`` checks it). A member that stops early
(step budget, step-size underflow, non-finite state) is reported with the message
``validate`` would raise. ``wall_s`` is the chunk's time shared evenly by its pairs.

Examples
--------
>>> settings({"t_end": 2.0})[:4]
(2.0, 1e-09, 1e-12, 1000000)
>>> settings({"method": "rk4"})[4:]
(0.001, 1e-06, 'rk4')
"""

from __future__ import annotations

import math
import re
import time
import warnings

import numpy as np

from ..errors import DivergenceError, InvalidInputError, UnusedParameterWarning
from .arguments import count, initial_states, positive, resolve_params
from .compiled import TABLEAUS, check_status
from .matrix_kernels import Entries
from .validate import _ATOL_FLOOR, _RTOL_FLOOR, _scale

__all__ = ["settings", "run_validate"]


def settings(options: dict) -> tuple:
    """(t_end, rtol, atol, max_steps, h, tolerance, method) from the options of the
    ``"validate"`` check, with ``validate``'s defaults and checks."""
    t_end = positive(options.get("t_end", 10.0), "t_end", "10.0")
    rtol = positive(options.get("rtol", 1e-9), "rtol", "1e-9", least=_RTOL_FLOOR)
    atol = positive(options.get("atol", 1e-12), "atol", "1e-12", least=_ATOL_FLOOR)
    max_steps = count(options.get("max_steps", 1_000_000), "max_steps", "1_000_000")
    method = options.get("method", "dopri5")
    if not isinstance(method, str) or method not in TABLEAUS:
        raise InvalidInputError(f"method {method!r} is unknown; use 'dopri5' or 'rk4'")
    adaptive = method == "dopri5"
    dt = options.get("dt")
    h = 0.0 if dt is None else positive(dt, "dt", "0.001")
    if not adaptive:
        h = h or t_end / 10_000
    tolerance = options.get("tolerance")
    if tolerance is not None:
        tolerance = positive(tolerance, "tolerance", "1e-6")
    else:
        tolerance = max(1e3 * rtol, 1e-10) if adaptive else 1e-6
    return t_end, rtol, atol, max_steps, h, float(tolerance), method


def _per_seed(job, kernels, seed: int, first: dict) -> tuple[np.ndarray, np.ndarray]:
    """(packed parameters at the grid's first point, initial state) for ``seed``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedParameterWarning)
        values, _ = resolve_params(kernels, first, seed=seed)
    p = kernels.pack(values)
    y0 = initial_states(kernels, job.q0, job.v0, 1, seed, job.spread)[0]
    return p, np.ascontiguousarray(y0)


def run_validate(job, kernels, items: list[tuple[int, int]], parallel: bool = False) -> list:
    """The rows of the ``"validate"`` check at the (point, seed) pairs ``items``, in
    the order of the sweep's columns (see :func:`symnoether.numerics.sweep_tasks.run_chunk`)."""
    start = time.perf_counter()
    t_end, rtol, atol, max_steps, h, tolerance, method = settings(dict(job.options))
    index = np.array([kernels.laws.index(law) for law in job.laws], dtype=np.int64)
    entries = Entries(kernels.parameters)  # a matrix parameter spans several entries of p
    by_name = {s.name: entries.offset(s) for s in kernels.parameters}
    axis_columns = [by_name[name] for name in job.axes]
    first = {**dict(job.fixed), **{a: v[0] for a, v in zip(job.axes, job.values)}}
    seeds = {seed: _per_seed(job, kernels, seed, first) for seed in {s for _, s in items}}
    points = np.array([p for p, _ in items], dtype=np.int64)
    shape = tuple(len(v) for v in job.values)
    coords = np.unravel_index(points, shape)
    grid_values = [np.array(v, dtype=np.float64)[c] for v, c in zip(job.values, coords)]
    P = np.array([seeds[s][0] for _, s in items], dtype=np.float64)
    for column, values in zip(axis_columns, grid_values):
        P[:, column] = values
    Y0 = np.array([seeds[s][1] for _, s in items], dtype=np.float64)
    m, ns, nl = len(items), len(kernels.state), len(kernels.laws)
    S, info = np.empty((m, 5, nl)), np.empty((m, 5))
    Z, C = np.empty((m, ns + nl)), np.empty((m, nl))
    module = kernels.module
    tableau = TABLEAUS[method]
    args = (*tableau, 0.0, float(t_end))
    rest = (rtol, atol, h, max_steps)
    errors = [""] * m
    with np.errstate(all="ignore"):  # the NumPy backend: overflow is caught as divergence
        try:
            driver = module.drive_sweep_parallel if parallel else module.drive_sweep
            driver(*args, Y0, P, *rest, S, info, Z, C)
        except Exception:  # a member that raises (NumPy backend): run each on its own
            for k in range(m):
                sl = slice(k, k + 1)
                try:
                    module.drive_sweep(*args, Y0[sl], P[sl], *rest, S[sl], info[sl], Z[sl], C[sl])
                except Exception as err:
                    errors[k] = f"{type(err).__name__}: {err}"
    Sx = S[:, :, index]
    scale = _scale(np.moveaxis(Sx, 1, 0), atol / tolerance)
    residuals = Sx[:, 0, :] / scale
    wall = (time.perf_counter() - start) / max(m, 1)
    rows = []
    for k, (point, seed) in enumerate(items):
        values = tuple(float(g[k]) for g in grid_values)
        diverged, when, error = False, math.nan, errors[k]
        results = [(False, math.nan, math.nan, math.nan)] * len(job.laws)
        if not error:
            try:
                check_status(info[k], Z[k], kernels)
            except DivergenceError as err:
                diverged, error = True, str(err)
                found = re.search(r"t = ([-+0-9.eEinfa]+)", error)
                when = float(found.group(1)) if found else math.nan
            else:
                results = [
                    (residuals[k, j] <= tolerance, residuals[k, j], math.nan, C[k, index[j]])
                    for j in range(len(job.laws))
                ]
        rows.extend(
            (*values, seed, name, bool(passed), float(err), float(order), float(end), diverged,
             when, error, wall, point)
            for name, (passed, err, order, end) in zip(job.names, results)
        )  # fmt: skip
    return rows
