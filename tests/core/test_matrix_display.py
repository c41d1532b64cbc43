"""Matrix laws print in the papers' notation (core.matrix_display).

Every expected string below is written by hand from the notation the module
promises (tr, ᵀ, dotted velocities, e^{t/τ} in front, ‖w‖² for vectors); none is
copied from the code's output. Conventions fixed here:

* a trace of a 1×1 product of column vectors drops the ``tr`` (``ẇᵀ w``), and a
  squared norm prints as ``‖w‖²`` (also ``‖y − W x‖²``); a matrix keeps ``tr(Wᵀ W)``;
* text keeps the symbol names (``W1``, ``eta``) and dots the velocities (``Ẇ1``);
  LaTeX makes trailing digits subscripts (``W_{1}``, ``\\dot{W}_{1}``).
"""

from __future__ import annotations

import sympy as sp

import symnoether as sn
from symnoether.core.matrix_display import (
    matrix_latex,
    matrix_law_rows,
    matrix_law_text,
    matrix_name_text,
    matrix_text,
)
from symnoether.io.linebreak import break_latex
from symnoether.io.mathwidth import width
from symnoether.io.notation import DEFAULT_WIDTH

ETA = sp.Symbol("eta", positive=True)
LAM = sp.Symbol("lambda", positive=True)
M = sp.Symbol("m", positive=True)
T = sn.TIME


def layers(n: int = 3):
    W1, W2 = sp.MatrixSymbol("W1", n, n), sp.MatrixSymbol("W2", n, n)
    Wd1, Wd2 = sp.MatrixSymbol("Wdot1", n, n), sp.MatrixSymbol("Wdot2", n, n)
    return W1, W2, Wd1, Wd2, sp.MatrixSymbol("A", n, n)


# -- the charge of gl(n) on a two-layer network ------------------------------------------------


def test_gl_charge_in_text_with_the_damping_factor_in_front():
    W1, W2, Wd1, Wd2, A = layers()
    charge = sp.exp(2 * T / ETA) * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A))
    assert matrix_text(charge, tau=ETA / 2) == "e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]"


def test_gl_charge_in_latex_with_the_damping_factor_in_front():
    W1, W2, Wd1, Wd2, A = layers()
    charge = sp.exp(2 * T / ETA) * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A))
    assert matrix_latex(charge, tau=ETA / 2) == (
        r"e^{t/\tau} \left[\operatorname{tr}\left(\dot{W}_{1}^{\top} A W_{1}\right)"
        r" - \operatorname{tr}\left(\dot{W}_{2}^{\top} W_{2} A\right)\right]"
    )


def test_a_common_coefficient_goes_in_front_of_the_damping_factor():
    """Tanaka & Kunin's m e^{t/τ}[…]: the mass shared by both traces comes out too."""
    W1, W2, Wd1, Wd2, A = layers()
    charge = M * sp.exp(2 * T / ETA) * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A))
    assert matrix_text(charge, tau=ETA / 2) == "m e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]"


def test_the_same_law_written_differently_prints_the_same():
    """Rotated and transposed traces, terms in the other order, the factor multiplied in."""
    W1, W2, Wd1, Wd2, A = layers()
    damping = sp.exp(2 * T / ETA)
    other = -damping * sp.Trace(A * Wd2.T * W2) + damping * sp.Trace(W1.T * A.T * Wd1)
    assert matrix_text(other, tau=ETA / 2) == "e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]"


def test_without_tau_the_exponential_prints_inline():
    W1, W2, Wd1, Wd2, A = layers()
    charge = sp.exp(2 * T / ETA) * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A))
    assert matrix_latex(charge).startswith(r"e^{2 t/\eta} \left[\operatorname{tr}")
    assert matrix_text(charge).startswith("exp(2*t/eta) [tr(")


def test_a_negative_single_term_folds_its_sign():
    W1, _, Wd1, _, A = layers()
    law = -sp.exp(2 * T / ETA) * sp.Trace(Wd1.T * A * W1)
    assert matrix_text(law, tau=ETA / 2) == "−e^{t/τ} tr(Ẇ1ᵀ A W1)"
    assert matrix_latex(-2 * sp.Trace(W1.T * W1) + sp.Trace(Wd1.T * W1)) == (
        r"-2 \operatorname{tr}\left(W_{1}^{\top} W_{1}\right)"
        r" + \operatorname{tr}\left(\dot{W}_{1}^{\top} W_{1}\right)"
    )


# -- collection, order ---------------------------------------------------------------------------


