"""Stage 4, the ``symnoether`` command.

Owns the command line (this module), the gallery of shipped derivations
(:mod:`~symnoether.cli.gallery`), running a derivation script
(:mod:`~symnoether.cli.scripts`) and the progress display on stderr
(:mod:`~symnoether.cli.progress`). May import every earlier stage; nothing in
the package imports it but ``python -m symnoether``.

``symnoether run SCRIPT`` runs a derivation script (a Python file defining
``derivation() -> symnoether.Derivation``, like those in ``derivations/``) or
a TOML spec file, checks what it asserts, prints the derivation and, on
request, validates its laws numerically (``--validate``), plots the
validation (``--plot``) and exports it (``--latex``, ``--markdown``).
SCRIPT is a path or the name of a shipped derivation (``normalization_rmsprop``,
``scalar_pair.toml``). ``symnoether list`` shows the shipped gallery, from any
directory (:func:`gallery_folder`: the package data of an installed wheel, or
``derivations/`` of the checkout an editable install runs from), or the
scripts of ``--dir FOLDER``.

Exit codes: 0 success, 1 a law failed (a script's own check, or numerical
validation; also a script that exits with a non-zero status of its own), 2
bad input (missing file, invalid Python, no ``derivation()``, a
SymnoetherError, a feature not available yet, an output path that is an
input, a folder, a device/FIFO/socket or given twice, and a derivation that
ran out of its time budget or memory ceiling) and errors raised inside a
script; 130 when interrupted (Ctrl-C). Text from a spec or script (a title, a
file name) reaches the terminal with its control characters shown as escapes.
Budgets: by default the symbolic stages (running the script or loading the
spec and deriving: symmetry search, simplification, verification; and the
export) get :data:`DEFAULT_TIMEOUT` seconds each and a ceiling on resident memory
(``--memory GIB``, default :func:`~symnoether.budget.default_memory_limit`:
4 GiB, or 3/4 of the physical memory when less); the numeric stages are bounded
in steps (``max_steps``). ``--timeout SECONDS`` instead bounds the whole run,
``--validate``, ``--plot`` and numba compilation included; ``--timeout none``
(``0``, ``inf``, or anything above :data:`MAX_TIMEOUT`) and ``--memory none``
switch them off. A compiled loop cannot be interrupted: a run still inside one
``STUCK_SECONDS`` after its deadline prints the error and exits with code 2
(see :mod:`symnoether.budget`). Errors
print as one line, with a hint where one helps; an unexpected exception (a bug
in a script, or in symnoether) suggests ``--debug``, which shows the
traceback. While a stage runs (deriving, compiling, validating) a spinner on
stderr names it and what runs inside it (symmetry search, Noether laws, numba
compilation, integration), when stderr is a terminal (``SYMNOETHER_PROGRESS=1``
forces it on, ``=0`` off) and unless ``--quiet``; pipes stay clean.

Examples
--------
>>> main(["list", "--dir", "no-such-folder"])  # the message goes to stderr
2
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from ..budget import GIB, default_memory_limit, memory_budget, time_budget
from ..errors import (
    BudgetExceededError,
    DerivationScriptError,
    InvalidInputError,
    OutputPathError,
    SpecFileError,
    SymnoetherError,
    VerificationError,
)
from ..io import specfile
from ..io.derivation import Derivation
from ..io.notation import visible_text
from ..numerics.compiled import compile as compile_kernels
from ..numerics.stochastic_mc import validate_sgd
from ..numerics.validate import validate
from .gallery import (
    PACKAGE,
    UNREADABLE,
    gallery_folder,
    list_derivations,
    resolve_derivation,
    runnable_name,
)
from .progress import Progress
from .scripts import ScriptError, ScriptExited, load_derivation, run_script, trim
from .sweep_command import add_parser as _add_sweep_parser
from .sweep_command import run_sweep as _run_sweep

__all__ = [
    "main",
    "load_derivation",
    "list_derivations",
    "validation_inputs",
    "gallery_folder",
    "resolve_derivation",
]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_TIMEOUT = 120.0
"""Seconds each symbolic stage of ``symnoether run`` may take without ``--timeout``."""

_EPILOG = """\
exit codes: 0 success; 1 a derived law failed (a script's assertion or --validate,
or the script exited with a non-zero status); 2 bad input (missing file, malformed
script or spec, unavailable feature, an unusable output path, or a derivation that
ran out of its --timeout); 130 interrupted (Ctrl-C).
Errors print as one line, with a hint where one helps; --debug adds the traceback."""


class _LawFailed(Exception):
    """A law failed numerical validation (exit code 1)."""


class _ArgumentParser(argparse.ArgumentParser):
    """Usage errors as one line too (exit code 2), pointing at ``--help``."""

    def error(self, message: str):
        line = " ".join(visible_text(message).split())
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {line}; see {self.prog} --help\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symnoether`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    args.debug, args.quiet = getattr(args, "debug", False), getattr(args, "quiet", False)
    progress = Progress(quiet=args.quiet)
    try:
        if args.command == "run":
            _run(args, progress)
        elif args.command == "sweep":
            _sweep(args, progress)
        else:
            _list(args)
    except BrokenPipeError:  # the reader left (symnoether list | head): stop quietly
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        _report(args, "interrupted (Ctrl-C); no output file was left half-written")
        return EXIT_INTERRUPTED
    except AssertionError as failure:
        _report(args, _failed_check(failure), "the script's assertion names the law")
        return EXIT_FAILED
    except ScriptExited as exited:
        _report(args, str(exited))
        return EXIT_FAILED
    except _LawFailed as failure:
        _report(args, str(failure), "see the validation report above; --plot draws it")
        return EXIT_FAILED
    except VerificationError as error:  # a derived law failed its own check: our bug
        _report(args, f"internal error: {error}", internal=True)
        return EXIT_BAD_INPUT
    except SymnoetherError as error:  # bad input: the message already says what to fix
        _report(args, str(error), _hint(error, args))
        return EXIT_BAD_INPUT
    except Exception as error:  # unexpected: a bug in the user's script, or in symnoether
        _report(args, _unexpected(error), internal=True)
        return EXIT_BAD_INPUT
    return EXIT_OK


def _run(args: argparse.Namespace, progress: Progress) -> None:
    target = resolve_derivation(args.script)
    _check_outputs(args, target)
    with _budget(args, args.timeout, "symnoether run"):  # --timeout: the whole run
        _run_stages(args, progress, target)


def _run_stages(args: argparse.Namespace, progress: Progress, target: Path) -> None:
    with progress.stage(f"deriving {target.name}"), _symbolic(args, "the derivation"):
        derivation, inputs = _load(target)
    title = " ".join(visible_text(str(derivation.title)).split())  # one line, shown
    shown = dataclasses.replace(derivation, title=title)
    print(visible_text(str(shown)))  # no escape sequence from a spec reaches the terminal
    reports: list = []
    figure = None
    stochastic = getattr(derivation.system.rule, "stochastic", False)
    if (args.validate or args.plot is not None) and stochastic:  # SGD laws: by Monte Carlo
        with progress.stage("validating the laws by Monte Carlo runs of SGD"):
            reports = _validate_sgd(derivation, inputs, backend=args.backend)
        for report in reports:
            print(visible_text(f"\n{report}"))
        if args.plot is not None:
            with progress.stage(f"plotting to {args.plot}"):
                figure = _plot(reports[0], args.plot)
    elif args.validate or args.plot is not None:
        laws = tuple(derivation.laws)
        with progress.stage("compiling the kernels"):
            kernels = compile_kernels(derivation.system, laws, backend=args.backend)
        with progress.stage("validating the laws numerically"):
            report = _validate(derivation, inputs, backend=args.backend, kernels=kernels)
        reports.append(report)
        print(visible_text(f"\n{report}"))
        if args.plot is not None:
            with progress.stage(f"plotting to {args.plot}"):
                figure = _plot(report, args.plot)
    options = {"reports": reports, "figure": figure, "kernels": not args.no_kernels}
    if args.latex is not None:
        with progress.stage(f"writing LaTeX to {args.latex}"), _symbolic(args, "the export"):
            derivation.to_latex(args.latex, **options)
    if args.markdown is not None:
        with progress.stage(f"writing Markdown to {args.markdown}"), _symbolic(args, "the export"):
            derivation.to_markdown(args.markdown, **options)
    failed = [r for r in reports if not r.passed]
    if failed and args.validate:
        raise _LawFailed(f"a law failed numerical validation: {failed[0].message}")


def _sweep(args: argparse.Namespace, progress: Progress) -> None:
    """``symnoether sweep``: see :mod:`~symnoether.cli.sweep_command`."""
    target = resolve_derivation(args.script)
    with progress.stage(f"deriving {target.name}"):
        derivation, given = _load(target)
    _run_sweep(args, derivation, validation_inputs(derivation, given), progress)


def _list(args: argparse.Namespace) -> None:
    folder = gallery_folder() if args.dir is None else Path(args.dir)
    if folder is None:
        raise DerivationScriptError(
            "the shipped derivations are missing from this installation; reinstall "
            "symnoether, or pass --dir with a folder of derivation scripts"
        )
    for path, summary in list_derivations(folder):
        shown = path if args.dir is not None else runnable_name(Path(path))
        print(visible_text(f"{shown}  —  {summary}"))
        if summary.startswith(UNREADABLE):
            print(visible_text(f"symnoether: warning: {path}: {summary}"), file=sys.stderr)


_TIMEOUT_HINT = (
    "simplify the loss, or name the generators in the script (sn.derive(system, generators)) "
    "or spec file ([generators])"
)


def _budget(args: argparse.Namespace, seconds: float | None, stage: str) -> time_budget:
    """A time budget that, stuck in compiled code past its deadline, ends the run."""

    def stuck(error: BudgetExceededError) -> None:
        _report(argparse.Namespace(debug=False), str(error), _hint(error, args))
        sys.stderr.flush()
        os._exit(EXIT_BAD_INPUT)

    return time_budget(
        seconds, stage, hint=_TIMEOUT_HINT, raise_with="--timeout SECONDS", on_stuck=stuck
    )


@contextlib.contextmanager
def _symbolic(args: argparse.Namespace, stage: str) -> Iterator[None]:
    """A symbolic stage: DEFAULT_TIMEOUT unless --timeout was given, and the memory ceiling."""
    seconds = DEFAULT_TIMEOUT if args.timeout is None else None
    limit = default_memory_limit() if args.memory is None else args.memory
    with memory_budget(limit, stage, raise_with="--memory GIB"), _budget(args, seconds, stage):
        yield


def _check_outputs(args: argparse.Namespace, target: Path) -> None:
    """Fail on an unusable output before the (long) derivation, not after it: an empty
    path, a missing folder, a folder, a device/FIFO/socket, the input being run, or one
    file given to two options; and a plot that the LaTeX document could not include."""
    from ..io.export import check_output_paths, latex_graphics_path

    options = ("latex", "markdown", "plot")
    given = [(f"--{name}", getattr(args, name)) for name in options]
    check_output_paths([(label, path) for label, path in given if path is not None],
                       inputs=[target])  # fmt: skip
    if args.plot is not None:
        from matplotlib.figure import Figure

        formats = Figure().canvas.get_supported_filetypes()
        suffix = Path(args.plot).suffix.lstrip(".").lower() or "png"
        if suffix not in formats:
            raise OutputPathError(
                f"--plot {args.plot}: matplotlib cannot write .{suffix} files; end the name "
                "in .png, .pdf or .svg"
            )
    if args.latex is not None and args.plot is not None:
        try:
            latex_graphics_path(args.plot, base=Path(args.latex).parent)
        except OutputPathError as error:
            raise OutputPathError(f"--plot: {error}") from None


def _load(target: Path) -> tuple[Derivation, Mapping]:
    if target.suffix.lower() == ".toml":
        spec = specfile.load(target)
        derivation = spec.derive()
        inputs = getattr(spec, "validation", None)
        return derivation, dict(inputs) if isinstance(inputs, Mapping) else {}
    return run_script(target)


# -- validation -----------------------------------------------------------------------


def validation_inputs(derivation: Derivation, given: Mapping | None = None, *, seed: int = 0):
    """Initial state and parameter values for validating ``derivation``'s laws.

    ``given`` (a script's ``validation()`` hook) may set ``q0``, ``v0``,
    ``params`` and ``t_end``; the rest is drawn reproducibly: q0 and the data
    from N(0, 1) (a matrix layer's entries divided by √(its columns), a matrix datum an
    array of its shape), every hyper-parameter 0.1, v0 = 0, t_end = 5. A constant only the
    laws mention (an entry of A in ψ_A) is left to :func:`symnoether.validate`,
    which draws it and lists it in the report (``report.drawn``).

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (q,) = sn.coordinates("q")
    >>> k = sp.Symbol("k", positive=True)
    >>> flow = sn.LearningSystem((q,), k * q**2 / 2, rule=sn.rules.gradient_flow())
    >>> inputs = validation_inputs(sn.derive(flow, {"shift": (1,)}), {"q0": [2.0]})
    >>> inputs["q0"], inputs["params"], inputs["t_end"]
    ([2.0], {'k': 0.1}, 5.0)
    """
    import numpy as np

    given = dict(given or {})
    unknown = set(given) - {"q0", "v0", "params", "t_end"}
    if unknown:
        raise InvalidInputError(
            f"validation() returned unknown keys {sorted(unknown)}; use q0, v0, params, t_end"
        )
    system = derivation.system
    rng = np.random.default_rng(seed)
    params = {str(h): 0.1 for h in system.hyperparameters}
    for d in system.data:  # a matrix-level system's data are arrays of their shapes
        shape = getattr(d, "shape", None)
        params[str(d)] = rng.normal(size=tuple(map(int, shape))) if shape else float(rng.normal())
    params.update({str(k): v for k, v in dict(given.get("params") or {}).items()})
    q0 = given.get("q0")
    if q0 is None and hasattr(system, "layers"):  # scaled by the fan-in: products stay O(1)
        q0 = {
            W: rng.normal(size=(int(W.shape[0]), int(W.shape[1]))) / np.sqrt(int(W.shape[1]))
            for W in system.layers
        }
    elif q0 is None:
        q0 = [float(v) for v in rng.normal(size=len(system.coords))]
    return {"q0": q0, "v0": given.get("v0"), "params": params,
            "t_end": float(given.get("t_end", 5.0))}  # fmt: skip


def _validate(derivation: Derivation, given: Mapping, *, backend: str, kernels=None):
    inputs = validation_inputs(derivation, given)
    return validate(
        derivation.system,
        tuple(derivation.laws),
        inputs["q0"],
        inputs["v0"],
        params=inputs["params"],
        t_end=inputs["t_end"],
        backend=backend,
        kernels=kernels,
        names=derivation.names,
    )


def _validate_sgd(derivation: Derivation, given: Mapping, *, backend: str) -> list:
    """One Monte Carlo report per law of an SGD derivation (:func:`validate_sgd`; the data
    are the system's dataset, so only the hyper-parameters are passed). The NumPy backend
    runs fewer, shorter runs (256 × 200) than numba's default (4096 × 2000)."""
    inputs = validation_inputs(derivation, given)
    data = {str(d) for d in derivation.system.data}
    params = {k: v for k, v in inputs["params"].items() if k not in data}
    size = {"runs": 256, "steps": 200} if backend == "numpy" else {}
    return [
        validate_sgd(derivation.system, law, inputs["q0"], params=params, backend=backend, **size)
        for law in derivation.laws
    ]


def _plot(report: object, path: str) -> Path:
    import matplotlib

    from ..io.export import save_figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = report.plot()
    try:
        return save_figure(figure, path)
    finally:
        plt.close(figure)


# -- output -------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    common = _ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    common.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        default=argparse.SUPPRESS,
        help="no progress display on stderr (it is off anyway when stderr is not a terminal)",
    )
    parser = _ArgumentParser(
        prog="symnoether",
        description="Derive learning dynamics as mechanics: symmetries, Noether laws, "
        "equations of motion; validate them numerically and export them as LaTeX/Markdown.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        parents=[common],
        help="run a derivation script or TOML spec and print what it derives",
        description="Run a derivation script (it defines derivation() -> Derivation, and\n"
        "optionally validation() -> dict with q0, v0, params, t_end for --validate)\n"
        "or a TOML spec file; check what it asserts and print the derivation.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "script",
        metavar="SCRIPT",
        help="a derivation script or .toml spec: a path, or the name of a shipped one "
        "(`symnoether list`), e.g. normalization_rmsprop or scalar_pair.toml",
    )
    run.add_argument(
        "--validate",
        action="store_true",
        help="integrate the equations of motion and check every law's charge against its "
        "closed-form rate; exit 1 when a law fails",
    )
    run.add_argument(
        "--latex", metavar="OUT.tex", help="write a standalone LaTeX document (pdflatex)"
    )
    run.add_argument(
        "--markdown", metavar="OUT.md", help="write Markdown with $$-math (GitHub, notebooks)"
    )
    run.add_argument(
        "--plot",
        metavar="OUT.png",
        help="plot each charge against the law's prediction (runs the validation); "
        "the format follows the suffix (png, pdf, svg)",
    )
    run.add_argument(
        "--no-kernels",
        action="store_true",
        help="leave the typeset numeric kernels out of the exported documents",
    )
    run.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=None,
        help="time budget of the whole run (derivation, --validate, --plot, export); exit "
        f"code 2 when it runs out. Default: {DEFAULT_TIMEOUT:g} s for each symbolic stage "
        "(derivation, export); 'none' or 0: no budget",
    )
    run.add_argument(
        "--memory",
        metavar="GIB",
        type=_gibibytes,
        default=None,
        help="ceiling on resident memory during the symbolic stages, in GiB; exit code 2 "
        "when reached (default: 4, or 3/4 of the physical memory when less; 'none' or 0: "
        "no ceiling)",
    )
    run.add_argument(
        "--backend",
        choices=("numba", "numpy"),
        default="numba",
        help="kernels for --validate: compiled numba (default) or plain NumPy (no compile)",
    )
    _add_sweep_parser(commands, common, _EPILOG)
    listing = commands.add_parser(
        "list",
        parents=[common],
        help="list the shipped derivations (or those of --dir), each runnable by the name shown",
    )
    listing.add_argument(
        "--dir",
        default=None,
        help="list the scripts and specs of this folder instead of the shipped gallery",
    )
    return parser


