"""The gradient-masking audit of a run: flags with their evidence, from its records and the
gradient measurements its run folder keeps (``GRADIENTS``, ``host.metrics.measure``).

Six checks, adapted to integer models from the checks of AutoAttack's authors and of Carlini et
al.'s evaluation guidelines:
1. a black-box or transfer attack beats the white-box attack on the same target at the same eps
   (eps "none": two minimal attacks on the target itself);
2. an unbounded (minimal) attack below 100 % success;
3. an iterative attack weaker than a single-step one (same eps and target);
4. success not increasing with eps;
5. a white-box gradient (float model, replica) with a zero share above ``ZERO_SHARE``;
6. a replica whose top-1 agreement with its integer model is below ``AGREEMENT``.
Comparisons 1, 3 and 4 are on the examples both cells share (paired): a flag needs the one
cell to fool more than ``NOISE`` examples beyond the other and to pass a one-sided sign test at
5 % on the examples only one of them fools (``significant``): 3 against 0 or 5 against 1 is
noise, 5 against 0 is not.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from host.attacks import ATTACKS
from host.attacks.base import GradientAttack
from host.records import AttackRecord
from host.report.run_folder import RunFolder

GRADIENTS = "gradients.json"
ZERO_SHARE = 0.5
AGREEMENT = 0.99
NOISE = 1  # examples
SIGN_TEST_LEVEL = 0.05  # one-sided, exact sign test on the examples only one cell fools
ITERATIVE = ("pgd", "autoattack")
SINGLE_STEP = ("fgsm",)
CHECKS = (
    "black-box beats white-box",
    "unbounded attack below 100 %",
    "iterative weaker than single-step",
    "success not increasing with eps",
    "zero-gradient share",
    "replica disagrees",
)
Flag = dict[str, Any]
Cell = dict[str, Any]


def read_gradients(folder: Path) -> dict[str, Any]:
    """The folder's gradient measurements per model ({} when none)."""
    path = Path(folder) / GRADIENTS
    try:
        return json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError:
        return {}


def _success(record: AttackRecord, target: str) -> bool | None:
    if target in record.backends:
        return record.backends[target].success
    return record.oracle_success if record.oracle == target else None


def _targets(records: Iterable[AttackRecord]) -> list[str]:
    names = [n for r in records for n in [r.oracle, *r.backends]]
    return list(dict.fromkeys(names))


def _cells(records: list[AttackRecord], target: str) -> dict[tuple, dict[int, bool]]:
    """(model, attack, mode, oracle, norm, eps) -> example index -> success on ``target``."""
    cells: dict[tuple, dict[int, bool]] = {}
    for r in records:
        hit = _success(r, target)
        if hit is not None and r.target is None:  # untargeted attacks only
            cells.setdefault((r.model, r.attack, r.mode, r.oracle, r.norm, r.eps), {})[r.index] = (
                hit
            )
    return cells


def _wins(a: dict[int, bool], b: dict[int, bool]) -> tuple[int, int, int]:
    """Successes of a and of b on their shared examples, and how many they share."""
    shared = a.keys() & b.keys()
    return sum(a[i] for i in shared), sum(b[i] for i in shared), len(shared)


def significant(a: dict[int, bool], b: dict[int, bool]) -> bool:
    """Whether cell a fools more of the shared examples than b by more than noise: more than
    ``NOISE`` examples, and a sign test on the examples only one of them fools."""
    shared = a.keys() & b.keys()
    only_a = sum(a[i] and not b[i] for i in shared)
    only_b = sum(b[i] and not a[i] for i in shared)
    return only_a - only_b > NOISE and sign_test(only_a, only_b) < SIGN_TEST_LEVEL


def sign_test(wins: int, losses: int) -> float:
    """One-sided p-value of ``wins`` or more of ``wins + losses`` fair coin flips."""
    n = wins + losses
    return sum(math.comb(n, k) for k in range(wins, n + 1)) / 2**n


def _cell(key: tuple, target: str) -> Cell:
    model, attack, mode, oracle, norm, eps = key
    return {
        "model": model,
        "attack": attack,
        "mode": mode,
        "oracle": oracle,
        "norm": norm,
        "eps": eps,
        "target": target,
    }


def _white_box(key: tuple, target: str) -> bool:
    """A gradient attack crafted on the target itself (white-box, or BPDA through a replica) to
    make it misclassify (an edge-only attack such as DIVA wants less: not compared)."""
    attack, oracle = key[1], key[3]
    if attack not in ATTACKS or _edge_only(key):
        return False
    return issubclass(ATTACKS[attack], GradientAttack) and oracle == target


def _edge_only(key: tuple) -> bool:
    """An edge-only attack (DIVA): its success is not misclassification's, so not compared."""
    return key[1] in ATTACKS and ATTACKS[key[1]].edge_only


def black_box_beats_white_box(records: list[AttackRecord]) -> list[Flag]:
    flags = []
    for target in _targets(records):
        cells = _cells(records, target)
        for wkey, white in cells.items():
            if not _white_box(wkey, target):
                continue
            for okey, other in cells.items():
                same = okey[0] == wkey[0] and okey[4:] == wkey[4:]
                found_elsewhere = wkey[5] == "none" and okey[3] != target  # its own distance
                if not same or found_elsewhere or _white_box(okey, target) or _edge_only(okey):
                    continue
                won, lost, n = _wins(other, white)
                if significant(other, white):
                    flags.append(
                        _flag(
                            0,
                            f"{wkey[0]} on {target} at eps {wkey[5]}: {okey[1]} ({okey[2]}, "
                            f"oracle {okey[3]}) fools {won} of {n}, white-box "
                            f"{wkey[1]} {lost} of {n}",
                            [_cell(okey, target), _cell(wkey, target)],
                        )
                    )
    return flags


