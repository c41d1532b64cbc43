"""The progress display of the ``symnoether`` command, on stderr.

While a stage of ``symnoether run`` runs (deriving, compiling, validating), a
rich spinner names it, what runs inside it (:func:`activity`: symmetry search,
Noether laws, numba compilation, integration — read from the running stack, so
the library needs no callbacks) and the elapsed time; a ✓ line with the
duration follows. Shown only when stderr is a terminal; ``SYMNOETHER_PROGRESS=1``
forces it on and ``=0`` (or ``--quiet``) off, so that pipes and logs stay clean.

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> with Progress(quiet=False, stream=out, force=True).stage("deriving"):
...     pass
>>> out.getvalue().startswith("✓ deriving (")
True
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Iterator

__all__ = ["Progress", "activity", "PROGRESS_ENV"]

PROGRESS_ENV = "SYMNOETHER_PROGRESS"
"""Environment variable: 1 shows the progress display on stderr even when it is no
terminal, 0 hides it (default: shown on a terminal)."""


class Progress:
    """What runs now, on stderr: per stage a spinner with the stage, what runs inside it
    (:func:`activity`) and the elapsed time, then a ✓ line with its duration.

    Parameters
    ----------
    quiet : bool
        Show nothing (``--quiet``).
    stream : file, optional
        Where to write (default: ``sys.stderr`` at construction).
    force : bool, optional
        Show it (True) or not (False) whether or not ``stream`` is a terminal;
        default: ``SYMNOETHER_PROGRESS`` (1 on, 0 off), else only on a terminal.
    """

    def __init__(self, *, quiet: bool, stream=None, force: bool | None = None):
        self.stream = sys.stderr if stream is None else stream
        if force is None:
            setting = os.environ.get(PROGRESS_ENV, "").strip().lower()
            force = {"1": True, "on": True, "0": False, "off": False}.get(setting)
        self.enabled = not quiet and (isatty(self.stream) if force is None else force)
        self.console = None
        if self.enabled:
            from rich.console import Console

            self.console = Console(file=self.stream, highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def stage(self, what: str) -> Iterator[None]:
        if self.console is None:
            yield
            return
        from rich.live import Live
        from rich.spinner import Spinner
        from rich.text import Text  # plain text: a path with [brackets] is no markup

        from ..io.notation import visible_text  # a file name's escape sequence shows

        what = visible_text(what)
        thread, start = threading.get_ident(), time.perf_counter()
        spinner = Spinner("dots", text=Text(what))

        def render() -> Spinner:
            detail = activity(sys._current_frames().get(thread))
            elapsed = time.perf_counter() - start
            spinner.update(text=Text(f"{what}{f' · {detail}' if detail else ''}  {elapsed:.0f} s"))
            return spinner

        live = Live(
            console=self.console,
            get_renderable=render,
            transient=True,
            refresh_per_second=8,
            redirect_stdout=isatty(sys.stdout),  # a script's prints go above the spinner
        )
        with live:
            yield
        elapsed = time.perf_counter() - start
        self.console.print(Text(f"✓ {what} ({elapsed:.1f} s)"))


def isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


# What runs inside a stage, by the file of a frame on the stack; the innermost match wins.
_ACTIVITIES = (
    ("/numba/", "numba compilation"),
    ("/llvmlite/", "numba compilation"),
    ("/symnoether/symmetry/", "symmetry search"),
    ("/symnoether/core/noether.py", "Noether laws"),
    ("/symnoether/core/dynamics.py", "equations of motion"),
    ("/symnoether/numerics/validate.py", "integration"),
    ("/symnoether/numerics/discrete.py", "integration"),
    ("/symnoether/numerics/", "code generation"),
)


def activity(frame) -> str:
    """What the code running in ``frame`` does, as the progress display names it
    (``""`` when no frame on its stack is known).

    Examples
    --------
    >>> activity(sys._getframe())
    ''
    """
    while frame is not None:
        filename = frame.f_code.co_filename.replace("\\", "/")
        for fragment, what in _ACTIVITIES:
            if fragment in filename:
                return what
        frame = frame.f_back
    return ""
