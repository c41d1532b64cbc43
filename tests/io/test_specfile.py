"""Spec files (TOML) and the whitelisting expression parser.

Expected values are built by hand in each test: SymPy expressions written
directly from the symbols, and Noether laws from the hand derivation
Q = e^{t/τ} q̇ᵀMψ, kinetic breaking e^{t/τ} q̇ᵀM(Dψ)q̇ for linear ψ and
constant M (Tanaka & Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
arXiv:2105.02716, Sec. 4), potential breaking −e^{t/τ} ψ·∇V.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path

import pytest
import sympy as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symnoether as sn
from symnoether.budget import time_budget
from symnoether.errors import BudgetExceededError, SpecFileError, SymnoetherError
from symnoether.io.expansion import Estimator
from symnoether.io.expressions import parse_expression
from symnoether.io.specfile import SpecFile, load, loads

DERIVATIONS = Path(__file__).parents[2] / "derivations"
T = sn.TIME
ETA = sp.Symbol("eta", positive=True)
BETA = sp.Symbol("beta", positive=True)
LAM = sp.Symbol("lambda", positive=True)
w1, w2 = sp.symbols("w1 w2", real=True)
x, y = sp.symbols("x y", real=True)
v1, v2 = sp.symbols("wdot1 wdot2", real=True)

PAIR = """
[system]
coordinates = ["w1", "w2"]
data = ["x", "y"]
loss = "(y - w2*w1*x)**2/2"
rule = "gradient_descent"
regularizers = ["weight_decay"]
[parameters]
lr = 0.01
weight_decay = 0.001
[generators]
rescale = ["w1", "-w2"]
"""


def same(a, b) -> bool:
    return sp.simplify(sp.expand(a - b)) == 0


# -- round trips ------------------------------------------------------------------


def test_parsed_loss_equals_the_hand_built_expression():
    spec = loads(PAIR)
    assert spec.system.loss == (y - w2 * w1 * x) ** 2 / 2
    assert spec.system.coords == (w1, w2)
    assert spec.system.data == (x, y)
    assert spec.system.rule.lr == ETA and spec.system.tau == ETA / 2
    assert spec.system.potential == (y - w2 * w1 * x) ** 2 / 2 + LAM * (w1**2 + w2**2) / 2
    assert dict(spec.values) == {ETA: 0.01, LAM: 0.001}
    assert dict(spec.parameters) == {"lr": ETA, "weight_decay": LAM}


def test_matrix_expressions_round_trip():
    W = sn.matrix_coordinates("W", 2, 3)
    xs = sp.Matrix(sp.symbols("x1:4", real=True))
    b = sn.matrix_coordinates("b", 2, 1)
    names = {"W": W, "x": xs, "b": b}
    got = parse_expression("norm(relu(W @ x) - b)**2 + trace(W @ W.T) + sum(x)", names)
    z = W * xs
    hand = sum((sp.Max(0, z[i]) - b[i]) ** 2 for i in range(2))
    hand += sum(W[i, j] ** 2 for i in range(2) for j in range(3)) + sum(xs)
    assert sp.expand(got - hand) == 0
    names = {**names, "w": w2, "v": w1}
    got = parse_expression("logsumexp(W @ x) + sigmoid(w) * max(w, 0, v)", names)
    hand = sp.log(sp.exp(z[0]) + sp.exp(z[1])) + sp.Max(w2, 0, w1) / (1 + sp.exp(-w2))
    assert got == hand


def test_decimals_are_exact_and_multiline_strings_work():
    assert parse_expression("0.1*w\n  + 2.5e-3", {"w": w1}) == w1 / 10 + sp.Rational(1, 400)


def test_parser_never_calls_eval_or_sympify(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("eval/sympify called on a spec expression")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(sp, "sympify", refuse)
    monkeypatch.setattr(sp, "parse_expr", refuse)
    assert parse_expression("exp(w) - pi", {"w": w1}) == sp.exp(w1) - sp.pi


def test_an_injection_attempt_has_no_effect(tmp_path):
    canary = tmp_path / "pwned"
    text = f"__import__('os').system('touch {canary}')"
    with pytest.raises(SpecFileError, match="__import__"):
        parse_expression(text, {"w": w1})
    assert not canary.exists()


# -- the example spec files --------------------------------------------------------


def test_scalar_pair_file_derives_the_rescale_law_by_hand():
    spec = load(DERIVATIONS / "scalar_pair.toml")
    law = spec.derive().law("rescale")
    damping = sp.exp(2 * T / ETA)  # τ = η/2, M = (η/2) I, ψ = (w1, −w2)
    assert same(law.charge, damping * ETA / 2 * (w1 * v1 - w2 * v2))
    assert same(law.kinetic_breaking, damping * ETA / 2 * (v1**2 - v2**2))
    assert law.loss_breaking == 0
    assert same(law.regularizer_breaking, -damping * LAM * (w1**2 - w2**2))
    assert spec.q0 == (1.0, 0.5) and spec.v0 is None
    assert spec.params == {ETA: 0.01, LAM: 0.001, x: 1.0, y: 2.0}
    assert spec.validation["t_end"] == 2.0


def test_linear_network_file_derives_the_gl_law_by_hand():
    spec = load(DERIVATIONS / "linear_network.toml")
    W1 = sn.matrix_coordinates("W1", 2, 2)
    W2 = sn.matrix_coordinates("W2", 1, 2)
    A = sn.matrix_coordinates("A", 2, 2)  # [constants] A = [2, 2]: symbols A_11 …
    V1, V2 = W1.applyfunc(sn.velocity), W2.applyfunc(sn.velocity)
    law = spec.derive().law("gl")
    mass = ETA * (1 + BETA) / 2
    damping = sp.exp(T / (ETA * (1 + BETA) / (2 * (1 - BETA))))
    charge = mass * ((V1.T * A * W1).trace() - (V2.T * W2 * A).trace())
    kinetic = mass * ((V1.T * A * V1).trace() - (V2.T * V2 * A).trace())
    assert same(law.charge / damping, charge)
    assert same(law.kinetic_breaking / damping, kinetic)
    assert law.potential_breaking == 0 and law.is_symmetry
    assert spec.system.coords == (*W1, *W2)
    assert spec.q0 == (0.5, -0.2, 0.1, 0.3, 1.0, 0.4)


def test_spec_file_is_frozen_and_prints():
    spec = loads(PAIR)
    assert isinstance(spec, SpecFile)
    with pytest.raises(AttributeError):
        spec.title = "other"
    assert "rescale" in str(spec) and spec._repr_latex_().startswith("$$")


def test_hand_kinetic_term_and_generator_by_block():
    spec = loads(
        """
        [system]
        coordinates = ["q1", "q2"]
        loss = "-k/sqrt(q1**2 + q2**2)"
        kinetic = "(qdot1**2 + qdot2**2)/2"
        [parameters]
        k = 1.5
        [generators]
        rotation = { q1 = "-q2", q2 = "q1" }
        """
    )
    q1, q2 = sp.symbols("q1 q2", real=True)
    qd1, qd2 = sp.symbols("qdot1 qdot2", real=True)
    law = spec.derive().law("rotation")
    assert law.conserved and same(law.charge, q1 * qd2 - q2 * qd1)
    assert spec.values == {sp.Symbol("k", positive=True): 1.5}


# -- rejections ----------------------------------------------------------------------


def _system(loss: str = "(y - w2*w1*x)**2/2", extra: str = "") -> str:
    return (
        f'[system]\ncoordinates = ["w1", "w2"]\ndata = ["x", "y"]\nloss = "{loss}"\n'
        f'rule = "gradient_flow"\n{extra}'
    )


EXPRESSION_REJECTIONS = [
    ("__import__('os')", r"column 1: unknown function '__import__'"),
    ("w1.__class__", r"column 3: attribute access '\.__class__'"),
    ("(lambda: w1)()", r"only calls of the math functions"),
    ("lambda z: z", r"a lambda is not allowed"),
    ("[w for w in (w1, w2)]", r"a list comprehension is not allowed"),
    ("sum(w for w in x)", r"a generator expression is not allowed"),
    ("f'{w1}'", r"an f-string is not allowed"),
    ("'w1'", r"a string is not allowed"),
    ("w1[0]", r"a subscript is not allowed"),
    ("exp(w1, base=2)", r"column 9: keyword argument base="),
    ("exp(*w1)", r"a starred argument is not allowed"),
    ("w1 and w2", r"a boolean operator"),
    ("w1 < w2", r"a comparison is not allowed"),
    ("w1 if x else w2", r"a conditional expression"),
    ("open(w1)", r"unknown function 'open'"),
    ("z + w1", r"unknown name 'z'"),
    ("w1 % 2", r"the operator '%' is not allowed"),
    ("w1 # comment", r"column 4: this character is not allowed"),
    ("w1 +", r"invalid syntax"),
    ("10**10**10", r"exponent is too large"),
    ("((w1**9)**9)**9", r"nested powers reach 81"),
    ("2**(w1 - w1 + 10**6)", r"exponent is too large"),
    ("1e999 * w1", r"too large .* or not finite"),
    ("w1 / 0", r"division by zero"),
    ("log(0) + w1", r"not finite"),
    ("sqrt(-1) * w1", r"not real"),
    ("(-8)**0.5 + w1", r"not real"),
    ("exp", r"exp is a function"),
    ("True * w1", r"True is not allowed"),
    ("1j * w1", r"1j is not allowed"),
    ("(w1 := 2)", r"an assignment expression \(:=\) is not allowed"),
    ("w\u00b9", r"this character is not allowed"),
]


@pytest.mark.parametrize(("text", "message"), EXPRESSION_REJECTIONS, ids=lambda v: str(v)[:20])
def test_expression_rejections_name_token_key_and_position(text, message):
    toml_text = _system(loss=text.replace("\\", "\\\\").replace('"', '\\"'))
    with pytest.raises(SpecFileError, match=r"<string>: \[system\] loss") as caught:
        loads(toml_text)
    assert caught.match(message)


def test_error_position_is_line_and_column_within_the_string():
    text = _system().replace('loss = "(y - w2*w1*x)**2/2"', 'loss = """w1 +\n  w2.real"""')
    with pytest.raises(SpecFileError, match=r"line 2, column 5: attribute access '\.real'"):
        loads(text)


def test_size_limits_are_checked():
    with pytest.raises(SpecFileError, match="over the limit of 10000"):
        parse_expression("w+" * 5001 + "w", {"w": w1})
    with pytest.raises(SpecFileError, match="too deeply nested"):
        parse_expression("-" * 3000 + "w", {"w": w1})
    with pytest.raises(SpecFileError, match="nesting deeper than 100"):
        parse_expression("exp(" * 120 + "w" + ")" * 120, {"w": w1})
    with pytest.raises(SpecFileError, match="more than 5000 syntax nodes"):
        parse_expression("+".join(["w*w"] * 1700), {"w": w1})
    long_sum = parse_expression("+".join(["w"] * 1500), {"w": w1})  # a chain is one level
    assert long_sum == 1500 * w1


def test_expansion_limits_are_checked_on_what_sympy_built():
    names = {"w1": w1, "w2": w2, "x": x, "y": y}
    # (w1 + w2)**64 expands to 65 terms: within the limits, kept unexpanded
    assert parse_expression("(w1+w2)**64", names) == (w1 + w2) ** 64
    # degree 4·64 + 1 = 257 in one term times a binomial
    with pytest.raises(SpecFileError, match=r"about 2 terms of degree 257 \(estimated"):
        parse_expression("w1**64*w2**64*x**64*y**64*(w1+w2)", names)
    # (w1+w2)**64 · (w1+w2)**1 is (w1+w2)**65 once SymPy has merged the factors
    with pytest.raises(SpecFileError, match=r"combines the powers into \(w1 \+ w2\)\*\*65"):
        parse_expression("(w1+w2)**64*(w1+w2)", names)
    # C(k + 3, 3) monomials of degree k in 4 symbols: 20,825 for k = 48, 19,600 for k = 47
    with pytest.raises(SpecFileError, match=r"about 20,825 terms of degree 48"):
        parse_expression("(w1+w2+x+y)**48", names)
    assert parse_expression("(w1+w2+x+y)**47", names) == (w1 + w2 + x + y) ** 47


def test_matrix_products_are_estimated_before_they_are_formed():
    # 12×12 @ 12×12: 144 entries of 12 products = 1,728 terms; a third factor: 12³·12 =
    # 20,736 (each entry of the product, 12 terms, times 12 columns, 12·12 entries)
    A = sp.ImmutableMatrix(12, 12, sp.symbols("a0:144"))
    assert parse_expression("A @ A", {"A": A}).shape == (12, 12)
    with pytest.raises(
        SpecFileError,
        match=r"column 1: this matrix product is too large: .* "
        r"about 20,736 terms in all \(a 12×12 matrix times a 12×12 matrix\)",
    ):
        parse_expression("A @ A @ A", {"A": A})


def _declaring(matrices: str = "", constants: str = "", coordinates: str = '["b"]') -> str:
    loss = "b**2" if "b" in coordinates else "sum(W)"
    return (
        f'[system]\ncoordinates = {coordinates}\nloss = "{loss}"\nrule = "gradient_flow"\n'
        f"[system.matrices]\n{matrices}\n[constants]\n{constants}\n"
    )


def test_declared_symbols_are_counted_from_their_shapes():
    # 8·15 + 8 = 128 coordinates (the limit), plus b: 129
    assert len(loads(_declaring("W = [8, 15]\nV = [1, 8]", coordinates="[]")).system.coords) == 128
    with pytest.raises(SpecFileError, match=r"declares 129 coordinates .* limit of 128"):
        loads(_declaring("W = [8, 15]\nV = [1, 8]"))
    # a name in coordinates that places a matrix is not counted twice: 8·16 = 128
    assert len(loads(_declaring("W = [8, 16]", coordinates='["W"]')).system.coords) == 128
    # 1 coordinate + 64·64 = 4,097 symbols, one over
    with pytest.raises(SpecFileError, match=r"declares 4097 symbols .* over the limit of 4096"):
        loads(_declaring(constants="A = [64, 64]"))
    rows = "[" + ", ".join(["[1]"] * 65) + "]"
    with pytest.raises(SpecFileError, match=r"\[constants\] E: 65×1 entries; rows and cols"):
        loads(_declaring(constants=f"E = {rows}"))


def test_matrix_shape_errors_name_the_shapes():
    W = sn.matrix_coordinates("W", 2, 3)
    with pytest.raises(SpecFileError, match=r"cannot multiply a 2×3 matrix by a 2×3 matrix"):
        parse_expression("W @ W", {"W": W})
    with pytest.raises(SpecFileError, match=r"cannot add a 2×3 matrix and a scalar"):
        parse_expression("W + 1", {"W": W})
    with pytest.raises(SpecFileError, match=r"@ multiplies two matrices"):
        parse_expression("2 @ W", {"W": W})


FILE_REJECTIONS = [
    ("[system\ncoordinates = 1", r"is not valid TOML"),
    ('title = "no system"', r"no \[system\] table"),
    (_system().replace('loss = "(y - w2*w1*x)**2/2"\n', ""), r"\[system\] has no loss"),
    (_system().replace('coordinates = ["w1", "w2"]\n', ""), r"declares no coordinates"),
    (_system().replace('rule = "gradient_flow"', 'rule = "adam"'), r"rule = 'adam' is not"),
    (
        _system().replace('rule = "gradient_flow"', 'rule = "gradient_decent"'),
        r"did you mean 'gradient_descent'",
    ),
    (_system().replace("loss =", "los ="), r"unknown key 'los' .*did you mean 'loss'"),
    (_system() + "[paramters]\nlr = 1\n", r"unknown key 'paramters' .*'parameters'"),
    (
        _system().replace('"gradient_flow"', '"gradient_descent"'),
        r"\[parameters\] has no lr, which rule gradient_descent needs",
    ),
    (
        _system().replace('"gradient_flow"', '"gradient_descent"') + "[parameters]\nlr = nan\n",
        r"\[parameters\] lr = nan is not finite",
    ),
    (
        _system().replace('"gradient_flow"', '"gradient_descent"') + "[parameters]\nlr = inf\n",
        r"lr = inf is not finite",
    ),
    (
        _system().replace('"gradient_flow"', '"gradient_descent"') + "[parameters]\nlr = -1\n",
        r"\[parameters\] lr: learning rate lr = -1.0 is not positive",
    ),
    (_system() + "[parameters]\nk = nan\n", r"\[parameters\] k = nan is not finite"),
    (_system() + "[parameters]\nbeta = 0.9\n", r"rule 'gradient_flow' takes no beta"),
    (_system() + '[parameters]\nk = "big"\n', r"k = 'big' is not a number"),
    (
        _system().replace('"gradient_flow"', '"momentum"') + "[parameters]\nlr=0.1\nbeta=1.5\n",
        r"beta = 1.5 is outside \[0, 1\)",
    ),
    (
        _system(extra='regularizers = ["l1"]\n'),
        r"'l1' is not a regularizer",
    ),
    (_system(extra='regularizers = ["weight_decay"]\n'), r"has no weight_decay"),
    (_system() + "[initial]\nw1 = 1.0\n", r"no value for the coordinate w2"),
    (_system() + "[initial]\nw1 = [1.0, 2.0]\nw2 = 0\n", r"\[initial\] w1 = \[1.0, 2.0\] is"),
    (_system() + "[initial]\nw_1 = 1.0\n", r"unknown key 'w_1' in \[initial\].*'w1'"),
    (_system() + "[initial]\nw1 = nan\nw2 = 0\n", r"\[initial\] w1 = nan is not finite"),
    (_system() + "[initial]\nw1 = 1\nw2 = 0\nwdot1 = 1\n", r"gradient flow .* no velocities"),
    (_system() + "[data_values]\nx = 1.0\n", r"no value for the data symbol y"),
    (_system() + '[generators]\npsi = ["w1"]\n', r"psi has 1 entries; give one per"),
    (_system() + '[generators]\npsi = ["x", "0"]\n', r"x cannot be used here: it is a data"),
    (_system() + "[generators]\npsi = { w3 = 'w1' }\n", r"unknown key 'w3'"),
    (
        _system().replace('["w1", "w2"]', '["w1", "w1"]'),
        r"coordinates: 'w1' appears twice",
    ),
    (_system().replace('["x", "y"]', '["x", "w1"]'), r"'w1' is already declared"),
    (_system().replace('["x", "y"]', '["x", "exp"]'), r"'exp' is reserved"),
    (_system().replace('["x", "y"]', '["x", "__y"]'), r"'__y' is not a valid name"),
    (_system() + "[system.matrices]\nW = [0, 3]\n", r"must be 1 to 64"),
    (_system() + "[system.matrices]\nW = [2, 3]\n[initial]\nW = [[1, 2], [3, 4]]\n", r"2×3"),
    (
        _system(loss="w1*w2", extra='kinetic = "wdot1**2"\n'),
        r"gives both rule and kinetic",
    ),
    (_system(loss="x*y"), r"depends on none of the coordinates"),
]


@pytest.mark.parametrize(("text", "message"), FILE_REJECTIONS, ids=lambda v: str(v)[-24:])
def test_file_rejections_name_the_culprit(text, message):
    with pytest.raises(SpecFileError, match=message):
        loads(text)


# The rule decides which [parameters] are allowed, so a misspelt or missing rule is
# reported as such, not as a parameter it "takes no" (issue 10).
RULE_BEFORE_PARAMETERS = [
    ('rule = "momentm"', "lr = 0.1\nbeta = 0.9", r"rule = 'momentm' .*did you mean 'momentum'"),
    ('rule = "gradient_decent"', "lr = 0.1", r"did you mean 'gradient_descent'"),
    ('rule = "adam"', "beta = 0.9", r"rule = 'adam' is not a learning rule"),
    ("", "lr = 0.1", r"\[system\] has no rule"),
    ('rule = "momentum"\nkinetic = "wdot1**2"', "lr = 0.1", r"both rule and kinetic"),
]


@pytest.mark.parametrize(
    ("rule", "parameters", "message"),
    RULE_BEFORE_PARAMETERS,
    ids=["misspelt", "misspelt-gd", "unknown", "missing", "rule-and-kinetic"],
)
def test_the_rule_is_checked_before_its_parameters(rule, parameters, message):
    text = _system().replace('rule = "gradient_flow"', rule) + f"[parameters]\n{parameters}\n"
    with pytest.raises(SpecFileError, match=message) as caught:
        loads(text)
    assert "[parameters]" not in str(caught.value)


def test_a_kinetic_system_given_lr_says_it_has_no_rule():
    text = _system(loss="w1*w2", extra='kinetic = "wdot1**2 + wdot2**2"\n').replace(
        'rule = "gradient_flow"\n', ""
    )
    with pytest.raises(SpecFileError, match=r"lr is given but .*kinetic term has no learning rule"):
        loads(text + "[parameters]\nlr = 0.1\n")


def test_missing_file_and_non_toml_file(tmp_path):
    with pytest.raises(SpecFileError, match=r"no spec file .*missing\.toml"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe not utf-8 = [")
    with pytest.raises(SpecFileError, match=r"cannot read spec file .*bad\.toml"):
        load(bad)
    bad.write_text("loss = (y - w)**2", encoding="utf-8")
    with pytest.raises(SpecFileError, match=r"bad\.toml is not valid TOML"):
        load(bad)


def test_derive_without_generators_finds_the_rescale_law():
    """V = ½(y − w₂w₁x)²: the only affine symmetry is ψ = c(w₁, −w₂), Mψ = ψ is the
    gradient of c(w₁² − w₂²)/2, and ψ·∇V = 0: one conserved charge ∝ w₁² − w₂²."""
    deriv = loads(_system()).derive()
    (law,) = deriv.laws
    assert law.conserved
    ratio = sp.simplify(law.charge / (w1**2 - w2**2))
    assert ratio.is_number and ratio != 0
    assert any("symmetry search" in note for note in deriv.notes)


# -- fuzzing -------------------------------------------------------------------------

NAMES = {"w1": w1, "w2": w2, "x": x, "y": y}
UNARY = {
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
    "relu": lambda z: sp.Max(0, z),
    "abs": sp.Abs,
    "sin": sp.sin,
    "cos": sp.cos,
}
DECIMALS = {"0.5": sp.Rational(1, 2), "1.25": sp.Rational(5, 4), "0.1": sp.Rational(1, 10)}
EXPONENTS = {"2": 2, "3": 3, "(-1)": -1, "0.5": sp.Rational(1, 2)}

leaves = st.one_of(
    st.tuples(st.just("num"), st.integers(0, 9)),
    st.tuples(st.just("dec"), st.sampled_from(sorted(DECIMALS))),
    st.tuples(st.just("name"), st.sampled_from(sorted(NAMES))),
)


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/"]), children, children),
        st.tuples(st.just("neg"), children),
        st.tuples(st.just("pow"), children, st.sampled_from(sorted(EXPONENTS))),
        st.tuples(st.just("call"), st.sampled_from(sorted(UNARY)), children),
        st.tuples(st.just("minmax"), st.sampled_from(["max", "min"]), children, children),
    )


trees = st.recursive(leaves, _extend, max_leaves=8)


def render(tree) -> str:
    kind = tree[0]
    if kind == "num":
        return str(tree[1])
    if kind in ("dec", "name"):
        return tree[1]
    if kind == "neg":
        return f"(-{render(tree[1])})"
    if kind == "pow":
        return f"({render(tree[1])})**{tree[2]}"
    if kind == "call":
        return f"{tree[1]}({render(tree[2])})"
    if kind == "minmax":
        return f"{tree[1]}({render(tree[2])}, {render(tree[3])})"
    return f"({render(tree[1])} {kind} {render(tree[2])})"


def build(tree, power=1):
    """(SymPy value, bad) straight from the tree; bad: a documented limit is hit."""
    kind = tree[0]
    if kind == "num":
        return sp.Integer(tree[1]), False
    if kind == "dec":
        return DECIMALS[tree[1]], False
    if kind == "name":
        return NAMES[tree[1]], False
    if kind == "pow":
        exponent = EXPONENTS[tree[2]]
        too_deep = abs(exponent) * power > 64
        base, bad = build(tree[1], power * max(abs(exponent), 1))
        return _mark(base**exponent, bad or too_deep)
    if kind == "neg":
        value, bad = build(tree[1], power)
        return _mark(-value, bad)
    if kind == "call":
        value, bad = build(tree[2], power)
        try:
            return _mark(UNARY[tree[1]](value), bad)
        except ValueError:  # relu(zoo) = Max(0, zoo): SymPy refuses, so must the parser
            return sp.nan, True
    if kind == "minmax":
        (a, bad_a), (b, bad_b) = build(tree[2], power), build(tree[3], power)
        try:
            value = (sp.Max if tree[1] == "max" else sp.Min)(a, b)
        except ValueError:  # Max(zoo, 1): SymPy refuses, so must the parser
            return sp.nan, True
        return _mark(value, bad_a or bad_b)
    (a, bad_a), (b, bad_b) = build(tree[1], power), build(tree[2], power)
    ops = {"+": a.__add__, "-": a.__sub__, "*": a.__mul__, "/": a.__truediv__}
    return _mark(ops[kind](b), bad_a or bad_b)


def _mark(value, bad):
    not_finite = value.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I)
    huge = isinstance(value, sp.Rational) and abs(value) > 1e300
    merged = any(p.exp.is_Number and abs(p.exp) > 64 for p in value.atoms(sp.Pow))
    return value, bad or not_finite or huge or merged


def _expands_past_the_limits(value) -> bool:
    """Independent of the estimate: the expansion itself has more than 20,000 terms or
    degree 256, or is too large to finish within 20 s."""
    try:
        with time_budget(20, "the reference expansion"):
            expanded = sp.expand(value)
    except BudgetExceededError:
        return True
    terms = sp.Add.make_args(expanded)
    return len(terms) > 20_000 or max(sp.Poly(t).total_degree() for t in terms) > 256


@settings(
    max_examples=int(os.environ.get("SPEC_FUZZ_EXAMPLES", 300)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(trees)
def test_fuzz_accepted_strings_round_trip_to_the_tree(tree):
    expected, bad = build(tree)
    text = render(tree)
    try:
        parsed = parse_expression(text, NAMES)
    except SpecFileError as error:
        large = "too large: expanded" in str(error) and _expands_past_the_limits(expected)
        assert bad or large, f"{text!r} was rejected ({error}) but is within every limit"
        return
    assert parsed == expected, text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees)
def test_fuzz_expansion_estimate_is_an_upper_bound(tree):
    """The estimate never undercounts: the terms of sp.expand, the degree of every term."""
    expr, _ = build(tree)
    assume(isinstance(expr, sp.Expr) and not expr.has(sp.zoo, sp.nan, sp.oo, sp.I))
    size = Estimator().size(expr)
    assume(size.terms <= 3_000)
    expanded = sp.expand(expr)
    terms = sp.Add.make_args(expanded) if expanded != 0 else ()
    assert len(terms) <= size.terms, expr
    assert all(_degree(t) <= size.degree for t in terms), expr


def _degree(term) -> int:
    """Total degree of a term in its symbols alone, e.g. 2 for w1**2*exp(x) (the estimate
    counts a function application as one more atom: exp(x + y) expands to exp(x)·exp(y))."""
    degree = 0
    for factor in sp.Mul.make_args(term):
        base, exponent = factor.as_base_exp()
        if base.is_Symbol and exponent.is_Integer and exponent > 0:
            degree += int(exponent)
    return degree


TOKENS = [
    *NAMES, *UNARY, "max", "sum", "norm", "pi", "__import__", "os", "lambda", "for", "in",
    "if", "else", "and", "not", "1", "9", "0.5", "1e308", "10", "**", "*", "/", "+", "-",
    "@", "%", "//", "(", ")", "[", "]", "{", "}", ",", ":", ".", ".T", "._", "'", '"', "f'",
    "=", "==", "<", ":=", " ", "\n", "#", "\\", "yield", "await", "*x", "**x", "é",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40) | st.text(max_size=60))
def test_fuzz_random_text_raises_only_symnoether_errors(pieces):
    text = pieces if isinstance(pieces, str) else "".join(pieces)
    try:
        result = parse_expression(text, NAMES, where="[system] loss")
    except SymnoetherError:
        return
    assert isinstance(result, sp.Basic)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=25))
def test_fuzz_random_loss_strings_in_a_spec_file_raise_only_spec_file_errors(pieces):
    loss = "".join(pieces).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    try:
        spec = loads(_system(loss=loss))
    except SpecFileError:
        return
    # loaded: exactly the declared coordinates, and a loss in the declared names only
    assert [str(q) for q in spec.system.coords] == ["w1", "w2"]
    assert {str(s) for s in spec.system.loss.free_symbols} <= {"w1", "w2", "x", "y"}


def test_the_documented_complete_example_loads():
    import textwrap

    import symnoether.io.specfile as specfile

    doc = specfile.__doc__
    example = doc[doc.index("::\n") + 3 : doc.index("Hyper-parameters stay")]
    spec = loads(textwrap.dedent(example))
    W1 = sn.matrix_coordinates("W1", 2, 3)
    assert spec.system.coords[:6] == tuple(W1) and len(spec.system.coords) == 9
    assert spec.system.rule.name == "momentum" and spec.t_end == 5.0
    assert sorted(spec.generators) == ["gl", "scale_W1", "shift"]
    assert spec.generators["scale_W1"][:6] == list(W1) and spec.v0 == (0.0,) * 9


@pytest.mark.parametrize("name", ["scalar_pair.toml", "linear_network.toml"])
def test_example_spec_files_validate_from_the_command_line(name, capsys):
    """`symnoether run FILE.toml --validate`: the gl charges carry the constants A_ij,
    which must be filled in like hyper-parameters."""
    from symnoether.cli import main

    path = Path(__file__).parents[2] / "derivations" / name
    assert main(["run", str(path), "--validate", "--backend", "numpy"]) == 0
    assert "validation PASSED" in capsys.readouterr().out
