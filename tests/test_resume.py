"""Resuming into a record folder is honest: new attacks, eps and examples extend the records;
other backends, model files, data, seed, budget or attack parameters are refused in one line
that names the change, before any work, and the records stay as they were."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from host import data, zoo
from host.api import run_campaign, run_file
from host.attacks import make_attack
from host.board import qemu
from host.board.flash import start_emulated
from host.errors import UserError
from host.records import RecordFile
from host.run import folder as run_folder
from host.run.campaign import Runner, plan_campaign
from host.run.spec import load_campaign

MODEL = "cifar10-resnet8"
REPO = Path(__file__).resolve().parent.parent


def campaign(out: Path, **changes):
    options = {
        "model": MODEL,
        "attacks": ["fgsm"],
        "epsilons": [0.01],
        "backends": ["float", "tflm-int8"],
        "n": 3,
        "seed": 0,
        "out": out,
    }
    return run_campaign(**{**options, **changes})


def refused(out: Path, message: str, **changes) -> None:
    """The rerun is refused with ``message`` in one line, and the records are untouched."""
    before = (out / "records.jsonl").read_bytes()
    with pytest.raises(UserError, match=message) as caught:
        campaign(out, **changes)
    assert "\n" not in str(caught.value)
    assert (out / "records.jsonl").read_bytes() == before


def test_a_changed_configuration_is_refused_a_new_cell_extends(data_dir, tmp_path) -> None:
    out = tmp_path / "run"
    assert len(campaign(out).records) == 3
    lines = (out / "records.jsonl").read_text().splitlines()
    refused(
        out,
        "was recorded with backends float,tflm-int8; this run has float,tflm-int8,tflm-int16: "
        "start a new run folder",
        backends=["float", "tflm-int8", "tflm-int16"],
    )
    refused(out, r"recorded fgsm \(transfer, oracle float\) with seed 0; this run asks 1", seed=1)
    refused(
        out,
        'with params {"batch_size": 128}; this run asks {"batch_size": 2}',
        params={"fgsm": {"batch_size": 2}},
    )
    # extensions: another eps, another attack, more examples; nothing recorded is redone
    pgd = {"pgd": {"max_iter": 2}}
    campaign(out, attacks=["fgsm", "pgd"], epsilons=[0.01, 0.02], params=pgd, n=4)
    records = RecordFile(out / "records.jsonl").read()
    cells = {(r.attack, r.eps, r.index) for r in records}
    assert len(records) == len(cells) == 3 + 5 + 8  # fgsm: 3 kept, 5 new; pgd: 2 eps x 4
    assert (out / "records.jsonl").read_text().splitlines()[:3] == lines
    refused(
        out,
        r"recorded pgd \(transfer, oracle float\) with params .*\"max_iter\": 2",
        attacks=["pgd"],
        params={"pgd": {"max_iter": 3}},
    )


def test_a_changed_model_file_is_refused(data_dir, tmp_path) -> None:
    """A user's model folder whose int8 file is replaced by another model's."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(zoo.model_file(MODEL, "float"), folder / "float.keras")
    shutil.copy(zoo.model_file(MODEL, "int8"), folder / "int8.tflite")
    (folder / "model.toml").write_text('dataset = "cifar10"\n')
    out = tmp_path / "run"
    campaign(out, model=str(folder))
    old = data.sha256_file(folder / "int8.tflite")[:12]
    shutil.copy(zoo.model_file("mlperf-resnet8", "int8"), folder / "int8.tflite")
    new = data.sha256_file(folder / "int8.tflite")[:12]
    refused(out, f"int8 file {old}; this run has int8 file {new}", model=str(folder))


def test_other_data_is_refused(data_dir, tmp_path) -> None:
    """The same data set in another order (as another source would give it): the same indices
    are other images."""
    plan = plan_campaign(
        MODEL, [make_attack("fgsm")], ["float"], [0.01], [], "transfer", None, 2, 0, None
    )
    out = tmp_path / "run"
    dataset = data.load("cifar10", "test", data_dir)
    Runner(plan, out, dataset=dataset).run()
    before = (out / "records.jsonl").read_bytes()
    reordered = replace(dataset, x=dataset.x[::-1], y=dataset.y[::-1])
    with pytest.raises(
        UserError, match=r"with data cifar10/test \w{12}; this run has cifar10/test"
    ):
        Runner(plan, out, dataset=reordered).run()
    assert (out / "records.jsonl").read_bytes() == before


def test_records_without_a_key_are_refused(data_dir, tmp_path) -> None:
    out = tmp_path / "run"
    campaign(out)
    (out / run_folder.RESUME).unlink()
    refused(out, f"holds records of {MODEL} without resume.json .*start a new run folder")


