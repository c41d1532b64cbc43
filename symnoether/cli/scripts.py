r"""Running a derivation script: its own failures reported as what they are.

A derivation script is the user's Python code and runs as such (see the README's
Security section): :func:`run_script` runs it with :func:`runpy.run_path`, calls
its ``derivation()`` and optional ``validation()``, and turns what the script
itself does wrong into one-line errors: invalid Python located in the script's own
file and line (not in ``<frozen runpy>``), and a ``sys.exit`` of its own
(:class:`ScriptExited`, exit code 1 for a failure status, naming the script).

Examples
--------
>>> import pathlib, tempfile
>>> broken = pathlib.Path(tempfile.mkdtemp()) / "broken.py"
>>> _ = broken.write_text("def derivation(:\n    pass\n")
>>> load_derivation(broken)
Traceback (most recent call last):
...
symnoether.cli.scripts.ScriptError: .../broken.py, line 1: invalid Python: ...
"""

from __future__ import annotations

import contextlib
import runpy
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..errors import DerivationScriptError
from ..io.derivation import Derivation

__all__ = ["load_derivation", "run_script", "ScriptError", "ScriptExited", "trim"]


class ScriptError(DerivationScriptError):
    """A script that is no valid Python, or exits: the message is the whole story."""


class ScriptExited(ScriptError):
    """A derivation script called ``sys.exit`` with a failure status (exit code 1)."""


def load_derivation(script: str | Path) -> Derivation:
    """Run the derivation script ``script`` and return its ``derivation()``.

    The script runs with ``__name__ != "__main__"``, so its own printing
    block does not fire; assertions inside ``derivation()`` do.

    Raises
    ------
    DerivationScriptError
        Missing file, or no ``derivation()`` returning a Derivation; as
        :class:`ScriptError`, invalid Python or a ``sys.exit`` in the script.
    """
    return run_script(Path(script))[0]


def run_script(path: Path) -> tuple[Derivation, Mapping]:
    """Run the script at ``path``: its ``derivation()`` and its ``validation()`` inputs
    (``{}`` without the hook)."""
    if not path.is_file():
        raise DerivationScriptError(
            f"no derivation script {path}; run `symnoether list` to see the shipped ones"
        )
    with script_errors(path):
        namespace = runpy.run_path(str(path), run_name="symnoether_derivation")
    build = namespace.get("derivation")
    if not callable(build):
        raise DerivationScriptError(
            f"{path} defines no derivation() function; a derivation script must define "
            "derivation() -> symnoether.Derivation"
        )
    with script_errors(path):
        derivation = build()
    if not isinstance(derivation, Derivation):
        raise DerivationScriptError(
            f"{path}: derivation() returned a {type(derivation).__name__}, not a "
            "symnoether.Derivation (build one with sn.derive)"
        )
    hook = namespace.get("validation")
    with script_errors(path):
        inputs = hook() if callable(hook) else {}
    if not isinstance(inputs, Mapping):
        raise DerivationScriptError(
            f"{path}: validation() returned a {type(inputs).__name__}; return a dict with "
            "q0, and optionally v0, params, t_end"
        )
    return derivation, inputs


@contextlib.contextmanager
def script_errors(path: Path) -> Iterator[None]:
    """A script's invalid Python, located in its own file and line (not in runpy), and
    its own ``sys.exit``: a failure status is exit code 1, naming the script."""
    try:
        yield
    except SyntaxError as error:
        where = f"{error.filename or path}, line {error.lineno}"
        source = (error.text or "").strip()
        at = f" (at {trim(source, 80)!r})" if source else ""
        raise ScriptError(f"{where}: invalid Python: {error.msg}{at}") from error
    except SystemExit as exit_:
        frames = traceback.extract_tb(exit_.__traceback__)
        at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        code = exit_.code
        if code is None or code == 0:
            raise ScriptError(
                f"the derivation script {path} exited{at} (status 0) before derivation() "
                "returned; a script must return its Derivation, not call sys.exit"
            ) from None
        status = f" with status {code}" if isinstance(code, int) else f": {trim(str(code))}"
        raise ScriptExited(f"the derivation script {path} exited{at}{status}") from None


def trim(text: str, width: int = 200) -> str:
    """``text`` cut to ``width`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= width else text[: width - 1] + "…"
