"""Code generation: kernels against hand derivations and finite differences, the
on-disk cache (content hash, corruption, bit-identical reuse, concurrent compiles).
"""

from __future__ import annotations

import ast
import importlib
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.numerics.codegen import cache_dir, compile_kernels
from symnoether.numerics.kernel_source import FloatPrinter

# the module, not sn.validate (the function of the same name shadows it)
validation = importlib.import_module("symnoether.numerics.validate")

eta, lam = sp.symbols("eta lam", positive=True)


pytestmark = pytest.mark.usefixtures("isolated_caches")


def test_rhs_matches_hand_derivation():
    """GD on V = ½(1 − w1w2)²: (η/2)q̈ + q̇ = −∇V, ∇V = −(1 − w1w2)(w2, w1)."""
    w1, w2 = sn.coordinates("w1 w2")
    system = sn.LearningSystem(
        (w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta)
    )
    kernels = compile_kernels(system, backend="numpy")
    y = np.array([0.7, -1.3, 0.4, 0.9])
    out = np.empty(4)
    step = 0.2
    kernels.rhs(0.0, y, kernels.pack({eta: step}), out)
    gradient = -(1 - y[0] * y[1]) * np.array([y[1], y[0]])
    np.testing.assert_allclose(out[:2], y[2:], rtol=1e-15)
    np.testing.assert_allclose(out[2:], -(2 / step) * (y[2:] + gradient), rtol=1e-14)
    np.testing.assert_allclose(kernels.bind({eta: step})(0.0, y), out, rtol=0)


@pytest.fixture(scope="module")
def relu():
    """ReLU network: Max and Heaviside in the loss, its gradient and the equations of motion."""
    model = models.relu_network(2, 2)
    system = model.system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam)])
    laws = [sn.noether(system, g) for g in model.generators.values()]
    return system, laws


def test_relu_kernels_compile_and_agree_with_numpy(relu):
    system, laws = relu
    fast = compile_kernels(system, laws)
    slow = compile_kernels(system, laws, backend="numpy")
    assert fast.source.split("\n", 5)[5] == slow.source.split("\n", 6)[6]  # same body
    rng = np.random.default_rng(0)
    p = fast.pack({eta: 0.1, lam: 0.01, "x1": 0.5, "x2": -1.0, "y": 0.3})
    for _ in range(5):
        y = rng.standard_normal(len(fast.state))
        a, b = np.empty(len(y)), np.empty(len(y))
        fast.rhs(0.0, y, p, a)
        slow.rhs(0.0, y, p, b)
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
        ca, cb = np.empty(2), np.empty(2)
        fast.rate(y, p, ca)
        slow.rate(y, p, cb)
        np.testing.assert_allclose(ca, cb, rtol=1e-13, atol=1e-15)


def test_gradient_matches_finite_differences(relu):
    system, laws = relu
    kernels = compile_kernels(system, laws, backend="numpy")
    p = kernels.pack({eta: 0.1, lam: 0.01, "x1": 0.5, "x2": -1.0, "y": 0.3})
    q = np.array([0.3, -0.2, 0.5, 0.4, 0.1, 0.2, 0.7, -0.6])  # both units active
    g = np.empty(len(q))
    kernels.grad(q, p, g)
    h = 1e-6
    for i in range(len(q)):
        e = np.zeros(len(q))
        e[i] = h
        numeric = (kernels.potential(q + e, p) - kernels.potential(q - e, p)) / (2 * h)
        assert g[i] == pytest.approx(numeric, rel=1e-7, abs=1e-9)


