"""The HTML report of a real run folder: self-contained, numbers from the records, rendered by a
real headless browser (Debian's chromium) with every figure drawn and no console error."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from host.api import evaluate, run_campaign
from host.errors import UserError
from host.records import RecordFile
from host.report import sections, summarise
from host.report.html import write_report
from host.report.run_folder import EVALUATION, MANIFEST, RECORDS, load_run

REPO = Path(__file__).resolve().parent.parent
MODEL = "cifar10-resnet8"
BACKENDS = ["float", "tflm-int8", "litert-ref-int8"]  # LiteRT differs from TFLite Micro: listed
EPSILONS = [0.002, 0.004]  # about 0.5 and 1 int8 input step
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def make_run(folder: Path, data_dir: Path) -> Path:
    """A small real run: clean evaluation (with per-op localisation) and PGD at two eps."""
    folder.mkdir(parents=True, exist_ok=True)
    result = evaluate(MODEL, backends=BACKENDS, n=8, data_dir=data_dir, agreement_ops=True)
    campaign = run_campaign(
        MODEL,
        ["pgd"],
        EPSILONS,
        backends=BACKENDS,
        n=8,
        data_dir=data_dir,
        params={"pgd": {"max_iter": 5}},
    )
    (folder / EVALUATION).write_text(json.dumps([result.to_dict()]))
    records = RecordFile(folder / RECORDS)
    with records.appending():
        for record in campaign.records:
            records.append(record)
    manifest = {"command": ["pytest"], "seed": 0, "versions": result.versions}
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return folder


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    return make_run(tmp_path_factory.mktemp("runs") / "20250101-120000-report", data_dir)


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Path:
    return write_report(run_dir)


def images(html: str) -> list[Image.Image]:
    """Every <img>'s picture, decoded (the test fails on one that is not inline PNG)."""
    sources = re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", html)
    prefix = "data:image/png;base64,"
    assert all(source.startswith(prefix) for source in sources), sources
    return [Image.open(io.BytesIO(base64.b64decode(s[len(prefix) :]))) for s in sources]


def not_blank(picture: Image.Image) -> bool:
    return float(np.asarray(picture.convert("L"), dtype=np.float64).std()) > 5.0


def test_report_is_one_self_contained_file(run_dir: Path, report: Path) -> None:
    assert report == run_dir / "report.html"
    html = report.read_text()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html), "an external reference"
    assert "<link" not in html and "<script" not in html
    pictures = images(html)
    # staircase, transfer matrix, float and step distortions
    assert len(pictures) == 4
    assert all(not_blank(picture) for picture in pictures)


def test_staircase_is_the_records_accuracy_with_the_papers_points(run_dir: Path) -> None:
    run = load_run(run_dir)
    (stairs,) = sections.staircases(run)
    rows = summarise(run.records, BACKENDS)
    for curve in stairs.curves:
        assert curve.eps == [0.0, *EPSILONS]
        assert curve.accuracy[0] == rows[0]["clean_pct"][curve.label]
        assert curve.accuracy[1:] == [row["accuracy_pct"][curve.label] for row in rows]
    assert stairs.int8_step == pytest.approx(1 / 255)
    paper = tomllib.loads(sections.PAPER.read_text())["staircase"][0]["points"]
    drawn = {
        (c.precision, e, a) for c in stairs.paper for e, a in zip(c.eps, c.accuracy, strict=True)
    }
    expected = {(p, point["eps"], point[p]) for point in paper for p in ("float", "int8")}
    assert expected <= drawn


def test_paper_numbers_are_those_docs_quote() -> None:
    """paper.toml and docs/attacks.md's staircase table quote the same numbers."""
    text = (REPO / "docs" / "attacks.md").read_text()
    quoted = {
        float(eps) if eps != "clean" else 0.0: [float(v) for v in value.split(" / ")]
        for eps, value in re.findall(
            r"^\| (clean|[\d.]+) \|.*\| ([\d.]+ / [\d.]+ / [\d.]+) \|$", text, re.M
        )
    }
    (entry,) = tomllib.loads(sections.PAPER.read_text())["staircase"]
    assert quoted == {p["eps"]: [p["float"], p["int16"], p["int8"]] for p in entry["points"]}


