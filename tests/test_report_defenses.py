"""Defenses in campaign files and the report's defenses table.

A campaign's ``defenses`` key adds ``<backend>+<defense>`` backends and an adaptive copy of each
transfer attack (oracle ``float+<defense>``), checked with file and line; the defenses table is
built from the records of a real tiny campaign (the float model and the engine, a real defense).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from host.api import run_file
from host.errors import UserError
from host.report.defenses import CLEAN, defense_tables, family
from host.report.html import write_report
from host.report.run_folder import load_run
from host.run.spec import load_campaign

DEFENDED = """name = "d"
models = ["cifar10-resnet8"]
backends = ["float", "engine-int8", "device-int8"]
defenses = ["bits5", "median2"]

[sample]
n = 4

[[attack]]
name = "pgd"
eps_steps = [1, 2]

[[attack]]
name = "square-linf"
mode = "direct"
oracle = "engine-int8"
eps_steps = [2]

[[attack]]
name = "autoattack"
eps = [0.03]
adaptive = false
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "d.toml"
    path.write_text(text)
    return load_campaign(path)


def test_defenses_expand_backends_and_add_adaptive_copies(tmp_path) -> None:
    spec = _load(tmp_path, DEFENDED)
    assert spec.defenses == ("bits5", "median2")
    assert spec.backends == (
        *("float", "engine-int8", "device-int8"),
        *("float+bits5", "engine-int8+bits5", "float+median2", "engine-int8+median2"),
    )
    found = [(a.name, a.mode, a.oracle, a.line) for a in spec.attacks]
    assert found == [
        ("pgd", "transfer", None, 9),
        ("square-linf", "direct", "engine-int8", 13),
        ("autoattack", "transfer", None, 19),  # adaptive = false: no copy
        ("pgd", "transfer", "float+bits5", 9),
        ("pgd", "transfer", "float+median2", 9),
    ]
    assert spec.as_dict()["defenses"] == ["bits5", "median2"]
    plain = _load(tmp_path, DEFENDED.replace('defenses = ["bits5", "median2"]\n', ""))
    assert plain.backends == ("float", "engine-int8", "device-int8") and len(plain.attacks) == 3


CAMPAIGNS = Path(__file__).resolve().parent.parent / "campaigns"


def test_shipped_defense_campaigns_load() -> None:
    trained = load_campaign(CAMPAIGNS / "defenses.toml")
    bases = {family(model)[0] for model in trained.models}
    assert bases == {"cifar10-resnet8", "coffee-cnn"} and not trained.defenses
    assert len(trained.models) > len(bases)  # the base models and train-based variants
    pre = load_campaign(CAMPAIGNS / "defenses-preprocess.toml")
    assert pre.defenses == ("bits5", "median2", "jpeg75", "squeeze")
    assert pre.models == ("cifar10-resnet8", "coffee-cnn")
    plain = [a for a in pre.attacks if a.oracle is None]
    assert {a.name for a in plain} == {"pgd", "square-linf", "autoattack"}
    for defense in pre.defenses:
        assert [a.name for a in pre.attacks if a.oracle == f"float+{defense}"] == [
            a.name for a in plain
        ]
        assert {f"{b}+{defense}" for b in ("float", "engine-int16", "engine-int8")} <= set(
            pre.backends
        )
    purify = load_campaign(CAMPAIGNS / "defenses-purify.toml")
    assert {"float+purify", "engine-int8+purify"} <= set(purify.backends)
    assert [a.name for a in purify.attacks if a.oracle == "float+purify"] == ["pgd"]
    board = load_campaign(CAMPAIGNS / "defenses-board.toml")
    assert {"device-int8+bits5+median2", "engine-int8+bits5+median2"} <= set(board.backends)
    assert "device-int8" not in board.backends  # the board runs the firmware's defense only
    assert {a.oracle for a in board.attacks} == {None, "float+bits5+median2"}


