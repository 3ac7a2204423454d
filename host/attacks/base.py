"""The attack interface: one object, called on (oracle, inputs, criterion, epsilons).

Like Foolbox 3: ``attack(oracle, x, labels, epsilons=[...])`` returns, for every eps, the raw
examples, the examples the oracle receives (clipped, inside the eps ball, on the oracle's input
lattice) and a success mask, plus queries per example.

An attack's classes say what it is (``isinstance`` tells):
- ``FixedEpsilonAttack`` (PGD, FGSM, AutoAttack, Square) runs once per eps, inside its ball;
  ``MinimizationAttack`` (DeepFool, JSMA, C&W, EAD, ZOO, Boundary, GeoDA, HopSkipJump) looks once
  for the smallest perturbation, reported as found (eps None) and projected onto each eps ball.
- ``GradientAttack`` (white-box, on the float model's logits) or ``QueryAttack`` (black-box,
  counted queries): ``ScoreAttack`` (reads scores) or ``DecisionAttack`` (reads labels only).
- ``TargetedAttack``: success is reaching a target class, not leaving the true label (its
  criterion is ``TargetedMisclassification``, not ``Misclassification``).
A concrete attack inherits one class of each pair and builds its ART attack in ``art_attack``.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from host.attacks.criteria import Criterion, Misclassification, TargetedMisclassification
from host.attacks.oracles import Oracle, QueryBudgetExhausted
from host.attacks.params import Limit
from host.attacks.threat import clip01, finite_difference_step, norm_order, project, to_lattice
from host.errors import UserError

Epsilons = Sequence[float | None]  # eps None: a minimal attack's result as found


@dataclass
class EpsResult:
    """One eps of one attack call."""

    eps: float | None
    x_crafted: np.ndarray  # what the attack produced, clipped to [0,1] only (records: "crafted")
    x_adv: np.ndarray  # what the oracle receives: in the eps ball, on its lattice
    success: np.ndarray  # criterion.is_adversarial(predictions)
    predictions: np.ndarray  # the oracle's labels on x_adv
    queries: np.ndarray  # attack queries per example (0 for gradient attacks)
    invalid: np.ndarray  # the attack returned non-finite values (replaced by the original)
    criterion: Criterion  # what success means, for judging any backend's predictions of x_adv


def one_hot(labels: np.ndarray, nb_classes: int) -> np.ndarray:
    return np.eye(nb_classes, dtype=np.float32)[np.asarray(labels, dtype=np.int64)]


def seed_for(*parts: Any) -> int:
    """A 32-bit seed from any labels (stable across runs and machines)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def fix_seed(seed: int) -> None:
    """Seed every generator ART and TensorFlow draw from."""
    np.random.seed(seed)
    import tensorflow as tf  # loaded on first use: most commands never seed it

    tf.random.set_seed(seed)


def no_queries(x: np.ndarray) -> np.ndarray:
    return np.zeros(len(x), dtype=np.int64)


