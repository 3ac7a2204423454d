"""White-box gradient attacks (ART), crafted on the oracle's logits model: the float model
(mode transfer), or the integer model's differentiable replica (mode direct)."""

from __future__ import annotations

from typing import Any

from host.attacks.base import FixedEpsilonAttack, GradientAttack, MinimizationAttack, TargetedAttack
from host.attacks.oracles import Oracle
from host.attacks.params import NON_NEGATIVE, POSITIVE, choice, count, number
from host.attacks.threat import norm_order


class PGD(GradientAttack, FixedEpsilonAttack):
    """Projected gradient descent (Madry et al.); the paper: 20 iterations, step eps/10."""

    name = "pgd"
    norms = ("linf", "l2", "l1")
    defaults = {"max_iter": 20, "step_ratio": 0.1, "random_init": 0, "batch_size": 128}
    limits = {
        "max_iter": count(),
        "step_ratio": POSITIVE,
        "random_init": count(0),
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle, eps: float) -> Any:
        from art.attacks.evasion import ProjectedGradientDescent

        p = self.params
        return ProjectedGradientDescent(
            oracle.whitebox(),
            norm=norm_order(self.norm),
            eps=eps,
            eps_step=eps * p["step_ratio"],
            max_iter=p["max_iter"],
            num_random_init=p["random_init"],
            batch_size=p["batch_size"],
            verbose=False,
        )


class FGSM(GradientAttack, FixedEpsilonAttack):
    """Fast gradient sign method: one step of size eps."""

    name = "fgsm"
    norms = ("linf", "l2", "l1")
    defaults = {"batch_size": 128}
    limits = {"batch_size": count()}

    def art_attack(self, oracle: Oracle, eps: float) -> Any:
        from art.attacks.evasion import FastGradientMethod

        return FastGradientMethod(
            oracle.whitebox(),
            norm=norm_order(self.norm),
            eps=eps,
            batch_size=self.params["batch_size"],
        )


