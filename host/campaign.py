"""Attack campaigns: craft adversarial examples, evaluate them on every backend, record, summarise.

    python -m host.campaign --model cifar10-resnet8 --attacks pgd --eps 0.001,0.002 \
        --backends float,tflm-int16,tflm-int8 --n 297

Two modes. ``transfer``: craft on the float model (white-box for gradient attacks, counted
black-box queries for the others) and evaluate the same examples on every backend. ``direct``:
query attacks run against an integer backend itself (``--oracle tflm-int8``, ``device-int8``).
Every (example, attack, eps) becomes one JSON line in ``<out>/records.jsonl``, appended and
flushed at once; a rerun with the same configuration skips what is recorded. The summary
(accuracy per backend per eps, distortion, transfer rates) is built from the records only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from host import data, zoo
from host.attacks import ATTACKS, Attack, EpsResult, Oracle, make_attack
from host.attacks.base import seed_for
from host.attacks.threat import (
    check_eps,
    distortion,
    eps_from_steps,
    lattice_distortion,
    step_of,
)
from host.backends import Backend, get_backend, parse_name
from host.errors import UserError, cli_main

CHUNK = 64
MODES = ("transfer", "direct")
RECORDS = "records.jsonl"


@dataclass
class Campaign:
    """What to run: model, attacks, eps grid (in [0,1] units), backends, oracle, budget, seed."""

    model: str
    attacks: list[Attack]
    epsilons: list[float]
    backends: list[str]
    mode: str = "transfer"
    oracle: str = "float"
    n: int | None = None
    seed: int = 0
    queries: int | None = None
    out: Path = Path("runs/campaign")
    data_dir: str | None = None
    eps_steps: dict[float, float] = field(default_factory=dict)  # eps -> eps in input steps


# ---------------------------------------------------------------- command-line options


def add_attack_arguments(parser: argparse.ArgumentParser, seed: bool = True) -> None:
    """Register the attack options (shared with ``python -m host.evaluate``, which has its own
    ``--seed``: ``seed=False`` leaves it out)."""
    group = parser.add_argument_group("attacks")
    group.add_argument("--attacks", help=f"comma-separated attacks: {', '.join(ATTACKS)}")
    group.add_argument("--eps", help="comma-separated eps in [0,1] units, e.g. 0.002,0.004")
    group.add_argument("--eps-steps", help="comma-separated eps in input quantization steps")
    group.add_argument("--norm", help="norm for attacks that support several (linf, l2, l1, l0)")
    group.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="ATTACK.KEY=VALUE",
        help="override an attack parameter, e.g. pgd.max_iter=40 (repeatable)",
    )
    group.add_argument("--mode", choices=MODES, default="transfer", help="(default: transfer)")
    group.add_argument(
        "--oracle",
        help="backend the attack queries (transfer: float; direct: "
        "an integer backend, default the last integer one in --backends)",
    )
    group.add_argument("--queries", type=int, help="query budget per example (query attacks)")
    if seed:
        group.add_argument("--seed", type=int, default=0, help="seed of everything (default: 0)")


def _numbers(text: str | None, option: str) -> list[float]:
    if not text:
        return []
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError as error:
        raise UserError(f"{option} takes comma-separated numbers, got {text!r}") from error


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def attacks_from_args(args: argparse.Namespace) -> list[Attack]:
    """Build the requested attacks with their overrides, checking names, norms and parameters."""
    names = [name.strip() for name in (args.attacks or "").split(",") if name.strip()]
    if not names:
        raise UserError(f"--attacks is empty; known: {', '.join(ATTACKS)}")
    overrides: dict[str, dict[str, Any]] = {name: {} for name in names}
    for item in args.param:
        key, sep, value = item.partition("=")
        attack, dot, param = key.partition(".")
        if not sep or not dot:
            raise UserError(f"--param takes ATTACK.KEY=VALUE, got {item!r}")
        if attack not in overrides:
            raise UserError(f"--param {item!r}: attack {attack!r} is not in --attacks")
        overrides[attack][param] = _value(value)
    return [make_attack(name, norm=args.norm, **overrides[name]) for name in names]


def reference_step(model: str, oracle: str, backends: list[str]) -> float:
    """The input step that --eps-steps counts in: the oracle's, else the first integer backend's."""
    for name in [oracle, *backends]:
        if parse_name(name)[1] != "float":
            return step_of(get_backend(model, f"tflm-{parse_name(name)[1]}"))
    raise UserError("--eps-steps needs an integer backend (e.g. tflm-int8) to define the step")


def campaign_from_args(
    args: argparse.Namespace,
    model: str,
    backends: list[str],
    n: int | None,
    out: Path,
    data_dir: str | None = None,
) -> Campaign:
    """A checked Campaign from parsed options (what ``python -m host.evaluate`` calls)."""
    attacks = attacks_from_args(args)
    if args.mode not in MODES:
        raise UserError(f"unknown mode {args.mode!r}; known: {', '.join(MODES)}")
    for name in backends:
        parse_name(name)
    oracle = args.oracle or _default_oracle(args.mode, backends)
    parse_name(oracle)
    _check_mode(args.mode, oracle, attacks)
    if args.queries is not None and args.queries <= 0:
        raise UserError(f"--queries must be positive, got {args.queries}")
    eps = check_eps(_numbers(args.eps, "--eps"))
    steps = check_eps(_numbers(args.eps_steps, "--eps-steps"))
    eps_steps = {}
    if steps:
        step = reference_step(model, oracle, backends)
        for value in steps:
            eps_steps[eps_from_steps(value, step)] = value
    epsilons = list(dict.fromkeys([*eps, *eps_steps]))
    if not epsilons and any(attack.bounded for attack in attacks):
        bounded = [attack.name for attack in attacks if attack.bounded]
        raise UserError(f"attacks {', '.join(bounded)} need --eps or --eps-steps")
    return Campaign(
        model=model,
        attacks=attacks,
        epsilons=epsilons,
        backends=backends,
        mode=args.mode,
        oracle=oracle,
        n=n,
        seed=args.seed,
        queries=args.queries,
        out=out,
        data_dir=data_dir,
        eps_steps=eps_steps,
    )


def _default_oracle(mode: str, backends: list[str]) -> str:
    if mode == "transfer":
        return "float"
    integer = [name for name in backends if parse_name(name)[1] != "float"]
    if not integer:
        raise UserError("--mode direct needs an integer --oracle (e.g. tflm-int8, device-int8)")
    return integer[-1]


def _check_mode(mode: str, oracle: str, attacks: list[Attack]) -> None:
    integer = parse_name(oracle)[1] != "float"
    if mode == "transfer" and integer:
        raise UserError(f"--mode transfer crafts on the float model, not on {oracle}; use direct")
    if mode == "direct" and not integer:
        raise UserError("--mode direct attacks an integer backend: give --oracle, e.g. tflm-int8")
    if integer:
        gradient = [attack.name for attack in attacks if attack.kind == "gradient"]
        if gradient:
            raise UserError(
                f"{', '.join(gradient)} need gradients, which {oracle} does not have: "
                "craft them on float (--mode transfer)"
            )


# ---------------------------------------------------------------- running


def config_id(campaign: Campaign, attack: Attack) -> str:
    """A short hash of everything that defines an attack's records (for skipping on rerun)."""
    config = {
        "model": campaign.model,
        "mode": campaign.mode,
        "oracle": campaign.oracle,
        "seed": campaign.seed,
        "queries": campaign.queries if attack.kind != "gradient" else None,
        **attack.config(),
    }
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]


