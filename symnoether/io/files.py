r"""Output files that never clobber what they must not: checked, then written atomically.

:func:`write_text` and :func:`save_figure` write through a temporary file in the
target's folder and :func:`os.replace`, so a failed write leaves the old file as
it was. :func:`check_output_path` refuses, before anything is written, an empty
path, a folder, an existing device, FIFO or socket (never replaced, even by
root), and an input being run; :func:`check_output_paths` also refuses one file
named twice. An existing file keeps its mode (and, where permitted, its owner); a
new one gets 0666 less the umask; a symbolic link is followed. Every refusal is
an :class:`~symnoether.errors.OutputPathError` naming the path and the fix.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_text(folder / "note.md", "# hello\n").read_text()
'# hello\n'
>>> write_text(folder, "x")
Traceback (most recent call last):
...
symnoether.errors.OutputPathError: cannot write ...: it is a folder; give a file name in it
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from ..errors import OutputPathError

__all__ = ["write_text", "save_figure", "check_output_path", "check_output_paths"]


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: a temporary file in the same
    folder, then :func:`os.replace`. Raises :class:`OutputPathError` naming the path."""
    target = check_output_path(path)
    return _atomic(target, lambda handle: handle.write(text.encode("utf-8")))


def save_figure(figure: object, path: str | os.PathLike, *, dpi: int = 100) -> Path:
    """Save a matplotlib figure to ``path`` atomically (format from the suffix)."""
    target = check_output_path(path)
    suffix = target.suffix.lstrip(".").lower() or "png"
    return _atomic(target, lambda handle: figure.savefig(handle, format=suffix, dpi=dpi))


def check_output_path(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = ()) -> Path:
    """``path`` as the Path to write, checked before anything is written: a file name
    (not empty, not ending in a separator) in a folder that exists, and not a folder, an
    existing non-regular file (a device, FIFO or socket: never replaced) or one of
    ``inputs`` (the script or spec being run). A symbolic link is followed: the file it
    points to is rewritten, the link kept. :class:`OutputPathError` naming it otherwise.

    Examples
    --------
    >>> check_output_path("nld.tex")
    PosixPath('nld.tex')
    >>> check_output_path("")
    Traceback (most recent call last):
    ...
    symnoether.errors.OutputPathError: output path '' is not a file name; pass e.g. 'nld.tex'
    """
    if not isinstance(path, str | os.PathLike) or not isinstance(os.fspath(path), str):
        raise OutputPathError(f"output path {path!r} is not a file name; pass e.g. 'nld.tex'")
    text = os.fspath(path)
    if not text or text.endswith(("/", os.sep)):
        raise OutputPathError(f"output path {text!r} is not a file name; pass e.g. 'nld.tex'")
    target = Path(text)
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    folder = target.parent
    if not folder.is_dir():
        raise OutputPathError(
            f"cannot write {target}: the folder {folder} does not exist; create it first "
            "or choose another output path"
        )
    _refuse_special(target)
    for source in inputs:
        if _same_file(target, source):
            raise OutputPathError(
                f"cannot write {target}: it is {source}, the input being run; choose another "
                "output path"
            )
    return target


def check_output_paths(
    outputs: Iterable[tuple[str, str | os.PathLike]],
    *,
    inputs: Iterable[str | os.PathLike] = (),
) -> list[Path]:
    """:func:`check_output_path` for each (label, path) of ``outputs``, and no two of them
    the same file; errors begin with the label (``--latex``).

    Examples
    --------
    >>> check_output_paths([("--latex", "nld.tex"), ("--markdown", "./nld.tex")])
    Traceback (most recent call last):
    ...
    symnoether.errors.OutputPathError: --markdown ./nld.tex and --latex nld.tex are the same ...
    """
    inputs = list(inputs)
    checked: list[tuple[str, str | os.PathLike, Path]] = []
    for label, path in outputs:
        try:
            target = check_output_path(path, inputs=inputs)
        except OutputPathError as error:
            raise OutputPathError(f"{label}: {error}") from None
        for other_label, other, other_target in checked:
            if _same_file(target, other_target):
                raise OutputPathError(
                    f"{label} {path} and {other_label} {other} are the same file; give each "
                    "output its own file"
                )
        checked.append((label, path, target))
    return [target for _, _, target in checked]


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))  # fmt: skip


def _refuse_special(target: Path) -> os.stat_result | None:
    """The stat of the existing regular file ``target`` (None: there is none yet);
    :class:`OutputPathError` when it is a folder or any other kind of file."""
    try:
        status = os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise OutputPathError(f"cannot write {target}: {err.strerror or err}") from None
    if stat.S_ISDIR(status.st_mode):
        raise OutputPathError(f"cannot write {target}: it is a folder; give a file name in it")
    if not stat.S_ISREG(status.st_mode):
        kind = next((name for test, name in _KINDS if test(status.st_mode)), "no regular file")
        raise OutputPathError(
            f"cannot write {target}: it is {kind}, and symnoether replaces only regular "
            "files; choose another output path"
        )
    return status


def _same_file(one: str | os.PathLike, other: str | os.PathLike) -> bool:
    try:
        return os.path.samefile(one, other)
    except (OSError, ValueError):  # one of them does not exist yet: compare the paths
        return os.path.normcase(os.path.realpath(one)) == os.path.normcase(os.path.realpath(other))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(target: Path, write: Callable) -> Path:
    """Write through a temporary file in the same folder, then :func:`os.replace`: an
    existing file keeps its mode (and, where permitted, its owner); a new one gets
    0666 less the umask. A device, FIFO or socket found at ``target`` is never replaced."""
    previous = _refuse_special(target)
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
    except OSError as err:
        raise OutputPathError(
            f"cannot write {target}: the folder {target.parent} is not writable "
            f"({err.strerror or err}); choose a writable output folder"
        ) from None
    try:
        with os.fdopen(descriptor, "wb") as handle:
            write(handle)
        if previous is not None and (previous.st_uid, previous.st_gid) != _owner(temporary):
            with contextlib.suppress(OSError):  # root keeps a user's file the user's
                os.chown(temporary, previous.st_uid, previous.st_gid)
        mode = stat.S_IMODE(previous.st_mode) & 0o777 if previous else 0o666 & ~_umask()
        os.chmod(temporary, mode)
        _refuse_special(target)  # again: nothing put there meanwhile is replaced
        os.replace(temporary, target)
    except BaseException as err:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise OutputPathError(f"cannot write {target}: {err.strerror or err}") from None
        raise
    return target


def _owner(path: str) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_uid, status.st_gid
