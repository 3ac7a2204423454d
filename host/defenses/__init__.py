"""Defenses: pre-processing stages in front of any backend (train-based defenses are zoo models).

A pre-processing defense is written after a '+' in a backend name: ``engine-int8+bits5``,
``device-int8+median2``, ``float+jpeg75``; several apply left to right. Known: ``bits<b>``
(bit depth, 1..15), ``median<k>`` (median smoothing, 2..5), ``jpeg<q>`` (JPEG quality, 1..95),
``squeeze`` (the feature-squeezing detector, last), ``purify[<eps>]`` (PixelDefend's purifier).
``get_backend`` builds the host.backends backend and wraps it in a ``DefendedBackend``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from host import zoo
from host.backends import Backend, backend_for_file, exact_runtime
from host.backends import parse_name as parse_base_name
from host.defenses.base import Lattice, Preprocessor
from host.defenses.detector import DetectingBackend, Squeeze
from host.defenses.jpeg import Jpeg
from host.defenses.preprocessed import DefendedBackend, check_board, lattice_of
from host.defenses.squeeze import BitDepth, Median
from host.errors import UserError

__all__ = [
    "DefendedBackend",
    "DetectingBackend",
    "Lattice",
    "Preprocessor",
    "defended",
    "get_backend",
    "lattice_of",
    "parse_defense",
    "parse_defenses",
    "parse_name",
    "split_backend_name",
]

KNOWN = "bits<1-15>, median<2-5>, jpeg<1-95>, squeeze, purify[<eps>]"
_PATTERN = re.compile(r"(bits|median|jpeg|purify)(\d*)|squeeze")


def split_backend_name(name: str) -> tuple[str, tuple[str, ...]]:
    """``engine-int8+bits5+median2`` -> (``engine-int8``, (``bits5``, ``median2``))."""
    base, *defenses = name.split("+")
    return base, tuple(defenses)


def _check_syntax(name: str) -> re.Match[str]:
    match = _PATTERN.fullmatch(name)
    if match is None or (match.group(1) in ("bits", "median", "jpeg") and not match.group(2)):
        raise UserError(f"unknown defense {name!r}; known: {KNOWN}")
    return match


def parse_defense(name: str, dataset: str | None = None) -> Preprocessor:
    """The defense called ``name``; ``dataset`` (the model's) selects a purifier."""
    match = _check_syntax(name)
    kind, number = match.group(1), match.group(2)
    if kind == "bits":
        return BitDepth(int(number))
    if kind == "median":
        return Median(int(number))
    if kind == "jpeg":
        return Jpeg(int(number))
    if kind == "purify":
        return _purifier(dataset, int(number) if number else None)
    return Squeeze()


def _purifier(dataset: str | None, eps: int | None) -> Preprocessor:
    from host.defenses.purifier import Purifier  # imports TensorFlow: only for purify

    if dataset is None:
        raise UserError("purify needs the model's data set (its purifier is trained per data set)")
    return Purifier(dataset) if eps is None else Purifier(dataset, eps)


def parse_defenses(names: tuple[str, ...], dataset: str | None = None) -> tuple[Preprocessor, ...]:
    """The defenses of a backend name, built and checked (``squeeze`` only last)."""
    _check_order(names)
    return tuple(parse_defense(name, dataset) for name in names)


def _check_order(names: tuple[str, ...]) -> None:
    """Every name known, and the detector (squeeze) only last."""
    for i, name in enumerate(names):
        _check_syntax(name)
        if name == "squeeze" and i != len(names) - 1:
            raise UserError("squeeze is a detector: it goes last in a backend name")


def parse_name(name: str) -> tuple[str, str]:
    """(runtime, precision) of a backend name with or without defenses, all of them checked
    (a purifier's files are looked for only when the backend is built)."""
    base, defenses = split_backend_name(name)
    runtime, precision = parse_base_name(base)
    _check_order(defenses)
    for defense in defenses:
        if _check_syntax(defense).group(1) != "purify":
            parse_defense(defense)  # checks the parameter's range
    return runtime, precision


def defended(backend: Backend, names: tuple[str, ...], model: str, path: Path) -> Backend:
    """``backend`` (built for ``model``'s file ``path``) with the defenses ``names`` in front;
    a board is checked to run exactly the lattice defenses asked for (none included), and let
    go of when it does not."""
    try:
        return _defended(backend, names, model, path)
    except UserError:
        getattr(backend, "close", lambda: None)()
        raise


def _defended(backend: Backend, names: tuple[str, ...], model: str, path: Path) -> Backend:
    defenses = parse_defenses(names, zoo.spec(model).dataset)
    if not defenses:
        check_board(backend, defenses)
        return backend
    if defenses[-1].name != "squeeze":
        return DefendedBackend(backend, defenses)

    if backend.precision == "float" or parse_base_name(backend.name)[0] == exact_runtime(path):
        return DetectingBackend(backend, defenses, model, path)

    def reference() -> DetectingBackend:
        """TFLite Micro's exact answer on the host: the threshold of every runtime of a file
        (the board's included), computed fast."""
        name = f"{exact_runtime(path)}-{backend.precision}"
        host = backend_for_file(name, path, backend.input_range)
        return DetectingBackend(host, defenses, model, path)

    return DetectingBackend(backend, defenses, model, path, reference)


def get_backend(model: str, name: str, loaded: Mapping[str, Backend] | None = None) -> Backend:
    """Backend ``name`` (defenses after '+') for a model (a zoo name or a user's model); its
    base backend taken from ``loaded`` when there (the board, opened once per run)."""
    base, names = split_backend_name(name)
    parse_name(name)
    path = zoo.model_file(model, parse_base_name(base)[1])
    if loaded is not None and base in loaded:
        return _defended(loaded[base], names, model, path)  # not closed on error: shared
    return defended(backend_for_file(base, path, zoo.spec(model).input_range), names, model, path)
