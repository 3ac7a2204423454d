"""Campaign files: a whole campaign in one TOML file, checked before any work.

    name = "quick"
    models = ["cifar10-resnet8"]
    backends = ["float", "engine-int16", "engine-int8", "device-int8"]
    seed = 0
    [sample]
    n = 20
    [[attack]]
    name = "pgd"
    eps_steps = [0.5, 1, 2]

Every mistake (an unknown key, attack, backend or model, an eps out of [0,1], a parameter the
attack does not have, mode direct with a float oracle) is one ``UserError`` naming the file and
the line of the key (``campaigns/x.toml:12: ...``). Backend and oracle names may carry
pre-processing defenses (``engine-int8+bits5``, oracle ``float+median2``: ``host.defenses``).
Checking reads no model file and no data.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from host import zoo
from host.attacks import make_attack
from host.attacks.threat import check_eps
from host.defenses import parse_name
from host.errors import UserError
from host.run.campaign import MODES, check_mode, default_oracle

CLEAN_CHOICES = ("all", "campaign")  # clean accuracy on every host backend, or on `backends`
TOP_KEYS = {
    *("name", "description", "models", "backends", "defenses", "seed", "clean", "sample", "attack")
}
SAMPLE_KEYS = {"n", "seed"}
ATTACK_KEYS = {
    *("name", "mode", "oracle", "norm", "eps", "eps_steps", "steps_of", "queries", "n", "params"),
    "adaptive",  # false: no adaptive copy through the campaign's defenses
}
STEP_PRECISIONS = ("int8", "int16")


@dataclass(frozen=True)
class AttackSpec:
    """One ``[[attack]]`` entry: an attack, how it runs, its eps grid and budget."""

    name: str
    mode: str = "transfer"
    oracle: str | None = None  # None: float (transfer), the last integer backend (direct)
    norm: str | None = None
    eps: tuple[float, ...] = ()  # in [0,1] units
    eps_steps: tuple[float, ...] = ()  # in input quantization steps
    steps_of: str | None = None  # whose steps (int8, int16); None: the oracle's, else the first
    queries: int | None = None  # None: the default budget of its kind (query attacks)
    n: int | None = None  # fewer examples than the campaign's sample
    params: dict[str, Any] = field(default_factory=dict)
    line: int = 0  # where the entry starts in its file


@dataclass(frozen=True)
class CampaignSpec:
    """A campaign file, checked: models x attacks, the backends, the sample, the seed."""

    path: Path
    name: str
    models: tuple[str, ...]
    backends: tuple[str, ...]
    attacks: tuple[AttackSpec, ...]
    description: str = ""
    seed: int = 0
    n: int | None = None  # the first n examples of each model's evaluation split
    sample_seed: int | None = None  # draw the n examples at random with this seed
    clean: str = "all"  # clean accuracy on every host backend (and the board), or "campaign"
    defenses: tuple[str, ...] = ()  # pre-processing defenses, already in backends and attacks

    def with_overrides(
        self, models: list[str] | None = None, n: int | None = None, seed: int | None = None
    ) -> CampaignSpec:
        """The same campaign on other models, fewer examples or another seed (command options);
        ``n`` caps every attack's own ``n`` too."""
        attacks = self.attacks
        if n is not None:
            attacks = tuple(replace(a, n=min(a.n or n, n)) for a in attacks)
        return replace(
            self,
            models=tuple(models) if models else self.models,
            n=n if n is not None else self.n,
            seed=seed if seed is not None else self.seed,
            attacks=attacks,
        )

    def as_dict(self) -> dict[str, Any]:
        """The campaign as resolved, for the run's manifest."""
        return {
            "file": str(self.path),
            "name": self.name,
            "description": self.description,
            "models": list(self.models),
            "backends": list(self.backends),
            "clean": self.clean,
            "defenses": list(self.defenses),
            "n": self.n,
            "sample_seed": self.sample_seed,
            "seed": self.seed,
            "attacks": [{k: v for k, v in vars(a).items() if k != "line"} for a in self.attacks],
        }


class _Locator:
    """Line numbers of keys in a TOML text (tomllib gives none for a value it accepted)."""

    HEADER = re.compile(r"^\s*\[(\[)?\s*([A-Za-z0-9_.\"-]+)\s*\]")

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.sections: list[tuple[str | None, int, int]] = []  # (table, ordinal, first line)
        counts: dict[str, int] = {}
        self.sections.append((None, 0, 1))
        for number, line in enumerate(self.lines, 1):
            match = self.HEADER.match(line)
            if match:
                name = match.group(2).strip('"')
                self.sections.append((name, counts.get(name, 0), number))
                counts[name] = counts.get(name, 0) + 1

    def line(self, table: str | None = None, ordinal: int = 0, key: str | None = None) -> int:
        """The line of ``key`` in the ``ordinal``-th ``[table]`` (the header line when the key
        is not written there; line 1 when nothing matches)."""
        for i, (name, count, start) in enumerate(self.sections):
            if name != table or count != ordinal:
                continue
            end = self.sections[i + 1][2] if i + 1 < len(self.sections) else len(self.lines) + 1
            if key is not None:
                pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
                for number in range(start, end):
                    if pattern.match(self.lines[number - 1]):
                        return number
            return start
        return 1


