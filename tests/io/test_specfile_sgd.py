"""Spec files for minibatch SGD: rule = "sgd", batch_size, replacement and [dataset].

Spec files are untrusted: the dataset's numbers go through the same checks as every
other value (no expression strings, finite numbers only) and its size is bounded and
counted against the file's symbol limit before anything is built.
"""

from __future__ import annotations

import textwrap

import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import SpecFileError
from symnoether.io import spec_tables
from symnoether.io.specfile import loads

PAIR = """
[system]
coordinates = ["u", "w"]
data = ["x", "y"]
loss = "(y - u*w*x)**2/2"
rule = "sgd"
{system}

[parameters]
lr = 0.1
{parameters}

[dataset]
{dataset}
"""


def pair(system="", parameters="", dataset="x = [0.5, -1, 3]\ny = [2, 1, -1]"):
    return PAIR.format(system=system, parameters=parameters, dataset=dataset)


def test_sgd_scalar_pair_matches_the_hand_built_system():
    spec = loads(pair('batch_size = 2\nregularizers = ["weight_decay"]', "weight_decay = 0.01"))
    system = spec.system
    assert system.rule.name == "sgd" and system.rule.batch_size == 2
    assert system.rule.replacement is True
    x, y = sn.data("x y")
    u, w = sn.coordinates("u w")
    half = sp.Rational(1, 2)
    assert system.samples == ({x: half, y: 2}, {x: -1, y: 1}, {x: 3, y: -1})
    # V = mean over the three samples, written out by hand
    by_hand = ((2 - u * w / 2) ** 2 + (1 + u * w) ** 2 + (-1 - 3 * u * w) ** 2) / 6
    assert sp.expand(system.training_loss - by_hand) == 0
    # Σ for B = 2 is half the per-sample one (sn.noise_covariance of the same data)
    eta = sp.Symbol("eta", positive=True)
    built = sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.sgd(eta, 2),
                              data=(x, y), dataset={x: [half, -1, 3], y: [2, 1, -1]})  # fmt: skip
    assert sn.noise_covariance(system) == sn.noise_covariance(built)
    assert dict(spec.values)[eta] == 0.1


def test_without_replacement_and_data_vectors():
    text = """
    [system]
    coordinates = ["u1", "u2", "w"]
    data = ["y"]
    loss = "(y - w*(u1*x1 + u2*x2))**2/2"
    rule = "sgd"
    batch_size = 2
    replacement = false
    [system.data_vectors]
    x = 2
    [parameters]
    lr = 0.1
    [dataset]
    x = [[1, 0], [0, 2], [1, 1]]
    y = [2, 1, 0]
    """
    system = loads(textwrap.dedent(text)).system
    x1, x2, y = sn.data("x1 x2 y")
    assert system.rule.replacement is False
    assert system.samples[1] == {x1: 0, x2: 2, y: 1}


def test_a_dataset_with_a_deterministic_rule_averages_the_loss():
    spec = loads(pair().replace('rule = "sgd"', 'rule = "gradient_descent"'))
    u, w = sn.coordinates("u w")
    assert spec.system.training_loss.subs({u: 0, w: 0}) == (4 + 1 + 1) / sp.Integer(6)


@pytest.mark.parametrize(
    "text, message",
    [
        (pair(dataset="").replace("[dataset]", ""), r"draws minibatches .* \[dataset\]"),
        (pair("batch_size = 0"), "batch_size = 0 is not a positive integer"),
        (pair("batch_size = 1.5"), "batch_size = 1.5 is not a positive integer"),
        (pair("batch_size = true"), "batch_size = True is not a positive integer"),
        (pair('replacement = "no"'), "replacement = 'no' is not true or false"),
        (pair("batch_size = 4\nreplacement = false"), "larger than the dataset"),
        (pair().replace('rule = "sgd"', 'rule = "gradient_descent"\nbatch_size = 2'),
         "batch_size is given but rule gradient_descent draws no minibatches"),
        (pair(parameters="").replace("lr = 0.1", ""), "has no lr, which rule sgd needs"),
        (pair(dataset="x = [1, 2]\ny = [1]"), r"ragged \(x: 2, y: 1 values\)"),
        (pair(dataset="x = [1, 2]"), "no values for the data symbol y"),
        (pair(dataset="x = []\ny = []"), "give a non-empty list"),
        (pair(dataset="x = [1, 2]\ny = [1, 2]\nz = [1, 2]"), "unknown key 'z' in \\[dataset\\]"),
        (pair(dataset='x = ["__import__(\'os\')", 1]\ny = [1, 2]'), "is not a number"),
        (pair(dataset="x = [nan, 1]\ny = [1, 2]"), "is not finite"),
        (pair(dataset="x = [inf, 1]\ny = [1, 2]"), "is not finite"),
        (pair(dataset="x = 3\ny = [1]"), "give a non-empty list"),
        (pair().replace('data = ["x", "y"]', "data = []").replace("y - u*w*x", "1 - u*w"),
         "declares no data"),
    ],
)  # fmt: skip
def test_bad_sgd_files_name_the_key(text, message):
    with pytest.raises(SpecFileError, match=message):
        loads(text)


def test_dataset_size_is_bounded_before_anything_is_built(monkeypatch):
    many = spec_tables.MAX_SAMPLES + 1
    values = ", ".join(["1"] * many)
    with pytest.raises(SpecFileError, match=f"x has {many} samples, over the limit"):
        loads(pair(dataset=f"x = [{values}]\ny = [{values}]"))

    # the values count against the symbol limit: 2 data vectors of length 64 with 200
    # samples each are 2·64·200 = 25,600 values > 4,096, refused before any symbol exists
    built = []
    monkeypatch.setattr(spec_tables, "matrix_coordinates", lambda *a: built.append(a))
    row = "[" + ", ".join(["1"] * 64) + "]"
    rows = "[" + ", ".join([row] * 200) + "]"
    text = """
    [system]
    coordinates = ["w"]
    loss = "w**2"
    rule = "sgd"
    [system.data_vectors]
    a = 64
    b = 64
    [parameters]
    lr = 0.1
    [dataset]
    """
    text = textwrap.dedent(text) + f"a = {rows}\nb = {rows}\n"
    with pytest.raises(SpecFileError, match=r"declares 25\d{3} symbols .* values of \[dataset\]"):
        loads(text)
    assert built == []


def test_an_sgd_file_derives_the_noether_flow():
    # rescaling holds for every sample's loss: Σ∇Q = 0, so the charge has no diffusion
    text = pair().replace("[dataset]", '[generators]\nrescale = ["u", "-w"]\n\n[dataset]')
    law = loads(text).derive().law("rescale")
    assert law.noise_diffusion == 0 and law.noise_drift != 0
