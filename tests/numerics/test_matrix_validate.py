"""Validation of matrix-level laws at width 64: along the trajectory (validate) and
against the real optimizer (validate_discrete), for linear networks of two and three
layers under heavy-ball momentum with weight decay and a generic gl(64) generator
ψ_A = (A W1, −W2 A, 0) (A a random 64×64 array); and the memory bound: nothing of
size n² (12,288² floats = 1.2 GB for three 64×64 layers) is allocated.

The law is the one of Tanaka & Kunin (2021): the gl charge is broken by the kinetic
term (finite step) and by weight decay; the optimizer follows it at order 2 in η.
"""

import tracemalloc

import numpy as np
import pytest
import sympy as sp

import symnoether as sn

WIDTH = 64
ETA, BETA, LAM = 0.01, 0.5, 0.1


def network(shapes: dict):
    """A linear network with the given layer shapes, under momentum and weight decay,
    its gl law at the first hidden interface, q0 and params."""
    layers = sn.layers(**shapes)
    n_in, n_out = int(layers[0].shape[1]), int(layers[-1].shape[0])
    x, y = sn.layers(x=(n_in, 1), y=(n_out, 1), data=True)
    eta, beta, lam = sp.symbols("eta beta lam", positive=True)
    forward = x
    for W in layers:
        forward = W * forward
    e = y - forward
    system = sn.LearningSystem(layers, e.T * e / 2, rule=sn.rules.momentum(eta, beta),
                               data=(x, y), regularizers=[sn.rules.weight_decay(lam)])  # fmt: skip
    h = int(layers[0].shape[0])
    A = sp.MatrixSymbol("A", h, h)
    generator = (A * layers[0], -layers[1] * A) + (0,) * (len(layers) - 2)
    law = sn.noether(system, generator)
    rng = np.random.default_rng(0)
    shapes = {W: tuple(int(d) for d in W.shape) for W in layers}
    q0 = {W: rng.standard_normal(s) / np.sqrt(s[1]) for W, s in shapes.items()}
    params = {x: rng.standard_normal((n_in, 1)) / np.sqrt(n_in),
              y: rng.standard_normal((n_out, 1)), eta: ETA, beta: BETA, lam: LAM}  # fmt: skip
    return system, law, q0, params


def traced(call):
    """(call(), the peak of the memory Python allocated during it, by tracemalloc)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def three_layers():
    return network({"W1": (WIDTH, WIDTH), "W2": (WIDTH, WIDTH), "W3": (WIDTH, WIDTH)})


@pytest.fixture(scope="module")
def two_layers():
    return network({"W1": (WIDTH, 32), "W2": (10, WIDTH)})


def test_three_layers_of_width_64_hold_12288_parameters(three_layers):
    system, law, q0, params = three_layers
    assert system.size == 12_288
    kernels = sn.compile(system, law)
    assert len(kernels.coords) == 12_288 and len(kernels.state) == 24_576


@pytest.mark.parametrize("net", ["two_layers", "three_layers"])
def test_validate_passes_at_width_64(net, request):
    system, law, q0, params = request.getfixturevalue(net)
    report = sn.validate(system, law, q0, params=params, t_end=0.5)
    assert report.passed, report
    assert report.max_residual < 1e-9
    assert report.drawn[law.constants[0]].shape == (WIDTH, WIDTH)
    # the charge moves (weight decay and the kinetic term break it) and is followed
    assert np.ptp(report.charge) > 1e-3 * np.abs(report.charge).max()


@pytest.mark.parametrize("net", ["two_layers", "three_layers"])
def test_validate_discrete_passes_at_width_64(net, request):
    system, law, q0, params = request.getfixturevalue(net)
    sn.compile(system, law)  # compiled beforehand: the peak is the runs' own
    report, peak = traced(lambda: sn.validate_discrete(system, law, q0, params=params, steps=100))
    assert report.passed, report
    assert report.status == "passed" and report.expected_order == 2
    assert report.order > 1.65  # the optimizer follows the law at second order in η
    # The runs stream: at η/4 (400 steps) holding every iterate and the continuous
    # state at every step would take 400·(1 + 2)·size·8 bytes (118 MB for 3 layers).
    # What is held is the kept first run (102 rows), one 32 MiB chunk, block temporaries
    # and the packed constants: under 100 MB whatever the number of steps.
    size = system.size
    assert report.iterates.shape == (102, size)
    assert peak < 102 * size * 8 + 2 * 2**25 + 8e6, f"peak {peak / 1e6:.0f} MB"


def test_validate_at_width_64_allocates_nothing_of_size_n_squared(three_layers):
    system, law, q0, params = three_layers
    sn.compile(system, law)  # compiled beforehand: the test measures validate alone
    report, peak = traced(lambda: sn.validate(system, law, q0, params=params, t_end=0.1))
    assert report.passed
    n2 = 12_288**2 * 8
    assert peak < n2 / 10, f"peak {peak / 1e6:.0f} MB"


def test_optimizer_allocates_no_metric_without_a_preconditioner(three_layers):
    # The NumPy backend runs the driver as Python, so tracemalloc sees every array it
    # makes; before the fix drive_optimizer made a 12,288² metric (1.2 GB) regardless.
    system, law, q0, params = three_layers
    kernels = sn.compile(system, law, backend="numpy")
    from symnoether.numerics.arguments import resolve_params

    values, _ = resolve_params(kernels, params)
    p = kernels.pack(values)
    q = kernels.pack_state(q0)
    out = np.empty((3, len(q)))
    done, peak = traced(lambda: kernels.drive_optimizer(q, q, p, ETA, BETA, 2, False, out))
    assert done == 3
    assert peak < 20e6, f"peak {peak / 1e6:.0f} MB"
    # and the step is heavy ball on the kernel gradient
    g = np.empty(len(q))
    state = np.concatenate([q, np.zeros_like(q)])
    kernels.grad(state, p, g)
    np.testing.assert_allclose(out[1], q - ETA * g, rtol=1e-12, atol=1e-15)