def eps_label(eps: float | None) -> str:
    return "none" if eps is None else repr(float(eps))


def read_records(path: Path) -> list[dict]:
    """All complete records of a records file (a torn last line is ignored)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _jsonable(values: np.ndarray) -> list:
    values = np.asarray(values)
    if np.issubdtype(values.dtype, np.integer):
        return [int(v) for v in values.ravel()]
    return [float(v) for v in values.ravel()]


class Runner:
    """Runs a campaign: loads data and backends once, then attack by attack, chunk by chunk."""

    def __init__(self, campaign: Campaign, progress: bool = True) -> None:
        self.c = campaign
        self.progress = progress
        entry = zoo.spec(campaign.model)
        dataset = data.load(entry.dataset, entry.eval_split, campaign.data_dir)
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
        self.path = campaign.out / RECORDS

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
        outputs = [backend.predict(x[i : i + CHUNK]) for i in range(0, len(x), CHUNK)]
        return np.concatenate(outputs).reshape(len(x), -1)

    def run(self) -> list[dict]:
        """Run everything not yet recorded; return this campaign's records."""
        self.c.out.mkdir(parents=True, exist_ok=True)
        done = {(r["config_id"], r["index"], r["eps"]) for r in read_records(self.path)}
        work = []
        for attack in self.c.attacks:
            cid = config_id(self.c, attack)
            epsilons = self.c.epsilons if attack.bounded else [None, *self.c.epsilons]
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
        with self.path.open("a") as sink:
            if self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n"):
                sink.write("\n")  # end a line torn by an interrupted run
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
                        if (cid, record["index"], record["eps"]) in done:
                            continue
                        sink.write(json.dumps(record) + "\n")
                        sink.flush()
                        done.add((cid, record["index"], record["eps"]))
        ids = {config_id(self.c, attack) for attack in self.c.attacks}
        wanted = set(self.indices.tolist())
        return [
            r for r in read_records(self.path) if r["config_id"] in ids and r["index"] in wanted
        ]

    def _records(
        self, attack: Attack, cid: str, chunk: np.ndarray, result: EpsResult
    ) -> list[dict]:
        x = self.x[chunk]
        crafted = distortion(x, result.x_raw, self.ref_step)
        sent = distortion(x, result.x_adv, self.ref_step)
        per_backend = {}
        for backend in self.evaluated:
            raw = self._raw(backend, result.x_adv)
            if backend.precision == "float":
                after = distortion(x, result.x_adv, 0.0)
            else:
                after = lattice_distortion(backend, x, result.x_adv)
            per_backend[backend.name] = (raw, after)
        records = []
        for j, i in enumerate(chunk):
            i = int(i)
            label = int(self.y[i])
            goal = int(self.targets[i]) if attack.targeted else None
            backends = {}
            for name, (raw, after) in per_backend.items():
                prediction = int(raw[j].argmax())
                clean = self.clean_raw[name][i]
                backends[name] = {
                    "clean_prediction": int(clean.argmax()),
                    "clean_raw": _jsonable(clean),
                    "prediction": prediction,
                    "raw": _jsonable(raw[j]),
                    "success": prediction == goal if attack.targeted else prediction != label,
                    "distortion": after[j],
                }
            records.append(
                {
                    "config_id": cid,
                    "model": self.c.model,
                    "mode": self.c.mode,
                    "oracle": self.c.oracle,
                    **attack.config(),
                    "params_effective": attack.effective_params(self.oracle),
                    "seed": self.c.seed,
                    "query_budget": self.c.queries,
                    "eps": eps_label(result.eps),
                    "eps_steps": self.c.eps_steps.get(result.eps),
                    "index": i,
                    "label": label,
                    "target": goal,
                    "oracle_success": bool(result.success[j]),
                    "oracle_prediction": int(result.predictions[j]),
                    "queries": int(result.queries[j]),
                    "invalid": bool(result.invalid[j]),
                    "distortion": {"crafted": crafted[j], "sent": sent[j]},
                    "reference_step": self.ref_step,
                    "backends": backends,
                }
            )
        return records


