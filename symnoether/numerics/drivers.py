"""Numeric drivers of :mod:`symnoether.numerics.validate`: integrators and optimizers.

These are plain Python functions. :func:`symnoether.numerics.codegen.compile_kernels`
copies their source verbatim into every generated kernel module, where the
kernel names below (``rhs``, ``charge``, ...) are the compiled kernels of one
system, so numba compiles and caches each driver together with its kernels
(no function-valued arguments, whose numba cache keys differ per process).
The same source runs without numba in the NumPy backend.

* ``drive_integrate``: the first-order equations of motion extended by one
  state per law, P' = R̃ − P/τ with P(0) = Q̃(0) (Q̃ = e^{−t/τ}Q, R̃ = e^{−t/τ}Q̇),
  so that Q̃(t) − P(t) = e^{−t/τ}(Q(t) − Q(0) − ∫₀ᵗ Q̇ ds) is the law's residual.
  Any explicit Runge–Kutta tableau (A, b, c; with an error row e, adaptive):
  Dormand–Prince 5(4) with error control [1]_, or classical RK4 with a fixed
  step; the tableaus are passed in by validate. Status codes: 0 done, 1 step budget exhausted,
  2 step size underflow, 3 non-finite or exploding state.
* ``drive_batch``/``drive_batch_parallel``: many initial conditions, one
  ``drive_member`` each (serially, or across cores with prange).
* ``drive_sweep``/``drive_sweep_parallel``: the same with one parameter vector per
  member (a sweep's grid points), and each member's charge at the end.
* ``drive_optimizer``: q_{k+1} = q_k − ηG⁻¹∇V(q_k) + β(q_k − q_{k−1}) from (q₀, q₋₁),
  so a long run can go chunk by chunk (G, n×n, is allocated only when ``precondition``:
  1.2 GB at 12,288 parameters).
* ``drive_grid``: RK4 on the grid t_k of a discrete run (with substeps), from the
  extended state z = (state, charges), updated in place; only the charges are kept.
* ``drive_discrete_charge``, ``drive_identity``: charges of discrete iterates
  and the exact one-step identity of an affine symmetry.

References
----------
.. [1] J. R. Dormand and P. J. Prince, "A family of embedded Runge–Kutta
   formulae", J. Comput. Appl. Math. 6 (1980) 19–26.
"""

from __future__ import annotations

import math

import numpy as np


def _unbound(*args):  # pragma: no cover - replaced in every generated module
    raise RuntimeError("drivers run only inside a generated kernel module (codegen)")


rhs = charge = rate = inv_tau = grad = loss_grad = metric = phi = psi = mpsi = _unbound
NS = NQ = NL = 0
prange = range


def ext_rhs(t, z, p, itau, dz, r):
    rhs(t, z, p, dz)
    rate(z, p, r)
    for j in range(NL):
        dz[NS + j] = r[j] - itau * z[NS + j]


def copy_row(source, target):
    for i in range(source.shape[0]):
        target[i] = source[i]


def all_finite(z):
    for i in range(z.shape[0]):
        if not math.isfinite(z[i]):
            return False
    return True


def track(z, p, qb, mb, stats):
    charge(z, p, qb)
    mpsi(z, p, mb)
    lo = 0 if NS == NQ else NQ
    u = 0.0
    for i in range(NQ):
        u += z[lo + i] ** 2
    u = math.sqrt(u)
    for j in range(NL):
        m = 0.0
        for i in range(NQ):
            m += mb[j * NQ + i] ** 2
        stats[0, j] = max(stats[0, j], abs(qb[j] - z[NS + j]))
        stats[1, j] = max(stats[1, j], abs(qb[j]))
        stats[2, j] = max(stats[2, j], abs(z[NS + j]))
        stats[3, j] = max(stats[3, j], u * math.sqrt(m))
        stats[4, j] = max(stats[4, j], math.sqrt(m))


def store(t, z, qb, out_t, out_z, out_q, rows):
    cap = out_t.shape[0]
    if cap < 2:
        return rows
    if rows == cap:
        half = 0
        for k in range(0, cap, 2):
            out_t[half] = out_t[k]
            copy_row(out_z[k], out_z[half])
            copy_row(out_q[k], out_q[half])
            half += 1
        rows = half
    out_t[rows] = t
    copy_row(z, out_z[rows])
    copy_row(qb, out_q[rows])
    return rows + 1


