"""What a sweep's task runs: a chunk of (grid point, seed) pairs on one worker.

A :class:`Job` is plain data — the kernel source text and its SHA-256, the system, the
laws and the check's options — so it pickles without anything numba-specific; a
worker checks the hash, compiles the source once through its own kernel cache and
keeps the module for its next chunks (:func:`loaded_sources` lists them).
:func:`run_chunk` returns one row per pair and law and never raises for one point.
:func:`symnoether.numerics.sweeps.sweep` builds the job and sends the chunks.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..core.matrix_system import MatrixSystem
from ..core.system import LearningSystem
from ..errors import DivergenceError, InvalidInputError, NotSupportedError, UnusedParameterWarning
from . import kernel_cache, matrix_codegen
from .arguments import initial_states
from .codegen import CODEGEN_VERSION, Kernels, _numba_version
from .discrete import validate_discrete
from .matrix_kernels import MatrixKernels
from .stochastic_mc import validate_sgd
from .sweep_batch import run_validate
from .sweep_grid import Grid
from .sweep_grid import name_of as _name
from .validate import validate

__all__ = [
    "Job", "run_chunk", "run_point", "job_kernels", "remember", "kernel_body",
    "loaded_sources", "manifest", "symbolic_parameters", "linearize", "COLUMNS", "CHECKS", "FATAL",
]  # fmt: skip

COLUMNS = ("seed", "law", "passed", "max_error", "order", "charge_end", "diverged",
           "diverged_t", "error", "wall_s", "point")  # fmt: skip
"""The columns after the swept parameters' (one per swept symbol, named by it)."""

CHECKS = {
    "validate": ("t_end", "rtol", "atol", "method", "dt", "tolerance", "max_steps", "backend"),
    "discrete": ("steps", "lr", "levels", "order_tolerance", "relative_tolerance",
                 "identity_tolerance", "backend"),
    "sgd": ("runs", "steps", "prediction", "z_max", "atol", "checkpoints", "backend"),
    "stability": ("point", "parameter", "noise", "normal", "bounds"),
}  # fmt: skip
"""Each check's options (``sgd``: :func:`~symnoether.numerics.stochastic_mc.validate_sgd`'s;
``stability``: :func:`~symnoether.core.stability.stability`'s; ``point`` is required)."""

SYMBOLIC = ("sgd", "stability")
"""Checks that compile their own kernels (``sgd``: ``validate_sgd`` through the kernel
cache) or none (``stability``): their tasks carry no kernel source."""


@dataclass(frozen=True)
class Job:
    """What a task needs besides its (point, seed) pairs: plain data, the kernel source
    and its hash; picklable without numba."""

    source: str
    source_hash: str
    backend: str
    system: LearningSystem | MatrixSystem
    laws: tuple
    state: tuple
    parameters: tuple
    affine: tuple
    names: tuple
    axes: tuple  # the swept parameters' names
    values: tuple  # one tuple of floats per axis
    seeds: tuple
    fixed: tuple  # ((name, float), ...)
    q0: tuple
    v0: tuple | None
    spread: float
    check: str
    options: tuple = field(default=())
    symbols: tuple = ()  # ((name, Symbol), ...): the parameters by name
    prepared: object = None  # stability: the linearization, derived once per sweep
    spec: object = None  # a MatrixSystem's MatrixSpec (its kernels are MatrixKernels)


FATAL = (InvalidInputError, NotSupportedError)
"""Errors the sweep's first (point, seed) raises instead of recording: they come from the
options, the check or the system, not from the point's values, so every row would hold
them (a value the check refuses only at some points stays in its row after the first)."""

_KERNELS: dict[str, Kernels | MatrixKernels] = {}
"""Kernels of this process by source hash (a worker compiles each source once)."""


def loaded_sources() -> tuple[str, ...]:
    """The SHA-256 of every kernel source this process has compiled for a sweep (what a
    Dask worker reports through ``client.run``)."""
    return tuple(_KERNELS)


def remember(source_hash: str, kernels: Kernels) -> None:
    """Keep ``kernels`` (compiled in this process) as the module of ``source_hash``."""
    _KERNELS.setdefault(source_hash, kernels)


def job_kernels(job: Job) -> Kernels | MatrixKernels:
    """The job's kernels: compiled once per process from its source, after checking the hash
    (:class:`MatrixKernels` for a job with a ``spec``)."""
    kernels = _KERNELS.get(job.source_hash)
    if kernels is not None:
        return kernels
    if hashlib.sha256(job.source.encode("utf-8")).hexdigest() != job.source_hash:
        raise InvalidInputError("the kernel source of the sweep's task does not match its hash")
    body = kernel_body(job.source)
    if job.spec is not None:  # a MatrixSystem: digest and module as compile_spec makes them
        kernels = matrix_codegen.load_matrix_kernels(
            job.system, job.laws, job.spec, body, job.affine, job.backend
        )
        _KERNELS[job.source_hash] = kernels
        return kernels
    if job.backend == "numpy":
        path, module, source = kernel_cache.numpy_module(body, kernel_cache.body_hash(body))
    else:
        digest = kernel_cache.body_hash(CODEGEN_VERSION + _numba_version() + body)
        path, module, source = kernel_cache.load_module(body, digest)
    kernels = Kernels(
        system=job.system, laws=job.laws, state=job.state, coords=tuple(job.system.coords),
        parameters=job.parameters, affine=job.affine, source=source, path=path,
        backend=job.backend, module=module,
    )  # fmt: skip
    _KERNELS[job.source_hash] = kernels
    return kernels


