"""The matrix printer's constructs against NumPy written by hand, and the source check
of matrix kernels: exactly the constructs the generator writes, nothing else."""

import numpy as np
import pytest
import sympy as sp

from symnoether.errors import InvalidInputError, NotSupportedError
from symnoether.numerics.kernel_source import KERNEL_NAMES, check_kernel_source
from symnoether.numerics.matrix_codegen import MatrixSpec, compile_spec

W = sp.MatrixSymbol("W", 3, 2)
S = sp.MatrixSymbol("S", 3, 3)
x = sp.MatrixSymbol("x", 2, 1)
c = sp.Symbol("c", positive=True)


def spec_of(loss, gradients, parameters=(x, c)):
    """A spec whose loss and 'gradients' are arbitrary expressions to print."""
    return MatrixSpec(layers=(W, S), velocities=(), order=1, parameters=parameters,
                      accelerations=gradients, loss=loss, potential=loss,
                      gradients=gradients, loss_gradients=gradients)  # fmt: skip


@pytest.fixture(scope="module")
def values():
    rng = np.random.default_rng(1)
    w, s, xv = rng.standard_normal((3, 2)), rng.standard_normal((3, 3)), rng.standard_normal(2)
    return w, s, xv.reshape(2, 1), 0.7


def run(spec, values, backend="numpy"):
    w, s, xv, cv = values
    kernels = compile_spec(spec, backend=backend)
    p = kernels.pack({x: xv, c: cv})
    y = kernels.pack_state({W: w, S: s})
    out = np.empty(len(y))
    kernels.grad(y, p, out)
    return kernels, kernels.loss(y, p), out[:6].reshape(3, 2), out[6:].reshape(3, 3)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_elementwise_constructs_match_numpy(values, backend):
    w, s, xv, cv = values
    relu = W.applyfunc(lambda v: sp.Max(0, v))
    tanh = (S * W).applyfunc(sp.tanh)
    hw = sp.HadamardProduct(W, W)
    loss = (sp.sqrt(sp.Trace(W.T * W)) + sp.Trace(x.T * hw.T * hw * x)
            + c * (W.T * S * W * x)[0, 0] + sp.Trace(sp.HadamardPower(S, 3)))  # fmt: skip
    grads = (sp.HadamardProduct(relu, tanh) + c * W, S**2 + 2 * sp.Identity(3) - S.T * c)
    _, loss_value, g1, g2 = run(spec_of(loss, grads), values, backend)
    expected = (np.sqrt(np.sum(w * w)) + np.sum(((w * w) @ xv) ** 2)
                + cv * (w.T @ s @ w @ xv)[0, 0] + np.trace(s**3))  # fmt: skip
    assert loss_value == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(g1, np.maximum(w, 0) * np.tanh(s @ w) + cv * w, rtol=1e-13)
    np.testing.assert_allclose(g2, s @ s + 2 * np.eye(3) - cv * s.T, rtol=1e-13)


def test_zero_and_identity_and_ones(values):
    w, s, *_ = values
    grads = (sp.ZeroMatrix(3, 2), sp.Identity(3) * S + sp.OneMatrix(3, 3))
    loss = sp.Trace(sp.Identity(3)) + sp.Trace(S * sp.Identity(3))
    kernels, loss_value, g1, g2 = run(spec_of(loss, grads), values)
    assert loss_value == pytest.approx(3 + np.trace(s))
    assert not g1.any()
    np.testing.assert_allclose(g2, s + 1.0, rtol=1e-14)
    assert "out[0:6] = 0.0" in kernels.source


def test_a_product_used_twice_is_computed_once(values):
    w, s, *_ = values
    grads = (S * W * W.T * S * W, 2 * S * W * W.T * S)
    kernels, _, g1, g2 = run(spec_of(sp.Trace(W.T * S * W), grads), values)
    np.testing.assert_allclose(g1, s @ w @ w.T @ s @ w, rtol=1e-12)
    np.testing.assert_allclose(g2, 2 * s @ w @ w.T @ s, rtol=1e-12)
    source = kernels.source
    grad = source[source.index("def grad(") : source.index("def loss_grad(")]
    products = [line.split("=", 1)[1] for line in grad.splitlines() if "np.dot(" in line]
    assert products.count(" np.dot(a1, a0)") == 1  # S W, shared by both chains
    assert len(set(products)) == len(products)  # no product computed twice
    # tr(Wᵀ S W) never forms the product Wᵀ S W: one product, then a sum of entries
    loss = source[source.index("def loss(") : source.index("def potential(")]
    assert loss.count("np.dot(") == 1


