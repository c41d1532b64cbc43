"""The on-disk cache of generated kernels: sources under their content hash, and an
index from the symbolic inputs to the source they generate. Nothing in it runs
unless this process generated it or this user's key authenticates it.

Trust
-----
Before anything in :func:`cache_dir` (or in numba's cache directory) is read,
the directory is created with mode 0700 if missing and checked with OpenSSH's
rule for key files (:func:`directory_problem`): it is owned by the current user
and not writable by group or others, and every directory above it is owned by
the user or root and not writable by group or others unless it has the sticky
bit (as ``/tmp`` has). A directory that fails gets one :class:`KernelCacheWarning`
naming it and the fix; nothing is then read from it, and the kernels are
generated afresh and compiled in memory.

Entries
-------
Two kinds of entry live in the cache, both written atomically (a temporary
0600 file, then :func:`os.replace`) and read only as regular files:

* ``symnoether_i_<hash>.json``: the generated body for a hash of the symbolic
  inputs (equations of motion, loss, charges, rates, generators, drivers, the
  versions of SymPy, numba and of the generator itself). A warm start reads it
  instead of running SymPy's common-subexpression elimination and printer
  again. The entry carries an HMAC-SHA256 of all its fields under a per-user
  secret (:func:`key_path`: ``$XDG_CONFIG_HOME/symnoether/key``, default
  ``~/.config/symnoether/key``, 32 random bytes created 0600 in a directory
  that passes the same rule, and refused unless the file is the user's, regular
  and unreadable by others). An entry without a valid HMAC, for another key,
  or naming another state or parameters, is ignored and rewritten; without a
  usable key (one warning) the index is not used at all.
* ``symnoether_k_<hash>.py``: a kernel module. The process holds the body
  (generated or authenticated); the file exists only so that numba's on-disk
  cache (``cache=True``), which needs a file-backed function, can locate it.
  The file is rewritten unless it holds exactly these bytes, and then those
  bytes — the ones in memory, never the file — are compiled with the file's
  path as their name into a fresh module, so a planted ``__pycache__/*.pyc``
  or a file swapped after the check cannot substitute code. numba keeps its
  ``.nbi``/``.nbc`` files in ``__pycache__`` inside the checked directory, or
  under ``NUMBA_CACHE_DIR`` when that is set, in a directory checked likewise.

When the directory cannot be created or written, the kernels are compiled in
memory with numba's cache off and a :class:`KernelCacheWarning` names the
directory (each warning once per process).

Examples
--------
>>> import hashlib
>>> from symnoether.numerics.kernel_cache import body_hash, cache_dir, directory_problem
>>> body_hash("x = 1") == hashlib.sha256(b"x = 1").hexdigest()
True
>>> cache_dir().name != ""
True
>>> directory_problem("/") is None  # owned by root, not writable by others
True
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

from ..errors import KernelCacheWarning

__all__ = [
    "cache_dir",
    "key_path",
    "directory_problem",
    "trusted_cache",
    "load_module",
    "numpy_module",
    "read_index",
    "write_index",
    "body_hash",
]

HEADER_NUMBA = (
    "import math\nimport numpy as np\nfrom numba import njit, prange\n"
    'jit = njit(cache=True, nogil=True, error_model="numpy")\n'
    'pjit = njit(cache=True, nogil=True, parallel=True, error_model="numpy")\n'
)
HEADER_NUMPY = (
    "import math\nimport numpy as np\nprange = range\ndef jit(f):\n    return f\npjit = jit\n"
)
_MARK = "# symnoether-body-sha256: "
_IN_MEMORY: dict[str, ModuleType] = {}
_LOADED: dict[tuple[str, str], ModuleType] = {}
_SECRETS: dict[str, bytes] = {}
_WARNED: set[str] = set()
_KEY_BYTES = 32
_FIX = (
    "make it yours and writable only by you (chmod 700), with parents writable only by "
    "you or root, or set SYMNOETHER_CACHE_DIR to a directory of your own (e.g. made by "
    "`mktemp -d`)"
)


def cache_dir() -> Path:
    """Directory of generated kernel modules: ``$SYMNOETHER_CACHE_DIR``, else a per-user one.

    The default is ``$XDG_CACHE_HOME/symnoether`` (``~/.cache/symnoether``).

    Examples
    --------
    >>> cache_dir().name != ""
    True
    """
    configured = os.environ.get("SYMNOETHER_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symnoether"


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


def body_hash(text: str) -> str:
    """SHA-256 of ``text`` (UTF-8), as hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- trust: OpenSSH's rule for directories, the per-user key ----------------------------


class _Unsafe(Exception):
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


def _private_directory(path: Path) -> Path:
    """``path`` created (each missing component 0700) and checked: its real path.
    Raises OSError when it cannot be created, :class:`_Unsafe` when it fails the rule."""
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
        raise _Unsafe(problem)
    return real