def test_piecewise_integer_zeros_and_mixed_numbers_compile():
    """Piecewise with an integer branch, Heaviside, Abs, integer-zero and float entries."""
    q1, q2 = sn.coordinates("q1 q2")
    loss = (
        sp.Piecewise((q1**2, q1 > 0), (0, True))
        + sp.Abs(q2) / 2
        + sp.Rational(1, 3) * sp.Heaviside(q1 - 1) * q1
        + 0.25 * q2**2
    )
    system = sn.LearningSystem((q1, q2), loss, rule=sn.rules.gradient_flow())
    law = sn.noether(system, (sp.Integer(1), sp.Integer(0)))
    kernels = compile_kernels(system, [law])
    out = np.empty(2)
    kernels.grad(np.array([2.0, -1.0]), kernels.pack(), out)
    # ∂/∂q1 = 2q1 + 1/3 (q1 > 1), ∂/∂q2 = sign(q2)/2 + q2/2
    np.testing.assert_allclose(out, [4.0 + 1 / 3, -0.5 - 0.5])
    kernels.grad(np.array([-2.0, 0.5]), kernels.pack(), out)
    np.testing.assert_allclose(out, [0.0, 0.5 + 0.25])
    psi = np.empty(2)
    kernels.psi(np.array([1.0, 1.0]), kernels.pack(), psi)
    assert psi.tolist() == [1.0, 0.0]


def test_a_sum_of_thousands_of_terms_prints_as_source_python_compiles():
    """A flat sum nests one level a term in Python's parser: printed as it is, the 7,140
    terms below raise RecursionError in ast.parse and compile() (the element-wise rate of
    a two-layer width-8 network has this many); printed in groups, it compiles and its
    value is the sum of the terms, added up here term by term."""
    ys = sp.symbols("y0:120")
    pairs = [(i, j) for i in range(120) for j in range(i + 1, 120)]
    coefficient = {(i, j): (-1) ** (i + j) * ((i + 2 * j) % 5 + 1) for i, j in pairs}
    expr = sp.Add(*(coefficient[i, j] * ys[i] * ys[j] for i, j in pairs))
    assert len(expr.args) == len(pairs) == 7140
    source = FloatPrinter({"standard": "python3", "strict": True}).doprint(expr)
    ast.parse(source)
    code = compile(source, "<sum>", "eval")
    values = {f"y{k}": 0.01 * (k + 1) * (-1) ** k for k in range(120)}
    want = math.fsum(c * values[f"y{i}"] * values[f"y{j}"] for (i, j), c in coefficient.items())
    assert eval(code, {"math": math}, values) == pytest.approx(want, rel=1e-12)


def test_source_is_cached_under_its_hash_and_describes_itself():
    w1, w2 = sn.coordinates("w1 w2")
    system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
    kernels = compile_kernels(system)
    assert kernels.path.parent == cache_dir()
    assert kernels.path.read_text().count("def rhs(t, y, p, out)") == 1
    assert "state y = (w1, w2)" in kernels.describe()
    again = compile_kernels(system)
    assert again.path == kernels.path
    other = compile_kernels(
        sn.LearningSystem((w1, w2), (2 - w1 * w2) ** 2, rule=sn.rules.gradient_flow())
    )
    assert other.path != kernels.path


def test_corrupted_entry_is_rebuilt():
    (q,) = sn.coordinates("q")
    system = sn.LearningSystem((q,), (q - 3) ** 2 / 2, rule=sn.rules.gradient_flow())
    first = compile_kernels(system)
    first.path.write_text("this is not python (")
    rebuilt = compile_kernels(system)
    assert rebuilt.path.read_text() != "this is not python ("
    out = np.empty(1)
    rebuilt.rhs(0.0, np.array([1.0]), rebuilt.pack(), out)
    assert out[0] == 2.0


SCRIPT = textwrap.dedent(
    """
    import hashlib, sys
    import sympy as sp
    import symnoether as sn
    from symnoether.numerics.validate import compile, validate
    w1, w2 = sn.coordinates("w1 w2")
    eta = sp.Symbol("eta", positive=True)
    system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2,
                               rule=sn.rules.gradient_descent(eta))
    law = sn.noether(system, (w1, -w2))
    kernels = compile(system, [law])
    report = validate(system, law, [1.5, 0.2], params={eta: 0.1}, t_end=3.0, kernels=kernels)
    digest = hashlib.sha256(report.charge.tobytes() + report.predicted.tobytes()).hexdigest()
    hits = kernels.module.drive_integrate.stats.cache_hits
    print(digest, sum(hits.values()), report.passed)
    """
)


