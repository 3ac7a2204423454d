"""What one benchmark section gives back: the lines it prints and the results it records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    name: str  # the key of its results in bench.json
    lines: list[str] = field(default_factory=list)  # the table printed on the terminal
    results: Any = None  # JSON-serialisable measurements (ratios included)
