"""The gallery of shipped derivations: where it is, what is in it, and names in it.

The top-level ``derivations/`` of the source tree is the only copy in git. A
wheel carries it as package data (``symnoether/derivations``, force-included by
``pyproject.toml``); an editable install (or ``PYTHONPATH``) runs the package
from the checkout, whose ``derivations/`` is used as it is — so that
``symnoether list`` and ``symnoether run NAME`` work from any directory after
either kind of install.

Examples
--------
>>> resolve_derivation("derivations/scalar_pair.toml").name   # from any directory
'scalar_pair.toml'
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import os
import stat
from pathlib import Path

from ..errors import DerivationScriptError

__all__ = [
    "gallery_folder",
    "resolve_derivation",
    "list_derivations",
    "list_names",
    "runnable_name",
    "UNREADABLE",
]

PACKAGE = Path(__file__).resolve().parents[1]
"""The folder of the ``symnoether`` package."""
UNREADABLE = "cannot be read: "
"""How the summary of a file that cannot be read begins (:func:`list_derivations`)."""
MAX_LISTED_BYTES = 1_000_000
"""Largest file :func:`list_derivations` reads for its summary."""


def gallery_folder() -> Path | None:
    """The folder of the shipped derivations, or None when this installation lacks it.

    An installed wheel carries the top-level ``derivations/`` as package data
    (``symnoether/derivations``); an editable install (or ``PYTHONPATH``) runs the
    package from its source checkout, whose ``derivations/`` is used as it is.

    Examples
    --------
    >>> (gallery_folder() / "scalar_pair.toml").is_file()
    True
    """
    shipped = PACKAGE / "derivations"
    if shipped.is_dir():
        return shipped
    checkout = PACKAGE.parent
    if (checkout / "derivations").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "derivations"
    return None


def resolve_derivation(script: str | Path) -> Path:
    """The file ``symnoether run SCRIPT`` runs: ``script`` itself when it is a file,
    else the shipped derivation it names (``normalization_rmsprop``, ``scalar_pair.toml``,
    or ``derivations/NAME`` as the README writes it, from any directory).

    Raises
    ------
    DerivationScriptError
        No such file nor shipped derivation, or a name that is both a script and a spec.

    Examples
    --------
    >>> resolve_derivation("scalar_pair").name
    'scalar_pair.toml'
    """
    path = Path(script)
    if path.is_file():
        return path
    kind = _special_kind(path)
    if kind is not None and kind != "a folder":
        raise DerivationScriptError(
            f"{script} is {kind}, not a regular file; give the path of a .py script or .toml spec"
        )
    folder = gallery_folder()
    shipped = list_names(folder) if folder is not None else []
    if folder is not None and path.parent in (Path("."), Path("derivations")):
        names = [path.name]
        if path.suffix not in (".py", ".toml"):
            names = [f"{path.name}.py", f"{path.name}.toml"]
        found = [folder / name for name in names if name in shipped]
        if len(found) > 1:
            raise DerivationScriptError(
                f"{script} names both {found[0].name} and {found[1].name} of the shipped "
                "derivations; give the file name with its suffix"
            )
        if found:
            return found[0]
    stems = sorted({Path(name).stem for name in shipped})
    match = difflib.get_close_matches(path.stem, stems, n=1, cutoff=0.6)
    guess = f" (did you mean {match[0]!r}?)" if match else ""
    raise DerivationScriptError(
        f"no derivation script or spec file {script}{guess}; give the path of a .py "
        "script or .toml spec, or the name of a shipped one"
    )


def list_names(folder: Path) -> list[str]:
    """File names of the derivation scripts and spec files in ``folder``."""
    return sorted(p.name for p in [*folder.glob("*.py"), *folder.glob("*.toml")])


def runnable_name(path: Path) -> str:
    """How to name a shipped file to `symnoether run`: its path when it lies under the
    working directory (a checkout), else its file name."""
    with contextlib.suppress(OSError, ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return path.name


def list_derivations(folder: str | Path = "derivations") -> list[tuple[str, str]]:
    """(path, summary) of every ``*.py`` script (first docstring line) and ``*.toml``
    spec (first comment line) in ``folder``; a file that cannot be read is listed with
    the reason as its summary (``"cannot be read: ..."``), and the others still are."""
    root = Path(folder)
    if not root.is_dir():
        raise DerivationScriptError(
            f"no derivations folder {root}; pass --dir with the folder holding the scripts, "
            "or leave --dir out for the shipped ones"
        )
    listing = []
    for name in list_names(root):
        path = root / name
        try:
            summary = _summary(path)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as error:
            summary = UNREADABLE + _reason(error)
        listing.append((str(path), summary))
    return listing


def _summary(path: Path) -> str:
    text = read_regular(path, MAX_LISTED_BYTES).decode("utf-8")
    if path.suffix == ".py":
        doc = (ast.get_docstring(ast.parse(text, filename=str(path))) or "").strip()
    else:  # a spec file: its first comment line
        comments = [line.lstrip("# ").strip() for line in text.splitlines()]
        doc = next((c for c, line in zip(comments, text.splitlines()) if line.startswith("#")
                    and c), "")  # fmt: skip
    return doc.splitlines()[0] if doc else ""


class NotRegularFileError(OSError):
    """A path that is a FIFO, device, socket or folder where a file was expected."""


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (at most ``limit``): a FIFO, device or
    socket is refused without blocking on it (a ``*.toml`` symlink to ``/dev/zero`` or a
    FIFO named ``x.toml`` would hang a plain read), and so is a larger file."""
    kind = _special_kind(path)
    if kind is not None:
        raise NotRegularFileError(f"{kind}, not a regular file")
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode):  # swapped since the check above
            raise NotRegularFileError("not a regular file")
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise NotRegularFileError(f"larger than {limit} bytes")
    return data


def _special_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is no regular file (None otherwise)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")]  # fmt: skip
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in kinds if test(mode)), "a special file")


def _reason(error: Exception) -> str:
    if isinstance(error, NotRegularFileError):
        return str(error)
    if isinstance(error, SyntaxError):
        return f"invalid Python at line {error.lineno}: {error.msg}"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text ({error.reason} at byte {error.start})"
    return f"{type(error).__name__}: {error}"
