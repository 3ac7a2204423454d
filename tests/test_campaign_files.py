"""Campaign files, run folders, default query budgets and the main job without a board.

A campaign file is checked before any work (one line naming file and line, exit 2); the
shipped files load; paper.toml runs at CI size into a run folder and resumes; query attacks get
a default budget, recorded; `python -m host.evaluate` runs quick.toml end to end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from host import zoo
from host.api import run_campaign, run_file
from host.errors import UserError
from host.records import RecordFile
from host.run.campaign import DEFAULT_QUERIES
from host.run.spec import load_campaign

REPO = Path(__file__).resolve().parent.parent
CAMPAIGNS = REPO / "campaigns"
PAPER_ATTACKS = {
    *("pgd", "deepfool", "jsma", "cw-l2", "cw-linf", "ead", "autoattack"),
    *("zoo", "square-l2", "square-linf", "boundary", "geoda", "hopskipjump"),
}

GOOD = """name = "t"
models = ["cifar10-resnet8"]
backends = ["float", "tflm-int8"]

[sample]
n = 4

[[attack]]
name = "pgd"
eps = [0.002]

[[attack]]
name = "square-linf"
mode = "direct"
eps_steps = [2]
"""

# (what is wrong, the text replaced, its replacement, the message, the line it is on)
BAD = {
    "unknown key": ("[sample]\n", "colour = 1\n[sample]\n", "unknown key 'colour'", 5),
    "unknown key in an attack": ("eps = [0.002]", "epz = [0.002]", "unknown key 'epz'", 10),
    "unknown attack": ('name = "pgd"', 'name = "fab"', "unknown attack 'fab'", 9),
    "eps out of range": ("eps = [0.002]", "eps = [0.002, 1.5]", "eps must be in [0, 1]", 10),
    "missing model": ('["cifar10-resnet8"]', '["no-such-model"]', "unknown model", 2),
    "direct on float": (
        "eps = [0.002]",
        'eps = [0.002]\nmode = "direct"\noracle = "float"',
        "mode direct attacks an integer backend",
        12,
    ),
    "bad parameter": ("eps = [0.002]", "eps = [0.002]\nparams = { steps = 3 }", "steps", 11),
    "not TOML": ("n = 4", "n = = 4", "not valid TOML", 6),
    "negative n": ("n = 4", "n = -4", "n must be positive", 6),
}


def _write(tmp_path: Path, case: str) -> Path:
    old, new, _, _ = BAD[case]
    assert old in GOOD
    path = tmp_path / "bad.toml"
    path.write_text(GOOD.replace(old, new, 1))
    return path


@pytest.mark.parametrize("case", list(BAD))
def test_bad_campaign_file_names_file_and_line(case, tmp_path) -> None:
    path = _write(tmp_path, case)
    _, _, message, line = BAD[case]
    with pytest.raises(UserError) as raised:
        load_campaign(path)
    text = str(raised.value)
    assert text.startswith(f"{path}:{line}: ") and message in text, text
    assert "\n" not in text


def test_good_campaign_file_loads(tmp_path) -> None:
    path = tmp_path / "good.toml"
    path.write_text(GOOD)
    spec = load_campaign(path)
    assert spec.models == ("cifar10-resnet8",) and spec.n == 4 and spec.seed == 0
    assert [(a.name, a.mode, a.line) for a in spec.attacks] == [
        ("pgd", "transfer", 8),
        ("square-linf", "direct", 12),
    ]
    smaller = spec.with_overrides(models=["mlperf-resnet8"], n=2, seed=3)
    assert smaller.models == ("mlperf-resnet8",) and smaller.n == 2 and smaller.seed == 3


@pytest.mark.parametrize("case", ["unknown attack", "eps out of range"])
def test_bad_campaign_file_is_one_line_and_exit_2(case, tmp_path) -> None:
    path = _write(tmp_path, case)
    done = subprocess.run(
        [sys.executable, "-m", "host.evaluate", "--campaign", str(path), "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:{BAD[case][3]}: "), lines
    assert not list(tmp_path.glob("*-t")), "a run folder was made before the file was checked"


def test_shipped_campaign_files_load() -> None:
    quick = load_campaign(CAMPAIGNS / "quick.toml")
    assert "device-int8" in quick.backends and quick.clean == "all"
    pgd, square = quick.attacks
    assert pgd.name == "pgd" and pgd.mode == "transfer" and pgd.steps_of == "int8"
    assert min(pgd.eps_steps) < 0.5 < max(pgd.eps_steps)  # straddles half an int8 step
    assert square.mode == "direct" and square.oracle == "device-int8"
    paper = load_campaign(CAMPAIGNS / "paper.toml")
    assert paper.models == ("cifar10-resnet8", "mlperf-vww", "coffee-cnn")
    assert set(paper.backends) == {"float", "engine-int16", "engine-int8"}
    assert {a.name for a in paper.attacks} == PAPER_ATTACKS
    directs = {a.oracle for a in paper.attacks if a.mode == "direct"}
    assert directs == {"engine-int8", "engine-int16"}


def _paper_at_ci_size():
    """paper.toml's three models; PGD (two eps of its grid) and a direct Square attack."""
    paper = load_campaign(CAMPAIGNS / "paper.toml")
    pgd = next(a for a in paper.attacks if a.name == "pgd")
    square = next(a for a in paper.attacks if a.name == "square-linf" and a.mode == "direct")
    attacks = (
        replace(pgd, eps=(0.001, 0.002)),
        replace(square, eps=(0.008,), oracle="engine-int8", queries=20),
    )
    return replace(paper, attacks=attacks)


