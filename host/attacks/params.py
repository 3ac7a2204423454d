"""Attack parameters: the type and range each one takes, checked before any work.

Every attack declares ``limits`` beside its ``defaults`` (one ``Limit`` per parameter), so a bad
value (``pgd.max_iter=abc``, ``[1, 2]``, ``-5``) is one UserError naming the attack, the
parameter, what it takes and the value, before ART ever sees it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from host.errors import UserError


@dataclass(frozen=True)
class Limit:
    """What one parameter takes: ``kind`` (int, float, bool or str) and, for numbers, a range
    (``low``/``high``, None: unbounded; ``open_low``/``open_high``: the end excluded), for
    strings the ``choices``."""

    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        """What it takes, in words: ``an integer >= 1``, ``a number in (0, 1)``."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return f"one of {', '.join(self.choices)}"
        noun = "an integer" if self.kind is int else "a number"
        low, high = self.low, self.high
        if low is not None and high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f"{noun} in {left}{low:g}, {high:g}{right}"
        if low is not None:
            return f"{noun} {'>' if self.open_low else '>='} {low:g}"
        if high is not None:
            return f"{noun} {'<' if self.open_high else '<='} {high:g}"
        return "an integer" if self.kind is int else "a finite number"

    def accepts(self, value: Any) -> bool:
        if self.kind is bool or self.kind is str:
            kind_ok = isinstance(value, self.kind)
            return kind_ok and (self.kind is bool or value in self.choices)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        below = self.low is not None and (value <= self.low if self.open_low else value < self.low)
        above = self.high is not None and (
            value >= self.high if self.open_high else value > self.high
        )
        return not below and not above

    def check(self, attack: str, name: str, value: Any) -> Any:
        """``value`` as the attack takes it (an int given for a float becomes a float)."""
        if not self.accepts(value):
            raise UserError(
                f"attack {attack}: parameter {name} takes {self.describe()}, got {value!r}"
            )
        return float(value) if self.kind is float else value


def count(low: int = 1, high: int | None = None) -> Limit:
    """An integer in [low, high] (a number of iterations, a batch size...)."""
    return Limit(int, low, high)


def number(
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    open_high: bool = False,
) -> Limit:
    """A finite number in the range."""
    return Limit(float, low, high, open_low, open_high)


POSITIVE = number(0, open_low=True)
NON_NEGATIVE = number(0)
FRACTION = number(0, 1, open_low=True, open_high=True)  # in (0, 1)
FLAG = Limit(bool)


def choice(*choices: str) -> Limit:
    return Limit(str, choices=choices)
