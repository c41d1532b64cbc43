"""The on-disk cache of generated kernels: sources under their content hash, and an
index from the symbolic inputs to the source they generate. Nothing from it runs
unless this process generated it or this user's key authenticates it.

Trust (:mod:`symnoether.numerics.cache_trust`)
----------------------------------------------
Before anything in :func:`cache_dir` (or in numba's cache directory) is read,
the directory is created with mode 0700 if missing and checked with OpenSSH's
rule for key files (:func:`directory_problem`): owned by the current user and
not writable by group or others, and every directory above it owned by the
user or root and not writable by group or others unless it has the sticky bit
(as ``/tmp`` has). A directory that fails gets one :class:`KernelCacheWarning`
naming it and the fix; nothing is then read from it, and the kernels are
generated afresh and compiled in memory.

Entries
-------
Three kinds of entry live in the cache, all written atomically (a temporary
0600 file, then :func:`os.replace`) and read only as regular files:

* ``symnoether_i_<hash>.json``: the generated body for a hash of the symbolic
  inputs (equations of motion, loss, charges, rates, generators, drivers, the
  versions of SymPy, numba and of the generator itself). A warm start reads it
  instead of running SymPy's common-subexpression elimination and printer
  again. The entry carries an HMAC-SHA256 of all its fields under this user's
  secret key (:func:`key_path`, ``~/.config/symnoether/key``, kept 0600 and
  apart from the cache, so that a cache directory written by anyone else, or
  copied from elsewhere, authenticates nothing). An entry whose HMAC does not
  verify, or that names another state or parameters, is ignored and
  rewritten; without a usable key (one warning) the index is not used.
* ``symnoether_k_<hash>.py``: a kernel module. The process holds its body
  (generated, or authenticated from the index); the file exists only because
  numba's on-disk cache (``cache=True``) needs a file-backed function. The file
  is rewritten unless it holds exactly these bytes, and then the bytes in
  memory, never the file, are compiled under the file's path into a fresh
  module, so neither a planted ``__pycache__/*.pyc`` nor a file swapped after
  the check can substitute code. numba keeps its ``.nbi``/``.nbc`` files in
  ``__pycache__`` inside the checked directory, or, when ``NUMBA_CACHE_DIR`` is
  set, in its sub-directory for the cache, created 0700 and checked likewise.
* ``symnoether_k_<hash>.<python tag>.code``: those bytes compiled (marshalled
  code), behind an HMAC of the interpreter's magic number, the module's path,
  the SHA-256 of its text and the code, so that a warm start skips Python's
  compiler as an import from a ``.pyc`` would, without trusting a ``.pyc``.

When a directory cannot be created or written, the kernels are compiled in
memory with numba's cache off and a :class:`KernelCacheWarning` names the
directory (each warning once per process).

Examples
--------
>>> import hashlib
>>> from symnoether.numerics.kernel_cache import body_hash, cache_dir
>>> body_hash("x = 1") == hashlib.sha256(b"x = 1").hexdigest()
True
>>> cache_dir().name != ""
True
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import json
import marshal
import os
import sys
import tempfile
from pathlib import Path
from types import CodeType, ModuleType

from .cache_trust import (
    Untrusted,
    directory_problem,
    key_path,
    private_directory,
    read_regular,
    user_key,
    warn_once,
)

__all__ = [
    "atomic_write_bytes",
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


def body_hash(text: str) -> str:
    """SHA-256 of ``text`` (UTF-8), as hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# -- trust ----------------------------------------------------------------------------


def trusted_cache() -> Path | None:
    """The real path of :func:`cache_dir`, created 0700 and checked with
    :func:`directory_problem`; None (after one :class:`KernelCacheWarning`) when it
    cannot be created or fails the rule."""
    directory = cache_dir()
    try:
        return private_directory(directory)
    except OSError as err:
        warn_once(
            f"the kernel cache directory {directory} cannot be created ({err}), so the "
            "kernels are generated afresh and compiled in memory and numba cannot cache them "
            "across processes; set SYMNOETHER_CACHE_DIR (and NUMBA_CACHE_DIR) to a writable "
            "directory"
        )
    except Untrusted as err:
        warn_once(
            f"the kernel cache directory {directory} is not safe: {err}. Nothing in it is "
            "used: the kernels are generated afresh and compiled in memory (numba cannot "
            f"cache them across processes). Fix: {_FIX}"
        )
    return None


# -- the index: symbolic inputs -> generated body ---------------------------------------


def _mac(secret: bytes, entry: dict) -> str:
    payload = json.dumps(entry, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hmac.new(secret, b"symnoether index 1\n" + payload.encode(), "sha256").hexdigest()


def read_index(key: str, state: list[str], parameters: list[str]) -> tuple[str, tuple] | None:
    """The cached ``(body, affine)`` generated for the inputs hashed to ``key``, or
    None when there is none, the cache or the key is not trusted, the entry's HMAC
    does not verify, or it names another state or parameters."""
    directory = trusted_cache()
    secret = None if directory is None else user_key()
    if secret is None:
        return None
    try:
        entry = json.loads(read_regular(_index_path(directory, key)))
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
    secret = None if directory is None else user_key()
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
        real = private_directory(leaf)
        if not os.access(real, os.W_OK):
            raise PermissionError("not writable")
    except OSError as err:
        _warn_unwritable(f"{origin} {leaf} ({err})")
        return False
    except Untrusted as err:
        warn_once(
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
    warn_once(
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
        return read_regular(path) == text.encode("utf-8")
    except OSError:
        return False


def _atomic_write(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file in the same folder, then
    :func:`os.replace` (the temporary file is removed on any failure)."""
    fd, temporary = tempfile.mkstemp(prefix=path.stem, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
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
    code = _compiled(path, text)
    sys.modules[name] = module  # numba rebuilds cached environments by module name
    try:
        exec(code, module.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _compiled(path: Path, text: str) -> CodeType:
    """``text`` compiled with ``path`` as its file name, through an authenticated
    bytecode cache (``<name>.<python tag>.code``: an HMAC under this user's key of
    the interpreter's magic number, ``path``, the SHA-256 of ``text`` and the
    marshalled code), so that a warm start of a large module skips Python's
    compiler as an import would; unmarshalled only after the HMAC verifies."""
    key = user_key()
    store = path.with_name(f"{path.stem}.{sys.implementation.cache_tag}.code")
    if key is not None:
        try:
            data = read_regular(store)
            mac, payload = data[:32], data[32:]
            if hmac.compare_digest(mac, _code_mac(key, path, text, payload)):
                code = marshal.loads(payload)
                if isinstance(code, CodeType) and code.co_filename == str(path):
                    return code
        except (OSError, ValueError, EOFError, TypeError):
            pass
    code = compile(text, str(path), "exec", dont_inherit=True)
    if key is not None:
        payload = marshal.dumps(code)
        try:
            atomic_write_bytes(store, _code_mac(key, path, text, payload) + payload)
        except OSError:
            pass
    return code


def _code_mac(key: bytes, path: Path, text: str, payload: bytes) -> bytes:
    header = b"symnoether code 1\n" + importlib.util.MAGIC_NUMBER + os.fsencode(path) + b"\0"
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return hmac.new(key, header + digest + payload, "sha256").digest()
