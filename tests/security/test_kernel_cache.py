"""Security catalogue, kernel cache (issue 12, section 1): nothing on disk runs unless
this user wrote it.

One test per finding of the review. Each plants code that would create a marker
file if it ran (``open(MARKER, "w")`` at module level) and asserts that the marker
does not exist and that the kernels still compute the hand-derived value
(gradient flow on V = ½(q − 3)²: q̇ = 3 − q, so 2 at q = 1). Against the cache as
it was before the fix, each of them fails: the marker appears, or no warning is
given.

=================================================  ============================================
finding                                            test
=================================================  ============================================
index entry with a recomputed SHA-256 runs         test_poisoned_index_entry_is_not_executed
poisoned entry runs via the in-memory fallback     test_unwritable_cache_runs_no_poisoned_entry
cache directory's mode never checked (0777)        test_world_writable_cache_is_refused_once
group-writable parent directory                    test_group_writable_parent_is_refused
directory owned by another user (as root)          test_directory_of_another_user_is_refused
cache created with the umask                       test_cache_is_created_private
CI's ``mktemp -d`` cache under the sticky /tmp     test_private_dir_under_sticky_parent_passes
planted ``__pycache__/*.pyc`` with source's stamp  test_planted_pyc_is_not_used
forged bytecode cache entry                        test_forged_code_entry_is_not_used
file swapped between the check and the import      test_file_swapped_after_the_check_is_not_run
numba's cache directory not checked                test_unsafe_numba_cache_dir_is_refused
numba's in-tree cache created with the umask       test_numba_in_tree_cache_is_private
key file readable by others / of another user      test_unsafe_key_disables_the_index
a FIFO in the cache hangs the run                  test_fifo_in_the_cache_does_not_hang
=================================================  ============================================

Generated-source injection (symbol names) is catalogued in test_generated_source.py.
To extend: add a row above and a test that plants the attack and fails without the fix.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import importlib.util
import json
import marshal
import os
import stat
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import symnoether as sn
from symnoether.errors import KernelCacheWarning
from symnoether.numerics.codegen import compile_kernels

kernel_cache = importlib.import_module("symnoether.numerics.kernel_cache")
codegen = importlib.import_module("symnoether.numerics.codegen")

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A kernel cache, a key directory and numba's in-tree cache for one test, all
    under the test's own 0700 directory (pytest makes it so)."""
    import numba

    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(tmp_path / "kernels"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(kernel_cache, "_LOADED", {}, raising=False)
    return tmp_path


def flow():
    (q,) = sn.coordinates("q")
    return sn.LearningSystem((q,), (q - 3) ** 2 / 2, rule=sn.rules.gradient_flow())


def assert_correct(kernels):
    """q̇ = −∂V/∂q = 3 − q: 2 at q = 1 (by hand)."""
    out = np.empty(1)
    kernels.rhs(0.0, np.array([1.0]), kernels.pack(), out)
    assert out.tolist() == [2.0]


def payload(marker) -> str:
    return f"open({str(marker)!r}, 'w').close()\n"


def poison_index(directory, marker) -> None:
    """Rewrite every index entry with a body that writes ``marker``, its SHA-256
    recomputed (what the old check compared) and an HMAC under the attacker's key."""
    entries = sorted(directory.glob("symnoether_i_*.json"))
    assert entries, "no index entry to poison"
    for path in entries:
        entry = json.loads(path.read_text())
        entry.pop("mac", None)
        entry["body"] = payload(marker) + entry["body"]
        entry["sha256"] = hashlib.sha256(entry["body"].encode()).hexdigest()
        entry["mac"] = hmac.new(os.urandom(32), json.dumps(entry).encode(), "sha256").hexdigest()
        path.write_text(json.dumps(entry))


def kernel_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, KernelCacheWarning)]


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_poisoned_index_entry_is_not_executed(home, backend):
    """An entry whose body was replaced and its SHA-256 recomputed (and MACed under
    another key) is not used: the body is generated again and the entry rewritten."""
    marker = home / "pwned"
    compile_kernels(flow(), backend="numpy")
    poison_index(home / "kernels", marker)
    kernels = compile_kernels(flow(), backend=backend)
    assert not marker.exists()
    assert_correct(kernels)
    assert "open(" not in kernels.source
    (entry,) = (home / "kernels").glob("symnoether_i_*.json")
    assert "open(" not in json.loads(entry.read_text())["body"]  # rewritten