class Attack(ABC):
    """An attack with its parameters (the paper's defaults, overridable within ``limits``)."""

    name: ClassVar[str]
    norms: ClassVar[tuple[str, ...]]  # supported norms, the default first
    defaults: ClassVar[dict[str, Any]] = {}
    limits: ClassVar[dict[str, Limit]] = {}  # what each parameter takes (host.attacks.params)
    # Edge-only: it wants the integer model wrong AND the float model right (DIVA), a narrower
    # goal than misclassification; it needs an integer oracle (mode direct).
    edge_only: ClassVar[bool] = False

    def __init__(self, norm: str | None = None, **params: Any) -> None:
        self.norm = norm or self.norms[0]
        if self.norm not in self.norms:
            raise UserError(
                f"attack {self.name} does not support norm {self.norm} "
                f"(supports: {', '.join(self.norms)})"
            )
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise UserError(
                f"attack {self.name} has no parameter {', '.join(unknown)} "
                f"(parameters: {', '.join(sorted(self.defaults)) or 'none'})"
            )
        checked = {key: self.limits[key].check(self.name, key, v) for key, v in params.items()}
        self.params = {**self.defaults, **checked}

    @property
    def bounded(self) -> bool:
        """Eps-bounded (a FixedEpsilonAttack, run per eps) or minimal (run once)."""
        return isinstance(self, FixedEpsilonAttack)

    @property
    def targeted(self) -> bool:
        """Success is reaching a target class (a TargetedAttack)."""
        return isinstance(self, TargetedAttack)

    @property
    def access(self) -> str:
        """The access it needs: ``gradient`` (white-box), ``score`` or ``decision`` (black-box)."""
        if isinstance(self, GradientAttack):
            return "gradient"
        return "score" if isinstance(self, ScoreAttack) else "decision"

    def config(self) -> dict[str, Any]:
        """Everything that defines the attack, for records."""
        return {"attack": self.name, "norm": self.norm, "params": self.params}

    def effective_params(self, oracle: Oracle) -> dict[str, Any]:
        """The parameters as run against ``oracle`` (the threat model may raise some)."""
        return dict(self.params)

    def criterion(self, labels: Any, targets: Any = None) -> Criterion:
        """What success means for this attack on examples with these labels (and targets)."""
        return Misclassification(labels)

    def __call__(
        self,
        oracle: Oracle,
        x: np.ndarray,
        criterion: Criterion | np.ndarray,
        epsilons: Epsilons,
        seed: int = 0,
        targets: np.ndarray | None = None,
    ) -> list[EpsResult]:
        """Attack x for every eps.

        ``criterion``: a Criterion, or the true labels (then ``targets`` for a targeted attack).
        """
        if not isinstance(criterion, Criterion):
            criterion = self.criterion(criterion, targets)
        expected = TargetedMisclassification if self.targeted else Misclassification
        if not isinstance(criterion, expected):
            raise UserError(
                f"attack {self.name} pursues {expected.__name__}, not {type(criterion).__name__}"
            )
        return self._run(oracle, clip01(x), criterion, epsilons, seed)

    @abstractmethod
    def _run(
        self, oracle: Oracle, x: np.ndarray, criterion: Criterion, epsilons: Epsilons, seed: int
    ) -> list[EpsResult]:
        """Every eps's result (FixedEpsilonAttack or MinimizationAttack)."""

    @abstractmethod
    def generate(
        self, oracle: Oracle, x: np.ndarray, criterion: Criterion, art: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the ART attack ``art``: (examples, queries per example) (GradientAttack or
        QueryAttack)."""

    def _result(
        self,
        oracle: Oracle,
        x: np.ndarray,
        criterion: Criterion,
        eps: float | None,
        raw: np.ndarray,
        queries: np.ndarray,
    ) -> EpsResult:
        """Bring what the attack produced into the eps ball and onto the oracle's lattice."""
        raw = np.asarray(raw, dtype=np.float32)
        invalid = ~np.isfinite(raw.reshape(len(x), -1)).all(axis=1)
        raw = np.where(invalid.reshape(-1, *([1] * (x.ndim - 1))), x, raw)
        _, x_adv = to_lattice(oracle.backend, project(raw, x, self.norm, eps))
        predictions = oracle.labels(x_adv)
        return EpsResult(
            eps=eps,
            x_crafted=clip01(raw),
            x_adv=x_adv,
            success=criterion.is_adversarial(predictions),
            predictions=predictions,
            queries=np.asarray(queries, dtype=np.int64),
            invalid=invalid,
            criterion=criterion,
        )


# ---------------------------------------------------------------- fixed eps or minimal


class FixedEpsilonAttack(Attack):
    """Runs once per eps and stays inside its ball; eps 0 returns the originals."""

    @abstractmethod
    def art_attack(self, oracle: Oracle, eps: float) -> Any:
        """The ART attack against ``oracle`` inside the eps ball."""

    def _run(
        self, oracle: Oracle, x: np.ndarray, criterion: Criterion, epsilons: Epsilons, seed: int
    ) -> list[EpsResult]:
        bounded = [eps for eps in epsilons if eps is not None]
        if len(bounded) < len(epsilons):
            raise UserError(f"attack {self.name} is eps-bounded: give an eps")
        results = []
        for eps in bounded:
            if eps == 0:
                raw, queries = x.copy(), no_queries(x)
            else:
                art = self.art_attack(oracle, float(eps))
                # seeded after the attack is built: building it may load and trace a model
                # (once per process), which must not move the draws of the attack itself
                fix_seed(seed_for(seed, self.name, eps))
                raw, queries = self.generate(oracle, x, criterion, art)
            results.append(self._result(oracle, x, criterion, eps, raw, queries))
        return results


class MinimizationAttack(Attack):
    """Looks once for the smallest adversarial perturbation; each eps projects it onto its ball
    (eps None: as found)."""

    @abstractmethod
    def art_attack(self, oracle: Oracle) -> Any:
        """The ART attack against ``oracle``."""

    def _run(
        self, oracle: Oracle, x: np.ndarray, criterion: Criterion, epsilons: Epsilons, seed: int
    ) -> list[EpsResult]:
        art = self.art_attack(oracle)
        fix_seed(seed_for(seed, self.name))  # after building it, as for FixedEpsilonAttack
        raw, queries = self.generate(oracle, x, criterion, art)
        return [self._result(oracle, x, criterion, eps, raw, queries) for eps in epsilons]


# ---------------------------------------------------------------- white-box or black-box


class GradientAttack(Attack):
    """White-box: crafted with the gradients of the float model's logits (no queries)."""

    def generate(
        self, oracle: Oracle, x: np.ndarray, criterion: Criterion, art: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        examples = art.generate(x, y=one_hot(criterion.classes, oracle.nb_classes))
        return examples, no_queries(x)


class QueryAttack(Attack):
    """Black-box: every query goes through the oracle, counted per example and capped by its
    budget; a call stopped by the budget keeps, per example, the closest adversarial query it
    made (the original when none).

    ``one_at_a_time``: run example by example, so each count is exact (ART runs decision attacks
    and ZOO one image at a time anyway); else the whole chunk at once, each queried row counted
    for the nearest original. ``finite_difference``: the parameter raised to at least one input
    step of the oracle (below it, x + h and x - h quantize alike and estimates are zero).
    """

    one_at_a_time: ClassVar[bool] = True
    finite_difference: ClassVar[str | None] = None

    def effective_params(self, oracle: Oracle) -> dict[str, Any]:
        params = dict(self.params)
        if self.finite_difference is not None:
            name = self.finite_difference
            params[name] = finite_difference_step(params[name], oracle.step)
        return params

    def generate(
        self, oracle: Oracle, x: np.ndarray, criterion: Criterion, art: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.one_at_a_time:
            return self._generate_counted(oracle, x, criterion, art)
        runs = [
            self._generate_counted(oracle, x[i : i + 1], criterion[i : i + 1], art)
            for i in range(len(x))
        ]
        return np.concatenate([adv for adv, _ in runs]), np.concatenate([n for _, n in runs])

    def _generate_counted(
        self, oracle: Oracle, x: np.ndarray, criterion: Criterion, art: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """One ART call on x; past the budget, the best adversarial query of each example."""
        oracle.start(x, criterion, norm_order(self.norm))
        try:
            adv = art.generate(x, y=one_hot(criterion.classes, oracle.nb_classes))
        except QueryBudgetExhausted:
            adv = oracle.best
        return adv, oracle.budget.counts.copy()


class ScoreAttack(QueryAttack):
    """Reads the oracle's scores (dequantized outputs)."""


class DecisionAttack(QueryAttack):
    """Reads only the oracle's top-1 label."""


# ---------------------------------------------------------------- untargeted or targeted


class TargetedAttack(Attack):
    """Success is predicting a given target class (TargetedMisclassification)."""

    def criterion(self, labels: Any, targets: Any = None) -> Criterion:
        if targets is None:
            raise UserError(f"attack {self.name} is targeted: give targets")
        return TargetedMisclassification(targets)