def test_every_disagreement_with_tflite_micro_is_listed(run_dir: Path, report: Path) -> None:
    run = load_run(run_dir)
    found = {(pair.inputs, pair.backend): pair for pair in sections.agreements(run)}
    pair = found[("attack inputs (clean and adversarial)", "litert-ref-int8")]
    adversarial = [
        r for r in run.records if r.backends["litert-ref-int8"].raw != r.backends["tflm-int8"].raw
    ]
    clean = {
        r.index
        for r in run.records
        if r.backends["litert-ref-int8"].clean_raw != r.backends["tflm-int8"].clean_raw
    }
    assert pair.compared == len(run.records) + 8
    assert len(pair.disagreements) == len(adversarial) + len(clean)
    assert pair.first_divergence is not None and pair.first_divergence.startswith("op ")
    html = report.read_text()
    assert pair.disagreements, "LiteRT's reference kernels differ on some of these 8 images"
    assert f"{len(pair.disagreements)} disagreement" in html
    assert all(f'<td class="num">{d.example}</td>' in html for d in pair.disagreements)
    assert "No board in this run" in html


def report_of_one_file(run_dir: Path, name: str, folder: Path) -> str:
    """The report of a folder that holds only ``name`` of the run."""
    folder.mkdir()
    shutil.copy(run_dir / name, folder)
    return write_report(folder).read_text()


def test_sections_without_data_say_so(run_dir: Path, tmp_path: Path) -> None:
    html = report_of_one_file(run_dir, EVALUATION, tmp_path / "clean")
    assert "No eps-bounded attack in this run" in html
    assert "No attack records in this run: no transfer matrix" in html
    assert "No board in this run's manifest" in html
    assert "No run.json; what the clean evaluation recorded" in html
    html = report_of_one_file(run_dir, RECORDS, tmp_path / "attacks")
    assert "No clean evaluation in this run" in html
    assert "No manifest in this run" in html
    with pytest.raises(UserError, match="not a run folder"):
        write_report(tmp_path)


def command(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env_path = {"PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "host.report", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env_path},
        check=False,
    )


def test_command_writes_the_newest_run_or_says_why_not(run_dir: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    older, newest = runs / "20240101-000000-old", runs / "20250101-000000-new"
    shutil.copytree(run_dir, older)
    shutil.copytree(run_dir, newest)
    done = command(cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(Path("runs") / newest.name / "report.html")
    assert (newest / "report.html").is_file()
    missing = command(str(tmp_path / "nowhere"))
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no run folder" in missing.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make apt)")
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    """Screenshot not blank, every <img> decoded by the browser, no console error."""
    probe = tmp_path / "probe.html"  # the report plus a script that counts rendered images
    counter = (
        "<script>addEventListener('load', () => { const all = [...document.images];"
        " document.body.dataset.rendered = all.filter(i => i.complete && i.naturalWidth > 0)"
        ".length + '/' + all.length; });</script></body>"
    )
    probe.write_text(report.read_text().replace("</body>", counter))
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    logging = ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
    shot = tmp_path / "report.png"
    screenshot = subprocess.run(
        [*browser, *logging, f"--screenshot={shot}", "--window-size=1280,2400", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file(), screenshot.stderr[-2000:]
    assert not_blank(Image.open(shot))
    dom = subprocess.run(
        [*browser, *logging, "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    rendered = re.search(r'data-rendered="(\d+)/(\d+)"', dom.stdout)
    assert rendered, dom.stderr[-2000:]
    assert rendered.group(1) == rendered.group(2) == "4"
    for log in (screenshot.stderr, dom.stderr):
        assert "Uncaught" not in log
        assert not re.search(r"ERROR:.*console", log, re.I), log