def run_script(root, count):
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(root / "numba")
    env["SYMNOETHER_CACHE_DIR"] = str(root / "kernels")
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(count)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(out.split())
    return results


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
    reason="numba's on-disk cache needs the JIT (.ci/run also runs with NUMBA_DISABLE_JIT=1)",
)
def test_concurrent_compiles_then_cached_bit_identical(tmp_path):
    """Two processes compile the same kernels at once; a third loads them from the
    numba cache and reproduces their trajectories bit for bit."""
    cold = run_script(tmp_path, 2)
    assert cold[0][0] == cold[1][0]
    assert all(result[2] == "True" for result in cold)
    (warm,) = run_script(tmp_path, 1)
    assert warm[0] == cold[0][0]
    assert int(warm[1]) > 0  # drive_integrate came from numba's on-disk cache
    assert len(list((tmp_path / "kernels").glob("*.tmp"))) == 0


def _kernel_values(kernels, y, p):
    """rhs, charges and rates at the state y (float arrays)."""
    rhs, charge, rate = np.empty(len(y)), np.empty(len(kernels.laws)), np.empty(len(kernels.laws))
    kernels.rhs(0.0, y, p, rhs)
    kernels.charge(y, p, charge)
    kernels.rate(y, p, rate)
    return rhs, charge, rate


