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
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

from host import zoo
from host.campaign import Campaign, campaign_from_args, read_records, run_campaign
from host.errors import UserError

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
        (["--attacks", "pgd", "--eps", "0.01", "--mode", "direct"], "need gradients"),
        (["--attacks", "pgd", "--eps", "0.01", "--param", "pgd.steps=3"], "no parameter steps"),
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
    records = read_records(tmp_path / "campaign-cifar10-resnet8-transfer" / "records.jsonl")
    assert {(r["attack"], r["eps"]) for r in records} >= {
        ("pgd", "0.002"),
        ("square-linf", "0.008"),
    }
    assert len(records) == 2 * 2 * 4


def test_help() -> None:
    done = _cli("--help")
    assert done.returncode == 0 and "--eps-steps" in done.stdout and "--queries" in done.stdout


def _args(**kwargs) -> Namespace:
    base = dict(
        attacks="pgd",
        eps=None,
        eps_steps=None,
        norm=None,
        param=[],
        mode="transfer",
        oracle=None,
        queries=None,
        seed=0,
    )
    return Namespace(**{**base, **kwargs})


def _staircase(model: str, n: int, grid: list[float], out: Path) -> dict:
    campaign = campaign_from_args(
        _args(eps=",".join(str(e) for e in grid)),
        model,
        ["float", "tflm-int16", "tflm-int8"]
        if model != "mlperf-resnet8"
        else ["float", "tflm-int8"],
        n,
        out,
    )
    return run_campaign(campaign, progress=False)


def _model_or_skip(model: str) -> None:
    try:
        zoo.model_file(model, "int8")
        zoo.model_file(model, "float")
    except UserError as error:
        pytest.skip(f"{model} is not trained yet: {error}")


def _check_staircase(summary: dict, records: list[dict]) -> None:
    rows = {float(r["eps"]): r for r in summary["rows"]}
    clean = rows[min(rows)]["clean_pct"]["tflm-int8"]
    for eps, row in rows.items():
        if eps < HALF_STEP:
            assert row["accuracy_pct"]["tflm-int8"] == clean, f"eps {eps}: int8 accuracy moved"
    for record in records:  # below half a step, the int8 inputs are the clean ones exactly
        if float(record["eps"]) < HALF_STEP:
            assert record["backends"]["tflm-int8"]["distortion"]["steps"]["linf"] == 0
    above = rows[min(e for e in rows if e > HALF_STEP)]
    assert above["accuracy_pct"]["tflm-int8"] <= clean - 25, "no sharp drop above half a step"
    assert above["accuracy_pct"]["tflm-int8"] < above["accuracy_pct"]["float"]


@pytest.mark.parametrize("model", ["mlperf-resnet8", "cifar10-resnet8"])
def test_staircase_small(model, data_dir, tmp_path) -> None:
    """CI size: 64 images, eps just below and just above half an int8 step."""
    _model_or_skip(model)
    summary = _staircase(model, 64, [0.001, 0.002], tmp_path)
    _check_staircase(summary, read_records(tmp_path / "records.jsonl"))


@pytest.mark.slow
def test_staircase_paper_grid(data_dir, tmp_path) -> None:
    """The paper's PGD grid on the 297 lossless test images, float, int16 and int8."""
    model = "cifar10-resnet8"
    _model_or_skip(model)
    summary = _staircase(model, 297, PAPER_GRID, tmp_path)
    _check_staircase(summary, read_records(tmp_path / "records.jsonl"))
    rows = {float(r["eps"]): r for r in summary["rows"]}
    for eps, row in rows.items():  # int16's step (1/32767) is far below every eps: like float
        assert abs(row["accuracy_pct"]["tflm-int16"] - row["accuracy_pct"]["float"]) <= 5, eps


def test_records_resume_and_reproduce(data_dir, tmp_path) -> None:
    def campaign(out: Path) -> Campaign:
        args = _args(attacks="pgd,fgsm", eps="0.004", param=["pgd.max_iter=3"], seed=7)
        return campaign_from_args(args, "mlperf-resnet8", ["float", "tflm-int8"], 8, out)

    first = tmp_path / "a"
    run_campaign(campaign(first), progress=False)
    lines = (first / "records.jsonl").read_text().splitlines()
    assert len(lines) == 2 * 8
    (first / "records.jsonl").write_text("\n".join(lines[:5]) + "\n" + lines[5][:40])  # torn
    run_campaign(campaign(first), progress=False)
    resumed = read_records(first / "records.jsonl")
    assert len(resumed) == 16 and len({(r["attack"], r["index"]) for r in resumed}) == 16
    run_campaign(campaign(tmp_path / "b"), progress=False)
    again = read_records(tmp_path / "b" / "records.jsonl")

    def key(r: dict) -> tuple:
        return (r["attack"], r["index"])

    assert sorted(map(json.dumps, sorted(resumed, key=key))) == sorted(
        map(json.dumps, sorted(again, key=key))
    )
    record = next(r for r in again if r["attack"] == "fgsm")  # FGSM moves pixels by eps
    assert set(record["backends"]) == {"float", "tflm-int8"}
    assert record["distortion"]["crafted"]["steps"]["linf"] == pytest.approx(0.004 * 255, 1e-3)
    assert isinstance(record["backends"]["tflm-int8"]["raw"][0], int)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert {row["attack"] for row in summary["rows"]} == {"pgd", "fgsm"}
    assert np.isfinite(summary["rows"][0]["accuracy_pct"]["tflm-int8"])


def test_eps_in_quantization_steps(data_dir, tmp_path) -> None:
    args = _args(eps="0.01", eps_steps="0.5,2")
    campaign = campaign_from_args(args, "mlperf-resnet8", ["float", "tflm-int8"], 8, tmp_path)
    assert campaign.epsilons == pytest.approx([0.01, 0.5 / 255, 2 / 255])
    assert campaign.eps_steps[campaign.epsilons[2]] == 2
    with pytest.raises(UserError, match="needs an integer backend"):
        campaign_from_args(args, "mlperf-resnet8", ["float"], 8, tmp_path)