def test_terms_with_one_coefficient_are_collected():
    """(η/2)(tr X − tr Y) − λ tr Z: the η/2 pair is shorter collected; λ alone stays."""
    W1, W2, Wd1, Wd2, A = layers()
    rate = (
        ETA / 2 * sp.Trace(Wd1.T * A * Wd1)
        - ETA / 2 * sp.Trace(Wd2.T * Wd2 * A)
        - LAM * sp.Trace(W2.T * W2 * A)
    )
    assert matrix_text(rate) == "(eta/2) (tr(Ẇ1ᵀ A Ẇ1) − tr(Ẇ2ᵀ Ẇ2 A)) − lambda tr(W2ᵀ W2 A)"
    assert matrix_latex(rate) == (
        r"\frac{\eta}{2} \left(\operatorname{tr}\left(\dot{W}_{1}^{\top} A \dot{W}_{1}\right)"
        r" - \operatorname{tr}\left(\dot{W}_{2}^{\top} \dot{W}_{2} A\right)\right)"
        r" - \lambda \operatorname{tr}\left(W_{2}^{\top} W_{2} A\right)"
    )


def test_all_negative_terms_share_one_minus():
    W1, W2, *_ = layers()
    decay = -LAM / 2 * (sp.Trace(W1.T * W1) + sp.Trace(W2.T * W2))
    assert matrix_text(decay) == "−(lambda/2) [tr(W1ᵀ W1) + tr(W2ᵀ W2)]"


def test_terms_follow_the_declared_layer_order():
    W1, W2, Wd1, Wd2, A = layers()
    charge = sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A)
    assert matrix_text(charge) == "tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)"  # by name
    assert matrix_text(charge, order=(W2, W1)) == "−tr(Ẇ2ᵀ W2 A) + tr(Ẇ1ᵀ A W1)"


# -- transposes, Hadamard products, elementwise functions ------------------------------------


def test_a_transposed_product():
    W1, W2 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("W2", 2, 4)
    assert matrix_text(sp.Transpose(W2 * W1)) == "(W2 W1)ᵀ"
    assert matrix_latex(sp.Transpose(W2 * W1)) == r"\left(W_{2} W_{1}\right)^{\top}"
    # tr(W1ᵀ Aᵀ Ẇ1) = tr(Ẇ1ᵀ A W1): the form with one transpose, starting with it
    A, Wd1 = sp.MatrixSymbol("A", 4, 4), sp.MatrixSymbol("Wdot1", 4, 3)
    assert matrix_text(sp.Trace(W1.T * A.T * Wd1)) == "tr(Ẇ1ᵀ A W1)"


def test_a_hadamard_product_and_an_elementwise_activation():
    W1, Wd1 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("Wdot1", 4, 3)
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 4, 1)
    hadamard = sp.Trace(W1.T * sp.HadamardProduct(W1, Wd1))
    assert matrix_text(hadamard) == "tr(W1ᵀ (W1 ⊙ Ẇ1))"
    assert matrix_latex(hadamard) == (
        r"\operatorname{tr}\left(W_{1}^{\top} \left(W_{1} \odot \dot{W}_{1}\right)\right)"
    )
    fit = sp.Trace(y.T * (W1 * x).applyfunc(sp.tanh))  # 1×1: no tr
    assert matrix_text(fit) == "yᵀ tanh(W1 x)"
    assert matrix_latex(fit) == r"y^{\top} \tanh\left(W_{1} x\right)"


# -- column vectors ------------------------------------------------------------------------------


def test_column_vectors_print_as_inner_products_and_norms():
    w, wd = sp.MatrixSymbol("w", 512, 1), sp.MatrixSymbol("wdot", 512, 1)
    assert matrix_text(sp.Trace(w.T * w)) == "‖w‖²"
    assert matrix_text(sp.Trace(w * w.T)) == "‖w‖²"  # the 1×1 rotation
    assert matrix_text(sp.Trace(wd.T * w)) == "ẇᵀ w"
    assert matrix_latex(sp.Trace(wd.T * w)) == r"\dot{w}^{\top} w"
    assert matrix_text(sp.sqrt(sp.Trace(w.T * w))) == "‖w‖"
    assert matrix_latex(ETA / sp.Trace(w.T * w)) == r"\frac{\eta}{\left\|w\right\|^{2}}"


def test_a_squared_residual_is_a_norm():
    W = sp.MatrixSymbol("W", 2, 3)
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    loss = sp.Trace((y - W * x).T * (y - W * x)) / 2
    assert matrix_text(loss) == "(1/2) ‖y − W x‖²"
    assert matrix_latex(loss) == r"\frac{1}{2} \left\|y - W x\right\|^{2}"


