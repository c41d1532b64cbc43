"""One notation in every output: LaTeX and Markdown documents, ``to_latex``,
``_repr_latex_`` and plain text (issue 10, "matrix models in Markdown/LaTeX").

Expected strings are written by hand from the mathematics of each system:
gradient descent has M = (η/2)·I and τ = η/2 (Kunin et al. 2021, Sec. 5),
heavy-ball momentum M = (η(1+β)/2)·I, a preconditioner G gives M = (η/2)G;
the damping factor is e^{t/τ} = e^{2t/η}.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.core.display import Notation as CoreNotation
from symnoether.core.display import role_names, scalar_identity
from symnoether.io.export import latex_document, markdown_document, to_latex

ETA, BETA = sp.symbols("eta beta", positive=True)
T = sn.TIME


def _grid(rule):
    """A 3×4 matrix of coordinates W, loss ½(ΣW − 1)²: twelve coordinates."""
    W = sn.matrix_coordinates("W", 3, 4)
    return sn.LearningSystem((W,), (sum(W) - 1) ** 2 / 2, rule=rule), W


def _factorization():
    """Matrix factorization with factors U and V: V is a coordinate, not the loss."""
    U, V = sn.matrix_coordinates("U", 2, 2), sn.matrix_coordinates("V", 2, 2)
    product = U * V.T
    loss = (product[0, 0] - 1) ** 2 / 2 + (product[1, 1] - 1) ** 2 / 2
    system = sn.LearningSystem((U, V), loss, rule=sn.rules.gradient_descent(ETA))
    swap = sp.Matrix([[0, 1], [1, 0]])
    return sn.derive(system, {"swap": (U * swap, -V * swap)}, title="U V factorization")


# -- 1. c·I and diag(…) ------------------------------------------------------------------


def test_a_scaled_identity_mass_matrix_prints_as_such_in_every_output():
    system, W = _grid(sn.rules.gradient_descent(ETA))
    deriv = sn.derive(system, {"shift": [1, -1] + [0] * 10})
    latex_row = r"\mathbf{M} &= \frac{\eta}{2} I_{12} \tag*{mass matrix}"
    aligned_row = r"\mathbf{M} &= \frac{\eta}{2} I_{12} && \text{mass matrix}"
    assert latex_row in to_latex(system)
    assert latex_row in latex_document(deriv, kernels=False)
    assert aligned_row in markdown_document(deriv, kernels=False)
    for shown in (system._repr_latex_(), deriv._repr_latex_(), deriv.equations._repr_latex_()):
        assert aligned_row in shown
    assert "mass matrix  M = (eta/2)·I_12" in str(system)
    assert "  M =      (eta/2)·I_12\n" in str(deriv.equations)
    for text in (str(system), str(deriv), to_latex(deriv), markdown_document(deriv)):
        assert "Matrix(" not in text and r"\frac{\eta}{2} & 0" not in text
    corners = (
        r"\mathbf{W} &= \left[\begin{matrix}W_{11} & \cdots & W_{14}\\\vdots & \ddots & \vdots"
        r"\\W_{31} & \cdots & W_{34}\end{matrix}\right] \in \mathbb{R}^{3\times4}"
    )
    assert corners in to_latex(system)


def test_momentum_metric_and_preconditioner_masses():
    momentum, _ = _grid(sn.rules.momentum(ETA, BETA))
    assert r"\mathbf{M} &= \frac{\eta \left(\beta + 1\right)}{2} I_{12}" in to_latex(momentum)
    assert "M = (eta*(beta + 1)/2)·I_12" in str(momentum)
    flow, _ = _grid(sn.rules.gradient_flow())
    assert r"\mathbf{G} &= I_{12} \tag*{metric}" in to_latex(flow)
    assert "flow         G q' = -grad V,  G = I_12" in str(flow)
    w = sn.coordinates("w1:5")
    rule = sn.rules.preconditioned(ETA, sp.diag(1, 2, 3, 4))
    pre = sn.LearningSystem(w, (sum(w) - 1) ** 2, rule=rule)
    assert (
        r"\mathbf{M} &= \operatorname{diag}\left(\frac{\eta}{2}, \eta, \frac{3 \eta}{2}, 2 \eta"
        r"\right)"
    ) in to_latex(pre)
    assert "M = diag(eta/2, eta, 3*eta/2, 2*eta)" in str(pre)


def test_only_scalar_multiples_of_the_identity_are_abbreviated():
    assert scalar_identity(sp.eye(3) * ETA) == ETA
    assert scalar_identity(sp.diag(1, 2)) is None
    assert scalar_identity(sp.Matrix([[1, 1], [0, 1]])) is None
    assert scalar_identity(sp.Matrix([[2]])) is None  # 1×1: a number, not I_1
    note = CoreNotation()
    assert note.latex(sp.Matrix([[1, 1], [0, 1]])) == (
        r"\left[\begin{matrix}1 & 1\\0 & 1\end{matrix}\right]"
    )
    assert note.latex(sp.diag(1, 2)) == r"\left[\begin{matrix}1 & 0\\0 & 2\end{matrix}\right]"
    assert note.latex((1 + ETA) * sp.eye(2)) == r"\left(\eta + 1\right) I_{2}"


# -- 2. one notation; V renamed when it is a coordinate ----------------------------------------


def test_matrix_entries_print_alike_in_every_output():
    deriv = _factorization()
    law = deriv.laws[0]
    outputs = {
        "latex": latex_document(deriv, kernels=False),
        "markdown": markdown_document(deriv, kernels=False),
        "to_latex": to_latex(deriv),
        "system repr": deriv.system._repr_latex_(),
        "derivation repr": deriv._repr_latex_(),
        "law repr": law._repr_latex_(),
        "law to_latex": to_latex(law),
    }
    for name, text in outputs.items():
        assert "U_{11}" in text and "V_{12}" in text, name
        assert "(U)_{" not in text and "(V)_{" not in text, name
    for name in ("latex", "markdown", "derivation repr", "law repr", "law to_latex"):
        assert r"\dot{U}_{12}" in outputs[name], name
    # an indexed block name keeps its parentheses, in every output alike
    net = models.linear_network(2, 1, 1)
    system = net.system(sn.rules.gradient_descent(ETA))
    for text in (to_latex(system), system._repr_latex_()):
        assert r"(W_{1})_{12}" in text and r"(\dot{W}_{1})_{12}" in text and "W_{1 12}" not in text


def test_a_coordinate_named_v_renames_the_potential():
    deriv = _factorization()
    potential = (
        r"\mathcal{V} &= \frac{\left(U_{11} V_{11} + U_{12} V_{12} - 1\right)^{2}}{2}"
        r" + \frac{\left(U_{21} V_{21} + U_{22} V_{22} - 1\right)^{2}}{2}"
    )
    document = latex_document(deriv)
    assert potential + r" \tag*{loss}" in document
    assert r"L &= e^{t/\tau} \left(T - \mathcal{V}\right)" in document
    assert r"\(\nabla\)\(\mathcal{V}\)(\(q_k\))" in document  # the rule's ∇V
    assert r"\mathcal{V}(U_{11}, U_{12}" in document  # the loss kernel in the appendix
    assert potential + r" && \text{loss}" in deriv._repr_latex_()
    assert not re.search(r"^V &=", document + markdown_document(deriv), re.M)
    text = str(deriv.system)
    assert "loss         𝒱 = (U_11*V_11 + U_12*V_12 - 1)**2/2" in text
    assert "η∇𝒱(q_k)" in text
    # without a coordinate named V, the potential is V
    pair = models.scalar_pair().system(sn.rules.gradient_descent(ETA))
    assert r"V &= \frac{\left(- w_{1} w_{2} x + y\right)^{2}}{2} \tag*{loss}" in to_latex(pair)
    assert "loss         V = " in str(pair)


def test_roles_take_their_script_letter_only_when_taken():
    T1, L1 = sn.coordinates("T1 L1")
    system = sn.LearningSystem((T1, L1), (T1 * L1 - 1) ** 2, rule=sn.rules.gradient_descent(ETA))
    roles = role_names(system)
    assert roles["T"] == (r"\mathcal{T}", "𝒯") and roles["L"] == (r"\mathcal{L}", "ℒ")
    assert roles["V"] == ("V", "V") and roles["Q"] == ("Q", "Q")
    shown = to_latex(system)
    assert r"\mathcal{L} &= e^{t/\tau} \left(\mathcal{T} - V\right)" in shown


# -- 3. indexed generators --------------------------------------------------------------------


def test_generators_are_indexed_by_their_law_names():
    net = models.linear_network(2, 2, 1)
    system = net.system(sn.rules.gradient_descent(ETA))
    deriv = sn.derive(system, {name: net.generators[name] for name in ("gl_11", "gl_22")})
    for text in (to_latex(deriv), markdown_document(deriv, kernels=False), deriv._repr_latex_()):
        for name in (r"gl\_11", r"gl\_22"):
            for block in ("1", "2"):
                lhs = rf"(\boldsymbol{{\psi}}_{{\text{{{name}}}}})_{{\mathbf{{W}}_{{{block}}}}} &= "
                assert text.count(lhs) == 1, lhs
        assert r"\psi_{\mathbf{W}_{1}}" not in text


def test_repeated_names_are_numbered():
    pair = models.scalar_pair()
    system = pair.system(sn.rules.gradient_descent(ETA))
    (w1, w2) = system.coords
    deriv = sn.derive(system, {"a": (w1, -w2), "b": (2 * w1, -2 * w2)})
    same = dataclasses.replace(deriv, names=("general", "general"))
    text = same.to_latex()
    assert r"\boldsymbol{\psi}_{\text{general 1}} &= \left(w_{1}, - w_{2}\right)" in text
    assert r"\boldsymbol{\psi}_{\text{general 2}} &= \left(2 w_{1}, - 2 w_{2}\right)" in text
    assert r"\tilde{Q}_{\text{general 2}}" in text  # the kernels follow the same labels
    assert r"\boldsymbol{\psi}_{\text{a}} &= \left(w_{1}, - w_{2}\right)" in deriv.to_latex()


# -- 4. the derivation's notebook view ------------------------------------------------------


def test_derivation_repr_latex_shows_system_equations_and_laws():
    """Scalar pair V = ½(y − w₁w₂x)² under gradient descent: M = (η/2)I, τ = η/2,
    (η/2)ẅ₁ = −ẇ₁ − ∂V/∂w₁ = w₂x(y − w₁w₂x) − ẇ₁, and the rescale law (module docstring
    of tests/io/test_export.py)."""
    pair = models.scalar_pair()
    deriv = sn.derive(pair.system(sn.rules.gradient_descent(ETA)), pair.generators)
    expected = "\n".join(
        [
            r"$$\begin{aligned}",
            r"\mathbf{q} &= \left(w_{1}, w_{2}\right) \\",
            r"\text{data} &: x, y \\",
            r"V &= \frac{\left(- w_{1} w_{2} x + y\right)^{2}}{2} && \text{loss} \\",
            r"\mathbf{M} &= \frac{\eta}{2} I_{2} && \text{mass matrix} \\",
            r"T &= \frac{\eta \left(\dot{w}_{1}^{2} + \dot{w}_{2}^{2}\right)}{4}"
            r" && \text{kinetic term} \\",
            r"\tau &= \frac{\eta}{2} && \text{damping time} \\",
            r"L &= e^{t/\tau} \left(T - V\right)",
            r"\end{aligned}$$",
            r"$$\begin{aligned}",
            r"\frac{\eta}{2} \ddot{w}_{1} &= w_{2} x \left(- w_{1} w_{2} x + y\right)"
            r" - \dot{w}_{1} \\",
            r"\frac{\eta}{2} \ddot{w}_{2} &= w_{1} x \left(- w_{1} w_{2} x + y\right)"
            r" - \dot{w}_{2}",
            r"\end{aligned}$$",
            r"$$\begin{aligned}",
            r"\boldsymbol{\psi}_{\text{rescale}} &= \left(w_{1}, - w_{2}\right) \\",
            r"Q_{\text{rescale}} &= e^{t/\tau} \frac{\eta \left(w_{1} \dot{w}_{1}"
            r" - w_{2} \dot{w}_{2}\right)}{2} \\",
            r"\frac{dQ_{\text{rescale}}}{dt} &= \dot{Q}^{\mathrm{kin}}_{\text{rescale}}"
            r" + \dot{Q}^{\mathrm{pot}}_{\text{rescale}} && \text{broken by kinetic term} \\",
            r"\dot{Q}^{\mathrm{kin}}_{\text{rescale}} &= e^{t/\tau} \frac{\eta \left("
            r"\dot{w}_{1}^{2} - \dot{w}_{2}^{2}\right)}{2} && \text{kinetic symmetry breaking} \\",
            r"\dot{Q}^{\mathrm{pot}}_{\text{rescale}} &= 0 && \text{symmetry of the loss}",
            r"\end{aligned}$$",
        ]
    )
    assert deriv._repr_latex_() == expected


# -- 5. one form of the exponential ------------------------------------------------------


_EXPONENTS = re.compile(r"e\^\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


def test_the_damping_factor_has_one_form_in_a_document():
    """Law rows, a result with e^{−4t/η} = e^{−2t/τ} and one written with the user's own
    τ symbol: every exponential prints as e^{… t/τ}, never e^{\\frac{2 t}{\\eta}}."""
    pair = models.scalar_pair()
    deriv = sn.derive(pair.system(sn.rules.gradient_descent(ETA)), pair.generators)
    tau, m = sp.symbols("tau m", positive=True)
    deriv = deriv.with_result("decay", sp.Eq(sp.Symbol("E"), sp.exp(-4 * T / ETA)))
    deriv = deriv.with_result("user", sp.Eq(sp.Symbol("F"), m * sp.exp(T / tau)))
    document = deriv.to_latex()
    assert r"E &= e^{-2t/\tau}" in document and r"F &= m e^{t/\tau}" in document
    exponents = set(_EXPONENTS.findall(document))
    assert exponents <= {r"t/\tau", r"-2t/\tau"}, exponents
    assert "exp(" not in document and r"e^{\frac" not in document
    assert set(_EXPONENTS.findall(deriv._repr_latex_())) <= {r"t/\tau", r"-2t/\tau"}
    note = CoreNotation(deriv.system)
    assert note.latex(sp.exp(2 * T / ETA) * sp.Symbol("a") + sp.exp(4 * T / ETA)) == (
        r"a e^{t/\tau} + e^{2t/\tau}"
    )
    assert CoreNotation().latex(sp.exp(2 * T / ETA)) == r"e^{2 t/\eta}"  # no τ defined here
    plain = str(deriv.laws[0])  # plain text: exp(2*t/eta) throughout, no e^{…}
    assert "exp(2*t/eta)" in plain and "e^" not in plain


@pytest.mark.parametrize("text", [r"e^{\frac{2 t}{\eta}}", r"x e^{2t/\tau} + e^{\frac{t}{\tau}}"])
def test_the_exponent_check_can_fail(text):
    assert not set(_EXPONENTS.findall(text)) <= {r"t/\tau", r"-2t/\tau"}