MAX_TIMEOUT = 1e9
"""Longest ``--timeout`` accepted, in seconds (about 31 years; the timer overflows far
beyond it)."""


def _seconds(text: str) -> float:
    """--timeout: a positive number of seconds; 'none', 0, inf or more than MAX_TIMEOUT:
    no budget (inf; a timer that long would overflow, and means none anyway)."""
    value = _positive(text, "seconds")
    return math.inf if value > MAX_TIMEOUT else value


def _gibibytes(text: str) -> float:
    """--memory: a positive number of GiB, in bytes; 'none' or 0: no ceiling (inf)."""
    return _positive(text, "GiB") * GIB


def _positive(text: str, unit: str) -> float:
    if text.strip().lower() in ("none", "0", "0.0", "inf"):
        return math.inf
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:  # also NaN
        raise argparse.ArgumentTypeError(
            f"{trim(text, 40)!r} is not a positive number of {unit} (or 'none' for no limit)"
        )
    return value


def _failed_check(failure: AssertionError) -> str:
    """'a derived law failed its check at FILE:LINE: SOURCE (message)'."""
    frame = traceback.extract_tb(failure.__traceback__)[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno}: {(frame.line or '').strip()}"
    detail = f" ({failure})" if str(failure) else ""
    return f"a derived law failed its check at {where}{detail}"