def test_a_matrix_keeps_its_trace():
    W = sp.MatrixSymbol("W", 3, 2)
    assert matrix_text(sp.Trace(W.T * W)) == "tr(Wᵀ W)"


# -- velocity names ----------------------------------------------------------------------------


def test_velocities_named_by_the_scalar_rule_print_dotted():
    """The velocity of W1 is Wdot1 (sn.velocity's rule), shown Ẇ1 and \\dot{W}_{1}."""
    cases = {"W1": ("Ẇ1", r"\dot{W}_{1}"), "W": ("Ẇ", r"\dot{W}"),
             "theta_2": ("θ̇_2", r"\dot{\theta}_{2}")}  # fmt: skip
    for name, (text, latex) in cases.items():
        speed = sp.MatrixSymbol(sn.velocity(sp.Symbol(name)).name, 3, 3)
        assert (matrix_text(speed), matrix_latex(speed)) == (text, latex)
    assert matrix_name_text("Wddot1") == "Ẅ1"
    assert matrix_name_text("dot") == "dot"  # no base letter: not a velocity
    assert matrix_latex(sp.MatrixSymbol("W12", 2, 2)) == "W_{12}"


# -- long laws break to fit a page ---------------------------------------------------------------


def long_rate():
    """A rate of a three-layer width-64 law: ten traces, far wider than a page."""
    W1, W2, W3 = (sp.MatrixSymbol(f"W{k}", *s) for k, s in ((1, (64, 32)), (2, (64, 64)),
                                                              (3, (10, 64))))  # fmt: skip
    Wd1, Wd2, Wd3 = (sp.MatrixSymbol(f"Wdot{k}", *W.shape) for k, W in ((1, W1), (2, W2), (3, W3)))
    x, y, A = sp.MatrixSymbol("x", 32, 1), sp.MatrixSymbol("y", 10, 1), sp.MatrixSymbol("A", 64, 64)
    inner = (
        ETA / 2 * (sp.Trace(Wd1.T * A * Wd1) - sp.Trace(Wd2.T * Wd2 * A))
        - LAM * sp.Trace(W1.T * A * W1)
        + LAM * sp.Trace(W2.T * W2 * A)
        + sp.Trace(y.T * W3 * W2 * A * W1 * x)
        - sp.Trace(x.T * W1.T * A.T * W2.T * W3.T * W3 * W2 * W1 * x)
        + sp.Trace(Wd3.T * W3 * W2 * A * Wd2.T * W2)
        - sp.Trace(Wd3.T * Wd3) * LAM
        + ETA * sp.Trace(W3.T * W3 * Wd2 * A * Wd2.T)
        - sp.Trace(Wd1.T * A * W1) * sp.Trace(Wd2.T * W2 * A)
    )
    return sp.exp(2 * T / ETA) * inner, (W1, W2, W3)


def test_a_long_matrix_rate_breaks_into_lines_that_fit_the_page():
    rate, order = long_rate()
    latex = matrix_latex(rate, order=order, tau=ETA / 2)
    assert width(latex) > 2 * DEFAULT_WIDTH  # it would run off the page unbroken
    lines = break_latex(latex, DEFAULT_WIDTH)
    assert len(lines) >= 3
    assert all(width(line) <= DEFAULT_WIDTH for line in lines), [width(li) for li in lines]
    assert lines[0].startswith(r"e^{t/\tau} \Bigl[")  # the bracket is split, fixed size
    assert lines[-1].endswith(r"\Bigr]")
    assert all(line.startswith(("+", "-")) for line in lines[1:])  # broken before + and −


# -- what a law shows ----------------------------------------------------------------------------


def contract_law(rate=None, order=None):
    """A stand-in with MatrixNoetherLaw's fields (CONTRACT.md): gl on layers 1, 2 under
    momentum, τ = η/2 here, m = 1 written out."""
    W1, W2, Wd1, Wd2, A = layers()
    damping = sp.exp(2 * T / ETA)
    system = type("System", (), {})()
    system.layers, system.data, system.hyperparameters = (W1, W2), (), (ETA,)
    system.tau, system.order, system.rule = ETA / 2, 2, type("Rule", (), {"name": "momentum"})
    law = type("Law", (), {})()
    law.system, law.generator, law.constants = system, (A * W1, -W2 * A), (A,)
    law.charge = damping * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A))
    law.kinetic_breaking = damping * (sp.Trace(Wd1.T * A * Wd1) - sp.Trace(Wd2.T * Wd2 * A))
    law.loss_breaking = law.regularizer_breaking = law.potential_breaking = sp.S.Zero
    law.rate = law.kinetic_breaking if rate is None else rate
    law.matrix_charges = {A: damping * (W1 * Wd1.T - W2.T * Wd2)}
    law.conserved, law.order, law.breaking_regularizers = False, 2, ()
    law.almost_everywhere, law.verification = False, "trace-cyclic canonical form"
    if order is not None:
        system.layers = order
    return law


