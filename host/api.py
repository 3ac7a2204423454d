"""The Python API: evaluate a model, run an attack campaign, get results back.

    from host.api import evaluate, run_campaign
    result = evaluate("cifar10-resnet8", backends=["float", "engine-int8"], n=100)
    result.accuracy                      # {"float": 83.0, "engine-int8": 82.0}
    campaign = run_campaign("cifar10-resnet8", ["pgd"], epsilons=[0.002], n=100)
    print(campaign.table)

    job = run_file("campaigns/quick.toml", n=4)   # a campaign file, into runs/<time>-quick/
    print(job.folder, job.skipped)

A model is a zoo name, a folder with a model.toml, or the user's own .tflite file (``dataset=``).
Nothing is printed or written unless asked (``progress=True``, ``out=``). Errors are
``host.errors.UserError`` (a bad argument: ``ArgumentError``, also a ``ValueError``).
The commands ``python -m host.evaluate`` and ``python -m host.campaign`` wrap these functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from host.attacks import Attack
from host.attacks.threat import check_eps
from host.backends import oracle_backends
from host.board.pool import BoardSpec
from host.defenses import parse_name
from host.errors import ArgumentError, LinkError, UserError
from host.records import AttackRecord, EvaluationResult
from host.report import campaign_table, summarise, summarise_run, summary_markdown
from host.report.summary import Row
from host.run import folder as run_folder
from host.run.boards import board_access, opened_boards
from host.run.campaign import RECORDS, Campaign, Runner, build_attacks, plan_campaign
from host.run.cluster import Execution, cluster_for
from host.run.evaluation import Target, evaluate_target
from host.run.job import JobResult, run_job
from host.run.spec import CampaignSpec, load_campaign

__all__ = [
    "AttackRecord",
    "CampaignResult",
    "EvaluationResult",
    "JobResult",
    "check_campaign",
    "default_backends",
    "evaluate",
    "run_campaign",
    "run_file",
]


def default_backends(model: str) -> list[str]:
    """The backends a campaign evaluates on when none are given: float and TFLite Micro's
    answer (the ground truth of what the board computes) for every precision the model has, from
    the engine (``engine-<p>``) where it compiles the model, else the wheel (``tflm-<p>``). A
    clean evaluation takes every host kernel instead (``available_backends``), to compare them."""
    return oracle_backends(model)


def evaluate(
    model: str | Path,
    backends: Sequence[str] | None = None,
    n: int | None = None,
    data_dir: str | Path | None = None,
    *,
    dataset: str | None = None,
    split: str | None = None,
    input_range: float = 1.0,
    sample_seed: int | None = None,
    agreement_ops: bool = False,
    optional_backends: Iterable[str] = (),
    out: str | Path | None = None,
    progress: bool = False,
    command: Sequence[str] | None = None,
) -> EvaluationResult:
    """Clean accuracy per backend and agreement between integer backends of one precision.

    ``model``: a zoo name, a model folder, or a .tflite path (then ``dataset`` names its data
    set, ``split`` and ``input_range`` optional). ``n`` examples, the first ones or, with
    ``sample_seed``, drawn at random. ``agreement_ops``: also cut the graph after each op to
    find where two host backends diverge. ``optional_backends`` are skipped (``result.skipped``)
    when they cannot load.
    ``out``: also write a run folder ``<out>/<UTC time>-<model>/`` with ``evaluation.json``
    (``result.path``) and ``run.json`` (``command``: what to record as the command).
    """
    _check_seed("sample_seed", sample_seed)
    target = Target.resolve(model, dataset, split, input_range)
    result = evaluate_target(
        target,
        None if backends is None else list(backends),
        n,
        data_dir,
        sample_seed,
        optional_backends,
        agreement_ops,
        progress,
    )
    result.command = list(command) if command is not None else None
    if out is not None:
        folder = run_folder.new_folder(out, result.model)
        manifest = run_folder.Manifest(folder, result.command or [], {"evaluate": target.label})
        run_folder.add_evaluation(folder, result)
        manifest.finish()
    return result


@dataclass
class CampaignResult:
    """A campaign's records and their summary (one row per attack and eps)."""

    model: str
    mode: str
    oracle: str
    seed: int
    query_budget: int | None
    backends: list[str]
    attacks: list[dict[str, Any]]  # each attack's name, norm and parameters
    rows: list[Row]
    records: list[AttackRecord]
    model_files: dict[str, dict[str, str]]  # precision -> path, sha256
    out: Path | None = None

    @property
    def records_file(self) -> Path | None:
        """The records.jsonl written (None: the records were kept in memory only)."""
        return self.out / RECORDS if self.out is not None else None

    @property
    def table(self) -> str:
        """The summary as a markdown table."""
        return campaign_table(self.rows, self.backends)

    def summary(self) -> dict[str, Any]:
        """The summary as written to summary.json, from the records: a table with the model's
        file hashes, examples, seed, query budgets and backends, and the board against TFLite
        Micro on every adversarial input."""
        return summarise_run(self.records, {self.model: self.model_files})

    @property
    def markdown(self) -> str:
        """The summary as written to summary.md (the table under what it was run with)."""
        return summary_markdown(self.summary())


