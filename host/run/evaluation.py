"""Clean evaluation: accuracy per backend and agreement between integer backends.

A ``Target`` is what is evaluated: a zoo model, or the user's own int8/int16 .tflite file with a
named data set. ``evaluate_target`` runs every backend on the same examples and returns an
``EvaluationResult`` (raw outputs, accuracy, agreement per pair of integer backends with the
same defenses and, if asked, per op). Backend names may carry defenses (``engine-int8+bits5``,
``host.defenses``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from host import agreement, backends, data, defenses, zoo
from host.errors import ArgumentError, TinyRobustWarning, UserError
from host.records import BackendEvaluation, EvaluationResult
from host.tflite import input_type, read_model_bytes
from host.versions import package_versions


class Target:
    """What is evaluated: a zoo model, or an arbitrary .tflite file with a named data set."""

    def __init__(
        self,
        label: str,
        dataset: str,
        split: str,
        input_range: float,
        model: str | None = None,
        path: Path | None = None,
        precision: str | None = None,
    ) -> None:
        self.label = label  # what results are named after
        self.dataset, self.split, self.input_range = dataset, split, input_range
        self.model = model  # the zoo name, None for a file
        self.path, self.precision = path, precision  # the file and its precision, for a file

    @classmethod
    def from_zoo(cls, name: str, split: str | None = None) -> Target:
        entry = zoo.spec(name)
        return cls(entry.name, entry.dataset, split or entry.eval_split, entry.input_range, name)

    @classmethod
    def from_file(
        cls, path: str | Path, dataset: str | None, split: str | None = None, input_range=1.0
    ) -> Target:
        if not dataset:
            raise ArgumentError(
                f"a .tflite model needs a dataset (one of: {', '.join(data.SPLITS)})", "dataset"
            )
        if dataset not in data.SPLITS:
            raise ArgumentError(f"unknown data set {dataset!r}; known: {', '.join(data.SPLITS)}")
        path = Path(path)
        precision = input_type(read_model_bytes(path))
        if precision not in backends.INTEGER_PRECISIONS:
            raise UserError(f"{path} has {precision} input; expected int8 or int16")
        return cls.from_zoo(zoo.declare_file(path, dataset, precision, split, input_range), split)

    @classmethod
    def resolve(
        cls,
        model: str | Path,
        dataset: str | None = None,
        split: str | None = None,
        input_range: float = 1.0,
    ) -> Target:
        """A .tflite file (with ``dataset``), or a zoo name or a user's model folder."""
        if Path(model).is_file() or str(model).endswith(".tflite"):
            return cls.from_file(model, dataset, split, input_range)
        return cls.from_zoo(str(model), split)

    def default_backends(self) -> list[str]:
        """Float (zoo models) and every host integer backend whose model file exists (the
        engine where it compiles the model)."""
        if self.model:
            return backends.available_backends(self.model)
        assert self.path is not None
        return [f"{runtime}-{self.precision}" for runtime in backends.host_runtimes(self.path)]

    def model_file(self, precision: str) -> Path:
        if self.model:
            return zoo.model_file(self.model, precision)
        if precision != self.precision:
            raise UserError(f"{self.path} is a {self.precision} model: no {precision} backend")
        assert self.path is not None
        return self.path

    def backend(self, name: str) -> backends.Backend:
        """Backend ``name``, with the defenses it names (a board checked to run them)."""
        _, precision = defenses.parse_name(name)
        base, names = defenses.split_backend_name(name)
        path = self.model_file(precision)
        backend = backends.backend_for_file(base, path, self.input_range)
        assert self.model is not None  # a file is declared a model (Target.from_file)
        return defenses.defended(backend, names, self.model, path)


def select_examples(dataset: data.Dataset, n: int | None, seed: int | None) -> np.ndarray:
    """Indices of the examples to evaluate: the first n, or n drawn with ``seed``; all of them,
    with a note, when n is more than the split has."""
    total = len(dataset)
    if n is not None and n > total:
        warnings.warn(
            f"n is {n}, more than the {total} examples of {dataset.name}/{dataset.split} "
            f"({dataset.source}): using all {total}",
            TinyRobustWarning,
            stacklevel=1,  # one location: the note is shown once per run
        )
    n = total if n is None else min(n, total)
    if seed is None:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))


def check_inputs(backend: backends.Backend, x: np.ndarray, dataset: str) -> None:
    """The data set's examples fit the backend: shape, and dtype for raw integer features."""
    if tuple(backend.input_shape) != tuple(x.shape[1:]):
        raise UserError(
            f"{backend.name} takes inputs of shape {tuple(backend.input_shape)}, data set "
            f"{dataset} has {tuple(x.shape[1:])}"
        )
    if x.dtype != np.uint8 and np.dtype(backend.input_dtype) != x.dtype:
        raise UserError(f"{backend.name} takes {np.dtype(backend.input_dtype)}, data is {x.dtype}")


