"""Campaigns: bad configurations, records and resume, and the staircase (CI size and full size).

The staircase: PGD crafted on float and evaluated on int8. Clean images lie on the int8 input
lattice (pixel/255), so a perturbation below half a step (0.5/255 ~ 0.00196) rounds back to the
original integers on every pixel: int8 accuracy equals clean int8 accuracy. Just above half a
step, every pixel PGD pushed to +-eps rounds to a full step (1/255): the perturbation is
amplified ~2x and int8 accuracy drops below float's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from host import data, zoo
from host.api import CampaignResult, default_backends, run_campaign
from host.attacks import make_attack
from host.errors import ArgumentError, UserError
from host.records import AttackRecord, RecordFile
from host.run.campaign import plan_campaign

REPO = Path(__file__).resolve().parent.parent
PAPER_GRID = [0.0002, 0.0004, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.007]
PAPER_GRID.append(0.008)
HALF_STEP = 0.5 / 255


def _cli(*args: str, command: str = "host.campaign") -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", command, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--attacks", "fab", "--eps", "0.01"], "unknown attack 'fab'"),
        (["--attacks", "pgd", "--eps", "-0.01"], "eps must be a finite number >= 0"),
        (["--attacks", "deepfool", "--norm", "linf"], "does not support norm linf"),
        (["--attacks", "pgd"], "need --eps or --eps-steps"),
        (["--attacks", "pgd", "--eps", "0.01", "--mode", "direct", "--oracle", "float"], "direct"),
        (["--attacks", "pgd", "--eps", "0.01", "--param", "pgd.steps=3"], "no parameter steps"),
        (["--attacks", "pgd", "--eps", "0.01", "--queries", "0"], "--queries must be positive"),
        (["--attacks", "pgd", "--eps", "0.01", "--n", "0"], "--n must be positive"),
        (["--attacks", "pgd", "--eps-steps", "1", "--backends", "float"], "--eps-steps needs"),
        (["--attacks", "pgd", "--eps", "0.01", "--oracle", "tflm-int8"], "--mode transfer"),
    ],
)
@pytest.mark.parametrize("command", ["host.campaign", "host.evaluate"])
def test_bad_configuration_is_one_line_and_exit_2(args, message, command) -> None:
    done = _cli(
        "--model", "mlperf-resnet8", "--backends", "float,tflm-int8", *args, command=command
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]


def test_evaluate_runs_attacks_as_the_issue_writes_it(data_dir, tmp_path) -> None:
    """`python -m host.evaluate --model M --attacks pgd,square-linf --eps ... --backends ...`"""
    _model_or_skip("cifar10-resnet8")
    done = _cli(
        *("--model", "cifar10-resnet8", "--attacks", "pgd,square-linf", "--eps", "0.002,0.008"),
        *("--backends", "float,tflm-int8", "--n", "4", "--queries", "40", "--out", str(tmp_path)),
        command="host.evaluate",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (folder,) = tmp_path.glob("*-cifar10-resnet8-transfer")  # a new run folder of its own
    records = RecordFile(folder / "records.jsonl").read()
    assert (folder / "run.json").is_file() and (folder / "summary.md").is_file()
    assert RecordFile(str(folder / "records.jsonl")).read() == records  # a str path too
    assert (folder / "report.html").is_file() and str(folder / "report.html") in done.stdout
    assert {(r.attack, r.eps) for r in records} >= {
        ("pgd", "0.002"),
        ("square-linf", "0.008"),
    }
    assert len(records) == 2 * 2 * 4


def test_help() -> None:
    done = _cli("--help")
    assert done.returncode == 0 and "--eps-steps" in done.stdout and "--queries" in done.stdout
    assert "seed of everything" in done.stdout


def test_evaluate_sample_seed_is_not_for_attacks() -> None:
    done = _cli(
        *("--model", "mlperf-resnet8", "--attacks", "pgd", "--eps", "0.01", "--sample-seed", "3"),
        command="host.evaluate",
    )
    assert done.returncode == 2 and "--sample-seed is for clean evaluation" in done.stderr


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(attacks=["pgd"]), "attacks pgd need epsilons or eps_steps"),
        (dict(attacks=["pgd"], epsilons=[0.01], n=0), "n must be positive, got 0"),
        (
            dict(attacks=["square-linf"], epsilons=[0.01], mode="direct", backends=["float"]),
            "mode direct needs an integer oracle",
        ),
        (dict(attacks=["pgd"], epsilons=[0.01], params={"fgsm": {}}), "not in attacks"),
        (dict(attacks=[]), "attacks is empty"),
    ],
)
def test_python_errors_name_parameters_not_options(kwargs, message) -> None:
    kwargs = {"backends": ["float", "tflm-int8"], **kwargs}
    with pytest.raises(ArgumentError, match=message) as raised:  # raised before any work
        run_campaign("mlperf-resnet8", **kwargs)
    assert "--" not in str(raised.value)


def _staircase(model: str, n: int, grid: list[float], out: Path) -> CampaignResult:
    backends = ["float", "tflm-int8"]
    if model != "mlperf-resnet8":
        backends.insert(1, "tflm-int16")
    return run_campaign(model, ["pgd"], grid, backends=backends, n=n, out=out)


def _model_or_skip(model: str) -> None:
    try:
        zoo.model_file(model, "int8")
        zoo.model_file(model, "float")
    except UserError as error:
        pytest.skip(f"{model} is not trained yet: {error}")


def _check_staircase(result: CampaignResult) -> None:
    rows = {float(r["eps"]): r for r in result.rows}
    clean = rows[min(rows)]["clean_pct"]["tflm-int8"]
    for eps, row in rows.items():
        if eps < HALF_STEP:
            assert row["accuracy_pct"]["tflm-int8"] == clean, f"eps {eps}: int8 accuracy moved"
    for record in result.records:  # below half a step, the int8 inputs are the clean ones
        if float(record.eps) < HALF_STEP:
            assert record.backends["tflm-int8"].distortion["steps"]["linf"] == 0
    above = rows[min(e for e in rows if e > HALF_STEP)]
    assert above["accuracy_pct"]["tflm-int8"] <= clean - 25, "no sharp drop above half a step"
    assert above["accuracy_pct"]["tflm-int8"] < above["accuracy_pct"]["float"]


@pytest.mark.parametrize("model", ["mlperf-resnet8", "cifar10-resnet8"])
def test_staircase_small(model, data_dir, tmp_path) -> None:
    """CI size: 64 images, eps just below and just above half an int8 step."""
    _model_or_skip(model)
    result = _staircase(model, 64, [0.001, 0.002], tmp_path)
    _check_staircase(result)
    assert result.records == RecordFile(tmp_path / "records.jsonl").read()


@pytest.mark.slow
def test_staircase_paper_grid(data_dir, tmp_path) -> None:
    """The paper's PGD grid on the 297 lossless test images, float, int16 and int8."""
    model = "cifar10-resnet8"
    _model_or_skip(model)
    result = _staircase(model, 297, PAPER_GRID, tmp_path)
    _check_staircase(result)
    rows = {float(r["eps"]): r for r in result.rows}
    for eps, row in rows.items():  # int16's step (1/32767) is far below every eps: like float
        assert abs(row["accuracy_pct"]["tflm-int16"] - row["accuracy_pct"]["float"]) <= 5, eps


