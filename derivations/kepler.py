"""Kepler and the isotropic oscillator: rotations so(2), so(3) conserve angular momentum.

The physics sanity check of the engine: a particle of unit mass in the Kepler
potential V = −k/|q| (T = ½|q̇|², no damping). Rotations ψ_ij = q_i e_j − q_j e_i
leave V invariant; their Noether charges are the angular momenta
L_ij = q_i q̇_j − q_j q̇_i, exactly conserved, in 2D (so(2)) and 3D (so(3)). The
generators close under the Lie bracket of vector fields into so(3), and the
charges under the Poisson bracket. Among affine point transformations
ψ = Aq + b, rotations are the only symmetries of Kepler and of the isotropic
oscillator V = ½|q|². A translation ψ = e₁ is not a symmetry: its charge, the
momentum q̇₁, moves at the rate −∂V/∂q₁ = −k q₁/|q|³ (the force), all of it
"loss breaking".

Everything below is derived by symnoether and asserted: run
``symnoether run derivations/kepler.py``.

References
----------
E. Noether, "Invariante Variationsprobleme", Nachr. Ges. Wiss. Göttingen
(1918). L. D. Landau and E. M. Lifshitz, "Mechanics", 3rd ed., §9 (angular
momentum), §15 (Kepler's problem). H. Goldstein, "Classical Mechanics",
3rd ed., §9.7 (Poisson brackets of angular momentum). Used as the sanity check
of H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
arXiv:2105.02716, Sec. 2.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

import symnoether as sn
from symnoether import models
from symnoether.core import is_zero

K = sp.Symbol("k", positive=True)


def validation() -> dict:
    """Initial conditions for ``symnoether run --validate``: a bound, non-planar-axis
    orbit (velocity orthogonal to the position, below escape speed), k = 1, one
    period and a half — a radial start would fall into the singularity."""
    return {"q0": [1.0, 0.0, 0.2], "v0": [0.0, 0.9, 0.1], "params": {"k": 1.0}, "t_end": 10.0}


def derivation() -> sn.Derivation:
    """Derive the angular momenta (2D, 3D, oscillator), their algebra, and a broken law."""
    kepler = models.kepler(3)
    system = kepler.system()
    q = system.coords
    generators = {**kepler.generators, "translation_1": (1, 0, 0)}
    deriv = sn.derive(system, generators, title=__doc__.splitlines()[0])
    for name in kepler.generators:
        law = deriv.law(name)
        i, j = (int(c) - 1 for c in name.split("_")[1])
        assert law.conserved and law.is_symmetry and law.broken_by == ()
        assert is_zero(law.charge - _angular_momentum(system, i, j))

    brackets = _so3_brackets(system, kepler.generators)
    poisson = _poisson_brackets(system, [deriv.law(n).charge for n in kepler.generators])
    broken = _translation(system, deriv.law("translation_1"))
    planar = _planar(models.kepler(2))
    oscillator = _oscillator()
    affine = {dim: _affine_symmetries(dim) for dim in (2, 3)}
    _check_orbit(system, deriv)
    return (
        deriv.with_result("so(3): [ψ_12, ψ_13], [ψ_12, ψ_23], [ψ_13, ψ_23]", brackets)
        .with_result("Poisson brackets {L_12, L_13}, {L_12, L_23}, {L_13, L_23}", poisson)
        .with_result("translation e₁: dq̇₁/dt = −∂V/∂q₁", broken)
        .with_result("2D Kepler: conserved angular momentum", planar)
        .with_result("isotropic oscillator: conserved angular momentum", oscillator)
        .with_result("affine symmetries Aq + b of V(|q|), 2D", affine[2])
        .with_result("affine symmetries Aq + b of V(|q|), 3D", affine[3])
        .with_result("Kepler potential", sp.Eq(sp.Symbol("V"), -K / sp.sqrt(sum(c**2 for c in q))))
    )


def _angular_momentum(system: sn.LearningSystem, i: int, j: int) -> sp.Expr:
    q, v = system.coords, system.velocities
    return q[i] * v[j] - q[j] * v[i]


def _bracket(X: sp.Matrix, Y: sp.Matrix, q: tuple) -> sp.Matrix:
    """Lie bracket of vector fields [X, Y] = (DY) X − (DX) Y."""
    return sp.expand(Y.jacobian(q) * X - X.jacobian(q) * Y)


def _third(a: str, b: str) -> str:
    """The third index pair of so(3): _third('12', '13') == '23'."""
    return next(c for c in ("12", "13", "23") if c not in (a, b))


def _so3_brackets(system: sn.LearningSystem, generators: dict) -> sp.Tuple:
    """[ψ_12, ψ_13] = −ψ_23, [ψ_12, ψ_23] = ψ_13, [ψ_13, ψ_23] = −ψ_12: the cyclic
    relations of so(3) (with L₁ = ψ_23, L₂ = −ψ_13, L₃ = ψ_12: [L_a, L_b] = −ε_abc L_c)."""
    q = system.coords
    psi = {name[-2:]: sp.Matrix(g) for name, g in generators.items()}
    expected = {("12", "13"): -psi["23"], ("12", "23"): psi["13"], ("13", "23"): -psi["12"]}
    results = []
    for (a, b), value in expected.items():
        bracket = _bracket(psi[a], psi[b], q)
        assert bracket == value, (a, b, bracket)
        assert _bracket(psi[b], psi[a], q) == -value  # antisymmetry
        sign = 1 if value == psi[_third(a, b)] else -1
        results.append(
            sp.Eq(sp.Symbol(f"[psi_{a}, psi_{b}]"), sign * sp.Symbol(f"psi_{_third(a, b)}"))
        )
    x, y, z = psi["12"], psi["13"], psi["23"]
    jacobi = (
        _bracket(x, _bracket(y, z, q), q)
        + _bracket(y, _bracket(z, x, q), q)
        + _bracket(z, _bracket(x, y, q), q)
    )
    assert jacobi == sp.zeros(3, 1)
    return sp.Tuple(*results)


def _poisson(f: sp.Expr, g: sp.Expr, system: sn.LearningSystem) -> sp.Expr:
    """{f, g} = Σ ∂f/∂q ∂g/∂p − ∂f/∂p ∂g/∂q with p = q̇ (unit mass)."""
    return sp.expand(
        sum(
            sp.diff(f, q) * sp.diff(g, p) - sp.diff(f, p) * sp.diff(g, q)
            for q, p in zip(system.coords, system.velocities, strict=True)
        )
    )


def _poisson_brackets(system: sn.LearningSystem, charges: list) -> sp.Tuple:
    """{L_12, L_13} = L_23, {L_12, L_23} = −L_13, {L_13, L_23} = L_12 (Goldstein §9.7): the
    charge map is an anti-homomorphism, Q_[X,Y] = −{Q_X, Q_Y}, with the vector-field
    brackets above; every L commutes with the Hamiltonian (the Poisson form of conservation)."""
    L12, L13, L23 = charges
    pairs = {(L12, L13): L23, (L12, L23): -L13, (L13, L23): L12}
    results = []
    names = ("12", "13", "23")
    for (f, g), value in pairs.items():
        bracket = _poisson(f, g, system)
        assert sp.expand(bracket - value) == 0
        a, b = (names[charges.index(c)] for c in (f, g))
        results.append(sp.Eq(sp.Symbol(f"{{L_{a}, L_{b}}}"), bracket))
    hamiltonian = system.kinetic + system.potential
    for charge in charges:
        assert is_zero(_poisson(charge, hamiltonian, system))
    return sp.Tuple(*results)


def _translation(system: sn.LearningSystem, law: sn.NoetherLaw) -> sp.Eq:
    """ψ = e₁: Q = q̇₁ and dQ/dt = −k q₁/|q|³, all of it loss breaking (Newton's law)."""
    q, v = system.coords, system.velocities
    radius = sp.sqrt(sum(c**2 for c in q))
    force = -K * q[0] / radius**3  # −∂(−k/|q|)/∂q₁, by hand
    assert not law.is_symmetry and not law.conserved
    assert law.broken_by == ("loss",) and law.kinetic_breaking == 0
    assert law.charge == v[0]
    assert is_zero(law.loss_breaking - force) and is_zero(law.rate - force)
    return sp.Eq(sp.Derivative(sp.Function(str(v[0]))(sn.TIME), sn.TIME), force)


def _planar(model: models.Model) -> sp.Eq:
    """2D Kepler: the one rotation (so(2), abelian) conserves L = q₁q̇₂ − q₂q̇₁."""
    system = model.system()
    (law,) = (sn.noether(system, g) for g in model.generators.values())
    assert law.conserved
    assert is_zero(law.charge - _angular_momentum(system, 0, 1))
    (psi,) = (sp.Matrix(g) for g in model.generators.values())
    assert _bracket(psi, psi, system.coords) == sp.zeros(2, 1)
    return sp.Eq(sp.Symbol("L"), law.charge)


def _oscillator() -> sp.Tuple:
    """V = ½|q|² in 3D: every rotation conserves its angular momentum."""
    model = models.oscillator(3)
    system = model.system()
    charges = []
    for name, generator in model.generators.items():
        law = sn.noether(system, generator)
        i, j = (int(c) - 1 for c in name.split("_")[1])
        assert law.conserved and is_zero(law.charge - _angular_momentum(system, i, j))
        charges.append(law.charge)
    return sp.Tuple(*charges)


def _affine_symmetries(dim: int) -> sp.Matrix:
    """Solve ψ·∇V ≡ 0 for ψ = Aq + b by hand. For V = f(|q|) (Kepler, oscillator)
    ψ·∇V = f'(|q|)/|q| · qᵀ(Aq + b), so the polynomial qᵀAq + b·q must vanish
    identically: b = 0 and A antisymmetric — so(dim), of dimension dim(dim−1)/2.
    (symnoether.symmetry.find_symmetries is the general tool for this search.)"""
    q = sp.Matrix(sp.symbols(f"q1:{dim + 1}", real=True))
    A = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"a_{i + 1}{j + 1}"))
    b = sp.Matrix(sp.symbols(f"c1:{dim + 1}"))
    unknowns = list(A) + list(b)
    for potential in (-K / sp.sqrt((q.T * q)[0]), (q.T * q)[0] / 2):
        gradient = sp.Matrix([sp.diff(potential, c) for c in q])
        directional = sp.together(((A * q + b).T * gradient)[0])
        numerator = sp.numer(directional)
        coefficients = sp.Poly(numerator, *q).coeffs()
        (solution,) = sp.solve(coefficients, unknowns, dict=True)
        general = A.subs(solution)
        assert general == -general.T and all(c.subs(solution) == 0 for c in b)
        free = set(general.free_symbols)
        assert len(free) == dim * (dim - 1) // 2
    return sp.ImmutableMatrix(general)