def test_unwritable_cache_runs_no_poisoned_entry(home, monkeypatch):
    """A poisoned directory the process cannot write (simulated: the tests run as root)
    used to have its body compiled in memory; the fallback now compiles fresh source."""
    marker = home / "pwned"
    compile_kernels(flow(), backend="numpy")
    poison_index(home / "kernels", marker)

    def refuse(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(kernel_cache, "_atomic_write", refuse)
    with pytest.warns(KernelCacheWarning, match="Permission denied"):
        kernels = compile_kernels(flow())
    assert kernels.path is None and not marker.exists()
    assert_correct(kernels)


def plant_everything(directory, marker) -> None:
    """A poisoned index entry (SHA-256 recomputed) and a poisoned kernel module."""
    compile_kernels(flow(), backend="numpy")
    poison_index(directory, marker)
    module = directory / "symnoether_k_0123456789abcdef01234567.py"
    module.write_text(payload(marker))


def run_twice_in(directory, marker) -> list[str]:
    """Compile with both backends (twice with numba): the KernelCacheWarnings given."""
    before = sorted(p.name for p in directory.iterdir())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = compile_kernels(flow(), backend="numpy")
        second = compile_kernels(flow())
        third = compile_kernels(flow())
    assert not marker.exists()
    for kernels in (first, second, third):
        assert_correct(kernels)
    assert second.path is None and "cache=False" in second.source
    assert sorted(p.name for p in directory.iterdir()) == before  # nothing written there
    return kernel_warnings(caught)


def test_world_writable_cache_is_refused_once(home):
    cache = home / "kernels"
    plant_everything(cache, home / "pwned")
    os.chmod(cache, 0o777)
    (message,) = run_twice_in(cache, home / "pwned")
    assert str(cache) in message and "writable by group or others (mode 0777)" in message
    assert "chmod 700" in message and "SYMNOETHER_CACHE_DIR" in message


def test_group_writable_parent_is_refused(home, monkeypatch):
    parent = home / "shared"
    parent.mkdir()
    cache = parent / "kernels"
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(cache))
    plant_everything(cache, home / "pwned")
    os.chmod(parent, 0o775)
    (message,) = run_twice_in(cache, home / "pwned")
    assert f"its parent {parent} is writable by group or others without the sticky bit" in message


@pytest.mark.skipif(not ROOT, reason="giving a directory to another user needs root")
def test_directory_of_another_user_is_refused(home):
    """A cache directory created by another user (here chowned to nobody) and passed
    as SYMNOETHER_CACHE_DIR used to run that user's code as root."""
    cache = home / "kernels"
    plant_everything(cache, home / "pwned")
    for path in (cache, *cache.iterdir()):
        os.chown(path, NOBODY, NOBODY)
    os.chmod(cache, 0o755)
    (message,) = run_twice_in(cache, home / "pwned")
    assert f"{cache} is owned by uid {NOBODY}, not by you (uid 0)" in message


def test_cache_is_created_private(home, monkeypatch):
    """Missing directories are made 0700 whatever the umask."""
    cache = home / "a" / "b" / "kernels"
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(cache))
    previous = os.umask(0)
    try:
        compile_kernels(flow(), backend="numpy")
    finally:
        os.umask(previous)
    assert any(cache.glob("symnoether_i_*.json"))
    for directory in (home / "a", home / "a" / "b", cache):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_private_dir_under_sticky_parent_passes(home, monkeypatch):
    """CI's caches are `mktemp -d` directories (0700) under /tmp (1777): trusted."""
    sticky = home / "tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    cache = sticky / "kernels"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(cache))
    with warnings.catch_warnings():
        warnings.simplefilter("error", KernelCacheWarning)
        kernels = compile_kernels(flow())
    assert kernels.path.parent == cache and kernel_cache.directory_problem(cache) is None
    assert_correct(kernels)
    os.chmod(sticky, 0o777)  # the same without the sticky bit fails
    assert "without the sticky bit" in kernel_cache.directory_problem(cache)


def as_in_a_new_process(monkeypatch, path) -> None:
    """Forget the kernel modules this process has loaded."""
    monkeypatch.setattr(kernel_cache, "_LOADED", {}, raising=False)
    monkeypatch.delitem(sys.modules, path.stem, raising=False)


def evil_module_code(path, marker):
    return compile(payload(marker) + path.read_text(), str(path), "exec")