def kernel_body(source: str) -> str:
    for header in (kernel_cache.HEADER_NUMBA, kernel_cache.HEADER_NUMPY,
                   kernel_cache.HEADER_NUMBA.replace("cache=True", "cache=False")):  # fmt: skip
        if source.startswith(header):
            return source[len(header) :]
    raise InvalidInputError("the sweep's kernel source has an unknown header")


def run_chunk(job: Job, items: list[tuple[int, int]], parallel: bool = False) -> list[tuple]:
    """Run the check at every (point, seed) of ``items``: the rows, as tuples in the
    order of the columns. Never raises for one point: a divergence or an error is
    recorded in its rows. The validation check runs the chunk as one batch
    (:mod:`~symnoether.numerics.sweep_batch`; across cores when ``parallel``)."""
    kernels = None if job.check in SYMBOLIC else job_kernels(job)
    if job.check == "validate":
        return run_validate(job, kernels, items, parallel)
    rows = []
    for point, seed in items:
        rows.extend(run_point(job, kernels, point, seed))
    return rows


def run_point(job: Job, kernels: Kernels, point: int, seed: int, strict=False) -> list[tuple]:
    values = _point_values(job, point)
    params = dict(job.fixed)
    params.update(zip(job.axes, values))
    nl = len(job.laws)
    results = [(False, math.nan, math.nan, math.nan)] * nl
    diverged, when, error = False, math.nan, ""
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnusedParameterWarning)
            results = _check(job, kernels, params, seed)
    except DivergenceError as err:
        diverged, error = True, str(err)
        found = re.search(r"t = ([-+0-9.eEinfa]+)", error)
        when = float(found.group(1)) if found else math.nan
    except Exception as err:  # a point that raises is a row, not the end of the sweep
        if strict and isinstance(err, FATAL):
            raise
        error = f"{type(err).__name__}: {err}"
    wall = time.perf_counter() - start
    return [
        (*values, seed, name, bool(passed), float(err), float(order), float(end), diverged,
         when, error, wall, point)
        for name, (passed, err, order, end) in zip(job.names, results)
    ]  # fmt: skip


def _point_values(job: Job, point: int) -> tuple[float, ...]:
    values = []
    for axis in reversed(job.values):
        point, i = divmod(point, len(axis))
        values.append(axis[i])
    return tuple(reversed(values))


def _check(job: Job, kernels: Kernels, params: dict, seed: int) -> list[tuple]:
    options = dict(job.options)
    if job.check == "sgd":
        return _sgd(job, params, seed, options)
    if job.check == "stability":
        return [_stability(job, params)]
    y0 = initial_states(kernels, job.q0, job.v0, 1, seed, job.spread)[0]
    n = len(kernels.coords)
    system, laws = kernels.system, kernels.laws
    if job.check == "validate":
        v0 = y0[n:] if len(y0) > n else None
        report = validate(system, laws, y0[:n], v0, params=params, kernels=kernels,
                          seed=seed, **options)  # fmt: skip
        return [
            (report.residuals[j] <= report.tolerance, report.residuals[j], math.nan,
             report.charge[-1, j])
            for j in range(len(laws))
        ]  # fmt: skip
    report = validate_discrete(system, laws, y0[:n], params=params, kernels=kernels, seed=seed,
                               **options)  # fmt: skip
    errors = np.asarray(report.law_errors, dtype=float)
    orders = report.law_orders
    return [
        (report.law_verdicts[j], errors[-1, j], orders[j], report.charge_discrete[-1, j])
        for j in range(len(laws))
    ]


def _sgd(job: Job, params: dict, seed: int, options: dict) -> list[tuple]:
    """``validate_sgd`` of every law from q0 with the sweep's seed as the Monte Carlo
    stream's: (passed, abs(z), nan, mean charge at the end); a run that diverged raises
    (a diverged row, with the report's message)."""
    rows = []
    for law in job.laws:
        report = validate_sgd(job.system, law, list(job.q0), params=params, seed=seed,
                              **options)  # fmt: skip
        if report.diverged:
            raise DivergenceError(report.message)
        rows.append((report.passed, abs(report.z), math.nan, report.mean_charge[-1]))
    return rows