def rk_stages(t, z, h, p, itau, A, c, K, zt, r, first):
    """Stages first.. of an explicit Runge–Kutta tableau (A, c) into the rows of K."""
    n = z.shape[0]
    for s in range(first, c.shape[0]):
        for i in range(n):
            acc = 0.0
            for j in range(s):
                acc += A[s, j] * K[j, i]
            zt[i] = z[i] + h * acc
        ext_rhs(t + c[s] * h, zt, p, itau, K[s], r)


def combine(z, h, w, K, out):
    for i in range(z.shape[0]):
        acc = 0.0
        for s in range(w.shape[0]):
            acc += w[s] * K[s, i]
        out[i] = z[i] + h * acc


def drive_integrate(
    A,
    b,
    e,
    c,
    fsal,
    t0,
    t1,
    y0,
    p,
    rtol,
    atol,
    h,
    max_steps,
    out_t,
    out_z,
    out_q,
    stats,
    info,
    zlast,
):
    adaptive = e.shape[0] > 0
    nz = NS + NL
    z = np.zeros(nz)
    for i in range(NS):
        z[i] = y0[i]
    qb = np.empty(NL)
    mb = np.empty(NL * NQ)
    r = np.empty(NL)
    charge(z, p, qb)
    for j in range(NL):
        z[NS + j] = qb[j]
    for i in range(stats.shape[0]):
        for j in range(NL):
            stats[i, j] = 0.0
    itau = inv_tau(p)
    K = np.empty((c.shape[0], nz))
    zt, zn, ze, zero = np.empty(nz), np.empty(nz), np.empty(nz), np.zeros(nz)
    t = t0
    status = 0
    steps = 0
    rejected = 0
    ext_rhs(t, z, p, itau, K[0], r)
    track(z, p, qb, mb, stats)
    rows = store(t, z, qb, out_t, out_z, out_q, 0)
    stride = 1
    if not (all_finite(z) and all_finite(K[0])):
        status = 3
    elif adaptive and h <= 0.0:
        d0 = 0.0
        d1 = 0.0
        for i in range(nz):
            sc = atol + rtol * abs(z[i])
            d0 += (z[i] / sc) ** 2
            d1 += (K[0, i] / sc) ** 2
        d0 = math.sqrt(d0 / nz)
        d1 = math.sqrt(d1 / nz)
        h = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        h = min(h, t1 - t0)
        for i in range(nz):
            zt[i] = z[i] + h * K[0, i]
        ext_rhs(t + h, zt, p, itau, K[1], r)
        d2 = 0.0
        for i in range(nz):
            d2 += ((K[1, i] - K[0, i]) / (atol + rtol * abs(z[i]))) ** 2
        d2 = math.sqrt(d2 / nz) / h
        big = max(d1, d2)
        h1 = max(1e-6, h * 1e-3) if big <= 1e-15 else (0.01 / big) ** 0.2
        h = min(100.0 * h, h1)
    end = 1e-13 * max(1.0, abs(t1))
    while status == 0 and t1 - t > end:
        if steps + rejected >= max_steps:  # rejected attempts count: no endless retrying
            status = 1
            break
        last = h >= t1 - t
        hh = t1 - t if last else h
        rk_stages(t, z, hh, p, itau, A, c, K, zt, r, 1)
        combine(z, hh, b, K, zn)
        if adaptive:
            combine(zero, hh, e, K, ze)
            err = 0.0
            for i in range(nz):
                err += (ze[i] / (atol + rtol * max(abs(z[i]), abs(zn[i])))) ** 2
            err = math.sqrt(err / nz)
            if not (math.isfinite(err) and all_finite(zn)) or err > 1.0:
                factor = 0.2 if not math.isfinite(err) else max(0.2, 0.9 * err**-0.2)
                h = hh * factor
                rejected += 1
                if not h >= 1e-14 * max(1.0, abs(t)):  # also catches a NaN step size
                    status = 2
                    break
                continue
            h = hh * min(5.0, max(0.2, 0.9 * (max(err, 1e-10) ** -0.2)))
        elif not all_finite(zn):
            status = 3
            break
        t = t1 if last else t + hh
        copy_row(zn, z)
        steps += 1
        if adaptive and fsal:
            copy_row(K[c.shape[0] - 1], K[0])
        else:
            ext_rhs(t, z, p, itau, K[0], r)
        track(z, p, qb, mb, stats)
        for i in range(nz):
            if abs(z[i]) > 1e150:
                status = 3
        if steps % stride == 0 or t1 - t <= end:
            before = rows
            rows = store(t, z, qb, out_t, out_z, out_q, rows)
            if rows <= before:
                stride *= 2
    info[0] = status
    info[1] = t
    info[2] = steps
    info[3] = rejected
    info[4] = rows
    copy_row(z, zlast)


