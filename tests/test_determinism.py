"""The same campaign and seed write the same bytes (timing fields aside), run twice or
interrupted and resumed: gradient, score and decision attacks, including ART's attacks that
draw from numpy's global generator (Square, ZOO, Boundary, HopSkipJump, GeoDA)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from host.api import run_file
from host.records import TIMING_FIELDS, RecordFile, without_timing
from host.run.spec import CampaignSpec, load_campaign

REPO = Path(__file__).resolve().parent.parent

ATTACKS = """
[[attack]]
name = "pgd"
eps = [0.01]
params = { max_iter = 2 }

[[attack]]
name = "square-linf"
eps = [0.05, 0.1]
queries = 40

[[attack]]
name = "{minimal}"
eps = [0.03]
queries = {queries}
"""


def spec(tmp_path: Path, minimal: str, name: str = "same") -> CampaignSpec:
    """Two examples; ZOO gets the budget of two of its query batches (2 x 128 coordinates)."""
    queries = "600" if minimal == "zoo" else "12"
    path = tmp_path / f"{minimal}.toml"
    path.write_text(
        f'name = "{name}"\nmodels = ["cifar10-resnet8"]\nbackends = ["float", "tflm-int8"]\n'
        'clean = "campaign"\nseed = 5\n\n[sample]\nn = 2\n'
        + ATTACKS.replace("{minimal}", minimal).replace("{queries}", queries)
    )
    return load_campaign(path)


def files(folder: Path) -> dict[str, object]:
    """What a run folder holds, timing fields left out (records.jsonl byte for byte)."""
    return {
        "records": (folder / "records.jsonl").read_bytes(),
        "evaluation": without_timing(json.loads((folder / "evaluation.json").read_text())),
        "summary": (folder / "summary.json").read_bytes(),
    }


def check_same_and_resumed(
    tmp_path: Path, minimal: str, cuts: tuple[int, ...], twice: bool
) -> None:
    """A run (``twice``: two), then a copy cut back (a torn last line too) and resumed: same
    bytes; and another seed gives other records (the seed is used: the check is not vacuous)."""
    first = run_file(spec(tmp_path, minimal), out=tmp_path / "a").folder
    if twice:
        assert files(run_file(spec(tmp_path, minimal), out=tmp_path / "b").folder) == files(first)
    lines = (first / "records.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 2 * (1 + 2 + 2)  # pgd, square at two eps, the minimal attack ("none" too)
    records = RecordFile(first / "records.jsonl").read()
    assert len({r.key for r in records}) == len(records)
    moved = {r.attack for r in records if r.distortion["sent"]["float"]["linf"] > 0}
    assert {"pgd", "square-linf"} <= moved  # ZOO may fail on both: it returns the originals
    assert all(r.queries > 0 for r in records if r.attack == minimal)
    for keep in cuts:  # 3: into the square cells; 7: into the minimal attack's
        cut = shutil.copytree(first, tmp_path / f"cut{keep}")
        (cut / "records.jsonl").write_bytes(b"".join(lines[:keep]) + lines[keep][:30])
        run_file(spec(tmp_path, minimal), resume=cut)
        assert files(cut) == files(first), keep
    evaluation = json.loads((first / "evaluation.json").read_text())
    assert evaluation[0]["backends"]["float"]["seconds"] >= 0  # a timing field, left out
    reseeded = run_file(spec(tmp_path, minimal).with_overrides(seed=6), out=tmp_path / "c")
    other = {r.key[1:]: r.backends["float"].raw for r in reseeded.records}
    changed = {r.attack for r in records if other[r.key[1:]] != r.backends["float"].raw}
    assert changed == {"square-linf", minimal} & moved  # PGD (random_init 0) draws nothing


def test_timing_fields() -> None:
    values = {"seconds": 1.5, "a": [{"started": "x", "b": 2}], "ended": None, "n": 3}
    assert without_timing(values) == {"a": [{"b": 2}], "n": 3}
    assert {"seconds", "started", "ended"} == TIMING_FIELDS


def test_same_records_with_hopskipjump(data_dir, tmp_path) -> None:
    check_same_and_resumed(tmp_path, "hopskipjump", (7,), twice=False)


@pytest.mark.slow
@pytest.mark.parametrize("minimal", ["hopskipjump", "boundary", "geoda", "zoo"])
def test_same_records_with_every_query_attack(minimal: str, data_dir, tmp_path) -> None:
    check_same_and_resumed(tmp_path, minimal, (1, 3, 7), twice=True)


@pytest.mark.slow
def test_same_records_in_two_processes(data_dir, tmp_path) -> None:
    """`python -m host.evaluate --campaign FILE` twice, each in its own process."""
    path = spec(tmp_path, "boundary").path
    folders = []
    for out in ("a", "b"):
        command = [sys.executable, "-m", "host.evaluate", "--campaign", str(path)]
        command += ["--out", str(tmp_path / out)]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        (folder,) = (tmp_path / out).iterdir()
        folders.append(folder)
    assert files(folders[0]) == files(folders[1])