def _check_orbit(system: sn.LearningSystem, deriv: sn.Derivation) -> None:
    """Integrate a 3D Kepler orbit with the force written by hand (−kq/|q|³, RK45 at tight
    tolerance): the engine's charges L_ij stay at their initial values, and the momentum q̇₁
    changes by the time integral of the engine's rate for ψ = e₁."""
    state = (*system.coords, *system.velocities)
    values = {K: 1}
    charges = [
        sp.lambdify(state, deriv.law(f"rotation_{ij}").charge, "numpy") for ij in ("12", "13", "23")
    ]
    rate = sp.lambdify(state, deriv.law("translation_1").rate.subs(values), "numpy")

    def rhs(_t, y):
        q, v = y[:3], y[3:6]
        acceleration = -q / np.linalg.norm(q) ** 3  # k = 1
        return np.concatenate([v, acceleration, [rate(*y[:6])]])

    y0 = np.array([1.0, 0.0, 0.2, 0.0, 1.1, 0.3, 0.0])
    orbit = solve_ivp(rhs, (0, 10), y0, rtol=1e-10, atol=1e-12).y
    for charge in charges:
        along = charge(*orbit[:6])
        assert np.abs(along - along[0]).max() < 1e-8
    momentum_change = orbit[3] - y0[3]
    assert np.abs(momentum_change - orbit[6]).max() < 1e-8
    assert np.abs(momentum_change).max() > 0.1  # the broken charge does move


if __name__ == "__main__":
    print(derivation())
