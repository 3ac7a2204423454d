"""A campaign file, run into a run folder: for each model, clean accuracy on every backend, then
every ``[[attack]]`` entry on the same examples.

What cannot run is skipped with one line saying why, and the rest runs: a backend without a
model file, the board when none runs, transfer attacks on a model without a float model, direct
attacks whose oracle is missing. Entries that share mode, oracle, budget, eps grid and sample
run together (one pass of the data and backends). Records already in the folder are skipped,
so a resumed run does only what is missing; a resume whose backends, model files, board, data,
seed or attack configuration differ from the folder's is refused before any work
(``host.run.campaign.check_resume``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from host import data, zoo
from host.attacks import Attack, make_attack
from host.backends import Backend
from host.backends.pool import Member
from host.board.pool import BoardSpec, PoolMember
from host.defenses import get_backend, parse_name
from host.errors import UserError
from host.records import AttackRecord, EvaluationResult, RecordFile
from host.report import evaluation_text
from host.run import folder as run_folder
from host.run.boards import board_access, board_backend
from host.run.campaign import (
    RECORDS,
    Campaign,
    Runner,
    check_resume,
    default_oracle,
    measure_for_audit,
    plan_campaign,
)
from host.run.cluster import Cluster, Execution, cluster_for
from host.run.evaluation import Target, evaluate_target
from host.run.spec import AttackSpec, CampaignSpec

Inform = Callable[[str], None]
IN_PROCESS = Execution()  # no Ray: every cell in this process


@dataclass
class JobResult:
    """What a campaign file's run wrote into its folder, and what it skipped."""

    folder: Path
    spec: CampaignSpec
    evaluations: list[EvaluationResult]
    records: list[AttackRecord]  # every record in the folder (a resumed run's earlier ones too)
    skipped: list[str]  # one line per thing not run, with why
    summary: dict[str, Any]
    seconds: float


def run_job(
    spec: CampaignSpec,
    folder: Path,
    command: list[str],
    data_dir: str | Path | None = None,
    progress: bool = False,
    inform: Inform | None = None,
    execution: Execution = IN_PROCESS,
    boards: tuple[BoardSpec, ...] = (),
) -> JobResult:
    """Run ``spec`` into ``folder`` (a new or a resumed run folder); ``inform`` gets one line
    per skipped thing and per query attack's time estimate, and each clean evaluation.
    ``execution``: the cells in this process, or on Ray workers (``host.run.cluster``).
    ``boards``: the device backends run on these boards (``host.board.pool``), started or
    attached for each model in turn, instead of the one board ``host.backends.device`` finds."""
    with cluster_for(execution) as cluster:
        return _run_job(spec, folder, command, data_dir, progress, inform, cluster, boards)


def _run_job(
    spec: CampaignSpec,
    folder: Path,
    command: list[str],
    data_dir: str | Path | None,
    progress: bool,
    inform: Inform | None,
    cluster: Cluster | None,
    boards: tuple[BoardSpec, ...],
) -> JobResult:
    say = inform or (lambda line: None)
    boards, member = board_access(cluster, boards, spec.backends, say)
    manifest = run_folder.Manifest(folder, command, spec.as_dict())
    manifest.values["execution"] = cluster.describe() if cluster else {"workers": None}
    evaluations, skipped, files = [], [], {}
    for model in spec.models:
        entry = zoo.spec(model)
        dataset = data.load(entry.dataset, entry.eval_split, data_dir)
        loaded: dict[str, Backend] = {}
        try:
            usable, reasons = _usable_backends(model, spec.backends, loaded, boards, member)
            for name, reason in reasons.items():
                skipped.append(f"{model}: skipping {name}: {reason}")
                say(skipped[-1])
            campaigns = []
            for group in _groups(spec.attacks):
                why = _cannot_run(group[0], usable, reasons, dataset)
                if why:
                    names = ", ".join(a.name for a in group)
                    skipped.append(f"{model}: skipping {names} ({group[0].mode}): {why}")
                    say(skipped[-1])
                    continue
                campaigns.append(_plan(spec, model, group, usable))
            check_resume(folder, campaigns, loaded, dataset)
            precisions = sorted({parse_name(name)[1] for name in usable} | {"float"})
            files[model] = run_folder.model_files(model, precisions)
            manifest.add_model(model, files[model])
            evaluation = _clean(spec, model, usable, loaded, dataset, data_dir, progress)
            run_folder.add_evaluation(folder, evaluation)
            evaluations.append(evaluation)
            say(evaluation_text(evaluation))
            runners = [
                Runner(
                    campaign,
                    folder,
                    None,
                    progress,
                    backends=loaded,
                    inform=say,
                    dataset=dataset,
                    resume_checked=True,  # above, with the model's other campaigns
                    cells=cluster,
                )
                for campaign in campaigns
            ]
            started = [runner.start() for runner in runners]  # on Ray: every cell submitted
            for runner, cells in zip(runners, started, strict=True):
                runner.finish(cells)
            if campaigns:
                measure_for_audit(
                    folder, model, files[model], loaded, dataset, spec.n, spec.sample_seed
                )
            manifest.add_board(loaded)
        finally:
            _close(loaded)
    records = RecordFile(folder / RECORDS).read()
    summary = run_folder.write_summary(folder, records, files)
    seconds = manifest.finish()
    return JobResult(folder, spec, evaluations, records, skipped, summary, seconds)


