"""Xu et al.'s feature-squeezing detector (``squeeze``): flag an input whose prediction moves
when it is squeezed.

The score of an input is the largest L1 distance between the model's softmax on the input and
on each squeezed copy (``bits5`` and ``median2``, on the model's own input lattice for an
integer backend, on pixels for the float model). An input is flagged when its score is above a
threshold set at 5 % false positives on clean training images (the model's recorded calibration
sample, ``host.zoo.quantizer.calibration_set``; the evaluation split's tail for a data set
without training images), computed once per model file and defense chain and cached under
``host.data.cache_dir()/detector``. ``squeeze`` goes last in a backend name: it sees what the
model sees after the defenses before it. The model's outputs are not changed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from host import data, zoo
from host.backends import CHUNK, Backend
from host.defenses.base import Preprocessor
from host.defenses.preprocessed import DefendedBackend, on_board
from host.defenses.squeeze import BitDepth, Median
from host.errors import UserError
from host.zoo.quantizer import calibration_set

FALSE_POSITIVES = 0.05  # of clean training images flagged


def cache_folder() -> Path:
    """Where thresholds are kept, one JSON file per model file and defense chain."""
    return data.cache_dir() / "detector"


class Squeeze(Preprocessor):
    """The detector as it is named in a backend name: it transforms nothing."""

    name = "squeeze"
    detector = True

    def __init__(self) -> None:
        self.squeezers: tuple[Preprocessor, ...] = (BitDepth(5), Median(2))

    def pixels(self, x01: np.ndarray) -> np.ndarray:
        return np.asarray(x01, dtype=np.float32)


def probabilities(scores: np.ndarray) -> np.ndarray:
    """Softmax outputs as they are; anything else (logits) through a softmax."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.min() >= 0 and np.allclose(scores.sum(axis=1), 1.0, atol=0.05):
        return scores
    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class DetectingBackend(DefendedBackend):
    """A defended backend whose last defense is ``squeeze``: ``detect(x01)`` flags inputs."""

    def __init__(
        self,
        inner: Backend,
        defenses: tuple[Preprocessor, ...],
        model: str,
        path: Path,
        reference: Callable[[], DetectingBackend] | None = None,
    ) -> None:
        """``model``: the zoo name (its calibration images), ``path``: the model file (its
        hash keys the cached threshold), ``reference``: builds the host backend that computes
        the threshold for a board (byte-exact with it, and fast)."""
        detector = defenses[-1]
        assert isinstance(detector, Squeeze)  # host.defenses.defended puts it last
        firmware: tuple[str, ...] = tuple(getattr(inner, "firmware_defenses", ()))
        if on_board(inner) and firmware:
            raise UserError(
                "squeeze on a board needs a firmware without defenses (`make flash`): it "
                "invokes the model on squeezed inputs"
            )
        super().__init__(inner, defenses)
        self.squeezers = detector.squeezers
        self.model = model
        self.path = Path(path)
        self.reference = reference
        self._threshold: float | None = None

    def scores(self, x01: np.ndarray) -> np.ndarray:
        """The detector's score of each input: max over squeezers of the softmax L1 distance."""
        x01 = np.asarray(x01, dtype=np.float32)
        return np.concatenate([self._scores(x01[i : i + CHUNK]) for i in range(0, len(x01), CHUNK)])

    def _scores(self, x01: np.ndarray) -> np.ndarray:
        if self.lattice is not None:
            q = self.lattice_input(x01)
            inputs = [q, *(s.raw(q, self.lattice) for s in self.squeezers)]
            raw = [self.inner.invoke(self.feed(v)) for v in inputs]
        else:
            x = self.pixels(x01)
            raw = [self.inner.run(v) for v in [x, *(s.pixels(x) for s in self.squeezers)]]
        p = [probabilities(self.inner.dequantize_output(r).reshape(len(x01), -1)) for r in raw]
        return np.max([np.abs(p[0] - other).sum(axis=1) for other in p[1:]], axis=0)

    def detect(self, x01: np.ndarray) -> np.ndarray:
        """True for each input the detector flags as adversarial."""
        return self.scores(x01) > self.threshold()

    def threshold(self) -> float:
        """The score above which an input is flagged (cached per model file and chain)."""
        if self._threshold is None:
            self._threshold = self._cached_threshold()
        return self._threshold

    def _cached_threshold(self) -> float:
        chain = "+".join(d.name for d in self.defenses)
        digest = data.sha256_file(self.path)
        path = cache_folder() / f"{digest[:16]}-{self.precision}-{chain}.json"
        if path.is_file():
            return float(json.loads(path.read_text())["threshold"])
        if self.reference is not None:
            return self.reference().threshold()
        source, indices = calibration_set(zoo.spec(self.model))
        if source.x.dtype != np.uint8:
            raise UserError(f"squeeze works on images; {source.name} holds {source.x.dtype}")
        scores = self.scores(source.x[indices].astype(np.float32) / np.float32(255.0))
        threshold = float(np.quantile(scores, 1 - FALSE_POSITIVES, method="higher"))
        record = {
            "threshold": threshold,
            "false_positives": FALSE_POSITIVES,
            "flagged": float(np.mean(scores > threshold)),
            "images": f"{source.name}/{source.split}",
            "count": len(indices),
            "model_sha256": digest,
            "chain": chain,
            "squeezers": [s.name for s in self.squeezers],
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(record, indent=1))
        partial.replace(path)
        return threshold
