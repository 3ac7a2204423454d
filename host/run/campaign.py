"""Campaigns: craft adversarial examples, evaluate them on every backend, record them.

Two modes. ``transfer``: craft on the float model (white-box for gradient attacks, counted
black-box queries for the others) and evaluate the same examples on every backend. ``direct``:
query attacks run against an integer backend itself (``tflm-int8``, ``device-int8``). Every
(example, attack, eps) becomes one ``AttackRecord``; records already in the record file (same
configuration, example and eps) are skipped, so an interrupted campaign resumes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from host import data, zoo
from host.attacks import ATTACKS, Attack, EpsResult, Oracle, make_attack
from host.attacks.base import seed_for
from host.attacks.threat import check_eps, distortion, eps_from_steps, lattice_distortion, step_of
from host.backends import CHUNK, Backend, get_backend, parse_name, run_in_chunks
from host.errors import ArgumentError
from host.records import AttackRecord, BackendOutcome, RecordFile

MODES = ("transfer", "direct")
RECORDS = "records.jsonl"


@dataclass
class Campaign:
    """What to run (checked): model, attacks, eps grid in [0,1] units, backends, oracle..."""

    model: str
    attacks: list[Attack]
    epsilons: list[float]
    backends: list[str]
    mode: str = "transfer"
    oracle: str = "float"
    n: int | None = None
    seed: int = 0
    queries: int | None = None
    eps_steps: dict[float, float] = field(default_factory=dict)  # eps -> eps in input steps


def plan_campaign(
    model: str,
    attacks: list[Attack],
    backends: Sequence[str],
    epsilons: Sequence[float],
    eps_steps: Sequence[float],
    mode: str,
    oracle: str | None,
    n: int | None,
    seed: int,
    queries: int | None,
) -> Campaign:
    """A checked Campaign: the oracle chosen (``None``: float for transfer, the last integer
    backend for direct), eps given in input steps converted to [0,1] units."""
    zoo.spec(model)
    if n is not None and n <= 0:
        raise ArgumentError(f"n must be positive, got {n}", "n")
    if mode not in MODES:
        raise ArgumentError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    backends = list(dict.fromkeys(backends))
    if not backends:
        raise ArgumentError("no backends to evaluate on", "backends")
    for name in backends:
        parse_name(name)
    oracle = oracle or _default_oracle(mode, backends)
    parse_name(oracle)
    _check_mode(mode, oracle, attacks)
    if queries is not None and queries <= 0:
        raise ArgumentError(f"queries must be positive, got {queries}", "queries")
    steps_to_eps = {}
    steps = check_eps(list(eps_steps))
    if steps:
        step = reference_step(model, oracle, backends)
        for value in steps:
            steps_to_eps[eps_from_steps(value, step)] = value
    grid = list(dict.fromkeys([*check_eps(list(epsilons)), *steps_to_eps]))
    if not grid and any(attack.bounded for attack in attacks):
        bounded = [attack.name for attack in attacks if attack.bounded]
        raise ArgumentError(
            f"attacks {', '.join(bounded)} need epsilons or eps_steps", "epsilons", "eps_steps"
        )
    return Campaign(
        model=model,
        attacks=attacks,
        epsilons=grid,
        backends=backends,
        mode=mode,
        oracle=oracle,
        n=n,
        seed=seed,
        queries=queries,
        eps_steps=steps_to_eps,
    )


def build_attacks(
    attacks: Sequence[str | Attack],
    norm: str | None,
    params: Mapping[str, Mapping[str, Any]],
) -> list[Attack]:
    """Attacks by name (``norm`` and ``params[name]`` applied) or given as Attack objects."""
    if not attacks:
        raise ArgumentError(f"attacks is empty; known: {', '.join(ATTACKS)}", "attacks")
    names = [a if isinstance(a, str) else a.name for a in attacks]
    for name in params:
        if name not in names:
            raise ArgumentError(f"params name attack {name!r}, which is not in attacks", "attacks")
    return [
        make_attack(a, norm=norm, **params.get(a, {})) if isinstance(a, str) else a for a in attacks
    ]


def reference_step(model: str, oracle: str, backends: list[str]) -> float:
    """The input step eps_steps counts in: the oracle's, else the first integer backend's."""
    for name in [oracle, *backends]:
        precision = parse_name(name)[1]
        if precision != "float":
            return step_of(get_backend(model, f"tflm-{precision}"))
    raise ArgumentError(
        "eps_steps needs an integer backend (e.g. tflm-int8) to define the step", "eps_steps"
    )


def _default_oracle(mode: str, backends: list[str]) -> str:
    if mode == "transfer":
        return "float"
    integer = [name for name in backends if parse_name(name)[1] != "float"]
    if not integer:
        raise ArgumentError(
            "mode direct needs an integer oracle (e.g. tflm-int8, device-int8)", "mode", "oracle"
        )
    return integer[-1]


def _check_mode(mode: str, oracle: str, attacks: list[Attack]) -> None:
    integer = parse_name(oracle)[1] != "float"
    if mode == "transfer" and integer:
        raise ArgumentError(
            f"mode transfer crafts on the float model, not on {oracle}; use direct", "mode"
        )
    if mode == "direct" and not integer:
        raise ArgumentError(
            "mode direct attacks an integer backend: give oracle, e.g. tflm-int8", "mode", "oracle"
        )
    if integer:
        gradient = [attack.name for attack in attacks if attack.access == "gradient"]
        if gradient:
            raise ArgumentError(
                f"{', '.join(gradient)} need gradients, which {oracle} does not have: "
                "craft them on float (mode transfer)",
                "mode",
            )


def config_id(campaign: Campaign, attack: Attack) -> str:
    """A short hash of everything that defines an attack's records (for skipping on rerun)."""
    config = {
        "model": campaign.model,
        "mode": campaign.mode,
        "oracle": campaign.oracle,
        "seed": campaign.seed,
        "queries": campaign.queries if attack.access != "gradient" else None,
        **attack.config(),
    }
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def eps_label(eps: float | None) -> str:
    return "none" if eps is None else repr(float(eps))


