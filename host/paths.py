"""Where things live in a checkout: one place for the repository's folders."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD = REPO_ROOT / "build"  # everything generated (firmware, engine builds, emulator state)
FIRMWARE = REPO_ROOT / "firmware"
MODELS = REPO_ROOT / "models"
SAMPLES = REPO_ROOT / "samples"  # small real test sets for offline use (samples/README.md)