def unbounded_below_full(records: list[AttackRecord]) -> list[Flag]:
    groups: dict[tuple, list[AttackRecord]] = {}
    for r in records:
        if r.eps == "none":
            groups.setdefault((r.model, r.attack, r.mode, r.oracle, r.norm, r.eps), []).append(r)
    flags = []
    for key, group in groups.items():
        hits = sum(r.oracle_success for r in group)
        if hits < len(group):
            flags.append(
                _flag(
                    1,
                    f"{key[0]}: {key[1]} (minimal, oracle {key[3]}) fools {hits} of "
                    f"{len(group)} ({100 * hits / len(group):.1f} %)",
                    [_cell(key, key[3])],
                )
            )
    return flags


def iterative_weaker(records: list[AttackRecord]) -> list[Flag]:
    flags = []
    for target in _targets(records):
        cells = _cells(records, target)
        for ikey, iterative in cells.items():
            if ikey[1] not in ITERATIVE or ikey[3] != target:
                continue
            for skey, single in cells.items():
                if skey[1] in SINGLE_STEP and skey[0] == ikey[0] and skey[2:] == ikey[2:]:
                    weak, strong, n = _wins(iterative, single)
                    if significant(single, iterative):
                        flags.append(
                            _flag(
                                2,
                                f"{ikey[0]} on {target} at eps {ikey[5]}: {ikey[1]} fools "
                                f"{weak} of {n}, {skey[1]} {strong} of {n}",
                                [_cell(ikey, target), _cell(skey, target)],
                            )
                        )
    return flags


def not_increasing(records: list[AttackRecord]) -> list[Flag]:
    flags = []
    cells = {k: v for t in _targets(records) for k, v in _cells(records, t).items() if k[3] == t}
    series: dict[tuple, list[tuple[float, tuple]]] = {}
    for key in cells:
        if key[5] != "none":
            series.setdefault(key[:5], []).append((float(key[5]), key))
    for points in series.values():
        points.sort()
        for i, (eps, key) in enumerate(points):
            for larger, later in points[i + 1 :]:
                small, big, n = _wins(cells[key], cells[later])
                if significant(cells[key], cells[later]):
                    flags.append(
                        _flag(
                            3,
                            f"{key[0]}: {key[1]} (oracle {key[3]}) fools {small} of {n} at "
                            f"eps {eps:g}, {big} of {n} at eps {larger:g}",
                            [_cell(key, key[3]), _cell(later, key[3])],
                        )
                    )
    return flags


def zero_gradients(gradients: dict[str, Any]) -> list[Flag]:
    flags = []
    for model, measured in gradients.items():
        estimates = measured.get("estimates", [])
        beside = "; ".join(
            f"{e['backend']} {e['h_steps']:g}-step differences {100 * e['zero_share']:.0f} % zero"
            for e in estimates
            if e["estimator"] == "finite-difference"
        )
        for e in estimates:
            if e["estimator"] == "analytic" and e["zero_share"] > ZERO_SHARE:
                text = (
                    f"{model}: {100 * e['zero_share']:.1f} % of the {e['backend']} gradient's "
                    f"components are zero on {e['n']} examples (norm {e['norm_mean']:.3g})"
                )
                flags.append(
                    _flag(
                        4,
                        text + (f"; {beside}" if beside else ""),
                        [{"model": model, "gradient": e["backend"]}],
                    )
                )
    return flags


def replica_disagrees(gradients: dict[str, Any]) -> list[Flag]:
    flags = []
    for model, measured in gradients.items():
        for name, a in measured.get("replica_agreement", {}).items():
            if a["top1_agreement"] < AGREEMENT:
                flags.append(
                    _flag(
                        5,
                        f"{model}: {name} agrees with {a['backend']} on "
                        f"{100 * a['top1_agreement']:.1f} % of {a['n']} clean examples",
                        [{"model": model, "replica": name, "backend": a["backend"]}],
                    )
                )
    return flags


def _flag(check: int, evidence: str, cells: list[Cell]) -> Flag:
    return {"check": CHECKS[check], "evidence": evidence, "cells": cells}


def audit(records: list[AttackRecord], gradients: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every check's flags and the checks that had nothing to read (notes)."""
    gradients = gradients or {}
    flags = [
        *black_box_beats_white_box(records),
        *unbounded_below_full(records),
        *iterative_weaker(records),
        *not_increasing(records),
        *zero_gradients(gradients),
        *replica_disagrees(gradients),
    ]
    missing = []
    if not any(m.get("estimates") for m in gradients.values()):
        missing.append("zero-gradient share: not measured")
    if not any(m.get("replica_agreement") for m in gradients.values()):
        missing.append("replica agreement: not measured")
    notes = missing + [
        f"{model}: {note}" for model, m in gradients.items() for note in m.get("notes", [])
    ]
    checked = len(CHECKS) - len(missing)
    return {"checks": checked, "flags": flags, "notes": notes}


def audit_run(run: RunFolder) -> dict[str, Any]:
    """The audit of a run folder as the report reads it (records and gradients.json)."""
    return audit(run.records, read_gradients(run.path))


def audit_markdown(result: dict[str, Any]) -> str:
    """The audit as markdown: one line per flag with its evidence, or the all-clear line."""
    lines = ["### Gradient-masking audit", ""]
    if not result["flags"]:
        lines.append(f"no sign of gradient masking in {result['checks']} checks")
    for flag in result["flags"]:
        lines.append(f"- **{flag['check']}**: {flag['evidence']}")
    lines += [f"- note: {note}" for note in result["notes"]]
    return "\n".join(lines)
