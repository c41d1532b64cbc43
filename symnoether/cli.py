"""The ``symnoether`` command.

``symnoether run SCRIPT`` runs a derivation script (a Python file defining
``derivation() -> symnoether.Derivation``, like those in ``derivations/``),
checks what it asserts, and prints the derivation. ``symnoether list`` shows
the scripts of a derivations folder.

Exit codes: 0 success, 1 a derivation's own check failed, 2 bad input
(missing file, no ``derivation()``, a SymnoetherError). Errors print as one
line plus a hint; ``--debug`` shows the traceback.

Examples
--------
>>> main(["list", "--dir", "no-such-folder"])  # the message goes to stderr
2
"""

from __future__ import annotations

import argparse
import ast
import runpy
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from .derivation import Derivation
from .errors import DerivationScriptError, SymnoetherError

__all__ = ["main", "load_derivation", "list_derivations"]

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``symnoether`` console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            derivation = load_derivation(args.script)
            print(derivation)
        else:
            for path, summary in list_derivations(args.dir):
                print(f"{path}  —  {summary}")
    except AssertionError as failure:
        _report(args, _failed_check(failure))
        return EXIT_FAILED
    except SymnoetherError as error:
        _report(args, str(error))
        return EXIT_BAD_INPUT
    return EXIT_OK


def load_derivation(script: str | Path) -> Derivation:
    """Run the derivation script ``script`` and return its ``derivation()``.

    The script runs with ``__name__ != "__main__"``, so its own printing
    block does not fire; assertions inside ``derivation()`` do.

    Raises
    ------
    DerivationScriptError
        Missing file, or no ``derivation()`` returning a Derivation.
    """
    path = Path(script)
    if not path.is_file():
        raise DerivationScriptError(
            f"no derivation script {path}; run `symnoether list` to see the shipped ones"
        )
    namespace = runpy.run_path(str(path), run_name="symnoether_derivation")
    build = namespace.get("derivation")
    if not callable(build):
        raise DerivationScriptError(
            f"{path} defines no derivation() function; a derivation script must define "
            "derivation() -> symnoether.Derivation"
        )
    derivation = build()
    if not isinstance(derivation, Derivation):
        raise DerivationScriptError(
            f"{path}: derivation() returned a {type(derivation).__name__}, not a "
            "symnoether.Derivation (build one with sn.derive)"
        )
    return derivation


def list_derivations(folder: str | Path = "derivations") -> list[tuple[str, str]]:
    """(path, first docstring line) of every ``*.py`` script in ``folder``."""
    root = Path(folder)
    if not root.is_dir():
        raise DerivationScriptError(
            f"no derivations folder {root}; pass --dir with the folder holding the scripts"
        )
    listing = []
    for path in sorted(root.glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        listing.append((str(path), doc.strip().splitlines()[0] if doc.strip() else ""))
    return listing


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symnoether",
        description="Derive learning dynamics as mechanics: symmetries, Noether laws, "
        "equations of motion.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a derivation script and print what it derives")
    run.add_argument(
        "script", help="a derivation script, e.g. derivations/normalization_rmsprop.py"
    )
    listing = commands.add_parser("list", help="list the derivation scripts of a folder")
    listing.add_argument("--dir", default="derivations", help="folder (default: derivations)")
    return parser


def _failed_check(failure: AssertionError) -> str:
    """'a derived law failed its check at FILE:LINE: SOURCE (message)'."""
    frame = traceback.extract_tb(failure.__traceback__)[-1]
    where = f"{Path(frame.filename).name}:{frame.lineno}: {(frame.line or '').strip()}"
    detail = f" ({failure})" if str(failure) else ""
    return f"a derived law failed its check at {where}{detail}"


def _report(args: argparse.Namespace, message: str) -> None:
    if args.debug:
        traceback.print_exc()
    print(f"symnoether: {message}", file=sys.stderr)
