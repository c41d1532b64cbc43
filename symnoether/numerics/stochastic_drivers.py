"""Numeric drivers of :func:`symnoether.numerics.stochastic_mc.validate_sgd`: many
independent minibatch-SGD runs, each with its own counter-based random stream.

Plain Python functions, copied verbatim into the generated kernel module by
:func:`symnoether.numerics.codegen.compile_kernels` (like :mod:`~symnoether.numerics.drivers`),
where ``loss_grad``, ``grad``, ``charge`` and ``rate`` are the compiled kernels of the
run's system: ``loss_grad`` with a sample's data in ``p`` is that sample's gradient,
regularizers included; ``grad`` is ∇V; ``charge`` is the law's charge and ``rate`` the
predicted increment per unit time (:func:`~symnoether.numerics.stochastic_mc.sgd_kernels`).

Random stream. Draw j of step k of run r is a function of (seed, r, k, j) only, so a
run gives the same numbers whichever thread runs it, and the result does not depend
on the number of threads. The counter (r, k) is encrypted by a four-round Feistel
network on two 32-bit halves keyed by the seed (a bijection: no two (r, k) share a
block, as in Philox [1]_), whose round function and output are Wellons' ``lowbias32``
integer hash [2]_; draw j is ``mix32(L ^ mix32(R + j))`` of the block (L, R). Every
product stays below 2⁴⁹ (32-bit multiplication by 16-bit halves), so the integer
arithmetic is exact in int64, under numba and in plain Python alike. A batch index in
[0, N) is ⌊h·N / 2³²⌋ (bias below N/2³²); without replacement a partial Fisher–Yates
shuffle of a per-run permutation.

* ``sgd_member``: one run of θ_{k+1} = θ_k + βv_k − η ĝ_k (β = 0: plain SGD), starting
  on the slow manifold v_0 = −η∇V(θ_0)/(1 − β), recording Q(θ_k) and the accumulated
  prediction at the checkpoints ``marks``. ``mode`` 0: trapezoid of the expected rate,
  (η/2)(rate(θ_k) + rate(θ_{k+1})); ``mode`` 1: η·rate(θ_k), the rate kernel then being
  the exact one-step expectation of a quadratic charge divided by η. Status 0 done, 3
  non-finite state.
* ``drive_sgd``/``drive_sgd_parallel``: every run, serially or across cores (prange).

References
----------
.. [1] J. K. Salmon, M. A. Moraes, R. O. Dror and D. E. Shaw, "Parallel random numbers:
   as easy as 1, 2, 3", SC 2011 (counter-based generators, Philox).
.. [2] C. Wellons, "Prospecting for hash functions" (2018), the ``lowbias32`` hash.

Examples
--------
>>> [mix32(v) for v in (0, 1, 2)]          # lowbias32 of 0, 1, 2
[0, 1753845952, 3507691905]
>>> block(0, 0, np.array([1, 2, 3, 4])) != block(0, 1, np.array([1, 2, 3, 4]))
True
"""

from __future__ import annotations

import math

import numpy as np


def _unbound(*args):  # pragma: no cover - replaced in every generated module
    raise RuntimeError("drivers run only inside a generated kernel module (codegen)")


loss_grad = grad = charge = rate = _unbound
NQ = NL = 0
prange = range


def mul32(x, m):
    """(x·m) mod 2³² for x, m < 2³², exact in int64 (partial products below 2⁴⁹)."""
    low = x * (m & 0xFFFF)
    high = (x * (m >> 16)) & 0xFFFF
    return (low + (high << 16)) & 0xFFFFFFFF


def mix32(x):
    """Wellons' lowbias32: a bijection of [0, 2³²) with low avalanche bias."""
    x = x & 0xFFFFFFFF
    x = x ^ (x >> 16)
    x = mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = mul32(x, 0x846CA68B)
    x = x ^ (x >> 16)
    return x


def block(r, k, keys):
    """The counter (run r, step k) encrypted by four keyed Feistel rounds: (L, R)."""
    left = r & 0xFFFFFFFF
    right = k & 0xFFFFFFFF
    for i in range(4):
        left, right = right, left ^ mix32(right ^ keys[i])
    return left, right


def draw(left, right, j):
    """Draw j of the block (L, R), in [0, 2³²)."""
    return mix32(left ^ mix32((right + j) & 0xFFFFFFFF))


def sgd_member(r, q0, P, pbase, eta, beta, batch, replace, steps, mode, keys, marks,
               out_q, out_d, out_end, status):  # fmt: skip
    n = NQ
    nd = P.shape[0]
    th = np.empty(n)
    g = np.empty(n)
    gi = np.empty(n)
    gb = np.empty(n)
    v = np.empty(n)
    qb = np.empty(NL)
    rb = np.empty(NL)
    perm = np.arange(nd)
    for i in range(n):
        th[i] = q0[i]
    grad(th, pbase, g)
    for i in range(n):
        v[i] = -eta * g[i] / (1.0 - beta)
    charge(th, pbase, qb)
    q_now = qb[0]
    rate(th, pbase, rb)
    r_prev = rb[0]
    acc = 0.0
    out_q[r, 0] = q_now
    out_d[r, 0] = 0.0
    c = 1
    status[r] = 0
    rr = int(r)
    for k in range(steps):
        left, right = block(rr, k, keys)
        for i in range(n):
            gb[i] = 0.0
        for j in range(batch):
            h = draw(left, right, j)
            if replace:
                idx = (h * nd) >> 32
            else:
                m = j + ((h * (nd - j)) >> 32)
                swap = perm[j]
                perm[j] = perm[m]
                perm[m] = swap
                idx = perm[j]
            loss_grad(th, P[idx], gi)
            for i in range(n):
                gb[i] += gi[i]
        d = 0.0
        if mode == 1:
            rate(th, pbase, rb)
            d = eta * rb[0]
        finite = True
        for i in range(n):
            step = beta * v[i] - eta * gb[i] / batch
            v[i] = step
            th[i] += step
            if not math.isfinite(th[i]):
                finite = False
        if not finite:
            status[r] = 3
            break
        charge(th, pbase, qb)
        q_now = qb[0]
        if mode == 0:
            rate(th, pbase, rb)
            d = 0.5 * eta * (r_prev + rb[0])
            r_prev = rb[0]
        acc += d
        if c < marks.shape[0] and k + 1 == marks[c]:
            out_q[r, c] = q_now
            out_d[r, c] = acc
            c += 1
    for i in range(n):
        out_end[r, i] = th[i]
    while c < marks.shape[0]:
        out_q[r, c] = np.nan
        out_d[r, c] = np.nan
        c += 1


def drive_sgd_parallel(Q0, P, pbase, eta, beta, batch, replace, steps, mode, keys, marks,
                       out_q, out_d, out_end, status):  # fmt: skip
    for r in prange(Q0.shape[0]):
        sgd_member(r, Q0[r], P, pbase, eta, beta, batch, replace, steps, mode, keys, marks,
                   out_q, out_d, out_end, status)  # fmt: skip


def drive_sgd(Q0, P, pbase, eta, beta, batch, replace, steps, mode, keys, marks,
              out_q, out_d, out_end, status):  # fmt: skip
    for r in range(Q0.shape[0]):
        sgd_member(r, Q0[r], P, pbase, eta, beta, batch, replace, steps, mode, keys, marks,
                   out_q, out_d, out_end, status)  # fmt: skip


DRIVERS = (mul32, mix32, block, draw, sgd_member, drive_sgd_parallel, drive_sgd)
"""Copied, in this order, into the kernel module of every Monte Carlo validation."""