def test_the_rows_of_a_law():
    rows = matrix_law_rows(contract_law())
    shown = [(row.lhs, row.rhs) for row in rows]
    assert shown[:4] == [
        (r"\psi_{W_{1}}", (r"A W_{1}",)),
        (r"\psi_{W_{2}}", (r"-W_{2} A",)),
        (r"\tau", (r"\frac{\eta}{2}",)),
        ("Q", (r"e^{t/\tau} \left[\operatorname{tr}\left(\dot{W}_{1}^{\top} A W_{1}\right)"
               r" - \operatorname{tr}\left(\dot{W}_{2}^{\top} W_{2} A\right)\right]",)),
    ]  # fmt: skip
    assert shown[4] == (
        "C_{A}",
        (r"e^{t/\tau} \left(W_{1} \dot{W}_{1}^{\top} - W_{2}^{\top} \dot{W}_{2}\right)",),
    )
    assert rows[5].note == "broken by kinetic term"
    assert rows[-1].note == "verified by trace-cyclic canonical form"


def test_the_text_of_a_law():
    text = matrix_law_text(contract_law())
    assert "ψ_W1 = A W1, ψ_W2 = −W2 A" in text
    assert "Q = e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]" in text
    assert "conserved" in text and "no, broken by kinetic term" in text
    assert text.splitlines()[0] == "Noether's learning dynamics, matrix level (momentum, order 2)"


# -- laws derived by sn.noether print through this module --------------------------------------


def two_layer_network(rule):
    W1, W2 = sn.layers(W1=(64, 32), W2=(10, 64))
    x, y = sn.layers(x=(32, 1), y=(10, 1), data=True)
    e = y - W2 * W1 * x
    return sn.LearningSystem((W1, W2), e.T * e / 2, rule=rule, data=(x, y)), W1, W2


def test_a_gd_law_prints_the_papers_charge():
    """GD's modified equation (η/2)Ẅ + Ẇ = −∇V: m = τ = η/2, so for ψ = (A W1, −W2 A)
    Q = (η/2) e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)] and the kinetic breaking is the same
    with Ẇ in place of W (the loss is invariant)."""
    system, W1, W2 = two_layer_network(sn.rules.gradient_descent(ETA))
    A = sp.MatrixSymbol("A", 64, 64)
    law = sn.noether(system, (A * W1, -W2 * A))
    lines = str(law).splitlines()
    assert "  charge                Q = (eta/2) e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]" in lines
    assert "    kinetic breaking    (eta/2) e^{t/τ} [tr(Ẇ1ᵀ A Ẇ1) − tr(Ẇ2ᵀ Ẇ2 A)]" in lines
    assert "    potential breaking  0" in lines
    assert (
        r"Q &= \frac{\eta}{2} e^{t/\tau} \left[\operatorname{tr}\left(\dot{W}_{1}^{\top} A "
        r"W_{1}\right) - \operatorname{tr}\left(\dot{W}_{2}^{\top} W_{2} A\right)\right] \\"
    ) in law._repr_latex_().splitlines()


def test_the_balancedness_prints_as_a_matrix():
    """Gradient flow, ψ = (S W1, −W2 S) with S = (A + Aᵀ)/2: Q = ½[tr(W1ᵀAW1) − tr(W2ᵀW2A)]
    = tr(Aᵀ C_A) with C_A = ½(W1W1ᵀ − W2ᵀW2), Neural Mechanics' balancedness."""
    system, W1, W2 = two_layer_network(sn.rules.gradient_flow())
    A = sp.MatrixSymbol("A", 64, 64)
    law = sn.noether(system, ((A + A.T) / 2 * W1, -W2 * (A + A.T) / 2))
    text = str(law)
    assert "ψ_W1 = (1/2) (A + Aᵀ) W1, ψ_W2 = −(1/2) W2 (A + Aᵀ)" in text
    assert "Q = (1/2) [tr(W1ᵀ A W1) − tr(W2ᵀ W2 A)]" in text
    assert "C = (1/2) (W1 W1ᵀ − W2ᵀ W2)" in text
    assert (
        r"C_{A} &= \frac{1}{2} \left(W_{1} W_{1}^{\top} - W_{2}^{\top} W_{2}\right)"
        in law._repr_latex_()
    )
