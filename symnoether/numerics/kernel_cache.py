"""The on-disk cache of generated kernels: sources under their content hash, and an
index from the symbolic inputs to the source they generate.

Two kinds of entry live in :func:`cache_dir`, both written atomically
(a temporary file, then :func:`os.replace`) and both checked on reading:

* ``symnoether_k_<hash>.py``: a kernel module, imported as a real module so
  numba's own on-disk cache (``cache=True``) works across processes. Its
  first line carries the SHA-256 of the rest; an entry that does not match is
  rewritten, one that fails to import is rewritten once.
* ``symnoether_i_<hash>.json``: the generated body for a hash of the symbolic
  inputs (equations of motion, loss, charges, rates, generators, drivers, the
  versions of SymPy, numba and of the generator itself). A warm start reads it
  instead of running SymPy's common-subexpression elimination and printer
  again; an entry whose body does not match its recorded SHA-256, or whose
  state and parameter names differ from the system's, is ignored and rewritten.

When the directory cannot be created or written, modules are compiled in
memory with numba's cache off and a :class:`KernelCacheWarning` names the
directory; the index is then simply not written.

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
import importlib.util
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType

from ..errors import KernelCacheWarning

__all__ = ["cache_dir", "load_module", "numpy_module", "read_index", "write_index", "body_hash"]

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


# -- the index: symbolic inputs -> generated body ---------------------------------------


def read_index(key: str, state: list[str], parameters: list[str]) -> tuple[str, tuple] | None:
    """The cached ``(body, affine)`` generated for the inputs hashed to ``key``, or
    None when there is none, it is damaged, or it names another state or parameters."""
    try:
        entry = json.loads(_index_path(key).read_text(encoding="utf-8"))
        body, affine = entry["body"], entry["affine"]
        intact = (
            entry["key"] == key
            and isinstance(body, str)
            and entry["sha256"] == body_hash(body)
            and entry["state"] == state
            and entry["parameters"] == parameters
            and isinstance(affine, list)
            and all(isinstance(flag, bool) for flag in affine)
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return (body, tuple(affine)) if intact else None


def write_index(
    key: str, body: str, affine: tuple, state: list[str], parameters: list[str]
) -> None:
    """Record ``body`` as generated for ``key`` (skipped when the cache is not
    writable: :func:`load_module` then warns)."""
    entry = {
        "key": key,
        "sha256": body_hash(body),
        "state": state,
        "parameters": parameters,
        "affine": [bool(flag) for flag in affine],
        "body": body,
    }
    path = _index_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write(path, json.dumps(entry))
    except OSError:
        pass


def _index_path(key: str) -> Path:
    return cache_dir() / f"symnoether_i_{key[:32]}.json"


# -- kernel modules -------------------------------------------------------------------


def numpy_module(body: str, digest: str) -> tuple[None, ModuleType, str]:
    """The body executed as plain Python/NumPy (no numba, nothing on disk)."""
    source = HEADER_NUMPY + body
    module = ModuleType(f"symnoether_numpy_{digest[:16]}")
    exec(compile(source, f"<symnoether kernels {digest[:16]}>", "exec"), module.__dict__)
    return None, module, source


def load_module(body: str, digest: str) -> tuple[Path | None, ModuleType, str]:
    """Write the kernel source (atomically, once) under its hash and import it as a
    module: (path, module, source). When the cache directory cannot be created or
    written, compile in memory instead, with a :class:`KernelCacheWarning`."""
    source = HEADER_NUMBA + body
    directory = cache_dir()
    name = f"symnoether_k_{digest[:24]}"
    path = directory / f"{name}.py"
    text = f"{_MARK}{body_hash(source)}\n{source}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if not _is_intact(path, text):
            _atomic_write(path, text)
    except OSError as err:
        return _in_memory(body, digest, f"the kernel cache directory {directory} ({err})")
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return path, sys.modules[name], source
    try:
        module = _import(name, path)
    except Exception:
        try:  # a corrupted entry that still hashed right: rebuild once
            _atomic_write(path, text)
            module = _import(name, path)
        except OSError as err:
            return _in_memory(body, digest, f"the kernel cache directory {directory} ({err})")
        except RuntimeError as err:
            if "cannot cache" not in str(err):
                raise
            return _in_memory(body, digest, f"numba's cache directory ({err})")
    return path, module, source


def _in_memory(body: str, digest: str, culprit: str) -> tuple[None, ModuleType, str]:
    """The kernel module compiled from source in memory, numba's disk cache off (the
    same kernels, compiled again in every process), with a warning naming ``culprit``."""
    warnings.warn(
        f"{culprit} is not writable, so the kernels are compiled in memory and numba "
        "cannot cache them across processes; set SYMNOETHER_CACHE_DIR (and NUMBA_CACHE_DIR) "
        "to a writable directory",
        KernelCacheWarning,
        stacklevel=4,
    )
    source = HEADER_NUMBA.replace("cache=True", "cache=False") + body
    module = _IN_MEMORY.get(digest)
    if module is None:
        module = ModuleType(f"symnoether_memory_{digest[:16]}")
        exec(compile(source, f"<symnoether kernels {digest[:16]}>", "exec"), module.__dict__)
        _IN_MEMORY[digest] = module
    return None, module, source


def _is_intact(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
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


def _import(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