def test_paper_campaign_at_ci_size_runs_resumes_and_describes_itself(data_dir, tmp_path) -> None:
    """The three tasks of paper.toml, n=2, into a run folder; a resumed run adds nothing."""
    for model in ("cifar10-resnet8", "coffee-cnn"):
        try:
            zoo.model_file(model, "float")
        except UserError as error:
            pytest.skip(f"{model} is not trained yet: {error}")
    lines: list[str] = []
    job = run_file(_paper_at_ci_size(), n=2, out=tmp_path, inform=lines.append)
    assert job.folder.parent == tmp_path and job.folder.name.endswith("-paper")
    records = RecordFile(job.folder / "records.jsonl").read()
    cells = {(r.model, r.attack, r.eps) for r in records}
    for model in ("cifar10-resnet8", "coffee-cnn"):
        assert {(model, "pgd", "0.001"), (model, "pgd", "0.002")} <= cells
    for model in job.spec.models:
        assert (model, "square-linf", "0.008") in cells
        assert len([r for r in records if r.model == model and r.attack == "square-linf"]) == 2
    assert all(r.query_budget == 20 for r in records if r.attack == "square-linf")
    has_float = not any("mlperf-vww: skipping pgd" in line for line in job.skipped)
    assert has_float == any(r.model == "mlperf-vww" and r.attack == "pgd" for r in records)
    assert any("square-linf on engine-int8: at most" in line for line in lines)

    manifest = json.loads((job.folder / "run.json").read_text())
    assert manifest["campaign"]["name"] == "paper" and manifest["campaign"]["n"] == 2
    assert manifest["seconds"] > 0 and manifest["versions"]["tflite-micro"] != "missing"
    for model in job.spec.models:
        assert len(manifest["models"][model]["files"]["int8"]["sha256"]) == 64
    evaluations = json.loads((job.folder / "evaluation.json").read_text())
    assert [e["model"] for e in evaluations] == list(job.spec.models)
    summary = json.loads((job.folder / "summary.json").read_text())
    square = next(t for t in summary["tables"] if t["oracle"] == "engine-int8")
    assert square["query_budgets"] == {"square-linf": 20} and square["n"] == 2
    markdown = (job.folder / "summary.md").read_text()
    assert "mean queries / example" in markdown and "square-linf 20 queries / example" in markdown
    assert "sha256" in markdown and "L2 mean/max (successful)" in markdown

    before = (job.folder / "records.jsonl").read_text()
    again = run_file(_paper_at_ci_size(), n=2, resume=job.folder)
    assert again.folder == job.folder
    assert (job.folder / "records.jsonl").read_text() == before  # everything was recorded


