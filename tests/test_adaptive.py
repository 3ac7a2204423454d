"""Adaptive attacks through pre-processing defenses: BPDA's straight-through gradient, EOT for
random defenses, and the acceptance check that attacking through the defense beats crafting on
the plain float model (real CIFAR-10 images, the real engine)."""

from __future__ import annotations

import numpy as np
import pytest

from host import api, backends, data, defenses, zoo
from host.attacks import Oracle
from host.defenses import bpda
from host.defenses.base import Preprocessor
from host.defenses.squeeze import Median

MODEL = "cifar10-resnet8"


def robust_accuracy(records, backend: str) -> dict[float, float]:
    """Robust accuracy in % of ``backend`` per eps (in int8 steps)."""
    hits: dict[float, list[bool]] = {}
    for record in records:
        outcome = record.backends[backend]
        hits.setdefault(record.eps_steps, []).append(outcome.prediction == record.label)
    return {steps: 100.0 * float(np.mean(values)) for steps, values in hits.items()}


def test_bpda_runs_the_defense_forward_and_the_identity_backward(data_dir) -> None:
    test = data.load("cifar10", "test", data_dir)
    x, y = test.x[:16].astype(np.float32) / np.float32(255.0), test.y[:16]
    path = zoo.model_file(MODEL, "float")
    defended = Oracle(defenses.get_backend(MODEL, "float+median2"), 10, path).whitebox()
    plain = Oracle(backends.get_backend(MODEL, "float"), 10, path).whitebox()
    smoothed = Median(2).pixels(x)
    assert np.allclose(defended.predict(x), plain.predict(smoothed), atol=1e-4)
    gradient = defended.loss_gradient(x, y)
    assert np.count_nonzero(gradient) > 0.9 * gradient.size  # not masked by the median
    # straight through: the loss's gradient at the smoothed image, passed on unchanged
    assert np.allclose(gradient, plain.loss_gradient(smoothed, y), atol=1e-6)
    assert not np.allclose(gradient, plain.loss_gradient(x, y), atol=1e-6)


class Jitter(Preprocessor):
    """A random defense: uniform noise of +-0.05, counting its draws."""

    name = "jitter"
    random = True

    def __init__(self) -> None:
        self.draws = 0
        self.rng = np.random.default_rng(0)

    def pixels(self, x01: np.ndarray) -> np.ndarray:
        self.draws += 1
        noise = self.rng.uniform(-0.05, 0.05, size=np.shape(x01))
        return np.clip(x01 + noise, 0, 1).astype(np.float32)


def test_eot_averages_the_gradient_over_draws_of_a_random_defense() -> None:
    import keras

    keras.utils.set_random_seed(0)  # the toy model's weights: the same test on every run
    inputs = keras.Input(shape=(4, 4, 1))
    hidden = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(inputs))
    logits = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    jitter = Jitter()
    traced = bpda.traced_model(logits, 3, [jitter], samples=5)
    assert isinstance(traced, bpda.EotTracedModel)
    x = np.random.default_rng(1).uniform(0.2, 0.8, size=(2, 4, 4, 1)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[[0, 2]]
    jitter.draws = 0
    eot = traced.loss_gradient("cross_entropy", x, y).numpy()
    assert jitter.draws == 5  # one draw per sample
    single = [traced._gradients["cross_entropy"](x, y).numpy() for _ in range(40)]
    reference = np.mean(single, axis=0)
    # an average of 5 draws lies about sqrt(5) times closer to the expectation than one draw
    eot_error = np.abs(eot - reference).mean()
    single_error = np.mean([np.abs(draw - reference).mean() for draw in single])
    assert eot_error < 0.85 * single_error  # measured 0.67; one draw alone gives about 1
    assert not isinstance(bpda.traced_model(logits, 3, [Median(2)]), bpda.EotTracedModel)


def test_adaptive_pgd_beats_non_adaptive_pgd_through_median_smoothing(data_dir) -> None:
    """PGD at 4 int8 steps on 50 CIFAR-10 test images against engine-int8+median3: crafted on
    float (non-adaptive) it leaves 30 % robust accuracy, through the defense (oracle
    float+median3, BPDA) 4 % (measured); undefended engine-int8 keeps 2 %."""
    options = {"eps_steps": [4], "n": 50, "backends": ["engine-int8", "engine-int8+median3"]}
    plain = api.run_campaign(MODEL, ["pgd"], oracle="float", **options).records
    adaptive = api.run_campaign(MODEL, ["pgd"], oracle="float+median3", **options).records
    non_adaptive = robust_accuracy(plain, "engine-int8+median3")[4]
    undefended = robust_accuracy(plain, "engine-int8")[4]
    through = robust_accuracy(adaptive, "engine-int8+median3")[4]
    assert non_adaptive >= undefended + 15, (non_adaptive, undefended)  # the defense helps...
    assert through <= non_adaptive - 15, (through, non_adaptive)  # ...until attacked through it
    assert all(r.oracle == "float+median3" for r in adaptive)


@pytest.mark.slow
@pytest.mark.parametrize("defense", ["median2", "median3", "bits5", "jpeg75"])
def test_adaptive_is_never_weaker(defense, data_dir) -> None:
    """Every defense, PGD at 1, 2, 4, 8 int8 steps on 100 images: the adaptive attack leaves
    at most the non-adaptive robust accuracy (plus 5 points of noise) at every eps."""
    backend = f"engine-int8+{defense}"
    options = {"eps_steps": [1, 2, 4, 8], "n": 100, "backends": [backend]}
    plain = api.run_campaign(MODEL, ["pgd"], oracle="float", **options).records
    adaptive = api.run_campaign(MODEL, ["pgd"], oracle=f"float+{defense}", **options).records
    non_adaptive, through = robust_accuracy(plain, backend), robust_accuracy(adaptive, backend)
    print(defense, "non-adaptive", non_adaptive, "adaptive", through)
    for steps, accuracy in through.items():
        assert accuracy <= non_adaptive[steps] + 5, (steps, accuracy, non_adaptive[steps])