def test_unwritable_cache_compiles_in_memory_with_a_warning(tmp_path, monkeypatch):
    """The tests run as root, for whom a read-only folder is still writable, so the
    unwritable cache is simulated two ways: SYMNOETHER_CACHE_DIR under a regular file
    (mkdir fails with NotADirectoryError), and a cache folder whose writes fail
    (the atomic write monkeypatched to raise PermissionError)."""
    w1, w2 = sn.coordinates("w1 w2")
    system = sn.LearningSystem(
        (w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta)
    )
    law = sn.noether(system, (w1, -w2))
    cached = compile_kernels(system, [law])  # the writable cache of the module fixture
    assert cached.path is not None
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    unwritable = blocker / "kernels"
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(unwritable))
    with pytest.warns(sn.errors.KernelCacheWarning) as caught:
        memory = compile_kernels(system, [law])
    message = str(caught[0].message)
    assert str(unwritable) in message and "SYMNOETHER_CACHE_DIR" in message
    assert memory.path is None and memory.backend == "numba"
    assert "cache=False" in memory.source and "cache=True" not in memory.source
    assert memory.source.split("\n", 5)[5] == cached.source.split("\n", 5)[5]  # same body
    assert not unwritable.exists()
    # identical results, and the hand derivation: q̈ = −(2/η)(q̇ + ∇V), Q = e^{2t/η}(η/2)(w1ẇ1 − w2ẇ2)
    y, step = np.array([0.7, -1.3, 0.4, 0.9]), 0.2
    p = memory.pack({eta: step})
    for got, want in zip(_kernel_values(memory, y, p), _kernel_values(cached, y, p)):
        assert got.tobytes() == want.tobytes()
    rhs, charge, _ = _kernel_values(memory, y, p)
    gradient = -(1 - y[0] * y[1]) * np.array([y[1], y[0]])
    np.testing.assert_allclose(rhs[2:], -(2 / step) * (y[2:] + gradient), rtol=1e-14)
    np.testing.assert_allclose(charge, [(step / 2) * (y[0] * y[2] - y[1] * y[3])], rtol=1e-14)

    # a cache folder that exists but cannot be written
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(tmp_path / "kernels"))
    codegen = importlib.import_module("symnoether.numerics.kernel_cache")

    def refuse(path, text):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(codegen, "_atomic_write", refuse)
    other = sn.LearningSystem((w1, w2), (2 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
    with pytest.warns(sn.errors.KernelCacheWarning, match="Permission denied"):
        fallback = compile_kernels(other)
    assert fallback.path is None and list((tmp_path / "kernels").iterdir()) == []
    out = np.empty(2)
    fallback.rhs(0.0, np.array([1.0, 3.0]), fallback.pack(), out)
    assert out.tolist() == [-3.0, -1.0]  # −∇V = (2 − w1w2)(w2, w1) = −(3, 1) at (1, 3)

    # numba finds no writable cache for the module (its import fails): same fallback
    monkeypatch.undo()
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(tmp_path / "kernels"))

    def no_locator(name, path, text):
        raise RuntimeError(f"cannot cache function 'rhs': no locator available for file {path}")

    monkeypatch.setattr(codegen, "_exec_file", no_locator)
    with pytest.warns(sn.errors.KernelCacheWarning, match="numba's cache directory"):
        again = compile_kernels(other)
    assert again.module is fallback.module  # compiled once per process


def _count_generations(monkeypatch):
    """Wrap codegen._generate (the SymPy side of code generation) with a call counter."""
    codegen = importlib.import_module("symnoether.numerics.codegen")
    calls = []
    original = codegen._generate

    def counted(*args):
        calls.append(args[0])
        return original(*args)

    monkeypatch.setattr(codegen, "_generate", counted)
    return calls


def test_index_skips_sympy_on_a_warm_start_and_survives_damage(tmp_path, monkeypatch):
    """The second compile of the same inputs reads the generated body from the index
    (no CSE, no printing); another loss, or a damaged index entry, generates again."""
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(tmp_path))
    w1, w2 = sn.coordinates("w1 w2")
    system = sn.LearningSystem(
        (w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta)
    )
    law = sn.noether(system, (w1, -w2))
    calls = _count_generations(monkeypatch)
    first = compile_kernels(system, [law], backend="numpy")
    second = compile_kernels(system, [law], backend="numpy")
    assert len(calls) == 1 and second.source == first.source
    assert second.affine == first.affine == (True,)  # ψ = (w1, −w2): A = diag(1, −1)

    other = sn.LearningSystem((w1, w2), (2 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta))
    compile_kernels(other, [sn.noether(other, (w1, -w2))], backend="numpy")
    assert len(calls) == 2

    entries = sorted(tmp_path.glob("symnoether_i_*.json"))
    assert len(entries) == 2
    for damage in ("{not json", '{"sha256": "0", "body": "rhs = None"}'):
        for path in entries:
            path.write_text(damage)
        again = compile_kernels(system, [law], backend="numpy")
        assert again.source == first.source
    assert len(calls) == 4  # each damaged entry ignored, then rewritten
    y, out = np.array([0.7, -1.3, 0.4, 0.9]), np.empty(4)
    again.rhs(0.0, y, again.pack({eta: 0.2}), out)
    gradient = -(1 - y[0] * y[1]) * np.array([y[1], y[0]])
    np.testing.assert_allclose(out[2:], -(2 / 0.2) * (y[2:] + gradient), rtol=1e-14)


def test_index_tampered_body_is_not_trusted(tmp_path, monkeypatch):
    """An index entry whose body was edited (its SHA-256 no longer matches) is ignored:
    the kernels come from SymPy again and compute the right gradient."""
    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(tmp_path))
    (q,) = sn.coordinates("q")
    flow = sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_flow())
    compile_kernels(flow, backend="numpy")
    (path,) = tmp_path.glob("symnoether_i_*.json")
    text = path.read_text()
    assert "-y0" in text  # q' = −q
    path.write_text(text.replace("-y0", "y0", 1))
    calls = _count_generations(monkeypatch)
    kernels = compile_kernels(flow, backend="numpy")
    out = np.empty(1)
    kernels.rhs(0.0, np.array([2.0]), kernels.pack(), out)
    assert len(calls) == 1 and out.tolist() == [-2.0]