def test_query_attacks_get_a_default_budget_and_an_estimate(data_dir) -> None:
    lines: list[str] = []
    kwargs = dict(backends=["tflm-int8"], mode="direct", n=1, inform=lines.append)
    square = {"square-linf": {"max_iter": 3}}
    result = run_campaign("cifar10-resnet8", ["square-linf"], [0.01], params=square, **kwargs)
    (record,) = result.records
    assert record.query_budget == DEFAULT_QUERIES["score"] == 1000
    (line,) = lines
    assert line.startswith("square-linf on tflm-int8: at most 1,000 queries") and "ms per" in line
    explicit = run_campaign(
        "cifar10-resnet8", ["square-linf"], [0.01], params=square, queries=7, **kwargs
    )
    assert explicit.records[0].query_budget == 7 and explicit.records[0].queries <= 7


def test_main_job_without_a_board(data_dir, tmp_path) -> None:
    """`python -m host.evaluate` (here with --n 2): quick.toml on host backends, says there is
    no board, ends with the summary table, the report and how to run the full set."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TINYROBUST_DEVICE", None)
    done = subprocess.run(
        [sys.executable, "-m", "host.evaluate", "--n", "2", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    if "board found" in out or "device-int8 accuracy %" in out:
        pytest.skip("a board is running: this test is about the main job without one")
    assert "no board running" in out and "skipping square-linf (direct)" in out
    assert "engine-int8 accuracy %" in out and "pgd (linf)" in out
    assert "full set: python -m host.evaluate --campaign campaigns/paper.toml" in out
    (folder,) = tmp_path.glob("*-quick")
    for name in ("run.json", "evaluation.json", "records.jsonl", "summary.json", "summary.md"):
        assert (folder / name).is_file(), name
    assert f"report: {folder / 'report.html'}" in out and (folder / "report.html").is_file()
    records = RecordFile(folder / "records.jsonl").read()
    assert len(records) == 2 * 4 and {r.eps_steps for r in records} == {0.25, 0.5, 1, 2}


def test_documented_campaign_file_loads(tmp_path) -> None:
    """The example file of docs/attacks.md is a valid campaign file."""
    page = (REPO / "docs" / "attacks.md").read_text()
    (block,) = re.findall(r"^```toml\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
    path = tmp_path / "mine.toml"
    path.write_text(block)
    spec = load_campaign(path)
    assert spec.name == "mine" and [a.name for a in spec.attacks] == ["pgd", "square-linf"]
    assert spec.attacks[1].queries == 100 and spec.attacks[1].n == 4


def test_main_job_on_the_board(data_dir, tmp_path) -> None:
    """`make flash && python -m host.evaluate` (--n 2): the board's column in every table, the
    Square attack with the board as its oracle, the board against TFLite Micro on every
    adversarial input. The emulator is the tests' own (tests/conftest.py)."""
    if not (zoo.MODELS_DIR / "cifar10-resnet8" / "int8.tflite").is_file():
        pytest.skip("cifar10-resnet8 is not trained yet")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=900
        )

    flashed = run("host.flash")
    assert flashed.returncode == 0, flashed.stderr[-2000:]
    try:
        done = run("host.evaluate", "--n", "2", "--out", str(tmp_path))
    finally:
        run("host.emulator", "stop")
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "no board running" not in out and "device-int8 accuracy %" in out
    assert "### cifar10-resnet8: direct, oracle device-int8" in out
    (folder,) = tmp_path.glob("*-quick")
    records = RecordFile(folder / "records.jsonl").read()
    assert len(records) == 2 * 4 + 2 and all("device-int8" in r.backends for r in records)
    inputs = len(records)
    assert f"device-int8 vs engine-int8 on every adversarial input: {inputs} of {inputs}" in out
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["board"]["engine"] and manifest["board"]["counter_unit"] == "instructions"