def drive_member(A, b, e, c, fsal, t0, t1, Y0, p, rtol, atol, h, max_steps, S, info, Z, m):
    ot = np.empty(1)
    oz = np.empty((1, NS + NL))
    oq = np.empty((1, NL))
    drive_integrate(
        A, b, e, c, fsal, t0, t1, Y0[m], p, rtol, atol, h, max_steps, ot, oz, oq, S[m], info[m],
        Z[m],
    )  # fmt: skip


def drive_batch_parallel(A, b, e, c, fsal, t0, t1, Y0, p, rtol, atol, h, max_steps, S, info, Z):
    for m in prange(Y0.shape[0]):
        drive_member(A, b, e, c, fsal, t0, t1, Y0, p, rtol, atol, h, max_steps, S, info, Z, m)


def drive_batch(A, b, e, c, fsal, t0, t1, Y0, p, rtol, atol, h, max_steps, S, info, Z):
    for m in range(Y0.shape[0]):
        drive_member(A, b, e, c, fsal, t0, t1, Y0, p, rtol, atol, h, max_steps, S, info, Z, m)


def drive_sweep_member(A, b, e, c, fsal, t0, t1, Y0, P, rtol, atol, h, max_steps, S, info, Z, C, m):
    # two stored rows: store() keeps the last one, the charge at the end (as drive_integrate
    # with any capacity stores it)
    ot = np.empty(2)
    oz = np.empty((2, NS + NL))
    oq = np.empty((2, NL))
    drive_integrate(
        A, b, e, c, fsal, t0, t1, Y0[m], P[m], rtol, atol, h, max_steps, ot, oz, oq, S[m],
        info[m], Z[m],
    )  # fmt: skip
    last = int(info[m, 4]) - 1
    for j in range(NL):
        C[m, j] = oq[last, j]


def drive_sweep_parallel(A, b, e, c, fsal, t0, t1, Y0, P, rtol, atol, h, max_steps, S, info, Z,
                         C):  # fmt: skip
    for m in prange(Y0.shape[0]):
        drive_sweep_member(A, b, e, c, fsal, t0, t1, Y0, P, rtol, atol, h, max_steps, S, info, Z,
                           C, m)  # fmt: skip


def drive_sweep(A, b, e, c, fsal, t0, t1, Y0, P, rtol, atol, h, max_steps, S, info, Z, C):
    for m in range(Y0.shape[0]):
        drive_sweep_member(A, b, e, c, fsal, t0, t1, Y0, P, rtol, atol, h, max_steps, S, info, Z,
                           C, m)  # fmt: skip


def solve_into(G, g, d):
    n = g.shape[0]
    a = np.empty((n, n))
    for i in range(n):
        d[i] = g[i]
        for j in range(n):
            a[i, j] = G[i * n + j]
    for c in range(n):
        pivot = c
        for i in range(c + 1, n):
            if abs(a[i, c]) > abs(a[pivot, c]):
                pivot = i
        if pivot != c:
            for j in range(n):
                a[c, j], a[pivot, j] = a[pivot, j], a[c, j]
            d[c], d[pivot] = d[pivot], d[c]
        for i in range(c + 1, n):
            f = a[i, c] / a[c, c]
            for j in range(c, n):
                a[i, j] -= f * a[c, j]
            d[i] -= f * d[c]
    for i in range(n - 1, -1, -1):
        s = d[i]
        for j in range(i + 1, n):
            s -= a[i, j] * d[j]
        d[i] = s / a[i, i]