class DeepFool(GradientAttack, MinimizationAttack):
    """DeepFool (L2, minimal); overshoot 0.02 as in the DeepFool paper (ART's 1e-6 stalls)."""

    name = "deepfool"
    norms = ("l2",)
    defaults = {"max_iter": 100, "overshoot": 0.02, "nb_grads": 10, "batch_size": 64}
    limits = {
        "max_iter": count(),
        "overshoot": NON_NEGATIVE,
        "nb_grads": count(),
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import DeepFool as ArtDeepFool

        p = self.params
        return ArtDeepFool(
            oracle.whitebox(),
            max_iter=p["max_iter"],
            epsilon=p["overshoot"],
            nb_grads=min(p["nb_grads"], oracle.nb_classes),
            batch_size=p["batch_size"],
            verbose=False,
        )


class JSMA(GradientAttack, MinimizationAttack, TargetedAttack):
    """Jacobian saliency map attack (L0, targeted: ART ignores true labels)."""

    name = "jsma"
    norms = ("l0",)
    defaults = {"theta": 0.1, "gamma": 1.0, "batch_size": 64}
    limits = {"theta": number(-1, 1), "gamma": number(0, 1, open_low=True), "batch_size": count()}

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import SaliencyMapMethod

        return SaliencyMapMethod(oracle.whitebox(), verbose=False, **self.params)


class CarliniL2(GradientAttack, MinimizationAttack):
    """Carlini and Wagner L2 (ART defaults)."""

    name = "cw-l2"
    norms = ("l2",)
    defaults = {
        "confidence": 0.0,
        "learning_rate": 0.01,
        "binary_search_steps": 10,
        "max_iter": 10,
        "initial_const": 0.01,
        "batch_size": 64,
    }
    limits = {
        "confidence": NON_NEGATIVE,
        "learning_rate": POSITIVE,
        "binary_search_steps": count(0),
        "max_iter": count(),
        "initial_const": NON_NEGATIVE,
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import CarliniL2Method

        return CarliniL2Method(oracle.whitebox(), verbose=False, **self.params)


class CarliniLinf(GradientAttack, MinimizationAttack):
    """Carlini and Wagner Linf (ART defaults; ART runs it one image at a time)."""

    name = "cw-linf"
    norms = ("linf",)
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
    limits = {
        "confidence": NON_NEGATIVE,
        "learning_rate": POSITIVE,
        "max_iter": count(),
        "decrease_factor": number(0, 1, open_low=True, open_high=True),
        "initial_const": NON_NEGATIVE,
        "largest_const": NON_NEGATIVE,
        "const_factor": number(1, open_low=True),
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import CarliniLInfMethod

        return CarliniLInfMethod(oracle.whitebox(), verbose=False, **self.params)


class EAD(GradientAttack, MinimizationAttack):
    """Elastic-net attack (L1; ART defaults)."""

    name = "ead"
    norms = ("l1",)
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
    limits = {
        "confidence": NON_NEGATIVE,
        "learning_rate": POSITIVE,
        "binary_search_steps": count(0),
        "max_iter": count(),
        "beta": NON_NEGATIVE,
        "initial_const": NON_NEGATIVE,
        "decision_rule": choice("EN", "L1", "L2"),
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import ElasticNet

        return ElasticNet(oracle.whitebox(), verbose=False, **self.params)


def apgd(oracle: Oracle, loss: str, norm: str, eps: float, params: dict[str, Any]) -> Any:
    """ART's APGD on the oracle's classifier with ``loss`` (CE or DLR) as AutoAttack builds it:
    first step 2 * eps; ``loss_type`` None, so APGD uses the classifier's (traced) loss."""
    from art.attacks.evasion import AutoProjectedGradientDescent

    return AutoProjectedGradientDescent(
        oracle.whitebox(loss),
        norm=norm_order(norm),
        eps=eps,
        eps_step=2 * eps,
        max_iter=params["max_iter"],
        nb_random_init=params["restarts"],
        batch_size=params["batch_size"],
        loss_type=None,
        verbose=False,
    )


class APGDCE(GradientAttack, FixedEpsilonAttack):
    """Auto-PGD with the cross-entropy loss (Croce and Hein), AutoAttack's first attack."""

    name = "apgd-ce"
    loss = "cross_entropy"
    norms = ("linf", "l2")
    defaults = {"max_iter": 100, "restarts": 1, "batch_size": 128}
    limits = {"max_iter": count(), "restarts": count(), "batch_size": count()}

    def art_attack(self, oracle: Oracle, eps: float) -> Any:
        return apgd(oracle, self.loss, self.norm, eps, self.params)


class APGDDLR(APGDCE):
    """Auto-PGD with the difference-of-logits-ratio loss, AutoAttack's second attack."""

    name = "apgd-dlr"
    loss = "difference_logits_ratio"


class AutoAttack(GradientAttack, FixedEpsilonAttack):
    """AutoAttack (Croce and Hein): APGD-CE, APGD-DLR and Square, best per example.

    ART has no FAB; its default attack list also needs logits, which the white-box oracle gives.
    APGD gets classifiers whose own loss is CE or DLR (ART would wrap the model in an eager
    classifier of its own for ``loss_type``): the same losses, traced. In mode direct, Square
    queries the replica, whose forward values are TFLite Micro's (bit-exact): the integer
    model's answers, not counted against ``queries``.
    """

    name = "autoattack"
    norms = ("linf", "l2")
    defaults = {"apgd_iter": 100, "apgd_restarts": 1, "square_iter": 5000, "batch_size": 128}
    limits = {
        "apgd_iter": count(),
        "apgd_restarts": count(),
        "square_iter": count(),
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle, eps: float) -> Any:
        from art.attacks.evasion import AutoAttack as ArtAutoAttack
        from art.attacks.evasion import SquareAttack

        p = self.params
        classifier = oracle.whitebox()
        order = norm_order(self.norm)
        apgd_params = {
            "max_iter": p["apgd_iter"],
            "restarts": p["apgd_restarts"],
            "batch_size": p["batch_size"],
        }
        attacks = [
            apgd(oracle, loss, self.norm, eps, apgd_params)
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
        return ArtAutoAttack(
            classifier, norm=order, eps=eps, attacks=attacks, batch_size=p["batch_size"]
        )
