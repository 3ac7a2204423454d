"""Versions of the packages that decide bit-exactness, recorded in every result."""

from __future__ import annotations

import platform
from importlib import metadata

PINNED = (
    "tensorflow",
    "keras",
    "ai-edge-litert",
    "tflite-micro",
    "adversarial-robustness-toolbox",
    "numpy",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the pinned packages (``missing`` when not installed)."""
    versions = {"python": platform.python_version()}
    for name in PINNED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions
