"""The gradient-masking audit (host.report.audit): a deliberately masked model gets its flags,
the plain model none.

The masked model is the own CIFAR-10 ResNet-8 behind a hard-threshold input stage (each pixel
to 0 or 1 by a steep clipped ramp: its gradient is exactly zero on every pixel of the data set),
given as a user's model folder. The same tiny campaign (PGD white-box and Square through
queries, transfer mode, same eps, float only) runs on it and on the plain model through a
campaign file; the audit is read from the run folder's summary.json and summary.md.
Unit checks of the other flags run on synthetic records.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from host import api, data, zoo
from host.records import AttackRecord, BackendOutcome
from host.report.audit import CHECKS, audit, audit_markdown
from host.report.html import write_report

CAMPAIGN = """name = "audit"
models = ["{model}"]
backends = ["float"]
clean = "campaign"
[sample]
n = 12
[[attack]]
name = "pgd"
mode = "transfer"
eps = [0.125]
params = {{ max_iter = 5 }}
[[attack]]
name = "square-linf"
mode = "transfer"
eps = [0.125]
queries = 100
"""


def masked_folder(root: Path) -> Path:
    """The own ResNet-8 behind x -> clip(1000 (x - 0.5), 0, 1), as a user's model folder."""
    import keras

    base = keras.models.load_model(zoo.model_file("cifar10-resnet8", "float"), compile=False)
    inputs = keras.Input(base.input_shape[1:])
    binary = keras.layers.ReLU(max_value=1.0)(keras.layers.Rescaling(1000.0, -500.0)(inputs))
    folder = root / "masked-resnet8"
    folder.mkdir()
    head = base.layers[-1]  # the softmax layer stays last: the logits are found before it
    body = keras.Model(base.inputs, head.input)
    keras.Model(inputs, head(body(binary))).save(folder / "float.keras")
    labels = json.dumps(data.CIFAR10_CLASSES)
    (folder / zoo.ENTRY_FILE).write_text(f'dataset = "cifar10"\nlabels = {labels}\n')
    return folder


def run_audit(model: str, root: Path, data_dir: Path) -> tuple[dict, str, Path]:
    """The campaign on ``model``: the audit in summary.json, summary.md, the run folder."""
    campaign = root / f"{Path(model).name}.toml"
    campaign.write_text(CAMPAIGN.format(model=model))
    result = api.run_file(campaign, out=root / "runs", data_dir=data_dir)
    summary_md = (result.folder / "summary.md").read_text()
    summary = json.loads((result.folder / "summary.json").read_text())
    return summary["audit"], summary_md, result.folder


def test_the_masked_model_is_flagged_and_the_plain_one_is_not(tmp_path, data_dir):
    masked, masked_md, folder = run_audit(str(masked_folder(tmp_path)), tmp_path, data_dir)
    raised = {flag["check"] for flag in masked["flags"]}
    assert {"black-box beats white-box", "zero-gradient share"} <= raised, masked
    zero = next(f for f in masked["flags"] if f["check"] == "zero-gradient share")
    assert "100.0 % of the float gradient" in zero["evidence"]
    assert "**black-box beats white-box**" in masked_md
    page = write_report(folder).read_text()
    assert "<strong>zero-gradient share</strong>" in page
    (measured,) = json.loads((folder / "gradients.json").read_text()).values()
    (kept,) = measured["estimates"]
    assert (kept["backend"], kept["zero_share"], kept["n"]) == ("float", 1.0, 8)
    plain, plain_md, _ = run_audit("cifar10-resnet8", tmp_path, data_dir)
    assert plain["flags"] == [], plain
    assert f"no sign of gradient masking in {plain['checks']} checks" in plain_md
    assert plain["checks"] >= 5  # the float gradient was measured (no replica: float only)