def _unexpected(error: Exception) -> str:
    """One line for an exception nobody raised on purpose, with where it was raised."""
    frames = traceback.extract_tb(error.__traceback__)
    where, ours = "", False
    if frames:
        path = Path(frames[-1].filename).resolve()
        where = f" at {path.name}:{frames[-1].lineno}"
        ours = path.is_relative_to(PACKAGE) and not path.is_relative_to(PACKAGE / "derivations")
    if ours:
        return f"internal error: symnoether raised {type(error).__name__}{where}: {error}"
    return f"the derivation raised {type(error).__name__}{where}: {error}"


def _hint(error: SymnoetherError, args: argparse.Namespace) -> str | None:
    """A hint for an input error, where one adds to its message (None: it does not)."""
    if isinstance(error, BudgetExceededError):
        return "the derivation was stopped unfinished; nothing was written"
    if isinstance(error, OutputPathError):  # the message says what to change
        return None
    if isinstance(error, ScriptError):
        return None
    if isinstance(error, DerivationScriptError) and args.command == "run":
        return (
            "`symnoether list` shows the shipped derivations; `symnoether run --help` the options"
        )
    if isinstance(error, SpecFileError):
        return "the spec file format: python -m pydoc symnoether.io.specfile"
    return None


MAX_MESSAGE = 1000
"""Longest error line printed (characters); --debug shows the whole message."""


def _report(
    args: argparse.Namespace, message: str, hint: str | None = None, *, internal: bool = False
) -> None:
    """The error as one line on stderr; the traceback first with --debug. Only an
    unexpected (``internal``) error suggests --debug, and only when it is not given."""
    if args.debug:
        traceback.print_exc()
    elif internal:
        hint = "run with --debug to see the traceback"
        if message.startswith("internal error"):
            hint += ", and report it: this is a bug in symnoether"
    line = " ".join(visible_text(message).split())
    if len(line) > MAX_MESSAGE:  # e.g. a 9,000-character name echoed by a message
        line = line[: MAX_MESSAGE - 1] + "…"
    print(f"symnoether: error: {line}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