# ---------------------------------------------------------------- summary


def summarise(records: list[dict], backends: list[str]) -> list[dict]:
    """One row per (attack, eps): accuracy per backend, distortion, transfer rates, queries."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault((record["attack"], record["norm"], record["eps"]), []).append(record)
    rows = []
    for (attack, norm, eps), group in groups.items():
        crafted_l2 = np.array([r["distortion"]["sent"]["float"]["l2"] for r in group])
        crafted_linf = np.array([r["distortion"]["sent"]["float"]["linf"] for r in group])
        hits = [r for r in group if r["oracle_success"]]
        row = {
            "attack": attack,
            "norm": norm,
            "eps": eps,
            "eps_steps": group[0].get("eps_steps"),
            "n": len(group),
            "oracle_success_pct": 100.0 * len(hits) / len(group),
            "l2_mean": float(crafted_l2.mean()),
            "l2_max": float(crafted_l2.max()),
            "linf_mean": float(crafted_linf.mean()),
            "linf_max": float(crafted_linf.max()),
            "queries_mean": float(np.mean([r["queries"] for r in group])),
            "clean_pct": {},
            "accuracy_pct": {},
            "transfer_pct": {},
            "linf_steps_max": {},
        }
        for name in backends:
            entries = [r["backends"][name] for r in group if name in r["backends"]]
            if not entries:
                continue
            labels = [r["label"] for r in group if name in r["backends"]]
            row["clean_pct"][name] = 100.0 * np.mean(
                [e["clean_prediction"] == lab for e, lab in zip(entries, labels, strict=True)]
            )
            row["accuracy_pct"][name] = 100.0 * np.mean(
                [e["prediction"] == lab for e, lab in zip(entries, labels, strict=True)]
            )
            moved = [  # fooled on the oracle, and clean-correct on this backend
                r["backends"][name]["success"]
                for r in hits
                if name in r["backends"] and r["backends"][name]["clean_prediction"] == r["label"]
            ]
            row["transfer_pct"][name] = 100.0 * float(np.mean(moved)) if moved else None
            steps = [e["distortion"]["steps"] for e in entries if e["distortion"]["steps"]]
            row["linf_steps_max"][name] = max((s["linf"] for s in steps), default=None)
        rows.append(row)
    rows.sort(key=lambda r: (r["attack"], r["eps"] != "none", _eps_value(r["eps"])))
    return rows


def _eps_value(eps: str) -> float:
    return float("inf") if eps == "none" else float(eps)


def format_table(rows: list[dict], backends: list[str]) -> str:
    """A markdown table: accuracy per backend per eps, distortion, transfer rates, queries."""
    head = ["attack", "eps"] + [f"{b} acc %" for b in backends]
    head += ["oracle success %", "L2 mean/max", "Linf mean/max"]
    head += [f"transfer {b} %" for b in backends] + ["queries"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    if rows:
        clean = ["clean", ""] + [_pct(rows[0]["clean_pct"].get(b)) for b in backends]
        lines.append("| " + " | ".join(clean + [""] * (len(head) - len(clean))) + " |")
    for row in rows:
        eps = row["eps"] if row["eps"] == "none" else f"{float(row['eps']):.6g}"
        if row["eps_steps"] is not None:
            eps += f" ({row['eps_steps']:g} steps)"
        cells = [f"{row['attack']} ({row['norm']})", eps]
        cells += [_pct(row["accuracy_pct"].get(b)) for b in backends]
        cells.append(_pct(row["oracle_success_pct"]))
        cells.append(f"{row['l2_mean']:.4f}/{row['l2_max']:.4f}")
        cells.append(f"{row['linf_mean']:.4f}/{row['linf_max']:.4f}")
        cells += [_pct(row["transfer_pct"].get(b)) for b in backends]
        cells.append(f"{row['queries_mean']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def run_campaign(campaign: Campaign, progress: bool = True) -> dict:
    """Run (or resume) a campaign, print and write its summary; return the summary."""
    records = Runner(campaign, progress).run()
    rows = summarise(records, campaign.backends)
    table = format_table(rows, campaign.backends)
    summary = {
        "model": campaign.model,
        "mode": campaign.mode,
        "oracle": campaign.oracle,
        "seed": campaign.seed,
        "query_budget": campaign.queries,
        "backends": campaign.backends,
        "attacks": [attack.config() for attack in campaign.attacks],
        "rows": rows,
    }
    campaign.out.mkdir(parents=True, exist_ok=True)
    (campaign.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (campaign.out / "summary.md").write_text(table + "\n")
    print(f"\n{campaign.model}, mode {campaign.mode}, oracle {campaign.oracle}\n{table}")
    print(f"\nrecords: {campaign.out / RECORDS}")
    return summary


# ---------------------------------------------------------------- command


def default_backends(model: str) -> list[str]:
    """float, tflm-int16 and tflm-int8 where the model has them."""
    names = []
    for name, precision in (("float", "float"), ("tflm-int16", "int16"), ("tflm-int8", "int8")):
        try:
            zoo.model_file(model, precision)
        except UserError:
            continue
        names.append(name)
    return names


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m host.campaign", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", required=True, help="zoo model name, e.g. cifar10-resnet8")
    parser.add_argument(
        "--backends",
        help="comma-separated backends to evaluate on "
        "(default: float,tflm-int16,tflm-int8 where they exist)",
    )
    parser.add_argument("--n", type=int, help="first n examples of the evaluation split")
    parser.add_argument("--out", help="run folder (default: runs/campaign-<model>-<mode>)")
    parser.add_argument("--data-dir", help="offline data directory (default: $TINYROBUST_DATA_DIR)")
    add_attack_arguments(parser)
    return parser.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    zoo.spec(args.model)
    if args.n is not None and args.n <= 0:
        raise UserError(f"--n must be positive, got {args.n}")
    if args.backends:
        names = list(dict.fromkeys(n.strip() for n in args.backends.split(",") if n.strip()))
    else:
        names = default_backends(args.model)
    if not names:
        raise UserError("no backends to evaluate on")
    out = Path(args.out or f"runs/campaign-{args.model}-{args.mode}")
    campaign = campaign_from_args(args, args.model, names, args.n, out, args.data_dir)
    run_campaign(campaign)
    return 0


if __name__ == "__main__":
    sys.exit(main())