def drive_optimizer(q0, q_prev, p, eta, beta, n_steps, precondition, out):
    g = np.empty(NQ)
    d = np.empty(NQ)
    G = np.zeros(NQ * NQ if precondition else 0)  # n×n only for a matrix metric; metric()
    # writes only its nonzero entries
    prev = np.empty(NQ)
    copy_row(q_prev, prev)
    copy_row(q0, out[0])
    for k in range(n_steps):
        q = out[k]
        grad(q, p, g)
        if precondition:
            metric(q, p, G)
            solve_into(G, g, d)
        else:
            copy_row(g, d)
        for i in range(NQ):
            out[k + 1, i] = q[i] - eta * d[i] + beta * (q[i] - prev[i])
        copy_row(q, prev)
        if not all_finite(out[k + 1]):
            return k + 1
    return n_steps + 1


def drive_grid(A, b, c, t0, z, p, dt, m_sub, out_q):
    nz = NS + NL
    itau = inv_tau(p)
    K = np.empty((c.shape[0], nz))
    zt, zn, r = np.empty(nz), np.empty(nz), np.empty(NL)
    h = dt / m_sub
    for j in range(NL):
        out_q[0, j] = z[NS + j]
    for k in range(1, out_q.shape[0]):
        for s in range(m_sub):
            ts = t0 + ((k - 1) * m_sub + s) * h
            ext_rhs(ts, z, p, itau, K[0], r)
            rk_stages(ts, z, h, p, itau, A, c, K, zt, r, 1)
            combine(z, h, b, K, zn)
            copy_row(zn, z)
        for j in range(NL):
            out_q[k, j] = z[NS + j]
        if not all_finite(z):
            return k
    return out_q.shape[0]


def drive_discrete_charge(Q, p, eta, k0, out_q, out_s):
    y = np.empty(NS)
    mb = np.empty(NL * NQ)
    qb = np.empty(NL)
    for m in range(out_q.shape[0]):
        k = k0 + m
        u = 0.0
        for i in range(NQ):
            y[i] = Q[k, i]
            if NS > NQ:
                y[NQ + i] = (Q[k + 1, i] - Q[k - 1, i]) / (2.0 * eta)
                u += y[NQ + i] ** 2
            else:
                u += y[i] ** 2
        charge(y, p, qb)
        mpsi(y, p, mb)
        for j in range(NL):
            s = 0.0
            for i in range(NQ):
                s += mb[j * NQ + i] ** 2
            out_q[m, j] = qb[j]
            out_s[m, j] = math.sqrt(u * s)


def drive_identity(Q, p, eta, out):
    a, b = np.empty(NL), np.empty(NL)
    s0, s1 = np.empty(NL * NQ), np.empty(NL * NQ)
    g = np.empty(NQ)
    for k in range(out.shape[0]):
        q = Q[k]
        qn = Q[k + 1]
        phi(q, p, a)
        phi(qn, p, b)
        psi(q, p, s0)
        psi(qn, p, s1)
        loss_grad(q, p, g)
        for j in range(NL):
            along = 0.0
            quad = 0.0
            for i in range(NQ):
                step = qn[i] - q[i]
                along += s0[j * NQ + i] * (step + eta * g[i])
                quad += 0.5 * step * (s1[j * NQ + i] - s0[j * NQ + i])
            out[k, 0, j] = b[j] - a[j] - along - quad
            out[k, 1, j] = abs(a[j]) + abs(b[j]) + abs(along) + abs(quad)


DRIVERS = (
    copy_row,
    ext_rhs,
    all_finite,
    track,
    store,
    rk_stages,
    combine,
    drive_integrate,
    drive_member,
    drive_batch_parallel,
    drive_batch,
    drive_sweep_member,
    drive_sweep_parallel,
    drive_sweep,
    solve_into,
    drive_optimizer,
    drive_grid,
    drive_discrete_charge,
    drive_identity,
)