def trusted_cache() -> Path | None:
    """The real path of :func:`cache_dir`, created 0700 and checked with
    :func:`directory_problem`; None (after one :class:`KernelCacheWarning`) when it
    cannot be created or fails the rule."""
    directory = cache_dir()
    try:
        return _private_directory(directory)
    except OSError as err:
        _warn_once(
            f"the kernel cache directory {directory} cannot be created ({err}), so the "
            "kernels are generated afresh and compiled in memory and numba cannot cache them "
            "across processes; set SYMNOETHER_CACHE_DIR (and NUMBA_CACHE_DIR) to a writable "
            "directory"
        )
    except _Unsafe as err:
        _warn_once(
            f"the kernel cache directory {directory} is not safe: {err}. Nothing in it is "
            "used: the kernels are generated afresh and compiled in memory (numba cannot "
            f"cache them across processes). Fix: {_FIX}"
        )
    return None


def _secret() -> bytes | None:
    """This user's key (created on first use); None, after one warning, when it
    cannot be created or fails the ownership and mode rule."""
    path = key_path()
    known = _SECRETS.get(str(path))
    if known is not None:
        return known
    try:
        real = _private_directory(path.parent) / path.name
        try:
            secret = _read_key(real)
        except FileNotFoundError:
            _create_key(real)
            secret = _read_key(real)
    except (OSError, _Unsafe) as err:
        _warn_once(
            f"the key that authenticates cached kernels, {path}, cannot be used ({err}); "
            "cached kernel bodies are not trusted, so they are generated again on every start. "
            "Fix: let only you write its directory and read the file (chmod 700 "
            f"{path.parent}; chmod 600 {path}; or delete it to have a new one made), or set "
            "XDG_CONFIG_HOME to a directory of your own"
        )
        return None
    _SECRETS[str(path)] = secret
    return secret


def _read_key(path: Path) -> bytes:
    data, info = _read_regular(path, with_stat=True)
    if hasattr(os, "geteuid") and info.st_uid != os.geteuid():
        raise _Unsafe(f"{path} is owned by uid {info.st_uid}, not by you")
    if stat.S_IMODE(info.st_mode) & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise _Unsafe(f"{path} is readable or writable by group or others (mode {mode:04o})")
    if len(data) != _KEY_BYTES:
        raise _Unsafe(f"{path} holds {len(data)} bytes, not {_KEY_BYTES}")
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
    finally:
        os.unlink(temporary)


def _read_regular(path: Path, with_stat: bool = False):
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


def _warn_once(message: str) -> None:
    if message not in _WARNED:
        _WARNED.add(message)
        warnings.warn(message, KernelCacheWarning, stacklevel=5)


# -- the index: symbolic inputs -> generated body ---------------------------------------