def test_planted_pyc_is_not_used(home, monkeypatch):
    """A ``.pyc`` stamped with the source's mtime and size (PEP 552 header), which an
    import by path runs instead of the source, is never read."""
    marker = home / "pwned"
    path = compile_kernels(flow()).path
    info = path.stat()
    header = importlib.util.MAGIC_NUMBER + (0).to_bytes(4, "little")
    header += (int(info.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
    header += (info.st_size & 0xFFFFFFFF).to_bytes(4, "little")
    pyc = importlib.util.cache_from_source(str(path))
    os.makedirs(os.path.dirname(pyc), exist_ok=True)
    with open(pyc, "wb") as handle:
        handle.write(header + marshal.dumps(evil_module_code(path, marker)))
    # control: an import by path (what the cache used to do) runs the planted code
    spec = importlib.util.spec_from_file_location("symnoether_probe", path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    assert marker.exists()
    marker.unlink()

    as_in_a_new_process(monkeypatch, path)
    kernels = compile_kernels(flow())
    assert not marker.exists()
    assert kernels.module.__file__ == str(path)
    assert_correct(kernels)


def test_forged_code_entry_is_not_used(home, monkeypatch):
    """The bytecode cache (``.code``) is unmarshalled only under a valid HMAC."""
    marker = home / "pwned"
    path = compile_kernels(flow()).path
    (store,) = path.parent.glob(f"{path.stem}.*.code")
    store.write_bytes(os.urandom(32) + marshal.dumps(evil_module_code(path, marker)))
    as_in_a_new_process(monkeypatch, path)
    kernels = compile_kernels(flow())
    assert not marker.exists()
    assert_correct(kernels)


def test_file_swapped_after_the_check_is_not_run(home, monkeypatch):
    """The bytes compiled are the ones in memory: replacing the file right after its
    check (a race) substitutes nothing."""
    marker = home / "pwned"
    as_in_a_new_process(monkeypatch, compile_kernels(flow()).path)
    for store in (home / "kernels").glob("*.code"):
        store.unlink()
    original = kernel_cache._is_intact

    def checked_then_swapped(path, text):
        intact = original(path, text)
        path.write_text(payload(marker) + text)
        return intact

    monkeypatch.setattr(kernel_cache, "_is_intact", checked_then_swapped)
    kernels = compile_kernels(flow())
    assert not marker.exists()
    assert_correct(kernels)


def test_unsafe_numba_cache_dir_is_refused(home, monkeypatch):
    """numba's ``.nbi`` index is a pickle: a NUMBA_CACHE_DIR others can write is not
    used, and the kernels are compiled in memory with numba's cache off."""
    import numba

    shared = home / "numba"
    shared.mkdir()
    os.chmod(shared, 0o777)
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(shared))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = compile_kernels(flow())
        second = compile_kernels(flow())
    (message,) = kernel_warnings(caught)
    assert "numba's cache directory (NUMBA_CACHE_DIR)" in message and str(shared) in message
    assert first.path is None and second.path is None and "cache=False" in first.source
    assert_correct(second)


def test_numba_in_tree_cache_is_private(home):
    """Without NUMBA_CACHE_DIR numba caches in ``__pycache__`` next to the kernel file:
    made 0700 inside the checked cache before numba sees it."""
    previous = os.umask(0)
    try:
        kernels = compile_kernels(flow())
    finally:
        os.umask(previous)
    assert_correct(kernels)
    pycache = kernels.path.parent / "__pycache__"
    assert stat.S_IMODE(pycache.stat().st_mode) == 0o700
    assert stat.S_IMODE(kernels.path.parent.stat().st_mode) == 0o700
    if os.environ.get("NUMBA_DISABLE_JIT", "0") in ("", "0"):
        assert any(pycache.glob("*.nbi"))  # numba's cache is still used


def count_generations(monkeypatch) -> list:
    calls = []
    original = codegen._generate

    def counted(*args):
        calls.append(args[0])
        return original(*args)

    monkeypatch.setattr(codegen, "_generate", counted)
    return calls


@pytest.mark.parametrize("problem", ["mode", "owner"])
def test_unsafe_key_disables_the_index(home, monkeypatch, problem):
    """A key others can read (or another user's key) authenticates nothing: one
    warning naming it and the fix, and the index is not used."""
    if problem == "owner" and not ROOT:
        pytest.skip("giving a file to another user needs root")
    key = home / "config" / "symnoether" / "key"
    key.parent.mkdir(parents=True, mode=0o700)
    key.write_bytes(os.urandom(32))
    if problem == "mode":
        os.chmod(key, 0o644)
    else:
        os.chmod(key, 0o600)
        os.chown(key, NOBODY, NOBODY)
    calls = count_generations(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compile_kernels(flow(), backend="numpy")
        kernels = compile_kernels(flow(), backend="numpy")
    (message,) = kernel_warnings(caught)
    assert str(key) in message and "chmod 600" in message
    assert "(mode 0644)" in message if problem == "mode" else f"uid {NOBODY}" in message
    assert len(calls) == 2 and not list((home / "kernels").glob("symnoether_i_*"))
    assert_correct(kernels)


FIFO_SCRIPT = textwrap.dedent(
    """
    import numpy as np, symnoether as sn
    from symnoether.numerics.codegen import compile_kernels
    (q,) = sn.coordinates("q")
    system = sn.LearningSystem((q,), (q - 3) ** 2 / 2, rule=sn.rules.gradient_flow())
    out = np.empty(1)
    for backend in ("numpy", "numba"):
        kernels = compile_kernels(system, backend=backend)
        kernels.rhs(0.0, np.array([1.0]), kernels.pack(), out)
        print(backend, out[0])
    """
)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_fifo_in_the_cache_does_not_hang(home):
    """An index entry, kernel module and bytecode entry replaced by FIFOs are skipped
    (opened without blocking, refused as not regular), not read forever."""
    first = compile_kernels(flow())
    compile_kernels(flow(), backend="numpy")
    cache = home / "kernels"
    targets = [*cache.glob("symnoether_i_*.json"), first.path, *cache.glob("*.code")]
    assert len(targets) >= 2
    for path in targets:
        path.unlink()
        os.mkfifo(path, 0o600)
    env = dict(os.environ)  # the fixture's cache and key directories
    done = subprocess.run(
        [sys.executable, "-c", FIFO_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numpy", "2.0", "numba", "2.0"]
