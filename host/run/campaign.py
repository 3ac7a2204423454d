"""Campaigns: craft adversarial examples, evaluate them on every backend, record them.

Two modes. ``transfer``: craft on the float model (white-box for gradient attacks, counted
black-box queries for the others) and evaluate the same examples on every backend. ``direct``:
query attacks run against an integer backend itself (``engine-int8``, ``device-int8``). Backend
names may carry pre-processing defenses (``engine-int8+median2``, ``host.defenses``); an oracle
``float+median2`` crafts through the defense (BPDA for gradient attacks): the adaptive attack.
An example a backend's detector flags (``+squeeze``) does not fool it. Every
(example, attack, eps) becomes one ``AttackRecord``; records already in the record file (same
configuration, example and eps) are skipped, so an interrupted campaign resumes. A record
folder also keeps, per model, what every record depends on besides its attack's configuration
(``resume_key``: backends, model file hashes, the board's firmware, the data): a rerun with
other ones, or with another seed, budget or parameters for an attack already recorded, is
refused in one line instead of mixing records (docs/attacks.md#resuming).

Query attacks get a per-example budget: the campaign's ``queries``, else ``DEFAULT_QUERIES`` of
their kind (score or decision), so that they end in a time a person expects.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from host import data, zoo
from host.attacks import ATTACKS, Attack, EpsResult, Oracle, make_attack
from host.attacks.base import seed_for
from host.attacks.oracles import QueryBudget
from host.attacks.threat import check_eps, distortion, eps_from_steps, lattice_distortion, step_of
from host.backends import CHUNK, Backend, run_in_chunks
from host.defenses import DetectingBackend, get_backend, parse_name, split_backend_name
from host.errors import ArgumentError, UserError
from host.metrics.measure import measure
from host.records import AttackRecord, BackendOutcome, RecordFile
from host.run import folder as run_folder
from host.run.evaluation import select_examples

MODES = ("transfer", "direct")
RECORDS = "records.jsonl"
DEFAULT_QUERIES = {"score": 1000, "decision": 2000}  # per example, when no budget is given


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
    queries: int | None = None  # None: DEFAULT_QUERIES of each query attack's kind
    eps_steps: dict[float, float] = field(default_factory=dict)  # eps -> eps in input steps
    sample_seed: int | None = None  # None: the first n examples, else n drawn with this seed

    def budget(self, attack: Attack) -> int | None:
        """The query budget per example an attack runs (and is recorded) with: ``queries``
        when given, else the default of its kind (None for a gradient attack)."""
        if self.queries is not None:
            return self.queries
        return DEFAULT_QUERIES.get(attack.access)


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
    sample_seed: int | None = None,
    steps_of: str | None = None,
) -> Campaign:
    """A checked Campaign: the oracle chosen (``None``: float for transfer, the last integer
    backend for direct), eps given in input steps converted to [0,1] units (the steps of
    precision ``steps_of``, else of the oracle, else of the first integer backend)."""
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
    oracle = oracle or default_oracle(mode, backends)
    parse_name(oracle)
    check_mode(mode, oracle, attacks)
    if queries is not None and queries <= 0:
        raise ArgumentError(f"queries must be positive, got {queries}", "queries")
    steps_to_eps = {}
    steps = check_eps(list(eps_steps))
    if steps:
        step = reference_step(model, oracle, backends, steps_of)
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
        sample_seed=sample_seed,
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


def reference_step(
    model: str, oracle: str, backends: list[str], precision: str | None = None
) -> float:
    """The input step eps_steps counts in: ``precision``'s, else the oracle's, else the first
    integer backend's."""
    if precision is not None:
        return step_of(get_backend(model, f"tflm-{precision}"))
    for name in [oracle, *backends]:
        precision = parse_name(name)[1]
        if precision != "float":
            return step_of(get_backend(model, f"tflm-{precision}"))
    raise ArgumentError(
        "eps_steps needs an integer backend (e.g. engine-int8) to define the step", "eps_steps"
    )


def default_oracle(mode: str, backends: list[str]) -> str:
    if mode == "transfer":
        return "float"
    integer = [name for name in backends if parse_name(name)[1] != "float"]
    if not integer:
        raise ArgumentError(
            "mode direct needs an integer oracle (e.g. engine-int8, device-int8)", "mode", "oracle"
        )
    return integer[-1]