def _stability(job: Job, params: dict) -> tuple:
    """(exponent < 0, the exponent per unit time, nan, the threshold at this point's other
    parameters or nan) from the linearization the sweep derived once."""
    result = job.prepared
    symbols = dict(job.symbols)
    values = {symbols[name]: value for name, value in params.items() if name in symbols}
    parameter = result.parameter
    if parameter not in values:
        raise InvalidInputError(
            f"the stability parameter {parameter} has no value; sweep it or pass params="
        )
    value = values.pop(parameter)
    exponent = result.exponent(value, values)
    threshold = result.threshold
    if isinstance(threshold, sp.Expr):
        threshold = threshold.subs(values)
        threshold = float(threshold) if threshold.is_number else math.nan
    elif threshold is not None and (set(job.axes) - {parameter.name}) & _depends(job, result):
        threshold = math.nan  # a numeric SGD threshold, found at other parameter values
    return (exponent < 0, exponent, math.nan, math.nan if threshold is None else threshold)


def _depends(job: Job, result) -> set[str]:
    """Names of the parameters a ``noise=True`` linearization depends on (η included)."""
    symbols = set().union(sp.sympify(job.system.rule.lr).free_symbols,
                          *(h.free_symbols for h in result.hessians))  # fmt: skip
    return {s.name for s in symbols}


def manifest(job: Job, options: dict) -> dict:
    """The sweep's identity for its output directory (:mod:`.sweep_store`)."""
    if job.source:
        body = kernel_body(job.source)
    else:  # the symbolic checks: the system and laws themselves
        body = sp.srepr((job.system.potential, job.system.rule.lr if job.system.rule else 0,
                         *(law.charge for law in job.laws)))  # fmt: skip
    derivation = hashlib.sha256((body + "\n" + "\n".join(job.names)).encode()).hexdigest()
    return {
        "derivation": derivation,
        "laws": list(job.names),
        "grid": {
            "axes": [[n, list(v)] for n, v in zip(job.axes, job.values)],
            "seeds": list(job.seeds),
        },
        "check": job.check,
        "backend": job.backend,
        "options": {k: _plain(v) for k, v in sorted(options.items()) if k != "backend"},
        "q0": list(job.q0),
        "v0": None if job.v0 is None else list(job.v0),
        "spread": job.spread,
        "params": {k: _plain(v) for k, v in job.fixed},
    }


def _plain(value):
    """An option's value as JSON (a point or a matrix as its text)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "tolist"):  # a matrix parameter: its entries, exactly
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return str(value)


# -- what the symbolic checks need, derived once per sweep ------------------------------


def symbolic_parameters(system: LearningSystem, laws: tuple) -> dict:
    """The hyper-parameters by name: the symbols of V, the rule and the laws that are
    neither coordinates nor data (the data come from the dataset)."""
    rule = system.rule
    exprs = [system.potential, *(law.charge for law in laws)]
    if rule is not None:
        exprs += [sp.sympify(rule.lr), sp.sympify(0 if rule.beta is None else rule.beta)]
    found = set().union(*(sp.sympify(e).free_symbols for e in exprs))
    found -= set(system.coords) | set(system.data or ())
    return {s.name: s for s in sorted(found, key=str)}


def linearize(system, by_name: dict, grid: Grid, fixed: dict, options: dict):
    """The stability check's linearization, derived once: ``stability(system, point,
    parameter=..., noise=..., normal=...)`` (noise=True: its numeric threshold at the
    first grid point's other values)."""
    from ..core.stability import stability

    point = options.get("point")
    if point is None:
        raise InvalidInputError(
            "the 'stability' check needs point=: the symmetric solution, a value for every "
            "coordinate, e.g. point={u: 0, w: 0}"
        )
    if not isinstance(point, Mapping):
        raise InvalidInputError(f"point = {point!r} must be a dict {{coordinate: value}}")
    coords = {q.name: q for q in system.coords}
    at = {}
    for key, value in point.items():
        name = _name(key)
        if name not in coords:
            raise InvalidInputError(
                f"point gives {name}, which is not a coordinate; the coordinates are "
                f"{', '.join(coords)}"
            )
        at[coords[name]] = value
    parameter = options.get("parameter", grid.names[0])
    name = _name(parameter)
    if name not in by_name:
        raise InvalidInputError(
            f"parameter = {name} is not a parameter of the system; its parameters are "
            f"{', '.join(by_name) or 'none'}"
        )
    noise = options.get("noise", False)
    if not isinstance(noise, bool):
        raise InvalidInputError(f"noise = {noise!r}; pass True (SGD) or False (mean dynamics)")
    values = {**fixed, **dict(zip(grid.names, grid.point(0)))}
    others = {by_name[k]: v for k, v in values.items() if k in by_name and k != name}
    extra = {"params": others, "bounds": options.get("bounds")} if noise else {}
    return stability(system, at, parameter=by_name[name], noise=noise,
                     normal=options.get("normal"), **extra)  # fmt: skip