def test_a_symbol_of_no_role_is_refused_by_name():
    stranger = sp.MatrixSymbol("Z", 3, 2)
    with pytest.raises(InvalidInputError, match="'Z'"):
        compile_spec(spec_of(sp.Trace(W.T * stranger), (W, S)), backend="numpy")
    k = sp.Symbol("k")
    with pytest.raises(InvalidInputError, match="'k'"):
        compile_spec(spec_of(k * sp.Trace(W.T * W), (W, S)), backend="numpy")


def test_an_inverse_is_not_supported():
    with pytest.raises(NotSupportedError, match="no kernel translation"):
        compile_spec(spec_of(sp.Trace(W.T * W), (W, S.I)), backend="numpy")


# -- the source check ----------------------------------------------------------------

GOOD = '''NS = 6
NQ = 6
NP = 2
NL = 0

@jit
def grad(y, p, out):
    """A matrix kernel."""
    a0 = np.ascontiguousarray(y[0:6]).reshape((3, 2))
    b0 = np.ascontiguousarray(p[0:2]).reshape((2, 1))
    c0 = np.dot(a0, b0)
    c1 = 0.0
    for i in range(3):
        for j in range(1):
            c1 += c0[i, j]*math.exp(c0.T[j, i])
    out[0:6] = 0.0
    c2 = np.empty((3, 2))
'''


def test_the_generated_constructs_pass():
    check_kernel_source(GOOD, KERNEL_NAMES, arrays=True)


@pytest.mark.parametrize(
    "line, what",
    [
        ("c3 = np.load('x')", "np.load"),
        ("c3 = __import__('os')", "__import__"),
        ("c3 = y.__class__", "__class__"),
        ("c3 = a0.tofile('x')", "tofile"),
        ("c3 = os.system('ls')", "os"),
        ("c3 = np.core", "core"),
        ("c3 = a0.reshape(NQ)", "reshape"),
        ("c3 = getattr(np, 'load')", "getattr"),
        ("for k in range(3):\n        c1 += 1.0", "loop"),
        ("for i in y:\n        c1 += 1.0", "loop"),
        ("while True:\n        c1 += 1.0", "While"),
        ("c1 -= 1.0", "augmented"),
        ("c3 = [i for i in range(3)]", "ListComp"),
        ("c3 = lambda: 0", "Lambda"),
    ],
)
def test_planted_code_is_refused(line, what):
    with pytest.raises(NotSupportedError, match="never writes"):
        check_kernel_source(GOOD + f"    {line}\n", KERNEL_NAMES, arrays=True)


def test_scalar_kernels_still_refuse_arrays():
    with pytest.raises(NotSupportedError, match="never writes"):
        check_kernel_source(GOOD, KERNEL_NAMES)
    one_line = "@jit\ndef loss(y, p):\n    return np.sum(y)\n"
    with pytest.raises(NotSupportedError, match="np.sum"):
        check_kernel_source(one_line, KERNEL_NAMES)


def test_hostile_names_reach_the_source_only_escaped():
    evil = sp.MatrixSymbol('W"""\nimport os\nos.system("x")#', 2, 2)
    data = sp.MatrixSymbol("x')\n__import__('os')", 2, 1)
    loss = sp.Trace(data.T * evil.T * evil * data)
    spec = MatrixSpec(layers=(evil,), velocities=(), order=1, parameters=(data,),
                      accelerations=(-evil * data * data.T,), loss=loss, potential=loss,
                      gradients=(evil,), loss_gradients=(evil,))  # fmt: skip
    kernels = compile_spec(spec, backend="numpy")
    assert "import os" not in kernels.source.replace("<U+000A>import os", "")
    assert "__import__" not in kernels.source.replace("<U+000A>__import__", "")
    out = np.empty(4)
    kernels.grad(np.arange(4.0), kernels.pack({data: [1.0, 2.0]}), out)
    assert out.tolist() == [0.0, 1.0, 2.0, 3.0]