def check_mode(mode: str, oracle: str, attacks: Sequence[Attack] = ()) -> None:
    """Transfer crafts on float, direct attacks an integer oracle (gradient attacks through
    its replica); an edge-only attack needs a plain integer oracle (the float model beside it)."""
    integer = parse_name(oracle)[1] != "float"
    defenses = split_backend_name(oracle)[1]
    for attack in attacks:
        if attack.edge_only and (mode != "direct" or defenses):
            raise ArgumentError(
                f"attack {attack.name} crafts against an integer model without defenses: "
                "mode direct, oracle e.g. engine-int8",
                "mode",
                "oracle",
            )
    if mode == "transfer" and integer:
        raise ArgumentError(
            f"mode transfer crafts on the float model, not on {oracle}; use direct", "mode"
        )
    if mode == "direct" and not integer:
        raise ArgumentError(
            "mode direct attacks an integer backend: give oracle, e.g. engine-int8",
            "mode",
            "oracle",
        )


def config_id(campaign: Campaign, attack: Attack) -> str:
    """A short hash of everything that defines an attack's records (for skipping on rerun)."""
    config = {
        "model": campaign.model,
        "mode": campaign.mode,
        "oracle": campaign.oracle,
        "seed": campaign.seed,
        "queries": campaign.budget(attack) if attack.access != "gradient" else None,
        **attack.config(),
    }
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def resume_key(
    campaigns: Sequence[Campaign], backends: Mapping[str, Backend], dataset: data.Dataset
) -> dict[str, Any]:
    """What a model's records depend on besides each attack's config id: the evaluated
    backends, the hashes of the model files they and the oracles use, the board's firmware
    (from its HELLO) and the data set's content."""
    first = campaigns[0]
    names = [*first.backends, *(campaign.oracle for campaign in campaigns)]
    precisions = sorted({parse_name(name)[1] for name in names})
    files = run_folder.model_files(first.model, precisions)
    board = run_folder.board_info(dict(backends))
    digest = hashlib.sha256(dataset.x.tobytes())
    digest.update(dataset.y.tobytes())
    return {
        "backends": list(first.backends),
        "model_files": {precision: file["sha256"] for precision, file in files.items()},
        "board": None
        if board is None
        else {name: board[name] for name in ("board", "engine", "model_sha256")},
        "data": {"dataset": f"{dataset.name}/{dataset.split}", "sha256": digest.hexdigest()},
    }


def check_resume(
    out: Path | None,
    campaigns: Sequence[Campaign],
    backends: Mapping[str, Backend],
    dataset: data.Dataset,
) -> None:
    """Refuse, in one line, to add the campaigns of one model (a run's groups) to the records
    in ``out`` when those were made with another resume key, or with another seed, budget or
    parameters for one of the same attacks (which would mix in the summaries); else record
    the key."""
    if out is None or not campaigns:
        return
    records = RecordFile(out / RECORDS).read()
    model = campaigns[0].model
    recorded = any(record.model == model for record in records)
    run_folder.check_resume_key(out, model, resume_key(campaigns, backends, dataset), recorded)
    wanted = {}
    for campaign in campaigns:
        for attack in campaign.attacks:
            identity = (model, campaign.mode, campaign.oracle, attack.name, attack.norm)
            wanted[identity] = (config_id(campaign, attack), campaign, attack)
    for record in records:
        identity = (record.model, record.mode, record.oracle, record.attack, record.norm)
        if identity in wanted and wanted[identity][0] != record.config_id:
            _, campaign, attack = wanted[identity]
            raise UserError(_config_change(out, record, campaign, attack))


def _config_change(out: Path, record: AttackRecord, campaign: Campaign, attack: Attack) -> str:
    """The one line that names what changed for an attack already recorded in ``out``."""
    old = {"seed": record.seed, "query budget": record.query_budget, "params": record.params}
    new = {"seed": campaign.seed, "query budget": campaign.budget(attack), "params": attack.params}
    changed = [
        name
        for name in old
        if json.dumps(old[name], sort_keys=True) != json.dumps(new[name], sort_keys=True)
    ] or ["configuration id"]
    was = ", ".join(f"{name} {json.dumps(old[name], sort_keys=True)}" for name in changed)
    now = ", ".join(json.dumps(new[name], sort_keys=True) for name in changed)
    if changed == ["configuration id"]:
        was, now = f"configuration {record.config_id}", config_id(campaign, attack)
    return (
        f"{out} recorded {record.attack} ({record.mode}, oracle {record.oracle}) with {was}; "
        f"this run asks {now}: start a new run folder, or rerun with what it was recorded with"
    )


