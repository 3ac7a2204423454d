"""Criteria: what makes a prediction adversarial, example by example (as in Foolbox 3).

An untargeted attack succeeds when the prediction leaves the true label
(``Misclassification(labels)``); a targeted one when the prediction is the target
(``TargetedMisclassification(targets)``). ``criterion.is_adversarial(predictions)`` is the one
place where success is decided: on the oracle during the attack and for every evaluated backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Self

import numpy as np


class Criterion(ABC):
    """One class per example (a label or a target) and the rule that makes a prediction adversarial
    against it."""

    def __init__(self, classes: Any) -> None:
        self.classes = np.asarray(classes, dtype=np.int64)

    @abstractmethod
    def is_adversarial(self, predictions: Any) -> np.ndarray:
        """A bool mask: which predicted classes (one per example) are adversarial."""

    def __getitem__(self, index: Any) -> Self:
        """The criterion of some examples (a slice, indices, or one example)."""
        return type(self)(self.classes[index])

    def __len__(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.classes.tolist()})"


class Misclassification(Criterion):
    """Untargeted: adversarial when the predicted class is not the true label."""

    @property
    def labels(self) -> np.ndarray:
        return self.classes

    def is_adversarial(self, predictions: Any) -> np.ndarray:
        return np.asarray(predictions) != self.classes


class TargetedMisclassification(Criterion):
    """Targeted: adversarial when the predicted class is the target."""

    @property
    def targets(self) -> np.ndarray:
        return self.classes

    def is_adversarial(self, predictions: Any) -> np.ndarray:
        return np.asarray(predictions) == self.classes
