"""The attack registry: names to attack classes, and a builder with checked parameters.

from host.attacks import make_attack
attack = make_attack("pgd", max_iter=20)
results = attack(oracle, x, y, epsilons=[0.002, 0.004])  # y: labels or a Criterion
"""

from __future__ import annotations

from typing import Any

from host.attacks.base import Attack, EpsResult
from host.attacks.criteria import Criterion, Misclassification, TargetedMisclassification
from host.attacks.edge import DIVA
from host.attacks.gradient import (
    APGDCE,
    APGDDLR,
    EAD,
    FGSM,
    JSMA,
    PGD,
    AutoAttack,
    CarliniL2,
    CarliniLinf,
    DeepFool,
)
from host.attacks.oracles import Oracle
from host.attacks.query import Boundary, GeoDA, HopSkipJump, SquareL2, SquareLinf, Zoo
from host.errors import UserError

__all__ = [
    "ATTACKS",
    "Attack",
    "Criterion",
    "EpsResult",
    "Misclassification",
    "Oracle",
    "TargetedMisclassification",
    "make_attack",
]

ATTACKS: dict[str, type[Attack]] = {
    cls.name: cls
    for cls in (
        PGD,
        FGSM,
        DeepFool,
        JSMA,
        CarliniL2,
        CarliniLinf,
        EAD,
        AutoAttack,
        APGDCE,
        APGDDLR,
        Zoo,
        SquareLinf,
        SquareL2,
        Boundary,
        GeoDA,
        HopSkipJump,
        DIVA,
    )
}


def make_attack(name: str, norm: str | None = None, **params: Any) -> Attack:
    """The attack called ``name`` with parameters overriding its defaults."""
    if name not in ATTACKS:
        raise UserError(f"unknown attack {name!r}; known: {', '.join(ATTACKS)}")
    return ATTACKS[name](norm=norm, **params)