class _File:
    """The parsed table and a way to raise errors at a key's line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise UserError(f"campaign file {path} cannot be read: {error.strerror}") from None
        try:
            self.table = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:  # its line: an attribute from Python 3.14 on
            found = re.search(r"\(at line (\d+), column \d+\)$", str(error))
            line = getattr(error, "lineno", None) or (found and found.group(1)) or 1
            message = str(error)[: found.start()].strip() if found else str(error)
            raise UserError(f"{path}:{line}: not valid TOML: {message}") from None
        self.locate = _Locator(text)

    def error(self, message: str, table: str | None = None, ordinal: int = 0, key=None):
        return UserError(f"{self.path}:{self.locate.line(table, ordinal, key)}: {message}")

    def keys(self, values: dict, known: set[str], table: str | None, ordinal: int = 0) -> None:
        for key in values:
            if key not in known:
                where = f" in [{table}]" if table else ""
                raise self.error(
                    f"unknown key {key!r}{where}; known: {', '.join(sorted(known))}",
                    table,
                    ordinal,
                    key,
                )

    def typed(self, values: dict, key: str, kind: type, table=None, ordinal=0) -> Any:
        """values[key] checked to be of ``kind`` (None when absent; ints accepted as floats)."""
        value = values.get(key)
        if value is None:
            return None
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.error(f"{key} must be {_TYPE_NAMES[kind]}", table, ordinal, key)
        return value

    def strings(self, values: dict, key: str, table=None, ordinal=0) -> tuple[str, ...] | None:
        items = self.typed(values, key, list, table, ordinal)
        if items is None:
            return None
        if not all(isinstance(item, str) for item in items):
            raise self.error(f"{key} must be a list of strings", table, ordinal, key)
        return tuple(items)

    def numbers(self, values: dict, key: str, table: str, ordinal: int) -> tuple[float, ...]:
        items = self.typed(values, key, list, table, ordinal) or []
        numbers = []
        for item in items:
            if isinstance(item, bool) or not isinstance(item, int | float):
                raise self.error(f"{key} must be a list of numbers", table, ordinal, key)
            numbers.append(float(item))
        return tuple(numbers)


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "a table",
    bool: "true or false",
}


def load_campaign(path: str | Path) -> CampaignSpec:
    """The campaign file at ``path``, checked; a one-line UserError with file and line."""
    file = _File(Path(path))
    table = file.table
    file.keys(table, TOP_KEYS, None)
    models = file.strings(table, "models")
    if not models:
        raise file.error("models must name at least one model", key="models")
    for model in models:
        try:
            zoo.spec(model)
        except UserError as error:
            raise file.error(str(error), key="models") from None
    backends = file.strings(table, "backends")
    if not backends:
        raise file.error("backends must name at least one backend", key="backends")
    for name in backends:
        try:
            parse_name(name)
        except UserError as error:
            raise file.error(str(error), key="backends") from None
    clean = file.typed(table, "clean", str) or "all"
    if clean not in CLEAN_CHOICES:
        raise file.error(f"clean must be one of: {', '.join(CLEAN_CHOICES)}", key="clean")
    sample = file.typed(table, "sample", dict) or {}
    file.keys(sample, SAMPLE_KEYS, "sample")
    n = _positive(file, sample, "n", "sample")
    entries = table.get("attack", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise file.error("attack must be an array of tables ([[attack]])", key="attack")
    attacks = tuple(_attack(file, entry, i, backends) for i, entry in enumerate(entries))
    defenses = _defenses(file, table)
    attacks += _adaptive_copies(file, entries, attacks, defenses, backends)
    backends = defended_backends(backends, defenses)
    return CampaignSpec(
        path=file.path,
        name=file.typed(table, "name", str) or file.path.stem,
        description=file.typed(table, "description", str) or "",
        models=models,
        backends=backends,
        attacks=attacks,
        seed=_at_least(file, table, "seed", 0) or 0,
        n=n,
        sample_seed=_at_least(file, sample, "seed", 0, "sample"),
        clean=clean,
        defenses=defenses,
    )


def _positive(file: _File, values: dict, key: str, table: str, ordinal: int = 0) -> int | None:
    return _at_least(file, values, key, 1, table, ordinal)


def _at_least(
    file: _File, values: dict, key: str, low: int, table: str | None = None, ordinal: int = 0
) -> int | None:
    """values[key], an integer >= low (None when absent)."""
    value = file.typed(values, key, int, table, ordinal)
    if value is not None and value < low:
        wanted = "positive" if low == 1 else f">= {low}"
        raise file.error(f"{key} must be {wanted}, got {value}", table, ordinal, key)
    return value


def _attack(file: _File, values: dict, i: int, backends: tuple[str, ...]) -> AttackSpec:
    """One [[attack]] entry, checked (the attack built once to check its parameters)."""
    file.keys(values, ATTACK_KEYS, "attack", i)
    name = file.typed(values, "name", str, "attack", i)
    if name is None:
        raise file.error("an [[attack]] needs a name", "attack", i)
    mode = file.typed(values, "mode", str, "attack", i) or "transfer"
    if mode not in MODES:
        raise file.error(f"mode must be one of: {', '.join(MODES)}", "attack", i, "mode")
    oracle = file.typed(values, "oracle", str, "attack", i)
    norm = file.typed(values, "norm", str, "attack", i)
    params = file.typed(values, "params", dict, "attack", i) or {}
    try:
        attack = make_attack(name, norm=norm, **params)
    except UserError as error:
        key = "params" if params and "parameter" in str(error) else "name"
        key = "norm" if "norm" in str(error) else key
        raise file.error(str(error), "attack", i, key) from None
    try:
        if oracle is not None:
            parse_name(oracle)
        check_mode(mode, oracle or default_oracle(mode, list(backends)), [attack])
    except UserError as error:
        raise file.error(str(error), "attack", i, "oracle" if oracle else "mode") from None
    eps = file.numbers(values, "eps", "attack", i)
    try:
        check_eps(list(eps), attack.norm)
    except UserError as error:
        raise file.error(str(error), "attack", i, "eps") from None
    steps = file.numbers(values, "eps_steps", "attack", i)
    for value in steps:
        if not math.isfinite(value) or value < 0:
            raise file.error(
                f"eps_steps must be finite and >= 0, got {value:g}", "attack", i, "eps_steps"
            )
    steps_of = file.typed(values, "steps_of", str, "attack", i)
    if steps_of is not None and steps_of not in STEP_PRECISIONS:
        raise file.error(
            f"steps_of must be one of: {', '.join(STEP_PRECISIONS)}", "attack", i, "steps_of"
        )
    if attack.bounded and not eps and not steps:
        raise file.error(f"attack {name} needs eps or eps_steps", "attack", i)
    return AttackSpec(
        name=name,
        mode=mode,
        oracle=oracle,
        norm=norm,
        eps=eps,
        eps_steps=steps,
        steps_of=steps_of,
        queries=_positive(file, values, "queries", "attack", i),
        n=_positive(file, values, "n", "attack", i),
        params=params,
        line=file.locate.line("attack", i),
    )


# --- pre-processing defenses: `defenses = ["bits5", "median2"]` --------------------------


def _defenses(file: _File, table: dict) -> tuple[str, ...]:
    """The ``defenses`` key: pre-processing defenses as written after a '+' in a backend name,
    checked as such (``bits5``, ``median2``, ``bits5+median2``; host.defenses)."""
    names = file.strings(table, "defenses") or ()
    for name in names:
        try:
            parse_name(f"float+{name}")
        except UserError as error:
            raise file.error(f"defenses: {error}", key="defenses") from None
    return tuple(dict.fromkeys(names))


def defended_backends(backends: tuple[str, ...], defenses: tuple[str, ...]) -> tuple[str, ...]:
    """``backends``, then ``<backend>+<defense>`` for every host backend and defense (a board
    runs the one defense its firmware was built with: name ``device-int8+bits5`` yourself)."""
    defended = [
        f"{name}+{defense}"
        for defense in defenses
        for name in backends
        if "+" not in name and not name.startswith("device-")
    ]
    return tuple(dict.fromkeys([*backends, *defended]))


def _adaptive_copies(
    file: _File,
    entries: list[dict],
    attacks: tuple[AttackSpec, ...],
    defenses: tuple[str, ...],
    backends: tuple[str, ...],
) -> tuple[AttackSpec, ...]:
    """For each transfer attack crafted on float (``adaptive = false`` opts out), one copy per
    defense crafted through it: oracle ``float+<defense>`` (BPDA for gradient attacks)."""
    wanted = []
    for i, (values, attack) in enumerate(zip(entries, attacks, strict=True)):
        adaptive = file.typed(values, "adaptive", bool, "attack", i)
        if adaptive is not False and attack.mode == "transfer" and attack.oracle in (None, "float"):
            wanted.append(attack)
    if defenses and wanted and "float" not in backends:
        raise file.error(
            "defenses: adaptive attacks query float+<defense>: add float to backends "
            "(or adaptive = false in each [[attack]])",
            key="defenses",
        )
    return tuple(replace(a, oracle=f"float+{d}") for d in defenses for a in wanted)