def test_records_resume_and_reproduce(data_dir, tmp_path) -> None:
    def campaign(out: Path) -> CampaignResult:
        return run_campaign(
            "mlperf-resnet8",
            ["pgd", "fgsm"],
            [0.004],
            backends=["float", "tflm-int8"],
            params={"pgd": {"max_iter": 3}},
            n=8,
            seed=7,
            out=out,
        )

    first = tmp_path / "a"
    campaign(first)
    lines = (first / "records.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 8
    for line in lines:  # the schema writes back exactly what it read
        assert json.dumps(AttackRecord.from_dict(json.loads(line)).to_dict()) == line
    (first / "records.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:40])  # torn
    campaign(first)
    resumed = RecordFile(first / "records.jsonl").read()
    assert len(resumed) == 16 and len({(r.attack, r.index) for r in resumed}) == 16
    repaired = (first / "records.jsonl").read_text().splitlines()
    assert len(repaired) == 16 and repaired[:5] == lines[:5]  # the torn line was cut off
    again = campaign(tmp_path / "b").records
    in_memory = campaign(None)  # out=None: the same records, nothing written

    def lines_of(records: list[AttackRecord]) -> list[str]:
        return sorted(json.dumps(r.to_dict()) for r in records)

    assert lines_of(resumed) == lines_of(again) == lines_of(in_memory.records)
    assert in_memory.out is None and in_memory.records_file is None
    record = next(r for r in again if r.attack == "fgsm")  # FGSM moves pixels by eps
    assert set(record.backends) == {"float", "tflm-int8"}
    assert record.distortion["crafted"]["steps"]["linf"] == pytest.approx(0.004 * 255, 1e-3)
    assert isinstance(record.backends["tflm-int8"].raw[0], int)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary == json.loads(json.dumps(in_memory.summary()))
    (table,) = summary["tables"]
    assert {row["attack"] for row in table["rows"]} == {"pgd", "fgsm"}
    assert np.isfinite(table["rows"][0]["accuracy_pct"]["tflm-int8"])
    assert table["n"] == 8 and table["seeds"] == [7] and table["backends"] == ["float", "tflm-int8"]
    assert table["model_files"]["int8"]["sha256"] == data.sha256_file(
        zoo.model_file("mlperf-resnet8", "int8")
    )
    assert (tmp_path / "b" / "summary.md").read_text() == in_memory.markdown + "\n"


def test_eps_in_quantization_steps(data_dir, tmp_path) -> None:
    def plan(backends: list[str]):
        return plan_campaign(
            "mlperf-resnet8",
            [make_attack("pgd")],
            backends,
            epsilons=[0.01],
            eps_steps=[0.5, 2],
            mode="transfer",
            oracle=None,
            n=8,
            seed=0,
            queries=None,
        )

    campaign = plan(["float", "tflm-int8"])
    assert campaign.epsilons == pytest.approx([0.01, 0.5 / 255, 2 / 255])
    assert campaign.eps_steps[campaign.epsilons[2]] == 2
    with pytest.raises(UserError, match="needs an integer backend"):
        plan(["float"])


def test_campaign_default_backends_are_float_and_tflite_micro() -> None:
    """Without backends a campaign evaluates on float and the ground truth, TFLite Micro's
    answer, from the engine (byte-exact with the wheel, tests/test_engine_backend.py)."""
    assert default_backends("cifar10-resnet8") == ["float", "engine-int8", "engine-int16"]
    assert default_backends("mlperf-kws") == ["engine-int8"]