def _usable_backends(
    model: str,
    names: tuple[str, ...],
    loaded: dict[str, Backend],
    boards: tuple[BoardSpec, ...] = (),
    member: Callable[..., Member] = PoolMember,
) -> tuple[list[str], dict[str, str]]:
    """The backends that exist for ``model`` (the board, or the ``boards``, opened to find
    out) and, for the others, why not."""
    usable, reasons = [], {}
    for name in names:
        runtime, precision = parse_name(name)
        try:
            zoo.model_file(model, precision)
            if runtime == "device":
                if boards:
                    loaded[name] = board_backend(model, name, boards, member)
                else:
                    loaded[name] = get_backend(model, name)
        except UserError as error:
            reasons[name] = str(error)
            continue
        usable.append(name)
    return usable, reasons


def _clean(
    spec: CampaignSpec,
    model: str,
    usable: list[str],
    loaded: dict[str, Backend],
    dataset: data.Dataset,
    data_dir: str | Path | None,
    progress: bool,
) -> EvaluationResult:
    """Clean accuracy and agreement: on every host backend and the board ("all"), or on the
    campaign's backends."""
    target = Target.from_zoo(model)
    names = list(usable)
    if spec.clean == "all":
        boards = [name for name in usable if parse_name(name)[0] == "device"]
        names = list(dict.fromkeys([*target.default_backends(), *boards]))
    return evaluate_target(
        target,
        names,
        spec.n,
        data_dir,
        spec.sample_seed,
        progress=progress,
        loaded=loaded,
        dataset=dataset,
    )


def _groups(attacks: tuple[AttackSpec, ...]) -> list[list[AttackSpec]]:
    """Entries that can run as one campaign: same mode, oracle, budget, eps grid and n."""
    groups: dict[tuple, list[AttackSpec]] = {}
    for attack in attacks:
        key = tuple(
            getattr(attack, name)
            for name in ("mode", "oracle", "queries", "eps", "eps_steps", "steps_of", "n")
        )
        groups.setdefault(key, []).append(attack)
    return list(groups.values())


def _cannot_run(
    attack: AttackSpec, usable: list[str], reasons: dict[str, str], dataset: data.Dataset
) -> str | None:
    """Why a group of attacks cannot run on this model (None: it can)."""
    if dataset.x.dtype != np.uint8:
        return f"attacks work on images; data set {dataset.name} holds {dataset.x.dtype} features"
    if attack.mode == "transfer" and "float" not in usable:
        return "transfer attacks are crafted on a float model, and this model has none"
    try:
        oracle = attack.oracle or default_oracle(attack.mode, usable)
    except UserError as error:
        return str(error)
    if oracle not in usable and oracle != "float":
        return f"oracle {oracle} is not available ({reasons.get(oracle, 'not in backends')})"
    return None


def _plan(spec: CampaignSpec, model: str, group: list[AttackSpec], usable: list[str]) -> Campaign:
    """The checked campaign of a group of attack entries on one model."""
    first = group[0]
    attacks: list[Attack] = [make_attack(a.name, norm=a.norm, **a.params) for a in group]
    return plan_campaign(
        model,
        attacks,
        usable,
        first.eps,
        first.eps_steps,
        first.mode,
        first.oracle,
        first.n or spec.n,
        spec.seed,
        first.queries,
        spec.sample_seed,
        first.steps_of,
    )


def _close(loaded: dict[str, Backend]) -> None:
    """Close the backends that hold a connection (the board)."""
    for backend in loaded.values():
        close = getattr(backend, "close", None)
        if close is not None:
            close()