def record(attack: str, eps: str, index: int, success: bool, oracle: str = "float") -> AttackRecord:
    """A synthetic record: ``success`` on the oracle, which is also the evaluated backend."""
    outcome = BackendOutcome(0, [0], 1 if success else 0, [0], success, {}, None)
    return AttackRecord(
        config_id=attack, model="m", mode="transfer", oracle=oracle, attack=attack,
        norm="linf", params={}, params_effective={}, seed=0, query_budget=None, eps=eps,
        eps_steps=None, index=index, label=0, target=None, oracle_success=success,
        oracle_prediction=1 if success else 0, queries=0, invalid=False, distortion={},
        reference_step=0.0, backends={oracle: outcome},
    )  # fmt: skip


def cells(attack: str, eps: str, hits: int, n: int = 10) -> list[AttackRecord]:
    return [record(attack, eps, i, i < hits) for i in range(n)]


@pytest.mark.parametrize(
    ("records", "check"),
    [
        (cells("deepfool", "none", 9), "unbounded attack below 100 %"),
        (cells("pgd", "0.03", 2) + cells("fgsm", "0.03", 8), "iterative weaker than single-step"),
        (cells("pgd", "0.01", 9) + cells("pgd", "0.03", 3), "success not increasing with eps"),
        (cells("pgd", "0.03", 2) + cells("square-linf", "0.03", 8), "black-box beats white-box"),
    ],
)
def test_each_record_check_flags_its_case(records, check):
    flags = audit(records)["flags"]
    assert [f["check"] for f in flags] == [check], flags
    assert flags[0]["cells"] and flags[0]["evidence"]


def test_noise_raises_nothing():
    """One example more, or 3 against 0 (a sign test's p = 0.125), is not a flag."""
    assert audit(cells("pgd", "0.03", 2) + cells("square-linf", "0.03", 5))["flags"] == []
    records = cells("pgd", "0.01", 6) + cells("pgd", "0.03", 5) + cells("fgsm", "0.03", 6)
    records += cells("deepfool", "none", 10) + cells("square-linf", "0.03", 6)
    result = audit(records)
    assert result["flags"] == []
    assert result["checks"] == len(CHECKS) - 2  # no gradients measured, no replica
    assert "no sign of gradient masking in 4 checks" in audit_markdown(result)
    assert "replica agreement: not measured" in audit_markdown(result)


def test_gradient_checks_read_the_measurements():
    estimate = {"backend": "replica-int8", "estimator": "analytic", "zero_share": 0.2, "n": 8}
    gradients = {
        "m": {
            "estimates": [{**estimate, "norm_mean": 1.0}],
            "replica_agreement": {
                "replica-int8": {"backend": "engine-int8", "n": 50, "top1_agreement": 0.96}
            },
            "notes": [],
        }
    }
    flags = audit([], gradients)["flags"]
    assert [f["check"] for f in flags] == ["replica disagrees"]
    assert "96.0 % of 50" in flags[0]["evidence"]
    gradients["m"]["estimates"][0]["zero_share"] = 0.8
    gradients["m"]["replica_agreement"]["replica-int8"]["top1_agreement"] = 1.0
    assert [f["check"] for f in audit([], gradients)["flags"]] == ["zero-gradient share"]


def test_minimal_attacks_compare_too():
    records = cells("deepfool", "none", 10, n=10) + cells("cw-l2", "none", 2)
    records += cells("hopskipjump", "none", 10)
    elsewhere = [record("boundary", "none", i, True, oracle="engine-int8") for i in range(10)]
    for r in elsewhere:  # found on another oracle: at its own distance, not compared
        r.backends["float"] = r.backends.pop("engine-int8")
    flags = audit(records + elsewhere)["flags"]
    beaten = [f for f in flags if f["check"] == "black-box beats white-box"]
    assert len(beaten) == 1 and "m on float at eps none: hopskipjump" in beaten[0]["evidence"]
    assert "fools 10 of 10, white-box cw-l2 2 of 10" in beaten[0]["evidence"]


def test_an_edge_only_attack_is_not_compared_with_misclassification():
    """DIVA wants the integer model wrong and the float model right: fooling fewer than a query
    attack (or more than PGD) is its goal, not a sign of masking."""
    records = cells("diva", "0.03", 1) + cells("square-linf", "0.03", 8)
    records += cells("pgd", "0.03", 9) + cells("diva", "0.01", 1)
    assert audit(records)["flags"] == []