def _jsonable(values: np.ndarray) -> list:
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer):
        return [int(v) for v in values.ravel()]
    return [float(v) for v in values.ravel()]


class Runner:
    """Runs a campaign: loads data and backends once, then attack by attack, chunk by chunk."""

    def __init__(
        self,
        campaign: Campaign,
        out: Path | None = None,
        data_dir: str | Path | None = None,
        progress: bool = False,
    ) -> None:
        """``out``: the folder of records.jsonl (None: records in memory only)."""
        self.c = campaign
        self.progress = progress
        entry = zoo.spec(campaign.model)
        dataset = data.load(entry.dataset, entry.eval_split, data_dir)
        dataset = dataset.take(campaign.n)
        self.indices = np.arange(len(dataset))
        self.x = dataset.x.astype(np.float32) / np.float32(255.0)
        self.y = dataset.y
        self.nb_classes = len(dataset.classes)
        rng = np.random.default_rng(seed_for(campaign.seed, "targets"))
        self.targets = (self.y + rng.integers(1, self.nb_classes, len(self.y))) % self.nb_classes
        self._backends: dict[str, Backend] = {}
        self.evaluated = [self.backend(name) for name in campaign.backends]
        self.clean_raw = {b.name: self._raw(b, self.x) for b in self.evaluated}
        float_path = zoo.model_file(campaign.model, "float") if campaign.oracle == "float" else None
        self.oracle = Oracle(
            self.backend(campaign.oracle), self.nb_classes, float_path, campaign.queries
        )
        self.ref_step = self._reference_step()
        self.records = RecordFile(out / RECORDS if out is not None else None)

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = get_backend(self.c.model, name)
        return self._backends[name]

    def _reference_step(self) -> float:
        for backend in [self.oracle.backend, *self.evaluated]:
            if backend.precision != "float":
                return step_of(backend)
        return 0.0

    def _raw(self, backend: Backend, x: np.ndarray) -> np.ndarray:
        return run_in_chunks(backend, x).reshape(len(x), -1)

    def run(self) -> list[AttackRecord]:
        """Run everything not yet recorded; return this campaign's records."""
        done = {record.key for record in self.records.read()}
        work: list[tuple[Attack, str, np.ndarray, list[float | None]]] = []
        for attack in self.c.attacks:
            cid = config_id(self.c, attack)
            epsilons: list[float | None] = [*self.c.epsilons]
            if not attack.bounded:  # a minimisation attack's own output first ("none")
                epsilons.insert(0, None)
            for start in range(0, len(self.x), CHUNK):
                chunk = self.indices[start : start + CHUNK]
                missing = [
                    eps
                    for eps in epsilons
                    if any((cid, int(i), eps_label(eps)) not in done for i in chunk)
                ]
                if missing and attack.bounded:  # one eps at a time: records land sooner
                    work.extend((attack, cid, chunk, [eps]) for eps in missing)
                elif missing:
                    work.append((attack, cid, chunk, epsilons))
        with self.records.appending():
            for attack, cid, chunk, epsilons in tqdm(
                work, desc="attacks", unit="chunk", disable=not self.progress
            ):
                results = attack(
                    self.oracle,
                    self.x[chunk],
                    self.y[chunk],
                    epsilons,
                    seed=seed_for(self.c.seed, int(chunk[0])),
                    targets=self.targets[chunk],
                )
                for result in results:
                    for record in self._records(attack, cid, chunk, result):
                        if record.key not in done:
                            self.records.append(record)
                            done.add(record.key)
        ids = {config_id(self.c, attack) for attack in self.c.attacks}
        wanted = set(self.indices.tolist())
        return [r for r in self.records.read() if r.config_id in ids and r.index in wanted]

    def _records(
        self, attack: Attack, cid: str, chunk: np.ndarray, result: EpsResult
    ) -> list[AttackRecord]:
        x = self.x[chunk]
        crafted = distortion(x, result.x_crafted, self.ref_step)
        sent = distortion(x, result.x_adv, self.ref_step)
        per_backend = {}
        for backend in self.evaluated:
            raw = self._raw(backend, result.x_adv)
            if backend.precision == "float":
                after = distortion(x, result.x_adv, 0.0)
            else:
                after = lattice_distortion(backend, x, result.x_adv)
            fooled = result.criterion.is_adversarial(raw.argmax(axis=1))
            per_backend[backend.name] = (raw, after, fooled)
        config = attack.config()
        records = []
        for j, i in enumerate(chunk):
            i = int(i)
            label = int(self.y[i])
            goal = int(self.targets[i]) if attack.targeted else None
            outcomes = {}
            for name, (raw, after, fooled) in per_backend.items():
                prediction = int(raw[j].argmax())
                clean = self.clean_raw[name][i]
                outcomes[name] = BackendOutcome(
                    clean_prediction=int(clean.argmax()),
                    clean_raw=_jsonable(clean),
                    prediction=prediction,
                    raw=_jsonable(raw[j]),
                    success=bool(fooled[j]),
                    distortion=after[j],
                )
            records.append(
                AttackRecord(
                    config_id=cid,
                    model=self.c.model,
                    mode=self.c.mode,
                    oracle=self.c.oracle,
                    attack=config["attack"],
                    norm=config["norm"],
                    params=config["params"],
                    params_effective=attack.effective_params(self.oracle),
                    seed=self.c.seed,
                    query_budget=self.c.queries,
                    eps=eps_label(result.eps),
                    eps_steps=None if result.eps is None else self.c.eps_steps.get(result.eps),
                    index=i,
                    label=label,
                    target=goal,
                    oracle_success=bool(result.success[j]),
                    oracle_prediction=int(result.predictions[j]),
                    queries=int(result.queries[j]),
                    invalid=bool(result.invalid[j]),
                    distortion={"crafted": crafted[j], "sent": sent[j]},
                    reference_step=self.ref_step,
                    backends=outcomes,
                )
            )
        return records