def check_campaign(
    model: str,
    attacks: Sequence[str | Attack],
    epsilons: Sequence[float] = (),
    *,
    eps_steps: Sequence[float] = (),
    backends: Sequence[str] | None = None,
    mode: str = "transfer",
    oracle: str | None = None,
    n: int | None = None,
    seed: int = 0,
    queries: int | None = None,
    norm: str | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Campaign:
    """The campaign ``run_campaign`` runs, checked without loading data or writing anything
    (an ``ArgumentError`` for the first bad argument).

    ``attacks``: names (``"pgd"``, ``"square-linf"``...; ``norm`` and ``params={"pgd":
    {"max_iter": 40}}`` apply to them) or ``Attack`` objects. ``epsilons`` in [0,1] units (at
    most 1 for linf) and ``eps_steps`` in input quantization steps (eps-bounded attacks need one
    of them). ``mode="transfer"`` crafts on the float model; ``mode="direct"`` queries an
    integer ``oracle`` (default: the last integer backend). ``n``: the first n examples;
    ``seed`` >= 0; ``queries``: per-example budget of query attacks.
    """
    _check_seed("seed", seed)
    built = build_attacks(attacks, norm, params or {})
    _check_eps("eps_steps", eps_steps, None)
    for attack in built:
        _check_eps("epsilons", epsilons, attack)
    return plan_campaign(
        model,
        built,
        default_backends(model) if backends is None else backends,
        epsilons,
        eps_steps,
        mode,
        oracle,
        n,
        seed,
        queries,
    )


def run_campaign(
    model: str,
    attacks: Sequence[str | Attack],
    epsilons: Sequence[float] = (),
    *,
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    progress: bool = False,
    inform: Callable[[str], None] | None = None,
    boards: Sequence[BoardSpec] = (),
    workers: int | None = None,
    ray_address: str | None = None,
    **options: Any,
) -> CampaignResult:
    """Craft adversarial examples on the first ``n`` examples and evaluate them on every backend.

    ``attacks``, ``epsilons`` and ``options`` (``eps_steps``, ``backends``, ``mode``,
    ``oracle``, ``n``, ``seed``, ``queries``, ``norm``, ``params``): as ``check_campaign``,
    which checks them all before any work. ``out``: a folder for records.jsonl, summary.json
    and summary.md; a rerun with the same ``out`` skips what is recorded there. ``inform`` is
    told, in one line per query attack, how long it may take before it starts. ``boards``:
    the device backends run on these boards (``host.board.pool.parse_boards``). ``workers``,
    ``ray_address``: the cells on Ray, as for ``run_file``.
    """
    execution = Execution(workers, ray_address)
    campaign = check_campaign(model, attacks, epsilons, **options)
    execution.check_reachable()
    folder = Path(out) if out is not None else None
    names = [*campaign.backends, campaign.oracle]
    try:
        with cluster_for(execution) as cluster:
            on, member = board_access(cluster, boards, names, inform)
            with opened_boards(campaign.model, names, on, member) as loaded:
                records = Runner(
                    campaign,
                    folder,
                    data_dir,
                    progress,
                    backends=loaded,
                    inform=inform,
                    cells=cluster,
                ).run()
    except LinkError as error:
        error.folder = folder  # the records so far are kept there
        raise
    result = CampaignResult(
        model=campaign.model,
        mode=campaign.mode,
        oracle=campaign.oracle,
        seed=campaign.seed,
        query_budget=campaign.queries,
        backends=campaign.backends,
        attacks=[attack.config() for attack in campaign.attacks],
        rows=summarise(records, campaign.backends),
        records=records,
        model_files=run_folder.model_files(
            model, sorted({parse_name(b)[1] for b in campaign.backends})
        ),
        out=folder,
    )
    if folder is not None:
        run_folder.write_summary(folder, records, {campaign.model: result.model_files})
    return result


def run_file(
    campaign: str | Path | CampaignSpec,
    *,
    models: Sequence[str] | None = None,
    n: int | None = None,
    seed: int | None = None,
    out: str | Path = "runs",
    resume: str | Path | None = None,
    data_dir: str | Path | None = None,
    command: Sequence[str] = (),
    progress: bool = False,
    inform: Callable[[str], None] | None = None,
    boards: Sequence[BoardSpec] = (),
    workers: int | None = None,
    ray_address: str | None = None,
) -> JobResult:
    """Run a campaign file (``campaigns/quick.toml``...) into a new run folder
    ``<out>/<UTC time>-<name>/``, or into ``resume`` (an earlier run's folder: what is recorded
    there is skipped). ``models``, ``n``, ``seed`` override the file's. ``inform`` gets one
    line per thing skipped and per query attack's time estimate. ``boards``: the device
    backends run on these boards (``host.board.pool.parse_boards``). ``workers``: the attack
    cells on that many local Ray workers; ``ray_address``: on the Ray cluster there (the same
    records either way: ``host.run.cluster``)."""
    execution = Execution(workers, ray_address)
    execution.check_reachable()
    spec = campaign if isinstance(campaign, CampaignSpec) else load_campaign(campaign)
    spec = spec.with_overrides(list(models) if models else None, n, seed)
    if n is not None and n <= 0:
        raise ArgumentError(f"n must be positive, got {n}", "n")
    _check_seed("seed", seed)
    if resume is not None:
        folder = run_folder.resume_folder(resume)
    else:
        folder = run_folder.new_folder(out, spec.name)
    try:
        return run_job(
            spec,
            folder,
            list(command),
            data_dir,
            progress,
            inform,
            boards=tuple(boards),
            execution=execution,
        )
    except LinkError as error:
        error.folder = folder  # the records so far are kept there
        raise


def _check_seed(parameter: str, seed: int | None) -> None:
    """A seed is a non-negative integer (None: not given)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ArgumentError(f"{parameter} must be an integer >= 0, got {seed!r}", parameter)


def _check_eps(parameter: str, values: Sequence[float], attack: Attack | None) -> None:
    """Eps values in range (``check_eps``: linf at most 1) for ``attack``'s norm."""
    try:
        check_eps(list(values), attack.norm if attack else None)
    except UserError as error:
        about = f" attack {attack.name} ({attack.norm}):" if attack else ""
        raise ArgumentError(f"{parameter}:{about} {error}", parameter) from None
