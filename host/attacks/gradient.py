"""White-box gradient attacks (ART), crafted on the float logits model."""

from __future__ import annotations

import numpy as np

from host.attacks.base import Attack, one_hot
from host.attacks.threat import norm_order


def _none(x: np.ndarray) -> np.ndarray:
    return np.zeros(len(x), dtype=np.int64)


class PGD(Attack):
    """Projected gradient descent (Madry et al.); the paper: 20 iterations, step eps/10."""

    name = "pgd"
    kind = "gradient"
    norms = ("linf", "l2", "l1")
    bounded = True
    defaults = {"max_iter": 20, "step_ratio": 0.1, "random_init": 0, "batch_size": 128}

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import ProjectedGradientDescent

        p = self.params
        attack = ProjectedGradientDescent(
            oracle.whitebox(),
            norm=norm_order(self.norm),
            eps=eps,
            eps_step=eps * p["step_ratio"],
            max_iter=p["max_iter"],
            num_random_init=p["random_init"],
            batch_size=p["batch_size"],
            verbose=False,
        )
        return attack.generate(x, y=one_hot(y, oracle.nb_classes)), _none(x)


class FGSM(Attack):
    """Fast gradient sign method: one step of size eps."""

    name = "fgsm"
    kind = "gradient"
    norms = ("linf", "l2", "l1")
    bounded = True
    defaults = {"batch_size": 128}

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import FastGradientMethod

        attack = FastGradientMethod(
            oracle.whitebox(),
            norm=norm_order(self.norm),
            eps=eps,
            batch_size=self.params["batch_size"],
        )
        return attack.generate(x, y=one_hot(y, oracle.nb_classes)), _none(x)


class DeepFool(Attack):
    """DeepFool (L2, minimal); overshoot 0.02 as in the DeepFool paper (ART's 1e-6 stalls)."""

    name = "deepfool"
    kind = "gradient"
    norms = ("l2",)
    bounded = False
    defaults = {"max_iter": 100, "overshoot": 0.02, "nb_grads": 10, "batch_size": 64}

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import DeepFool as ArtDeepFool

        p = self.params
        attack = ArtDeepFool(
            oracle.whitebox(),
            max_iter=p["max_iter"],
            epsilon=p["overshoot"],
            nb_grads=min(p["nb_grads"], oracle.nb_classes),
            batch_size=p["batch_size"],
            verbose=False,
        )
        return attack.generate(x), _none(x)


class JSMA(Attack):
    """Jacobian saliency map attack (L0, targeted: ART ignores true labels)."""

    name = "jsma"
    kind = "gradient"
    norms = ("l0",)
    bounded = False
    targeted = True
    defaults = {"theta": 0.1, "gamma": 1.0, "batch_size": 64}

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import SaliencyMapMethod

        p = self.params
        attack = SaliencyMapMethod(
            oracle.whitebox(),
            theta=p["theta"],
            gamma=p["gamma"],
            batch_size=p["batch_size"],
            verbose=False,
        )
        return attack.generate(x, y=one_hot(targets, oracle.nb_classes)), _none(x)


class CarliniL2(Attack):
    """Carlini and Wagner L2 (ART defaults)."""

    name = "cw-l2"
    kind = "gradient"
    norms = ("l2",)
    bounded = False
    defaults = {
        "confidence": 0.0,
        "learning_rate": 0.01,
        "binary_search_steps": 10,
        "max_iter": 10,
        "initial_const": 0.01,
        "batch_size": 64,
    }

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import CarliniL2Method

        attack = CarliniL2Method(oracle.whitebox(), verbose=False, **self.params)
        return attack.generate(x, y=one_hot(y, oracle.nb_classes)), _none(x)


class CarliniLinf(Attack):
    """Carlini and Wagner Linf (ART defaults; ART runs it one image at a time)."""

    name = "cw-linf"
    kind = "gradient"
    norms = ("linf",)
    bounded = False
    defaults = {
        "confidence": 0.0,
        "learning_rate": 0.01,
        "max_iter": 10,
        "decrease_factor": 0.9,
        "initial_const": 1e-5,
        "largest_const": 20.0,
        "const_factor": 2.0,
        "batch_size": 64,
    }

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import CarliniLInfMethod

        attack = CarliniLInfMethod(oracle.whitebox(), verbose=False, **self.params)
        return attack.generate(x, y=one_hot(y, oracle.nb_classes)), _none(x)


class EAD(Attack):
    """Elastic-net attack (L1; ART defaults)."""

    name = "ead"
    kind = "gradient"
    norms = ("l1",)
    bounded = False
    defaults = {
        "confidence": 0.0,
        "learning_rate": 0.01,
        "binary_search_steps": 9,
        "max_iter": 100,
        "beta": 0.001,
        "initial_const": 0.001,
        "decision_rule": "EN",
        "batch_size": 64,
    }

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import ElasticNet

        attack = ElasticNet(oracle.whitebox(), verbose=False, **self.params)
        return attack.generate(x, y=one_hot(y, oracle.nb_classes)), _none(x)


class AutoAttack(Attack):
    """AutoAttack (Croce and Hein): APGD-CE, APGD-DLR and Square, best per example.

    ART has no FAB; its default attack list also needs logits, which the white-box oracle gives.
    """

    name = "autoattack"
    kind = "gradient"
    norms = ("linf", "l2")
    bounded = True
    defaults = {"apgd_iter": 100, "apgd_restarts": 1, "square_iter": 5000, "batch_size": 128}

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import AutoAttack as ArtAutoAttack
        from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack

        p = self.params
        classifier = oracle.whitebox()
        order = norm_order(self.norm)
        attacks = [
            AutoProjectedGradientDescent(
                classifier,
                norm=order,
                eps=eps,
                eps_step=2 * eps,
                max_iter=p["apgd_iter"],
                nb_random_init=p["apgd_restarts"],
                batch_size=p["batch_size"],
                loss_type=loss,
                verbose=False,
            )
            for loss in ("cross_entropy", "difference_logits_ratio")
        ]
        attacks.append(
            SquareAttack(
                classifier,
                norm=order,
                eps=eps,
                max_iter=p["square_iter"],
                batch_size=p["batch_size"],
                verbose=False,
            )
        )
        attack = ArtAutoAttack(
            classifier, norm=order, eps=eps, attacks=attacks, batch_size=p["batch_size"]
        )
        return attack.generate(x, y=one_hot(y, oracle.nb_classes)), _none(x)