CAMPAIGN = """name = "tiny"
models = ["cifar10-resnet8"]
backends = {backends}
clean = "campaign"
seed = 0

[sample]
n = 2

[[attack]]
name = "fgsm"
mode = "transfer"
eps = [0.01]
"""


def test_a_resumed_run_folder_is_checked_before_any_work(data_dir, tmp_path) -> None:
    """``--resume`` with other backends: refused before the clean evaluation, and the run
    folder's files are left as they were."""
    spec = tmp_path / "tiny.toml"
    spec.write_text(CAMPAIGN.format(backends='["float", "tflm-int8"]'))
    job = run_file(load_campaign(spec), out=tmp_path / "runs")
    before = {path.name: path.read_bytes() for path in job.folder.iterdir()}
    assert run_folder.RESUME in before and len(job.records) == 2
    spec.write_text(CAMPAIGN.format(backends='["float", "tflm-int16"]'))
    with pytest.raises(UserError, match="backends float,tflm-int8; this run has float,tflm-int16"):
        run_file(load_campaign(spec), resume=job.folder)
    assert {path.name: path.read_bytes() for path in job.folder.iterdir()} == before
    again = run_file(job.spec, resume=job.folder)  # the same configuration: nothing to redo
    assert json.loads((job.folder / "run.json").read_text())["resumed_from"]
    assert len(again.records) == 2


@pytest.mark.slow
def test_another_board_is_refused(data_dir, tmp_path, monkeypatch) -> None:
    """Records made with the board are tied to its firmware (HELLO: board, engine, model hash):
    the same model on another emulated board is refused."""
    monkeypatch.setattr(qemu, "STATE_FILE", tmp_path / "emulator.json")
    monkeypatch.delenv("TINYROBUST_DEVICE", raising=False)
    out = tmp_path / "run"
    backends = ["float", "tflm-int8", "device-int8"]
    try:
        start_emulated(MODEL, "qemu-an386")
        assert len(campaign(out, backends=backends, n=2).records) == 2
        start_emulated(MODEL, "qemu-stm32f405")
        refused(out, "was recorded with board .*; this run has board ", backends=backends, n=2)
    finally:
        print(qemu.stop())


@pytest.mark.slow
def test_a_board_killed_mid_run_resumes_exactly(data_dir, tmp_path, monkeypatch) -> None:
    """QEMU killed while `python -m host.evaluate --campaign` runs on it: one line, exit 2;
    the board restarted, `--resume` completes the run with the same records as a run that was
    never interrupted."""
    state = tmp_path / "emulator.json"
    monkeypatch.setattr(qemu, "STATE_FILE", state)
    monkeypatch.delenv("TINYROBUST_DEVICE", raising=False)
    env = {**os.environ, qemu.STATE_ENV: str(state)}
    spec = tmp_path / "board.toml"
    spec.write_text(
        CAMPAIGN.format(backends='["float", "tflm-int8", "device-int8"]')
        .replace("n = 2", "n = 6")
        .replace("eps = [0.01]", "eps = [0.01, 0.02, 0.03, 0.04]")
    )

    def evaluate(*options: str) -> subprocess.Popen:
        command = [sys.executable, "-m", "host.evaluate", "--campaign", str(spec), *options]
        return subprocess.Popen(command, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)

    try:
        board = start_emulated(MODEL, "qemu-an386")
        running = evaluate("--out", str(tmp_path / "a"))
        deadline = time.monotonic() + 300
        records: list[Path] = []
        while not records and time.monotonic() < deadline and running.poll() is None:
            records = [p for p in (tmp_path / "a").glob("*/records.jsonl") if p.read_bytes()]
            time.sleep(0.2)
        os.kill(board.pid, signal.SIGKILL)
        _, err = running.communicate(timeout=300)
        errors = [line for line in err.splitlines() if line.startswith("error:")]  # bars aside
        assert running.returncode == 2 and len(errors) == 1, err[-2000:]
        assert "Traceback" not in err and "--resume" in errors[0]
        start_emulated(MODEL, "qemu-an386")
        (folder,) = (tmp_path / "a").iterdir()
        assert evaluate("--resume", str(folder)).wait(timeout=600) == 0
        assert evaluate("--out", str(tmp_path / "b")).wait(timeout=600) == 0
        (fresh,) = (tmp_path / "b").iterdir()
        lines = sorted((folder / "records.jsonl").read_bytes().splitlines())
        assert len(lines) == 4 * 6 and lines == sorted(
            (fresh / "records.jsonl").read_bytes().splitlines()
        )
    finally:
        print(qemu.stop())
