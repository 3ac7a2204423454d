"""Traced gradients: every gradient attack runs on the traced functions, never ART's eager path.

ART's own (eager) ``TensorFlowV2Classifier`` methods are counted while the real ART attacks run
on the real float ResNet-8 with tiny budgets: any call to them fails the test. The traced values
are checked against ART's eager ones (numpy and tensor inputs, both APGD losses).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import test_attacks

from host import zoo
from host.attacks import Oracle, make_attack
from host.backends import get_backend

N = 4
sample = test_attacks.sample  # fixtures: test_attacks' images and float oracle
float_oracle = test_attacks.float_oracle
EAGER = ("predict", "loss_gradient", "compute_loss", "class_gradient")
# Tiny budgets; the traced function each attack must use.
ATTACKS = {
    "pgd": ({"max_iter": 3}, "loss_gradient"),
    "fgsm": ({}, "loss_gradient"),
    "deepfool": ({"max_iter": 3, "nb_grads": 3}, "class_gradient"),
    "jsma": ({"gamma": 0.02}, "class_gradient"),
    "cw-l2": ({"binary_search_steps": 1, "max_iter": 2}, "class_gradient"),
    "cw-linf": ({"max_iter": 2, "initial_const": 1.0, "largest_const": 2.0}, "class_gradient"),
    "ead": ({"binary_search_steps": 1, "max_iter": 2}, "class_gradient"),
    "autoattack": ({"apgd_iter": 3, "square_iter": 5}, "compute_loss"),
    "apgd-ce": ({"max_iter": 3}, "compute_loss"),
    "apgd-dlr": ({"max_iter": 3}, "compute_loss"),
}


@pytest.fixture
def eager_calls(monkeypatch) -> Counter:
    """Calls of ART's eager classifier methods (the traced classifier overrides them all)."""
    from art.estimators.classification import TensorFlowV2Classifier

    calls: Counter = Counter()
    for name in EAGER:
        original = getattr(TensorFlowV2Classifier, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            calls[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(TensorFlowV2Classifier, name, counted)
    return calls


@pytest.mark.parametrize("name", list(ATTACKS))
def test_no_gradient_attack_takes_the_eager_path(
    name,
    sample,
    float_oracle,
    eager_calls,
) -> None:
    x, y = sample[0][:N], sample[1][:N]
    oracle = float_oracle
    params, traced_function = ATTACKS[name]
    attack = make_attack(name, **params)
    epsilons = [8 / 255] if attack.bounded else [None]
    oracle.whitebox()  # the traced model exists before counting
    assert oracle.traced is not None
    before = Counter(oracle.traced.calls)
    attack(oracle, x, y, epsilons, seed=1, targets=(y + 1) % 10)
    used = oracle.traced.calls - before
    assert dict(eager_calls) == {}, f"{name} called ART's eager {dict(eager_calls)}"
    assert used[traced_function] > 0, f"{name} made no traced {traced_function} call: {used}"
    if name in ("autoattack", "apgd-ce", "apgd-dlr"):
        assert used["loss_gradient"] > 0


def test_gradient_attacks_on_an_integer_oracle_use_the_traced_replica(sample, eager_calls) -> None:
    """Direct mode: PGD's gradients come from the traced functions of the int8 replica."""
    path = zoo.model_file(test_attacks.MODEL, "int8")
    oracle = Oracle(get_backend(test_attacks.MODEL, "engine-int8"), 10, model_path=path)
    x, y = sample[0][:N], sample[1][:N]
    make_attack("pgd", max_iter=3)(oracle, x, y, [8 / 255], seed=1)
    assert oracle.traced is not None and oracle.traced.calls["loss_gradient"] > 0
    assert dict(eager_calls) == {}


def test_traced_values_are_arts(sample, float_oracle) -> None:
    """Loss gradients, losses and class gradients equal ART's eager ones, for numpy and tensor
    inputs (returned in the type given); APGD's CE and DLR losses as ART builds them."""
    import tensorflow as tf
    from art.attacks.evasion import AutoProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    x, y, oracle = sample[0][:N], sample[1][:N], float_oracle
    onehot = np.eye(10, dtype=np.float32)[y]
    traced = oracle.whitebox()
    eager = TensorFlowV2Classifier(
        traced.model,
        nb_classes=10,
        input_shape=x.shape[1:],
        loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True),
        clip_values=(0.0, 1.0),
    )
    expected = eager.loss_gradient(x, onehot)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(traced.loss_gradient(x, onehot), expected, rtol=1e-5, atol=1e-6)
    as_tensor = traced.loss_gradient(tf.constant(x), tf.constant(onehot))
    assert tf.is_tensor(as_tensor)
    np.testing.assert_allclose(as_tensor.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(traced.predict(x), eager.predict(x), atol=1e-5)
    for label in (None, 3):
        np.testing.assert_allclose(
            traced.class_gradient(x, label=label),
            eager.class_gradient(x, label=label),
            rtol=1e-5,
            atol=1e-6,
        )
    for loss in ("cross_entropy", "difference_logits_ratio"):
        art = AutoProjectedGradientDescent(eager, eps=0.01, loss_type=loss, verbose=False)
        ours = oracle.whitebox(loss)
        np.testing.assert_allclose(
            ours.compute_loss(x, onehot), art.estimator.compute_loss(x, onehot), rtol=1e-5
        )
        np.testing.assert_allclose(
            ours.loss_gradient(x, onehot),
            art.estimator.loss_gradient(x, onehot),
            rtol=1e-5,
            atol=1e-6,
        )


def test_one_pass_evaluation_keeps_records(data_dir, monkeypatch) -> None:
    """A chunk's adversarial examples at every eps go to each backend in one call, and the
    records are those of one eps at a time."""
    from dataclasses import asdict

    from host.backends.base import Backend
    from host.run.campaign import Runner, plan_campaign

    def records(epsilons: list[float]) -> list[dict]:
        campaign = plan_campaign(
            test_attacks.MODEL,
            [make_attack("pgd", max_iter=2)],
            ["float", "tflm-int8"],
            epsilons,
            [],
            "transfer",
            None,
            N,
            0,
            None,
        )
        return [asdict(record) for record in Runner(campaign).run()]

    calls: Counter = Counter()
    original = Backend.run

    def counted(self, x01):
        calls[self.name] += 1
        return original(self, x01)

    monkeypatch.setattr(Backend, "run", counted)
    together = records([2 / 255, 4 / 255])
    assert calls == {"float": 2, "tflm-int8": 2}  # the clean images, then both eps at once
    apart = records([2 / 255]) + records([4 / 255])
    assert len(together) == 2 * N
    assert together == apart


def test_crafting_bench_section_tiny(data_dir, tmp_path, capsys) -> None:
    """``python -m host.bench --only crafting`` at CI size: three timed configurations, the
    ratios printed and in bench.json, and the same adversarial predictions in all three."""
    import json

    from host import bench

    tiny = ["--crafting-n", "3", "--crafting-iter", "2", "--crafting-repeats", "1"]
    options = ["--only", "crafting", "--models", test_attacks.MODEL, *tiny]
    options += ["--crafting-backends", "float,tflm-int8", "--out", str(tmp_path)]
    assert bench.main(options) == 0
    printed = capsys.readouterr().out
    (path,) = tmp_path.glob("*-bench/bench.json")
    result = json.loads(path.read_text())["crafting"]
    assert result["n"] == 3 and result["evaluated"] == 3 * 3 * 2
    assert all(len(seconds) == 1 and seconds[0] > 0 for seconds in result["seconds"].values())
    assert result["differing_campaign_art"] == result["differing_paper_art"] == 0
    assert f"{result['campaign_over_paper']:.2f}x" in printed
    assert bench.main(["--only", "crafting", "--crafting-eps", "2", "--out", str(tmp_path)]) == 2