def _mac(secret: bytes, entry: dict) -> str:
    payload = json.dumps(entry, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hmac.new(secret, b"symnoether index 1\n" + payload.encode(), "sha256").hexdigest()


def read_index(key: str, state: list[str], parameters: list[str]) -> tuple[str, tuple] | None:
    """The cached ``(body, affine)`` generated for the inputs hashed to ``key``, or
    None when there is none, the cache or the key is not trusted, the entry's HMAC
    does not verify, or it names another state or parameters."""
    directory = trusted_cache()
    secret = None if directory is None else _secret()
    if secret is None:
        return None
    try:
        entry = json.loads(_read_regular(_index_path(directory, key)))
        mac = entry.pop("mac")
        if not (isinstance(mac, str) and hmac.compare_digest(mac, _mac(secret, entry))):
            return None
        body, affine = entry["body"], entry["affine"]
        intact = (
            entry["key"] == key
            and isinstance(body, str)
            and entry["state"] == state
            and entry["parameters"] == parameters
            and isinstance(affine, list)
            and all(isinstance(flag, bool) for flag in affine)
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return (body, tuple(affine)) if intact else None


def write_index(
    key: str, body: str, affine: tuple, state: list[str], parameters: list[str]
) -> None:
    """Record ``body`` as generated for ``key``, authenticated with this user's key
    (skipped when the cache or the key is not usable: a warning has said so)."""
    directory = trusted_cache()
    secret = None if directory is None else _secret()
    if secret is None:
        return
    entry = {
        "key": key,
        "state": state,
        "parameters": parameters,
        "affine": [bool(flag) for flag in affine],
        "body": body,
    }
    entry["mac"] = _mac(secret, entry)
    try:
        _atomic_write(_index_path(directory, key), json.dumps(entry))
    except OSError:
        pass


def _index_path(directory: Path, key: str) -> Path:
    return directory / f"symnoether_i_{key[:32]}.json"


# -- kernel modules -------------------------------------------------------------------


def numpy_module(body: str, digest: str) -> tuple[None, ModuleType, str]:
    """The body executed as plain Python/NumPy (no numba, nothing on disk)."""
    source = HEADER_NUMPY + body
    module = ModuleType(f"symnoether_numpy_{digest[:16]}")
    exec(compile(source, f"<symnoether kernels {digest[:16]}>", "exec"), module.__dict__)
    return None, module, source


def load_module(body: str, digest: str) -> tuple[Path | None, ModuleType, str]:
    """Write the kernel source (atomically, once) under its hash in the checked cache
    and compile the same bytes, from memory, into a module named after the file:
    (path, module, source). When the cache is not trusted, cannot be written, or
    numba's cache directory is neither, compile in memory instead (numba's cache
    off), with one :class:`KernelCacheWarning`."""
    source = HEADER_NUMBA + body
    directory = trusted_cache()
    if directory is None:  # trusted_cache has warned
        return _in_memory(body, digest)
    name = f"symnoether_k_{digest[:24]}"
    path = directory / f"{name}.py"
    text = f"{_MARK}{body_hash(source)}\n{source}"
    try:
        if not _is_intact(path, text):
            _atomic_write(path, text)
    except OSError as err:
        _warn_unwritable(f"the kernel cache directory {directory} ({err})")
        return _in_memory(body, digest)
    if not _numba_cache_usable(path):
        return _in_memory(body, digest)
    module = _LOADED.get((name, str(path)))
    if module is None:
        try:
            module = _exec_file(name, path, text)
        except RuntimeError as err:
            if "cannot cache" not in str(err):
                raise
            _warn_unwritable(f"numba's cache directory ({err})")
            return _in_memory(body, digest)
        _LOADED[(name, str(path))] = module
    return path, module, source


def _numba_cache_usable(path: Path) -> bool:
    """Whether numba's cache directory for the kernel file ``path`` is trusted and
    writable (else one warning). numba caches in ``NUMBA_CACHE_DIR/<dir>_<sha1 of
    dir>`` when that is set, else in ``__pycache__`` next to the file; the directory
    is created 0700 and checked like the kernel cache."""
    import numba

    configured = getattr(numba.config, "CACHE_DIR", "")
    leaf = Path(configured) / _numba_subpath(path) if configured else path.parent / "__pycache__"
    origin = "numba's cache directory" + (" (NUMBA_CACHE_DIR)" if configured else "")
    try:
        real = _private_directory(leaf)
        if not os.access(real, os.W_OK):
            raise PermissionError("not writable")
    except OSError as err:
        _warn_unwritable(f"{origin} {leaf} ({err})")
        return False
    except _Unsafe as err:
        _warn_once(
            f"{origin} {leaf} is not safe: {err}. Nothing in it is used: the kernels are "
            "compiled in memory (numba cannot cache them across processes). Fix: make it "
            "yours and writable only by you, or unset NUMBA_CACHE_DIR (numba then caches "
            "inside the checked kernel cache)"
        )
        return False
    return True


def _numba_subpath(path: Path) -> str:
    """The sub-directory numba's user-provided cache locator uses for ``path`` ('' when
    this numba does not say: then the configured directory itself is checked)."""
    try:
        from numba.core.caching import _CacheLocator

        return _CacheLocator.get_suitable_cache_subpath(str(path))
    except (ImportError, AttributeError):  # pragma: no cover - another numba layout
        return ""


def _warn_unwritable(culprit: str) -> None:
    _warn_once(
        f"{culprit} is not writable, so the kernels are compiled in memory and numba "
        "cannot cache them across processes; set SYMNOETHER_CACHE_DIR (and "
        "NUMBA_CACHE_DIR) to a writable directory"
    )


def _in_memory(body: str, digest: str) -> tuple[None, ModuleType, str]:
    """The kernel module compiled in memory from ``body`` (fresh or authenticated),
    numba's disk cache off: the same kernels, compiled again in every process."""
    source = HEADER_NUMBA.replace("cache=True", "cache=False") + body
    module = _IN_MEMORY.get(digest)
    if module is None:
        module = ModuleType(f"symnoether_memory_{digest[:16]}")
        exec(compile(source, f"<symnoether kernels {digest[:16]}>", "exec"), module.__dict__)
        _IN_MEMORY[digest] = module
    return None, module, source


def _is_intact(path: Path, text: str) -> bool:
    try:
        return _read_regular(path) == text.encode("utf-8")
    except OSError:
        return False


def _atomic_write(path: Path, text: str) -> None:
    fd, temporary = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _exec_file(name: str, path: Path, text: str) -> ModuleType:
    """``text`` (already in memory and checked) compiled under the name of ``path`` into
    a fresh module: its functions are file-backed for numba's cache, but no byte is
    read from the file or from a ``.pyc``."""
    module = ModuleType(name)
    module.__file__ = str(path)
    code = compile(text, str(path), "exec", dont_inherit=True)
    sys.modules[name] = module  # numba rebuilds cached environments by module name
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
