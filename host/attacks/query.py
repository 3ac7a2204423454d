"""Black-box query attacks (ART) against any oracle: score-based and decision-based.

How queries are counted and capped is QueryAttack's job (host/attacks/base.py): decision attacks
and ZOO run one example at a time, so their counts are exact; Square, batched, attributes each
queried row to the nearest original.
"""

from __future__ import annotations

from typing import Any

from host.attacks.base import DecisionAttack, FixedEpsilonAttack, MinimizationAttack, ScoreAttack
from host.attacks.compat import numpy_mat
from host.attacks.oracles import Oracle
from host.attacks.params import FLAG, FRACTION, NON_NEGATIVE, POSITIVE, count
from host.attacks.threat import norm_order


class Zoo(ScoreAttack, MinimizationAttack):
    """ZOO (score-based, L2 minimal). The finite-difference step is at least one input step.

    ART's ZOO fails with batch_size > 1 (an index mismatch in its Adam reset), so it runs one
    image at a time; its queries are still batched (2 * nb_parallel coordinates per query batch).
    """

    name = "zoo"
    norms = ("l2",)
    finite_difference = "variable_h"
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
    limits = {
        "confidence": NON_NEGATIVE,
        "learning_rate": POSITIVE,
        "max_iter": count(),
        "binary_search_steps": count(),
        "initial_const": NON_NEGATIVE,
        "abort_early": FLAG,
        "use_resize": FLAG,
        "use_importance": FLAG,
        "nb_parallel": count(),
        "variable_h": POSITIVE,
    }

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import ZooAttack

        params = self.effective_params(oracle)
        return ZooAttack(oracle.blackbox(), batch_size=1, verbose=False, **params)


class Square(ScoreAttack, FixedEpsilonAttack):
    """Square attack (score-based, eps-bounded); one class per norm (square-linf, square-l2)."""

    one_at_a_time = False
    defaults = {"max_iter": 5000, "p_init": 0.8, "nb_restarts": 1, "batch_size": 128}
    limits = {
        "max_iter": count(),
        "p_init": FRACTION,
        "nb_restarts": count(),
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle, eps: float) -> Any:
        from art.attacks.evasion import SquareAttack

        return SquareAttack(
            oracle.blackbox(), norm=norm_order(self.norm), eps=eps, verbose=False, **self.params
        )


class SquareLinf(Square):
    name = "square-linf"
    norms = ("linf",)


class SquareL2(Square):
    name = "square-l2"
    norms = ("l2",)


class Boundary(DecisionAttack, MinimizationAttack):
    """Boundary attack (decision-based, L2 minimal), untargeted."""

    name = "boundary"
    norms = ("l2",)
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
    limits = {
        "delta": POSITIVE,
        "epsilon": POSITIVE,
        "step_adapt": FRACTION,
        "max_iter": count(),
        "num_trial": count(),
        "sample_size": count(),
        "init_size": count(),
        "min_epsilon": NON_NEGATIVE,
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import BoundaryAttack

        return BoundaryAttack(oracle.blackbox(), targeted=False, verbose=False, **self.params)


class GeoDA(DecisionAttack, MinimizationAttack):
    """GeoDA (decision-based, minimal). Its noise scale sigma is at least one input step."""

    name = "geoda"
    norms = ("l2", "linf", "l1")
    finite_difference = "sigma"
    defaults = {
        "sub_dim": 10,
        "max_iter": 4000,
        "bin_search_tol": 0.1,
        "lambda_param": 0.6,
        "sigma": 0.0002,
        "batch_size": 64,
    }
    limits = {
        "sub_dim": count(),
        "max_iter": count(250),  # its query schedule has 500-query rounds
        "bin_search_tol": POSITIVE,
        "lambda_param": POSITIVE,
        "sigma": POSITIVE,
        "batch_size": count(),
    }

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import GeoDA as ArtGeoDA

        numpy_mat()
        params = self.effective_params(oracle)
        return ArtGeoDA(oracle.blackbox(), norm=norm_order(self.norm), verbose=False, **params)


class HopSkipJump(DecisionAttack, MinimizationAttack):
    """HopSkipJump (decision-based, minimal), untargeted."""

    name = "hopskipjump"
    norms = ("l2", "linf")
    defaults = {"max_iter": 50, "max_eval": 10000, "init_eval": 100, "init_size": 100}
    limits = {"max_iter": count(), "max_eval": count(), "init_eval": count(), "init_size": count()}

    def art_attack(self, oracle: Oracle) -> Any:
        from art.attacks.evasion import HopSkipJump as ArtHopSkipJump

        return ArtHopSkipJump(
            oracle.blackbox(),
            targeted=False,
            norm=norm_order(self.norm),
            batch_size=64,
            verbose=False,
            **self.params,
        )