def evaluate_target(
    target: Target,
    names: Sequence[str] | None = None,
    n: int | None = None,
    data_dir: str | Path | None = None,
    sample_seed: int | None = None,
    optional: Iterable[str] = (),
    agreement_ops: bool = False,
    progress: bool = False,
    loaded: dict[str, backends.Backend] | None = None,
    dataset: data.Dataset | None = None,
) -> EvaluationResult:
    """Run every backend on the same examples; ``optional`` backends are skipped (with the
    reason in ``result.skipped``) when they cannot load. ``loaded``: backends already loaded
    (reused, and the new ones added), ``dataset``: the target's split, already loaded."""
    if n is not None and n <= 0:
        raise ArgumentError(f"n must be positive, got {n}", "n")
    names = list(dict.fromkeys(target.default_backends() if names is None else names))
    if not names:
        raise ArgumentError("backends is empty", "backends")
    for name in names:
        defenses.parse_name(name)
    optional = set(optional)
    dataset = dataset or data.load(target.dataset, target.split, data_dir)
    indices = select_examples(dataset, n, sample_seed)
    x, y = dataset.x[indices], dataset.y[indices]

    cache = loaded if loaded is not None else {}
    loaded = {}
    skipped: dict[str, str] = {}
    for name in names:
        try:
            loaded[name] = cache.get(name) or target.backend(name)
        except UserError as error:
            if name not in optional:
                raise
            skipped[name] = str(error)
            continue
        cache[name] = loaded[name]
        check_inputs(loaded[name], x, target.dataset)
    raw, seconds = {}, {}
    for name, backend in loaded.items():
        start = time.perf_counter()
        raw[name] = backends.run_in_chunks(backend, x, _bar(name, "chunk", progress))
        seconds[name] = time.perf_counter() - start
    predictions = {name: output.reshape(len(x), -1).argmax(axis=1) for name, output in raw.items()}
    precisions = {name: backend.precision for name, backend in loaded.items()}
    files = {}
    for precision in sorted(set(precisions.values())):
        path = target.model_file(precision)
        files[precision] = {"path": str(path), "sha256": data.sha256_file(path)}
    return EvaluationResult(
        command=None,
        model=target.label,
        zoo_model=target.model,
        dataset={"name": target.dataset, "split": target.split, "source": dataset.source},
        n=len(x),
        sample_seed=sample_seed,
        indices=indices.tolist(),
        labels=y.tolist(),
        input_range=target.input_range,
        model_files=files,
        backends={
            name: BackendEvaluation(
                precision=backend.precision,
                kernels=backend.kernels,
                input_scale=float(backend.input_scale),
                input_zero_point=int(backend.input_zero_point),
                output_scale=float(backend.output_scale),
                output_zero_point=int(backend.output_zero_point),
                accuracy_pct=100.0 * float(np.mean(predictions[name] == y)),
                seconds=seconds[name],
                predictions=predictions[name].tolist(),
                raw_outputs=raw[name].tolist(),
            )
            for name, backend in loaded.items()
        },
        agreement=[pair.as_dict() for pair in agreement.pairwise(raw, _comparable(loaded))],
        agreement_ops=localise_pairs(target, loaded, x, progress) if agreement_ops else [],
        versions=package_versions(),
        skipped=skipped,
    )


def _comparable(loaded: dict[str, backends.Backend]) -> dict[str, str]:
    """What makes two backends comparable: precision and defenses (``int8+bits5``)."""
    return {
        name: "+".join([backend.precision, *defenses.split_backend_name(name)[1]])
        for name, backend in loaded.items()
    }


def _bar(label: str, unit: str, enabled: bool) -> Callable[[Iterable], Iterable]:
    """A progress bar around a loop (a transient one on stderr), or the loop as it is."""
    return lambda steps: tqdm(steps, desc=label, unit=unit, leave=False, disable=not enabled)


def localise_pairs(
    target: Target, loaded: dict[str, backends.Backend], x: np.ndarray, progress: bool = False
) -> list[dict]:
    """Per-op agreement for each pair of host integer backends of the same precision."""
    precisions = {name: backend.precision for name, backend in loaded.items()}
    results = []
    for a, b in agreement.integer_pairs(loaded, precisions):
        if "+" in a or "+" in b:  # op by op on the model's own input: no defenses
            continue
        (runtime_a, precision), (runtime_b, _) = backends.parse_name(a), backends.parse_name(b)
        if runtime_a not in backends.HOST_RUNTIMES or runtime_b not in backends.HOST_RUNTIMES:
            continue
        content = read_model_bytes(target.model_file(precision))
        q = x if x.dtype != np.uint8 else loaded[a].quantize(x.astype(np.float32) / 255.0)
        rows = agreement.localize(
            content,
            q,
            backends.host_backend_for_bytes(runtime_a),
            backends.host_backend_for_bytes(runtime_b),
            precision,
            target.input_range,
            progress=_bar(f"{a} vs {b} per op", "it", progress),
        )
        first_op = agreement.first_divergence(rows)
        explained, error = {}, None
        if first_op is not None and first_op.op_name == "FULLY_CONNECTED":
            factories = {a: backends.host_backend_for_bytes(runtime_a)}
            factories[b] = backends.host_backend_for_bytes(runtime_b)
            try:
                explained = agreement.explain_fully_connected(
                    content, first_op.op_index, q, factories, precision, target.input_range
                )
            except ValueError as reason:
                error = str(reason)
        results.append(
            {
                "a": a,
                "b": b,
                "ops": [row.as_dict() for row in rows],
                "first_divergence": first_op.as_dict() if first_op else None,
                "fully_connected_rules": explained,
                "fully_connected_error": error,
            }
        )
    return results
