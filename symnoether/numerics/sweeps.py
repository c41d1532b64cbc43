r"""Hyper-parameter and seed sweeps: every law checked over a grid, in-process or on Dask.

:func:`grid` declares the swept parameters (a value list per symbol: :func:`geomspace`,
:func:`linspace` or any list) and the seeds; :func:`sweep` runs a check
(``"validate"``: :func:`~symnoether.numerics.validate.validate`; ``"discrete"``:
:func:`~symnoether.numerics.discrete.validate_discrete`; ``"sgd"``: the Monte Carlo
:func:`~symnoether.numerics.stochastic_mc.validate_sgd`; ``"stability"``: the growth
rate of a symmetric solution, :func:`~symnoether.core.stability.stability`) at every
grid point and seed and returns a :class:`pandas.DataFrame`, one row per point, seed
and law (``"stability"``: one row per point and seed, law ``'stability'``).

Seeds. Seed ``s`` starts the run from q₀ + spread·N(0, 1) (and, for a second-order
system, v₀ + spread·N(0, 1)) drawn from ``numpy.random.default_rng(s)``: exactly the
state ``validate(..., batch=1, seed=s, spread=spread)`` draws; the discrete check
uses the drawn q and starts at rest. ``spread=0`` runs every seed from q₀ itself.
The seed also seeds the constants a law may leave undrawn (entries of A in ψ_A).
The ``"sgd"`` check starts every run at q₀ itself and uses the seed as the Monte Carlo
stream's (``validate_sgd(..., seed=s)``); ``"stability"`` does not use it.

Matrix layers. A :class:`~symnoether.core.matrix_system.MatrixSystem` (``MatrixSymbol``
coordinates, :func:`~symnoether.core.matrices.layers`) sweeps under ``"validate"`` and
``"discrete"``: q0 (and v0) is ``{W1: array, ...}`` (or the flat vector of the entries),
constants and data are arrays in ``params`` (``{x: array, A: array}``; an A the law
leaves out is drawn from the seed, as ``validate`` draws it), the grid sweeps scalar
symbols only, and the seed's spread is added to the packed entries (layer by layer,
row-major). ``"sgd"`` and ``"stability"`` take the element-wise system
(``system.explicit()``, its laws derived on it).

Execution. Tasks are chunks of (point, seed) pairs. Each carries the generated
kernel *source text* and its SHA-256 (no compiled function, nothing numba-specific):
a worker checks the hash, compiles the source once through the kernel cache of its
own ``SYMNOETHER_CACHE_DIR`` and keeps the module for the next chunks. The ``"sgd"``
check's tasks carry the system and laws instead (SymPy objects, picklable): each worker
generates ``validate_sgd``'s kernels once (memoized per process) and compiles them
through its kernel cache. The ``"stability"`` check compiles nothing: the sweep derives
the linearization once and its tasks carry it. Without a
client the chunks run in this process, one after the other (the validation check:
each chunk one compiled batch across cores, :mod:`.sweep_batch`); ``workers=N`` starts a
``distributed.LocalCluster`` of N processes (closed afterwards); ``client=`` takes a
``distributed.Client`` or a scheduler address. The kernels, inputs and arithmetic
are the same on every path, so rows agree bit for bit (except ``wall_s``).
A Dask cluster runs what its clients send; the kernel source is no exception.

Errors. Bad input is refused before anything is sent: the grid, the parameters, q0
and the options are checked, and the first (point, seed) runs in this process: an
error that does not depend on the point's values stops the sweep there with its
message (:data:`~symnoether.numerics.sweep_tasks.FATAL`: an
:class:`~symnoether.errors.InvalidInputError`, such as an option value the check
refuses, or a :class:`~symnoether.errors.NotSupportedError`, such as
``prediction='exact'`` for a charge that is not quadratic). Any other error — a
divergence, a value the check refuses at later points only (β ≥ 1 under momentum) — is
a row: ``error`` holds the message, and a divergence sets ``diverged`` and
``diverged_t`` instead of stopping the sweep.

Output. With ``out=DIR`` every finished chunk is written at once as a Parquet part
file next to a manifest of the sweep's identity
(:mod:`~symnoether.numerics.sweep_store`): rerunning the same sweep skips the pairs
already written, and a directory holding another sweep is refused.

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> from symnoether.core import models
>>> eta = sp.Symbol("eta", positive=True)
>>> pair = models.scalar_pair()
>>> system = pair.system(sn.rules.gradient_descent(eta))
>>> law = sn.noether(system, pair.generators["rescale"])
>>> g = sn.grid({eta: sn.geomspace(0.01, 0.1, 2)}, seeds=range(2))
>>> len(g), g.names
(4, ('eta',))
>>> table = sn.sweep((system, [law]), g, q0=[1.5, 0.2], params={"x": 1.0, "y": 0.5},
...               t_end=2.0, backend="numpy")
>>> table.columns[:5].tolist(), len(table), bool(table["passed"].all())
(['eta', 'seed', 'law', 'passed', 'max_error'], 4, True)
>>> table[["eta", "seed"]].values.tolist()
[[0.01, 0.0], [0.01, 1.0], [0.1, 0.0], [0.1, 1.0]]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

from ..core.matrix_noether import MatrixNoetherLaw
from ..core.matrix_system import MatrixSystem
from ..core.noether import NoetherLaw
from ..core.system import LearningSystem
from ..errors import (
    InvalidInputError,
    InvalidParameterError,
    NotSupportedError,
    SchedulerError,
)
from .arguments import as_array, check_assumptions, count, positive, resolve_params
from .compiled import compile, flat_state
from .matrix_kernels import is_matrix, matrix_value
from .sweep_grid import Grid
from .sweep_grid import name_of as _name
from .sweep_progress import progress_of
from .sweep_store import SweepStore

__all__ = ["sweep", "run_chunk", "loaded_sources", "Job", "COLUMNS"]

from .sweep_tasks import (
    CHECKS,
    COLUMNS,
    SYMBOLIC,
    Job,
    job_kernels,
    linearize,
    loaded_sources,
    manifest,
    remember,
    run_chunk,
    run_point,
    symbolic_parameters,
)  # fmt: skip

# -- the sweep ------------------------------------------------------------------------


def sweep(
    target,
    grid: Grid,
    *,
    q0,
    v0=None,
    params: Mapping | None = None,
    check: str = "validate",
    spread: float = 0.1,
    out=None,
    client=None,
    workers: int | None = None,
    chunk: int | None = None,
    timeout: float = 10.0,
    progress=None,
    **options,
):
    """Check every law at every grid point and seed; a pandas DataFrame of the rows.

    Parameters
    ----------
    target : Derivation, or (LearningSystem, laws)
        The laws to check (a :class:`~symnoether.io.derivation.Derivation` names them);
        the system may be matrix-level (see the module docstring).
    grid : Grid
        From :func:`grid`; its symbols must be parameters of the system or its laws.
    q0, v0 : array (n,), or dict of arrays for matrix layers
        The centre of the initial states (see the module docstring).
    params : dict, optional
        Values of the parameters the grid does not sweep (data, fixed hyper-parameters;
        arrays for MatrixSymbols).
    check : {'validate', 'discrete', 'sgd', 'stability'}
        ``'sgd'`` needs a system built with ``rules.sgd`` (or ``sgd_momentum``) and a
        dataset; ``'stability'`` takes a LearningSystem alone too (it checks no law).
    spread : float ≥ 0
        Standard deviation of the seeded initial states around q0 (and v0).
    out : path, optional
        Directory of Parquet part files and a manifest: written as chunks finish;
        rerunning the same sweep resumes it.
    client : distributed.Client or str, optional
        A Dask client, or a scheduler address (``"tcp://host:8786"``) to connect to
        within ``timeout`` seconds.
    workers : int, optional
        Start a ``LocalCluster`` of this many processes for the sweep (then close it).
    chunk : int, optional
        (point, seed) pairs per task (default: about four tasks per worker, ≤ 256).
    progress : bool or callable, optional
        True: a bar on stderr, on a terminal (:mod:`~symnoether.numerics.sweep_progress`);
        a callable: called ``progress(pairs done, pairs in the sweep)`` as chunks finish.
    **options
        Passed to the check: ``t_end``, ``rtol``, ``atol``, ``method``, ``dt``,
        ``tolerance``, ``max_steps`` (validate); ``steps``, ``lr``, ``levels``, the
        tolerances (discrete); ``runs``, ``steps``, ``prediction``, ``z_max``, ``atol``,
        ``checkpoints`` (sgd, as in ``validate_sgd``); ``backend`` for these three.
        Stability: ``point`` (required: {coordinate or its name: value}, the symmetric
        solution), ``parameter`` (the Symbol or name whose threshold is reported;
        default the grid's first axis), ``noise`` (False: mean gradient flow; True:
        minibatch SGD, the top Lyapunov exponent), ``normal`` and ``bounds`` (as in
        ``stability``). The linearization is derived once for the whole sweep (with
        ``noise=True`` its numeric threshold at the first grid point's other values).

    Returns
    -------
    pandas.DataFrame
        One row per point, seed and law, sorted by point, seed and law: a column per
        swept symbol, then ``seed``, ``law``, ``passed``, ``max_error`` (validate: the
        relative residual; discrete: the relative error at the smallest η), ``order``
        (discrete: the law's observed order, else NaN), ``charge_end`` (the undamped
        charge e^{−t/τ}Q at the end of the run), ``diverged`` and ``diverged_t`` (the
        time it diverged, never fatal), ``error`` (the message of a point that raised;
        a divergence's too), ``wall_s`` (seconds for the point and seed; validate: the
        chunk's time shared by its pairs) and ``point``
        (the grid point's index).

        For ``check='sgd'``: ``passed`` is the report's verdict (abs(z) ≤ z_max +
        atol/SE, no run diverged), ``max_error`` is abs(z), the mean residual of the
        runs in standard errors, ``order`` is NaN, ``charge_end`` the mean charge over
        the runs after the last step, ``diverged`` whether any run diverged (its
        message in ``error``; ``diverged_t`` NaN).

        For ``check='stability'`` (law ``'stability'``): ``passed`` is the predicted
        verdict, exponent < 0 (the symmetric solution attracts: restoration, or
        collapse under SGD); ``max_error`` is the exponent itself, the growth rate per
        unit time t = kη (−λ_min of the Hessian; with ``noise=True`` the top Lyapunov
        exponent); ``order`` is NaN; ``charge_end`` is the threshold of ``parameter``
        (stable above it) at the point's other values, NaN when there is none or (with
        ``noise=True``) when a swept parameter other than ``parameter`` enters the
        linearized maps; ``diverged`` is False.

    Raises
    ------
    InvalidInputError
        Before anything runs: an unknown check or option, a swept symbol that is not a
        parameter (naming the ones there are) or is a matrix, a value its symbol's
        assumptions forbid (:class:`InvalidParameterError`), a missing parameter, bad q0.
        Also any input error of the first (point, seed).
    NotSupportedError
        What the check cannot do whatever the point (``prediction='exact'`` for a charge
        that is not quadratic, ``'sgd'``/``'stability'`` on matrix layers), raised by
        the first (point, seed).
    SchedulerError
        A scheduler address that does not answer within ``timeout``.
    SweepMismatchError
        ``out`` holds another sweep.
    """
    import pandas as pd

    system, laws, names = _target(target, check)
    if not isinstance(grid, Grid):
        raise InvalidInputError(f"grid is a {type(grid).__name__}; build it with sn.grid(...)")
    if check not in CHECKS:
        raise InvalidInputError(f"check = {check!r} is unknown; use one of {', '.join(CHECKS)}")
    unknown = sorted(set(options) - set(CHECKS[check]))
    if unknown:
        raise InvalidInputError(
            f"{', '.join(unknown)} is not an option of the {check!r} check; its options are "
            f"{', '.join(CHECKS[check])}"
        )
    spread = positive(spread, "spread", "0.1", least=0.0)
    if client is not None and workers is not None:
        raise InvalidInputError(
            "pass either client= (an existing Dask cluster) or workers= (a local cluster "
            "started for the sweep), not both"
        )
    backend = options.get("backend", "numba")
    kernels = None
    if check in SYMBOLIC:
        by_name = symbolic_parameters(system, laws)
    else:
        kernels = compile(system, laws, backend=backend)
        by_name = {s.name: s for s in kernels.parameters}
    for name in grid.names:
        if name not in by_name:
            raise InvalidInputError(
                f"the grid sweeps {name}, which is not a parameter of the derivation; its "
                f"parameters are {', '.join(by_name) or 'none'}"
            )
        if is_matrix(by_name[name]):
            rows, cols = by_name[name].shape
            raise InvalidInputError(
                f"the grid sweeps {name}, a {rows}×{cols} matrix; a grid sweeps scalar "
                f"parameters (such as {', '.join(_scalars(by_name)) or 'eta'}): pass {name} "
                f"as an array in params="
            )
        if name in COLUMNS:
            raise InvalidInputError(f"the parameter {name} clashes with the column {name!r}")
    for name, (_, values) in zip(grid.names, grid.axes):
        for value in values:
            try:
                check_assumptions(by_name[name], value)
            except InvalidParameterError as err:
                raise InvalidParameterError(f"in the grid: {err}") from None
    fixed = {}
    for key, value in dict(params or {}).items():
        name = _name(key)
        if name in grid.names:
            raise InvalidInputError(f"params gives {name}, which the grid sweeps; drop one")
        fixed[name] = value
    nq = len(system.coords) if kernels is None else len(kernels.coords)
    if kernels is not None:  # a MatrixSystem's {layer: array}: its entries, row-major
        q0, v0 = flat_state(kernels, q0, "q0"), flat_state(kernels, v0, "v0")
    q = tuple(as_array(q0, "q0", nq, batch=False)[0].tolist())
    v = None if v0 is None else tuple(as_array(v0, "v0", nq, batch=False)[0].tolist())
    if kernels is not None:
        # Missing or forbidden fixed values fail here, once (unused ones warn once).
        resolve_params(kernels, {**fixed, **dict(zip(grid.names, grid.point(0)))})
    fixed = {k: _value(by_name[k], v) for k, v in fixed.items() if k in by_name}
    prepared = None
    if check == "stability":
        prepared = linearize(system, by_name, grid, fixed, dict(options))
    source = "" if kernels is None else kernels.source
    source_hash = hashlib.sha256(source.encode("utf-8")).hexdigest()
    job = Job(
        source=source, source_hash=source_hash, backend=backend, system=system,
        laws=laws, state=() if kernels is None else kernels.state,
        parameters=() if kernels is None else kernels.parameters,
        affine=() if kernels is None else kernels.affine,
        names=names, axes=grid.names, values=tuple(v for _, v in grid.axes), seeds=grid.seeds,
        fixed=tuple(sorted(fixed.items())), q0=q, v0=v, spread=spread, check=check,
        options=tuple(sorted((k, o) for k, o in options.items() if check != "stability")),
        symbols=tuple(sorted(by_name.items())), prepared=prepared,
        spec=getattr(kernels, "spec", None),
    )  # fmt: skip
    if kernels is not None:
        remember(source_hash, kernels)
    # Bad option values fail here, before any task is sent.
    run_point(job, None if kernels is None else job_kernels(job), 0, grid.seeds[0], strict=True)
    items = [(p, s) for p in range(grid.points) for s in grid.seeds]
    store = None
    if out is not None:
        store = SweepStore.open(out, manifest(job, options))
        done = store.done()
        items = [item for item in items if item not in done]
    columns = [*grid.names, *COLUMNS]
    rows: list[tuple] = []
    report, total = progress_of(progress), len(grid)
    done = [total - len(items)]

    def keep(first: int, chunk_rows: list[tuple]) -> None:
        if store is not None:
            store.write(pd.DataFrame(chunk_rows, columns=columns), first=first)
        rows.extend(chunk_rows)
        done[0] += len(chunk_rows) // len(names)
        if report is not None:
            report(done[0], total)

    if items:
        try:
            if report is not None:
                report(done[0], total)
            _execute(job, items, keep, client, workers, chunk, timeout, report)
        finally:
            getattr(report, "close", lambda: None)()
    frames = [pd.DataFrame(rows, columns=columns)]
    if store is not None:
        frames = [store.table()]
    table = pd.concat(frames, ignore_index=True)
    order = {name: i for i, name in enumerate(names)}
    table = table.assign(_law=table["law"].map(order)).sort_values(["point", "seed", "_law"])
    return table.drop(columns="_law").reset_index(drop=True)


def _target(target, check: str = "validate") -> tuple[LearningSystem, tuple, tuple]:
    if check == "stability":  # one row per point and seed, about the system alone
        system = target if isinstance(target, LearningSystem | MatrixSystem) else None
        if isinstance(target, tuple) and len(target) == 2:
            system = target[0]
        system = getattr(target, "system", system)
        _supported(system, check)
        if not isinstance(system, LearningSystem):
            raise InvalidInputError(
                f"sweep(check='stability') takes a LearningSystem, (system, laws) or a "
                f"Derivation, got {type(target).__name__}"
            )
        return system, (), ("stability",)
    if isinstance(target, tuple) and len(target) == 2:
        system, laws = target
        laws = (laws,) if isinstance(laws, NoetherLaw) else tuple(laws)
        names = tuple(f"psi{i + 1}" for i in range(len(laws)))
    else:
        system = getattr(target, "system", None)
        laws, names = getattr(target, "laws", ()), getattr(target, "names", ())
    if not isinstance(system, LearningSystem | MatrixSystem) or not laws:
        raise InvalidInputError(
            f"sweep() takes a Derivation (sn.derive(...)) or (system, laws), got "
            f"{type(target).__name__}; a derivation without laws has nothing to check"
        )
    kind = MatrixNoetherLaw if isinstance(system, MatrixSystem) else NoetherLaw
    if not all(isinstance(law, kind) for law in laws):
        raise InvalidInputError(
            "the laws to sweep must be NoetherLaws made by sn.noether on the swept system"
        )
    _supported(system, check)
    return system, tuple(laws), tuple(names)


def _supported(system, check: str) -> None:
    """NotSupportedError for the checks 'sgd' and 'stability' of a MatrixSystem, and for
    'validate' and 'discrete' of a minibatch-SGD system (whatever the point)."""
    rule = getattr(system, "rule", None)
    if check in CHECKS and check not in SYMBOLIC and rule is not None and rule.stochastic:
        raise NotSupportedError(
            f"check={check!r} integrates the mean dynamics, but the laws of a minibatch-SGD "
            f"system are expectations over the batch noise; use check='sgd' (Monte Carlo, "
            f"as sn.validate_sgd), or sweep the same loss under rules.gradient_descent(eta)"
        )
    if isinstance(system, MatrixSystem) and check in SYMBOLIC:
        raise NotSupportedError(
            f"check={check!r} takes an element-wise system, not matrix layers "
            f"({', '.join(str(W.name) for W in system.layers)}); sweep system.explicit() "
            f"(its laws derived on it with sn.derive or sn.noether; small widths), or use "
            f"check='validate' or 'discrete' on the matrix system"
        )


def _scalars(by_name: dict) -> list[str]:
    return [name for name, symbol in by_name.items() if not is_matrix(symbol)]


def _value(symbol, value):
    """A fixed parameter's value: a float checked against its symbol's assumptions, or
    for a MatrixSymbol a read-only float array of its shape."""
    if is_matrix(symbol):
        array = matrix_value(symbol, value, "params")
        array.setflags(write=False)
        return array
    return float(check_assumptions(symbol, value))


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _execute(job, items, keep, client, workers, chunk, timeout, report=None) -> None:
    """Run the chunks in-process, on a LocalCluster of ``workers`` processes or on
    ``client``; ``keep(number of the chunk's first pair in the whole grid, rows)`` as
    each chunk finishes (a stable number: part files of a resumed sweep never collide)."""
    seeds = {seed: i for i, seed in enumerate(job.seeds)}
    index = {item: item[0] * len(seeds) + seeds[item[1]] for item in items}
    if client is None and workers is None:
        for part in _chunks(items, chunk or 256):
            keep(index[part[0]], run_chunk(job, part, parallel=True))
        return
    if workers is not None:
        workers = count(workers, "workers", "2")
        from distributed import Client, LocalCluster

        with (
            LocalCluster(n_workers=workers, processes=True, threads_per_worker=1,
                         host="127.0.0.1", dashboard_address=None) as cluster,
            Client(cluster) as local,
        ):  # fmt: skip
            _on_dask(local, job, items, index, keep, chunk, report)
        return
    if isinstance(client, str):
        timeout = positive(timeout, "timeout", "10")
        from distributed import Client

        try:
            connected = Client(client, timeout=timeout)
        except (OSError, TimeoutError, ValueError) as err:
            raise SchedulerError(
                f"cannot reach the Dask scheduler at {client} within {timeout:g} s ({err}); "
                "check the address and that `dask scheduler` runs there, or omit client= "
                "to sweep in this process"
            ) from None
        with connected:
            _on_dask(connected, job, items, index, keep, chunk, report)
        return
    if not hasattr(client, "submit"):
        raise SchedulerError(
            f"client is a {type(client).__name__}; pass a distributed.Client or a scheduler "
            "address such as 'tcp://127.0.0.1:8786'"
        )
    _on_dask(client, job, items, index, keep, chunk, report)


def _on_dask(client, job, items, index, keep, chunk, report=None) -> None:
    from distributed import as_completed

    if hasattr(report, "dashboard"):
        try:
            report.dashboard(client.dashboard_link)
        except Exception:  # a scheduler without a dashboard
            pass

    n = max(1, len(client.scheduler_info().get("workers", {})))
    size = chunk or max(1, min(256, math.ceil(len(items) / (4 * n))))
    parts = _chunks(items, size)
    futures = {
        client.submit(run_chunk, job, part, pure=False, retries=3): index[part[0]] for part in parts
    }
    try:
        for future in as_completed(list(futures)):
            keep(futures[future], future.result())
    finally:
        client.cancel(list(futures))
