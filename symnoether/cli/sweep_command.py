"""``symnoether sweep SCRIPT --grid NAME=SPEC ...``: a sweep from the command line.

The derivation comes from a script or spec as for ``symnoether run``; its
``validation()`` hook (or the defaults of
:func:`~symnoether.cli.validation_inputs`) gives q0, v0, the fixed parameters and
t_end. Each ``--grid`` names a parameter of the derivation and its values:
``START:STOP:geomN`` (N values evenly spaced in log), ``START:STOP:linN`` (linear),
or a comma-separated list. The table is written with ``--out DIR`` (Parquet part
files and a manifest; rerunning resumes), ``--plot OUT.png`` draws the phase
diagram of ``max_error`` over the first two swept parameters; ``--workers N`` runs
on a local cluster of N processes, ``--scheduler ADDRESS`` on an existing one.
On a terminal a progress bar shows the (point, seed) pairs done, their rate and the
time remaining (``SYMNOETHER_PROGRESS`` and ``--quiet`` as for ``symnoether run``).

Examples
--------
>>> parse_grid("eta=1e-3:1e-1:geom3")
('eta', (0.001, 0.01, 0.1))
>>> parse_grid("lambda=0,0.5")
('lambda', (0.0, 0.5))
"""

from __future__ import annotations

import argparse
import re

from ..errors import InvalidInputError
from ..numerics.sweep_grid import geomspace, grid, linspace
from ..numerics.sweep_progress import ProgressBar

__all__ = ["parse_grid", "add_parser", "run_sweep"]

_RANGE = re.compile(r"^([^:]+):([^:]+):(geom|lin)(\d+)$")


def parse_grid(text: str) -> tuple[str, tuple[float, ...]]:
    """``NAME=START:STOP:geomN``, ``NAME=START:STOP:linN`` or ``NAME=V1,V2,...`` as
    (name, values); :class:`InvalidInputError` naming the text otherwise."""
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    example = "--grid 'eta=1e-3:1e-1:geom16' or --grid 'lambda=0,1e-3,1e-2'"
    if not sep or not name or not spec:
        raise InvalidInputError(f"--grid {text!r} is not NAME=VALUES; pass e.g. {example}")
    found = _RANGE.match(spec)
    try:
        if found:
            start, stop, kind, num = found.groups()
            space = geomspace if kind == "geom" else linspace
            return name, space(float(start), float(stop), int(num))
        return name, tuple(float(v) for v in spec.split(","))
    except ValueError:
        raise InvalidInputError(f"--grid {text!r}: {spec!r} is not numbers; {example}") from None


def add_parser(commands, common: argparse.ArgumentParser, epilog: str) -> None:
    """The ``sweep`` sub-command's arguments."""
    sweep = commands.add_parser(
        "sweep",
        parents=[common],
        help="check every law over a grid of parameters and seeds (Dask), with a phase plot",
        description="Run a check of every law of a derivation at each grid point and seed;\n"
        "print a summary, write the table (--out) and the phase diagram (--plot).",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sweep.add_argument("script", metavar="SCRIPT", help="a derivation script or .toml spec")
    sweep.add_argument(
        "--grid",
        action="append",
        required=True,
        metavar="NAME=SPEC",
        help="a swept parameter: NAME=START:STOP:geomN, NAME=START:STOP:linN or NAME=V1,V2",
    )
    sweep.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 (default 1)")
    sweep.add_argument("--spread", type=float, default=0.1, help="spread of the seeded q0")
    sweep.add_argument("--check", choices=("validate", "discrete", "sgd"), default="validate")
    sweep.add_argument("--out", metavar="DIR", help="Parquet part files and a manifest")
    sweep.add_argument("--plot", metavar="OUT.png", help="phase diagram of max_error")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="a local cluster of N processes")
    where.add_argument("--scheduler", metavar="ADDRESS", help="an existing Dask scheduler")
    sweep.add_argument("--backend", choices=("numba", "numpy"), default="numba")


def run_sweep(args: argparse.Namespace, derivation, inputs: dict, progress) -> None:
    """Run the sweep described by ``args`` on ``derivation``; print its summary."""
    from ..io.phase import plot_phase
    from ..numerics.sweeps import sweep

    axes = dict(parse_grid(text) for text in args.grid)
    if args.seeds < 1:
        raise InvalidInputError(f"--seeds {args.seeds}: pass at least 1")
    swept = set(axes)
    params = {k: v for k, v in inputs["params"].items() if k not in swept}
    options = {"backend": args.backend}
    if args.check == "validate":
        options["t_end"] = inputs["t_end"]
    if args.plot and len(axes) < 2:
        raise InvalidInputError("--plot draws a phase diagram over two swept parameters; "
                                "pass two --grid options")  # fmt: skip
    # a bar of the pairs done, their rate and the ETA (on a terminal, as the stages'
    # spinners; the Dask dashboard's link above it when the cluster has one)
    bar = ProgressBar(stream=progress.stream, force=progress.enabled)
    table = sweep(
        derivation, grid(axes, seeds=range(args.seeds)), q0=inputs["q0"], v0=inputs["v0"],
        params=params, check=args.check, spread=args.spread, out=args.out,
        workers=args.workers, client=args.scheduler, progress=bar, **options,
    )  # fmt: skip
    print(summary(table))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = list(axes)
        figure = plot_phase(table, names[0], names[1], "max_error", path=args.plot)
        plt.close(figure)


def summary(table) -> str:
    """Rows, passed, diverged and failed points of a sweep's table, in one paragraph."""
    rows = len(table)
    passed = int(table["passed"].sum())
    diverged = int(table["diverged"].sum())
    errors = int(((table["error"] != "") & ~table["diverged"]).sum())
    worst = table["max_error"].max()
    return (
        f"sweep: {rows} rows ({table['point'].nunique()} points × {table['seed'].nunique()} "
        f"seeds × {table['law'].nunique()} laws): {passed} passed, {rows - passed} did not "
        f"({diverged} diverged, {errors} raised); largest max_error {worst:.3g}"
    )