BAD = {
    "not a defense name": ('["bits5", "median2"]', '["bits5", "median9"]', "median9", 4),
    "squeeze not last": ('["bits5", "median2"]', '["squeeze+bits5"]', "goes last", 4),
    "defenses not strings": ('["bits5", "median2"]', '["bits5", 2]', "list of strings", 4),
    "adaptive not a boolean": ("adaptive = false", 'adaptive = "no"', "true or false", 22),
    "no float to adapt on": ('"float", "engine-int8"', '"engine-int8"', "add float", 4),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_defenses_name_file_and_line(case, tmp_path) -> None:
    old, new, message, line = BAD[case]
    text = DEFENDED.replace(old, new, 1)
    assert text != DEFENDED
    with pytest.raises(UserError) as raised:
        _load(tmp_path, text)
    assert str(raised.value).startswith(f"{tmp_path / 'd.toml'}:{line}: "), raised.value
    assert message in str(raised.value)


TINY = """name = "tiny-defenses"
models = ["cifar10-resnet8"]
backends = ["float", "engine-int8"]
defenses = ["bits4+median2"]  # a chain: one adaptive copy through both
clean = "campaign"

[sample]
n = 4

[[attack]]
name = "pgd"
eps_steps = [2, 8]
steps_of = "int8"
params = { max_iter = 5 }
"""
ROWS = {  # row label -> (oracle, the backends' suffix)
    "none": ("float", ""),
    "bits4+median2 (non-adaptive)": ("float", "+bits4+median2"),
    "bits4+median2 (adaptive)": ("float+bits4+median2", "+bits4+median2"),
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A real tiny campaign: PGD on float and through bits4+median2, on float and the engine."""
    folder = tmp_path_factory.mktemp("defenses")
    (folder / "tiny.toml").write_text(TINY)
    return run_file(folder / "tiny.toml", out=folder / "runs", data_dir=data_dir).folder


def _accuracy(records: list, oracle: str, backend: str, steps: float) -> float:
    hits = [
        r.backends[backend].prediction == r.label
        for r in records
        if r.oracle == oracle and r.eps_steps == steps
    ]
    assert len(hits) == 4
    return 100.0 * sum(hits) / len(hits)


def test_defenses_table_from_a_real_campaign(run_dir: Path) -> None:
    run = load_run(run_dir)
    (table,) = defense_tables(run)
    assert table.family == "cifar10-resnet8" and table.n == 4
    assert table.precisions == ["float", "int8"]
    assert [row.label for row in table.rows] == list(ROWS)
    assert table.columns == [CLEAN, ("pgd (linf)", "ε 2 steps"), ("pgd (linf)", "ε 8 steps")]
    (evaluation,) = run.evaluations
    for row in table.rows:
        oracle, suffix = ROWS[row.label]
        for precision, backend in (("float", "float"), ("int8", "engine-int8")):
            name = backend + suffix
            clean = row.cell(CLEAN, precision).accuracy
            assert clean == evaluation.backends[name].accuracy_pct, (row.label, name)
            for steps in (2, 8):
                cell = row.cell(("pgd (linf)", f"ε {steps} steps"), precision)
                assert cell.accuracy == _accuracy(run.records, oracle, name, steps), (
                    row.label,
                    name,
                )
                assert cell.detected is None  # no detector
    markdown = table.markdown()
    assert markdown.splitlines()[0].startswith("| defense (float / int8, %) | clean |")
    assert len(markdown.splitlines()) == 2 + len(ROWS)
    html = write_report(run_dir).read_text()
    section = html[html.index('<section id="defenses">') : html.index('<section id="transfer">')]
    assert all(label in section for label in ROWS) and "No defense in this run" not in section


def test_family_of_train_based_variants() -> None:
    assert family("cifar10-resnet8-ensemble-adv-train") == ("cifar10-resnet8", "ensemble-adv-train")
    assert family("coffee-cnn-adv-train") == ("coffee-cnn", "adv-train")
    assert family("coffee-cnn-sinkhorn-adv-train") == ("coffee-cnn", "sinkhorn-adv-train")
    assert family("mlperf-resnet8") == ("mlperf-resnet8", None)
