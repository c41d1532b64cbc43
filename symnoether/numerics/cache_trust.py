"""Trust for files this user keeps: OpenSSH's ownership and mode rule for
directories, a per-user secret key, reads that only take regular files, and
warnings given once.

:func:`directory_problem` applies the rule OpenSSH applies to key files: a
directory holding code this process will run must be owned by the current user
and not writable by group or others, and every directory above it must be
owned by the user or root and not writable by group or others unless it has the
sticky bit (as ``/tmp`` has: nobody can then rename or delete another user's
entry). :func:`private_directory` creates a missing directory (and any missing
parent) with mode 0700 before checking it, and returns its real path, on which
everything afterwards operates, so a symbolic link swapped later changes
nothing.

:func:`user_key` is a 32-byte random secret in :func:`key_path`
(``$XDG_CONFIG_HOME/symnoether/key``, default ``~/.config/symnoether/key``),
created 0600 in a directory that passes the rule and refused unless it is a
regular file of this user that group and others cannot read or write.
:mod:`symnoether.numerics.kernel_cache` authenticates its index with it.

Examples
--------
>>> import os, tempfile
>>> from symnoether.numerics.cache_trust import directory_problem
>>> private = tempfile.mkdtemp()  # 0700 under the sticky /tmp
>>> directory_problem(private) is None
True
>>> os.chmod(private, 0o777)
>>> "writable by group or others" in directory_problem(private)
True
>>> os.rmdir(private)
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
import warnings
from pathlib import Path

from ..errors import KernelCacheWarning

__all__ = [
    "Untrusted",
    "directory_problem",
    "private_directory",
    "key_path",
    "user_key",
    "read_regular",
    "warn_once",
]

_KEY_BYTES = 32
_KEYS: dict[str, bytes] = {}
_WARNED: set[str] = set()


def key_path() -> Path:
    """The per-user secret that authenticates index entries:
    ``$XDG_CONFIG_HOME/symnoether/key`` (``~/.config/symnoether/key``).

    Kept apart from the cache, so that a cache directory written by anyone else
    (or copied from elsewhere) authenticates nothing.

    Examples
    --------
    >>> key_path().name
    'key'
    """
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "symnoether" / "key"


class Untrusted(Exception):
    """A directory or key file that fails the ownership and mode rule (the reason)."""


def directory_problem(path: str | os.PathLike) -> str | None:
    """None when ``path`` may hold code this user trusts, else the reason (OpenSSH's rule).

    ``path`` (symbolic links resolved) must be a directory owned by the current
    user and not writable by group or others; every directory above it must be
    owned by the user or root and not writable by group or others unless it has
    the sticky bit. Always None where the OS has no POSIX owners.

    Examples
    --------
    >>> import os, tempfile
    >>> private = tempfile.mkdtemp()  # 0700 under the sticky /tmp
    >>> directory_problem(private) is None
    True
    >>> os.chmod(private, 0o777)
    >>> "writable by group or others" in directory_problem(private)
    True
    >>> os.rmdir(private)
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - Windows
        return None
    uid = os.geteuid()
    real = Path(os.path.realpath(path))
    try:
        for directory in (real, *real.parents):
            info = os.stat(directory)
            mode = stat.S_IMODE(info.st_mode)
            writable = mode & 0o022
            if directory == real:
                if not stat.S_ISDIR(info.st_mode):
                    return f"{real} is not a directory"
                if info.st_uid != uid:
                    return f"{real} is owned by uid {info.st_uid}, not by you (uid {uid})"
                if writable:
                    return f"{real} is writable by group or others (mode {mode:04o})"
            elif info.st_uid not in (0, uid):
                return f"its parent {directory} is owned by uid {info.st_uid}, not by you or root"
            elif writable and not info.st_mode & stat.S_ISVTX:
                return (
                    f"its parent {directory} is writable by group or others without the "
                    f"sticky bit (mode {mode:04o})"
                )
    except OSError as err:
        return f"{real} cannot be checked ({err})"
    return None


def private_directory(path: Path) -> Path:
    """``path`` created (each missing component 0700) and checked: its real path.
    Raises OSError when it cannot be created, :class:`Untrusted` when it fails the rule."""
    path = Path(os.path.abspath(path))
    missing, ancestor = [], path
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        missing.append(ancestor)
        ancestor = ancestor.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
    real = Path(os.path.realpath(path))
    problem = directory_problem(real)
    if problem is not None:
        raise Untrusted(problem)
    return real


def user_key() -> bytes | None:
    """This user's key (created on first use); None, after one warning, when it
    cannot be created or fails the ownership and mode rule."""
    path = key_path()
    known = _KEYS.get(str(path))
    if known is not None:
        return known
    try:
        real = private_directory(path.parent) / path.name
        try:
            secret = _read_key(real)
        except FileNotFoundError:
            _create_key(real)
            secret = _read_key(real)
    except (OSError, Untrusted) as err:
        warn_once(
            f"the key that authenticates cached kernels, {path}, cannot be used ({err}); "
            "cached kernel bodies are not trusted, so they are generated again on every start. "
            "Fix: let only you write its directory and read the file (chmod 700 "
            f"{path.parent}; chmod 600 {path}; or delete it to have a new one made), or set "
            "XDG_CONFIG_HOME to a directory of your own"
        )
        return None
    _KEYS[str(path)] = secret
    return secret


def _read_key(path: Path) -> bytes:
    data, info = read_regular(path, with_stat=True)
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise Untrusted(f"{path} is owned by uid {info.st_uid}, not by you")
    if stat.S_IMODE(info.st_mode) & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise Untrusted(f"{path} is readable or writable by group or others (mode {mode:04o})")
    if len(data) != _KEY_BYTES:
        raise Untrusted(f"{path} holds {len(data)} bytes, not {_KEY_BYTES}")
    return data


def _create_key(path: Path) -> None:
    """A new random key, published with a hard link so a concurrent creator's wins."""
    fd, temporary = tempfile.mkstemp(prefix=".key", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(_KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links: a rename, unless one appeared
            if not os.path.lexists(path):
                os.replace(temporary, path)
    finally:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass


def read_regular(path: Path, with_stat: bool = False):
    """The bytes of ``path``, refused (OSError) unless it is a regular file and not a
    symbolic link; a FIFO or device is never opened for blocking reads."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path} is not a regular file")
        data = handle.read()
    return (data, info) if with_stat else data


def warn_once(message: str) -> None:
    """A :class:`KernelCacheWarning` with ``message``, the first time in this process."""
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, KernelCacheWarning, stacklevel=5)
