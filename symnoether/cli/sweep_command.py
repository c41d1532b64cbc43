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

``--check`` picks the check (:func:`~symnoether.numerics.sweeps.sweep`): ``validate``
(the default; the hook's t_end), ``discrete`` (``--steps``), ``sgd`` (the Monte Carlo
of a minibatch-SGD system: ``--runs``, ``--steps``) or ``stability`` (the growth rate
of the symmetric solution ``--point 'w1=0,w2=0'``, per unit time; ``--noise`` for the
top Lyapunov exponent of minibatch SGD, ``--parameter NAME`` for the threshold
reported, default the first ``--grid``). An option another check does not take is
refused.

Examples
--------
>>> parse_grid("eta=1e-3:1e-1:geom3")
('eta', (0.001, 0.01, 0.1))
>>> parse_grid("lambda=0,0.5")
('lambda', (0.0, 0.5))
>>> parse_point("w1=0, w2=0.5")
{'w1': 0.0, 'w2': 0.5}
"""

from __future__ import annotations

import argparse
import re

from ..errors import InvalidInputError
from ..numerics.sweep_grid import geomspace, grid, linspace
from ..numerics.sweep_progress import ProgressBar

__all__ = ["parse_grid", "parse_point", "add_parser", "run_sweep"]

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


def parse_point(text: str) -> dict[str, float]:
    """``NAME=VALUE,NAME=VALUE,...`` (``--point``) as {name: value};
    :class:`InvalidInputError` naming the text otherwise."""
    point: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = (piece.strip() for piece in part.partition("="))
        try:
            if not sep or not name:
                raise ValueError
            number = float(value)
        except ValueError:
            raise InvalidInputError(
                f"--point {text!r}: {part.strip()!r} is not NAME=VALUE; pass a value for every "
                "coordinate, e.g. --point 'w1=0,w2=0'"
            ) from None
        if name in point:
            raise InvalidInputError(f"--point {text!r} gives {name} twice; keep one")
        point[name] = number
    return point


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
    sweep.add_argument(
        "--check", choices=("validate", "discrete", "sgd", "stability"), default="validate"
    )
    sweep.add_argument("--steps", type=int, help="optimizer steps (discrete, sgd)")
    sweep.add_argument("--runs", type=int, help="Monte Carlo runs per point and seed (sgd)")
    sweep.add_argument(
        "--point", metavar="NAME=V,...", help="the symmetric solution (stability), e.g. 'w1=0,w2=0'"
    )
    sweep.add_argument(
        "--parameter", metavar="NAME", help="whose threshold is reported (stability)"
    )
    sweep.add_argument(
        "--noise", action="store_true", help="minibatch SGD's Lyapunov exponent (stability)"
    )
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
    options = _options(args, inputs)
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


# which check takes which option of the command line
_TAKES = {"steps": ("discrete", "sgd"), "runs": ("sgd",), "point": ("stability",),
          "parameter": ("stability",), "noise": ("stability",)}  # fmt: skip


def _options(args: argparse.Namespace, inputs: dict) -> dict:
    """The check's options from the command line; InvalidInputError naming an option the
    check does not take, or stability without --point."""
    for name, checks in _TAKES.items():
        if getattr(args, name) not in (None, False) and args.check not in checks:
            raise InvalidInputError(
                f"--{name} is an option of --check {' or '.join(checks)}, not of --check "
                f"{args.check}; drop it or change the check"
            )
    if args.check == "stability":
        if args.point is None:
            raise InvalidInputError(
                "--check stability needs the symmetric solution: a value for every "
                "coordinate, e.g. --point 'w1=0,w2=0'"
            )
        options = {"point": parse_point(args.point), "noise": args.noise}
        if args.parameter is not None:
            options["parameter"] = args.parameter
        return options
    options = {"backend": args.backend}
    if args.check == "validate":
        options["t_end"] = inputs["t_end"]
    options.update({k: getattr(args, k) for k in ("steps", "runs") if getattr(args, k) is not None})
    return options


def summary(table) -> str:
    """Rows, passed, diverged and failed points of a sweep's table, in one paragraph."""
    rows = len(table)
    if set(table["law"]) == {"stability"}:
        stable = int(table["passed"].sum())
        raised = int((table["error"] != "").sum())
        text = (
            f"sweep: {rows} rows ({table['point'].nunique()} points × "
            f"{table['seed'].nunique()} seeds): {stable} stable (exponent < 0), "
            f"{rows - stable - raised} unstable"
        )
        text += f", {raised} raised (see the error column)" if raised else ""
        if raised < rows:
            text += (
                f"; exponent from {table['max_error'].min():.3g} to {table['max_error'].max():.3g}"
            )
        return text
    passed = int(table["passed"].sum())
    diverged = int(table["diverged"].sum())
    errors = int(((table["error"] != "") & ~table["diverged"]).sum())
    worst = table["max_error"].max()
    return (
        f"sweep: {rows} rows ({table['point'].nunique()} points × {table['seed'].nunique()} "
        f"seeds × {table['law'].nunique()} laws): {passed} passed, {rows - passed} did not "
        f"({diverged} diverged, {errors} raised); largest max_error {worst:.3g}"
    )
