"""Black-box query attacks (ART) against any oracle: score-based and decision-based.

Every query goes through the oracle's counted function, so queries are counted per example and
capped by the oracle's budget; an attack call stopped by the budget returns, per example, the
closest adversarial query it made (the original when it found none). Decision-based attacks and
ZOO (which ART runs one image at a time anyway) are called per example so their counts are
exact; Square, batched, attributes each queried row to the nearest original.
"""

from __future__ import annotations

import numpy as np

from host.attacks.base import Attack, one_hot
from host.attacks.compat import numpy_mat
from host.attacks.oracles import QueryBudgetExhausted
from host.attacks.threat import finite_difference_step, norm_order
from host.errors import UserError


def _batched(attack: Attack, art, oracle, x, y, goal) -> tuple[np.ndarray, np.ndarray]:
    """Run on the whole chunk; past the budget, the best adversarial query of each example."""
    oracle.start(x, goal, attack.targeted, norm_order(attack.norm))
    try:
        adv = art.generate(x, y=one_hot(y, oracle.nb_classes))
    except QueryBudgetExhausted:
        adv = oracle.best
    return adv, oracle.budget.counts.copy()


def _per_example(attack: Attack, art, oracle, x, y, goal) -> tuple[np.ndarray, np.ndarray]:
    """Run one example at a time, so that each count is exact."""
    advs, queries = [], []
    for i in range(len(x)):
        oracle.start(x[i : i + 1], goal[i : i + 1], attack.targeted, norm_order(attack.norm))
        try:
            advs.append(art.generate(x[i : i + 1], y=one_hot(y[i : i + 1], oracle.nb_classes)))
        except QueryBudgetExhausted:
            advs.append(oracle.best)
        queries.append(int(oracle.budget.counts[0]))
    return np.concatenate(advs), np.asarray(queries, dtype=np.int64)


class Zoo(Attack):
    """ZOO (score-based, L2 minimal). The finite-difference step is at least one input step.

    ART's ZOO fails with batch_size > 1 (an index mismatch in its Adam reset), so it runs one
    image at a time; its queries are still batched (2 * nb_parallel coordinates per query batch).
    """

    name = "zoo"
    kind = "score"
    norms = ("l2",)
    bounded = False
    defaults = {
        "confidence": 0.0,
        "learning_rate": 0.01,
        "max_iter": 10,
        "binary_search_steps": 1,
        "initial_const": 0.001,
        "abort_early": True,
        "use_resize": False,
        "use_importance": False,
        "nb_parallel": 128,
        "variable_h": 1e-4,
    }

    def effective_params(self, oracle):
        params = dict(self.params)
        params["variable_h"] = finite_difference_step(params["variable_h"], oracle.step)
        return params

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import ZooAttack

        params = self.effective_params(oracle)
        attack = ZooAttack(oracle.blackbox(), batch_size=1, verbose=False, **params)
        return _per_example(self, attack, oracle, x, y, targets)


class Square(Attack):
    """Square attack (score-based, eps-bounded); one class per norm (square-linf, square-l2)."""

    kind = "score"
    bounded = True
    defaults = {"max_iter": 5000, "p_init": 0.8, "nb_restarts": 1, "batch_size": 128}

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import SquareAttack

        attack = SquareAttack(
            oracle.blackbox(), norm=norm_order(self.norm), eps=eps, verbose=False, **self.params
        )
        return _batched(self, attack, oracle, x, y, targets)


class SquareLinf(Square):
    name = "square-linf"
    norms = ("linf",)


class SquareL2(Square):
    name = "square-l2"
    norms = ("l2",)


class Boundary(Attack):
    """Boundary attack (decision-based, L2 minimal), untargeted."""

    name = "boundary"
    kind = "decision"
    norms = ("l2",)
    bounded = False
    defaults = {
        "delta": 0.01,
        "epsilon": 0.01,
        "step_adapt": 0.667,
        "max_iter": 5000,
        "num_trial": 25,
        "sample_size": 20,
        "init_size": 100,
        "min_epsilon": 0.0,
        "batch_size": 64,
    }

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import BoundaryAttack

        attack = BoundaryAttack(oracle.blackbox(), targeted=False, verbose=False, **self.params)
        return _per_example(self, attack, oracle, x, y, targets)


class GeoDA(Attack):
    """GeoDA (decision-based, minimal). Its noise scale sigma is at least one input step."""

    name = "geoda"
    kind = "decision"
    norms = ("l2", "linf", "l1")
    bounded = False
    defaults = {
        "sub_dim": 10,
        "max_iter": 4000,
        "bin_search_tol": 0.1,
        "lambda_param": 0.6,
        "sigma": 0.0002,
        "batch_size": 64,
    }

    def effective_params(self, oracle):
        params = dict(self.params)
        params["sigma"] = finite_difference_step(params["sigma"], oracle.step)
        return params

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import GeoDA as ArtGeoDA

        numpy_mat()
        if self.params["max_iter"] < 250:
            raise UserError("geoda needs max_iter >= 250 (its query schedule has 500-query rounds)")
        params = self.effective_params(oracle)
        attack = ArtGeoDA(oracle.blackbox(), norm=norm_order(self.norm), verbose=False, **params)
        return _per_example(self, attack, oracle, x, y, targets)


class HopSkipJump(Attack):
    """HopSkipJump (decision-based, minimal), untargeted."""

    name = "hopskipjump"
    kind = "decision"
    norms = ("l2", "linf")
    bounded = False
    defaults = {"max_iter": 50, "max_eval": 10000, "init_eval": 100, "init_size": 100}

    def craft(self, oracle, x, y, eps, targets):
        from art.attacks.evasion import HopSkipJump as ArtHopSkipJump

        attack = ArtHopSkipJump(
            oracle.blackbox(),
            targeted=False,
            norm=norm_order(self.norm),
            batch_size=64,
            verbose=False,
            **self.params,
        )
        return _per_example(self, attack, oracle, x, y, targets)