def eps_label(eps: float | None) -> str:
    return "none" if eps is None else repr(float(eps))


def target_of(seed: int, index: int, label: int, nb_classes: int) -> int:
    """The target class of targeted attacks for one example: another class than its label,
    drawn from the seed and the example's index only (so resuming, or another n, keeps it)."""
    return (label + 1 + seed_for(seed, "target", index) % (nb_classes - 1)) % nb_classes


def _jsonable(values: np.ndarray) -> list:
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer):
        return [int(v) for v in values.ravel()]
    return [float(v) for v in values.ravel()]


Work = tuple[Attack, str, np.ndarray, list[float | None]]  # attack, config id, positions, eps


@dataclass
class CampaignData:
    """What every cell of a campaign shares, computed once: the examples (positions in the
    campaign index ``indices``), their labels and targets, and every evaluated backend's raw
    clean outputs. Plain arrays: a Ray worker gets it as is (host.run.cluster)."""

    campaign: Campaign
    indices: np.ndarray
    x: np.ndarray
    y: np.ndarray
    targets: np.ndarray
    nb_classes: int
    clean_raw: dict[str, np.ndarray]
    reference_step: float


def campaign_examples(
    campaign: Campaign, dataset: data.Dataset
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The campaign's dataset indices, images in [0,1], labels and targeted attacks' targets."""
    if dataset.x.dtype != np.uint8:
        raise UserError(
            f"attacks work on images; data set {dataset.name} holds {dataset.x.dtype} features"
        )
    indices = select_examples(dataset, campaign.n, campaign.sample_seed)
    x = dataset.x[indices].astype(np.float32) / np.float32(255.0)
    y = dataset.y[indices]
    targets = np.array(
        [
            target_of(campaign.seed, int(i), int(label), len(dataset.classes))
            for i, label in zip(indices, y, strict=True)
        ],
        dtype=np.int64,
    )
    return indices, x, y, targets


class CellRunner:
    """Runs cells of a campaign (an attack on a chunk of examples at some eps, evaluated on
    every backend) into records; the same in this process or in a Ray worker."""

    def __init__(self, shared: CampaignData, backends: Mapping[str, Backend]) -> None:
        """``backends``: the oracle and every evaluated backend, by name."""
        self.shared = shared
        self.c = campaign = shared.campaign
        self.evaluated = [backends[name] for name in campaign.backends]
        oracle = backends[campaign.oracle]
        # gradients: of the float model, or of the integer model file's replica (DIVA, an
        # edge-only attack, takes both: the float model of an integer oracle too)
        has_float = zoo.has_file(campaign.model, "float")
        float_path = zoo.model_file(campaign.model, "float") if has_float else None
        integer = oracle.precision != "float"
        model_path = zoo.model_file(campaign.model, oracle.precision) if integer else None
        self.oracle = Oracle(oracle, shared.nb_classes, float_path, campaign.queries, model_path)

    def records(self, item: Work, progress: bool = False) -> list[AttackRecord]:
        """The records of one cell: the attack crafted on its chunk at its eps (seeded by the
        campaign seed and the chunk's first example only), evaluated on every backend."""
        attack, cid, chunk, epsilons = item
        shared = self.shared
        budget = self.c.budget(attack)
        self.oracle.budget = QueryBudget(budget)
        runs = example_runs(attack, chunk, epsilons)
        with (
            QueryProgress(attack, runs, budget, progress) as listener,
            seeded_random_states(),
        ):
            self.oracle.listener = listener
            results = attack(
                self.oracle,
                shared.x[chunk],
                shared.y[chunk],
                epsilons,
                seed=seed_for(self.c.seed, int(shared.indices[chunk[0]])),
                targets=shared.targets[chunk],
            )
        self.oracle.listener = None
        return self._records(attack, cid, chunk, results)

    def _records(
        self, attack: Attack, cid: str, chunk: np.ndarray, results: list[EpsResult]
    ) -> list[AttackRecord]:
        """The records of a chunk at every eps; each backend runs all of its adversarial
        examples (every eps: at most CHUNK times the eps grid) in one call."""
        sent = np.concatenate([result.x_adv for result in results])
        raw = {b.name: b.run(sent).reshape(len(sent), -1) for b in self.evaluated}
        flags = {b.name: b.detect(sent) for b in self.evaluated if isinstance(b, DetectingBackend)}
        records = []
        for k, result in enumerate(results):
            rows = slice(k * len(chunk), (k + 1) * len(chunk))
            outputs = {name: values[rows] for name, values in raw.items()}
            detected = {name: values[rows] for name, values in flags.items()}
            records += self._eps_records(attack, cid, chunk, result, outputs, detected)
        return records

    def _eps_records(
        self,
        attack: Attack,
        cid: str,
        chunk: np.ndarray,
        result: EpsResult,
        outputs: dict[str, np.ndarray],
        detected: dict[str, np.ndarray],
    ) -> list[AttackRecord]:
        """The records of a chunk at one eps, from each backend's raw outputs of its examples
        and its detector's flags (a flagged example fools no one)."""
        shared = self.shared
        x = shared.x[chunk]
        crafted = distortion(x, result.x_crafted, shared.reference_step)
        sent = distortion(x, result.x_adv, shared.reference_step)
        per_backend = {}
        for backend in self.evaluated:
            raw = outputs[backend.name]
            if backend.precision == "float":
                after = distortion(x, result.x_adv, 0.0)
            else:
                after = lattice_distortion(backend, x, result.x_adv)
            fooled = result.criterion.is_adversarial(raw.argmax(axis=1))
            flagged = detected.get(backend.name)
            if flagged is not None:
                fooled = fooled & ~flagged
            per_backend[backend.name] = (raw, after, fooled, flagged)
        config = attack.config()
        records = []
        for j, position in enumerate(chunk):
            i = int(shared.indices[position])
            label = int(shared.y[position])
            goal = int(shared.targets[position]) if attack.targeted else None
            outcomes = {}
            for name, (raw, after, fooled, flagged) in per_backend.items():
                prediction = int(raw[j].argmax())
                clean = shared.clean_raw[name][position]
                outcomes[name] = BackendOutcome(
                    clean_prediction=int(clean.argmax()),
                    clean_raw=_jsonable(clean),
                    prediction=prediction,
                    raw=_jsonable(raw[j]),
                    success=bool(fooled[j]),
                    distortion=after[j],
                    detected=None if flagged is None else bool(flagged[j]),
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
                    query_budget=self.c.budget(attack),
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
                    reference_step=shared.reference_step,
                    backends=outcomes,
                )
            )
        return records


class Cells(Protocol):
    """Where cells run: ``host.run.cluster.Cluster`` (Ray workers) implements it."""

    def records(
        self, shared: CampaignData, backends: Mapping[str, Backend], work: list[Work]
    ) -> Iterator[list[AttackRecord]]:
        """Each work item's records, in the order of ``work``, as they are done (every item
        submitted before this returns)."""
        ...


class Runner:
    """Runs a campaign: loads data and backends once, then attack by attack, chunk by chunk,
    in this process or on Ray workers (``cells``), appending records in the same order."""

    def __init__(
        self,
        campaign: Campaign,
        out: Path | None = None,
        data_dir: str | Path | None = None,
        progress: bool = False,
        backends: dict[str, Backend] | None = None,
        inform: Callable[[str], None] | None = None,
        dataset: data.Dataset | None = None,
        resume_checked: bool = False,
        cells: Cells | None = None,
    ) -> None:
        """``out``: the folder of records.jsonl (None: records in memory only). ``backends``:
        loaded backends to reuse (and to add to), so that a board is opened once per run.
        ``inform``: told, in one line, how long query attacks may take before they start.
        ``dataset``: the model's evaluation split, already loaded. The campaign is
        checked against the records already in ``out`` (``check_resume``) before any work (only
        the board is opened before: its firmware is part of the check), unless
        ``resume_checked``: the caller checked it with the other campaigns of its run.
        ``cells``: run the cells there (Ray workers) instead of in this process."""
        self.c = campaign
        self.progress = progress
        self.inform = inform
        self.cells = cells
        entry = zoo.spec(campaign.model)
        dataset = dataset or data.load(entry.dataset, entry.eval_split, data_dir)
        self.indices, self.x, self.y, targets = campaign_examples(campaign, dataset)
        self._backends = backends if backends is not None else {}
        if not resume_checked:
            names = [*campaign.backends, campaign.oracle]
            boards = {n: self.backend(n) for n in names if parse_name(n)[0] == "device"}
            check_resume(out, [campaign], boards, dataset)
        names = list(dict.fromkeys([*campaign.backends, campaign.oracle]))
        self.used = {name: self.backend(name) for name in names}
        evaluated = [self.used[name] for name in campaign.backends]
        self.shared = CampaignData(
            campaign=campaign,
            indices=self.indices,
            x=self.x,
            y=self.y,
            targets=targets,
            nb_classes=len(dataset.classes),
            clean_raw={b.name: self._raw(b, self.x) for b in evaluated},
            reference_step=_reference_step([self.used[campaign.oracle], *evaluated]),
        )
        self.local = CellRunner(self.shared, self.used)
        self.oracle = self.local.oracle
        self.records = RecordFile(out / RECORDS if out is not None else None)
        self._done: set[tuple[str, int, str]] = set()  # record keys in the file (``start``)
        self._cells_left = 0

    def backend(self, name: str) -> Backend:
        if name not in self._backends:
            self._backends[name] = get_backend(self.c.model, name, self._backends)
        return self._backends[name]

    def _raw(self, backend: Backend, x: np.ndarray) -> np.ndarray:
        return run_in_chunks(backend, x).reshape(len(x), -1)

    def run(self) -> list[AttackRecord]:
        """Run everything not yet recorded; return this campaign's records."""
        return self.finish(self.start())

    def start(self) -> Iterator[list[AttackRecord]]:
        """Begin the cells not yet recorded; their records, cell by cell, for ``finish``. On
        Ray every cell is submitted now, so that the cells of several campaigns run together;
        in this process each cell runs when its records are read."""
        self._done = {record.key for record in self.records.read()}
        work = self._missing_work(self._done)
        self._announce(work)
        self._cells_left = len(work)
        if self.cells is None:
            return (self.local.records(item, self.progress) for item in work)
        return self.cells.records(self.shared, self.used, work)

    def finish(self, made: Iterator[list[AttackRecord]]) -> list[AttackRecord]:
        """Append the records of ``start``'s cells in their order (records already in the
        file skipped); return this campaign's records."""
        done = self._done
        with self.records.appending():
            for records in tqdm(
                made,
                total=self._cells_left,
                desc="attacks",
                unit="chunk",
                disable=not self.progress,
            ):
                for record in records:
                    if record.key not in done:
                        self.records.append(record)
                        done.add(record.key)
        ids = {config_id(self.c, attack) for attack in self.c.attacks}
        wanted = set(self.indices.tolist())
        return [r for r in self.records.read() if r.config_id in ids and r.index in wanted]

    def _missing_work(self, done: set) -> list[Work]:
        """(attack, config id, chunk of positions, eps) still to run, chunk by chunk: every eps
        of a chunk in one item (an eps-bounded attack, only the missing ones), so that its
        results go to each backend in one call."""
        work: list[Work] = []
        positions = np.arange(len(self.x))
        for attack in self.c.attacks:
            cid = config_id(self.c, attack)
            epsilons: list[float | None] = [*self.c.epsilons]
            if not attack.bounded:  # a minimisation attack's own output first ("none")
                epsilons.insert(0, None)
            for start in range(0, len(self.x), CHUNK):
                chunk = positions[start : start + CHUNK]
                missing = [
                    eps
                    for eps in epsilons
                    if any((cid, int(self.indices[i]), eps_label(eps)) not in done for i in chunk)
                ]
                if missing:
                    work.append((attack, cid, chunk, missing if attack.bounded else epsilons))
        return work

    def _announce(self, work: list[Work]) -> None:
        """One line per query attack before it starts: its queries at most, and how long that
        takes at the oracle's speed (one warm batch of queries measured, multiplied)."""
        if self.inform is None:
            return
        examples: dict[str, int] = {}
        for attack, _, chunk, epsilons in work:
            if attack.access != "gradient":
                runs = example_runs(attack, chunk, epsilons)
                examples[attack.name] = examples.get(attack.name, 0) + runs
        if not examples:
            return
        batch = self.x[: min(len(self.x), 8)]
        self.oracle.scores(batch)  # warm up: the first call traces or connects, once
        start = time.perf_counter()
        self.oracle.scores(batch)
        per_query = (time.perf_counter() - start) / len(batch)
        for attack in self.c.attacks:
            if attack.name not in examples:
                continue
            queries = examples[attack.name] * (self.c.budget(attack) or 0)
            self.inform(
                f"{attack.name} on {self.oracle.name}: at most {queries:,} queries "
                f"({examples[attack.name]} example runs x {self.c.budget(attack):,}), about "
                f"{_duration(queries * per_query)} at {1000 * per_query:.1f} ms per query"
            )


def _reference_step(backends: Sequence[Backend]) -> float:
    """The input step distortions count in: the first integer backend's (0: all float)."""
    for backend in backends:
        if backend.precision != "float":
            return step_of(backend)
    return 0.0


def measure_for_audit(
    folder: Path,
    model: str,
    files: dict[str, dict[str, str]],
    backends: Mapping[str, Backend],
    dataset: data.Dataset,
    n: int | None,
    sample_seed: int | None,
) -> None:
    """The gradient-masking audit's measurements of a model at the end of its campaigns
    (``host.metrics.measure``, a few seconds), kept in the run folder; a resumed run with the
    same model files reuses them."""
    if run_folder.has_gradients(folder, model, files) or dataset.x.dtype != np.uint8:
        return
    indices = select_examples(dataset, n, sample_seed)
    x = dataset.x[indices].astype(np.float32) / np.float32(255.0)
    run_folder.add_gradients(folder, model, files, measure(model, backends, x, dataset.y[indices]))


@contextmanager
def seeded_random_states() -> Iterator[None]:
    """While an attack runs, an unseeded ``np.random.RandomState()`` (ART's Boundary and
    HopSkipJump draw their starting points from one, seeded by the OS) takes its seed from
    numpy's global generator, which every attack seeds per cell: their records are
    reproducible too, resumed or not."""
    original = np.random.RandomState

    class Seeded(original):  # type: ignore[misc, valid-type]
        def __init__(self, seed: Any = None) -> None:
            super().__init__(np.random.randint(2**31) if seed is None else seed)

    setattr(np.random, "RandomState", Seeded)  # noqa: B010 (a module attribute, restored)
    try:
        yield
    finally:
        setattr(np.random, "RandomState", original)  # noqa: B010


def example_runs(attack: Attack, chunk: np.ndarray, epsilons: Sequence[float | None]) -> int:
    """Example runs of one work item: one example at one eps (all eps for a minimal attack)."""
    return len(chunk) * (len(epsilons) if attack.bounded else 1)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


BAR_FORMAT = "{l_bar}{bar}| {n:.1f}/{total} examples [{elapsed}<{remaining}]"


class QueryProgress:
    """A per-example progress bar of one query attack call (a QueryListener): an example
    counts as done when its call ends, and in part as it spends its budget."""

    def __init__(self, attack: Attack, examples: int, budget: int | None, enabled: bool) -> None:
        self.budget = budget
        self.enabled = enabled and attack.access != "gradient" and budget is not None
        self.bar = tqdm(
            total=examples,
            desc=f"  {attack.name}",
            unit="example",
            leave=False,
            disable=not self.enabled,
            bar_format=BAR_FORMAT,
        )
        self.finished = 0
        self.current = 0

    def started(self, examples: int) -> None:
        self.finished += self.current
        self.current = examples
        self._show(0.0)

    def queried(self, counts: np.ndarray) -> None:
        assert self.budget is not None  # only listened to with a budget
        self._show(float(np.minimum(counts / self.budget, 1.0).sum()))

    def _show(self, partial: float) -> None:
        if self.enabled:
            self.bar.n = self.finished + partial
            self.bar.refresh()

    def __enter__(self) -> QueryProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()
