"""The progress of a sweep: a bar of (point, seed) pairs done, their rate and the ETA.

:func:`~symnoether.numerics.sweeps.sweep` calls its ``progress`` after every chunk
with (pairs done, pairs in the sweep); ``progress=True`` draws a rich bar on stderr
(:class:`ProgressBar`), shown only on a terminal unless ``SYMNOETHER_PROGRESS``
(the variable of the command's progress display) is 1 (on) or 0 (off). When the
sweep runs on a Dask cluster with a dashboard, the bar prints its link first.

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> bar = ProgressBar(stream=out, force=True)
>>> bar(0, 4); bar(4, 4); bar.close()
>>> "4/4" in out.getvalue()
True
"""

from __future__ import annotations

import os
import sys

__all__ = ["ProgressBar", "progress_of"]

PROGRESS_ENV = "SYMNOETHER_PROGRESS"  # the same switch as symnoether.cli.progress


class ProgressBar:
    """A rich progress bar of a sweep on ``stream`` (default stderr): pairs done of all,
    pairs per second and the time remaining; callable as ``bar(done, total)``.

    Parameters
    ----------
    stream : file, optional
    force : bool, optional
        Show it (True) or not (False) whether or not ``stream`` is a terminal; default:
        ``SYMNOETHER_PROGRESS`` (1 on, 0 off), else only on a terminal.
    """

    def __init__(self, stream=None, force: bool | None = None):
        self.stream = sys.stderr if stream is None else stream
        if force is None:
            setting = os.environ.get(PROGRESS_ENV, "").strip().lower()
            force = {"1": True, "on": True, "0": False, "off": False}.get(setting)
        self.enabled = _isatty(self.stream) if force is None else bool(force)
        self._bar = self._task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            self._start(done, total)
        self._bar.update(self._task, completed=done, total=total)
        speed = self._bar.tasks[0].speed
        if speed:
            self._bar.update(self._task, rate=f"{speed:.1f}/s")

    def _start(self, done: int, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        console = Console(file=self.stream, highlight=False, soft_wrap=True)
        self._bar = Progress(
            TextColumn("sweep"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("pairs"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            refresh_per_second=4,
        )
        self._task = self._bar.add_task("sweep", total=total, completed=done, rate="")
        self._bar.start()

    def dashboard(self, link: str) -> None:
        """Print the Dask dashboard's link (above the bar)."""
        if not self.enabled or not link:
            return
        from rich.console import Console

        console = self._bar.console if self._bar is not None else Console(file=self.stream)
        console.print(f"Dask dashboard: {link}", highlight=False, soft_wrap=True)

    def close(self) -> None:
        """Stop the bar, leaving its last state on the terminal."""
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def progress_of(progress):
    """The callable ``sweep`` reports to: None for ``None``/``False``, a
    :class:`ProgressBar` for ``True``, else ``progress`` itself (a callable)."""
    if progress is None or progress is False:
        return None
    if progress is True:
        return ProgressBar()
    if not callable(progress):
        from ..errors import InvalidInputError

        raise InvalidInputError(
            f"progress = {progress!r}: pass True (a bar on stderr), False, or a callable "
            "progress(done, total)"
        )
    return progress


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
