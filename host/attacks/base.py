"""The attack interface: one object, called on (oracle, inputs, labels, epsilons).

Like Foolbox 3: ``attack(oracle, x, y, epsilons=[...])`` returns, for every eps, the raw examples,
the examples the oracle receives (clipped, inside the eps ball, on the oracle's input lattice) and
a success mask, plus queries per example. Bounded attacks run once per eps; minimal attacks
(DeepFool, C&W, Boundary, ...) run once and are projected onto each eps ball (eps None: as is).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from host.attacks.oracles import Oracle
from host.attacks.threat import clip01, project, to_lattice
from host.errors import UserError


@dataclass
class EpsResult:
    """One eps of one attack call."""

    eps: float | None
    x_raw: np.ndarray  # what the attack produced, in the box
    x_adv: np.ndarray  # what the oracle receives: in the eps ball, on its lattice
    success: np.ndarray  # on the oracle (targeted: hit the target)
    predictions: np.ndarray  # the oracle's labels on x_adv
    queries: np.ndarray  # attack queries per example (0 for gradient attacks)
    invalid: np.ndarray  # the attack returned non-finite values (replaced by the original)


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


class Attack(ABC):
    """An attack with its parameters (the paper's defaults, overridable)."""

    name: ClassVar[str]
    kind: ClassVar[str]  # "gradient" (white-box), "score" or "decision" (black-box)
    norms: ClassVar[tuple[str, ...]]  # supported norms, the default first
    bounded: ClassVar[bool]  # eps-bounded (run per eps) or minimal (run once)
    targeted: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {}

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
        self.params = {**self.defaults, **params}

    def config(self) -> dict[str, Any]:
        """Everything that defines the attack, for records."""
        return {"attack": self.name, "norm": self.norm, "params": self.params}

    def effective_params(self, oracle: Oracle) -> dict[str, Any]:
        """The parameters as run against ``oracle`` (the threat model may raise some)."""
        return dict(self.params)

    @abstractmethod
    def craft(
        self, oracle: Oracle, x: np.ndarray, y: np.ndarray, eps: float | None, targets: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run the attack: (examples in [0,1], queries per example)."""

    def __call__(
        self,
        oracle: Oracle,
        x: np.ndarray,
        y: np.ndarray,
        epsilons: list[float | None],
        seed: int = 0,
        targets: np.ndarray | None = None,
    ) -> list[EpsResult]:
        """Attack x (labels y) for every eps; targets are needed by targeted attacks."""
        x = clip01(x)
        y = np.asarray(y, dtype=np.int64)
        if self.targeted and targets is None:
            raise UserError(f"attack {self.name} is targeted: give targets")
        goal = np.asarray(targets, dtype=np.int64) if self.targeted else y
        results = []
        if self.bounded:
            for eps in epsilons:
                if eps is None:
                    raise UserError(f"attack {self.name} is eps-bounded: give an eps")
                fix_seed(seed_for(seed, self.name, eps))
                if eps == 0:
                    raw, queries = x.copy(), np.zeros(len(x), dtype=np.int64)
                else:
                    raw, queries = self.craft(oracle, x, y, float(eps), goal)
                results.append(self._finish(oracle, x, y, goal, eps, raw, raw, queries))
        else:
            fix_seed(seed_for(seed, self.name))
            raw, queries = self.craft(oracle, x, y, None, goal)
            for eps in epsilons:
                bounded = project(raw, x, self.norm, eps)
                results.append(self._finish(oracle, x, y, goal, eps, raw, bounded, queries))
        return results

    def _finish(self, oracle, x, y, goal, eps, raw, bounded, queries) -> EpsResult:
        raw = np.asarray(raw, dtype=np.float32)
        invalid = ~np.isfinite(raw.reshape(len(x), -1)).all(axis=1)
        raw = np.where(invalid.reshape(-1, *([1] * (x.ndim - 1))), x, raw)
        bounded = np.where(invalid.reshape(-1, *([1] * (x.ndim - 1))), x, bounded)
        if self.bounded:
            bounded = project(bounded, x, self.norm, eps)
        _, x_adv = to_lattice(oracle.backend, bounded)
        predictions = oracle.labels(x_adv)
        success = predictions == goal if self.targeted else predictions != y
        return EpsResult(
            eps=eps,
            x_raw=clip01(raw),
            x_adv=x_adv,
            success=success,
            predictions=predictions,
            queries=np.asarray(queries, dtype=np.int64),
            invalid=invalid,
        )
