"""Metrics of issue 14: gradient estimators on the real int8 engine (host.metrics), bootstrap
intervals, boundary distances and distortion quantiles from records (host.report.boundary).

The seed paper's estimator (finite differences with h below one input step) reads zero on an
int8 model by construction; differences of one step or more do not. The estimators agree with
the exact gradient where they can (the float model, a small h).
"""

from __future__ import annotations

import numpy as np
import pytest

from host import data, zoo
from host.attacks.oracles import logits_model
from host.attacks.threat import step_of
from host.defenses import get_backend
from host.errors import UserError
from host.metrics.__main__ import main as metrics_main
from host.metrics.gradients import estimate_analytic, estimate_backend, random_directions
from host.metrics.statistics import bootstrap, quantiles
from host.records import AttackRecord
from host.report.boundary import boundary_distances, boundary_markdown, distortion_quantiles
from host.report.summary import summarise_run

MODEL = "cifar10-resnet8"


@pytest.fixture(scope="module")
def images(data_dir) -> tuple[np.ndarray, np.ndarray]:
    entry = zoo.spec(MODEL)
    dataset = data.load(entry.dataset, entry.eval_split, data_dir)
    return dataset.x[:6].astype(np.float32) / 255, dataset.y[:6]


def test_sub_step_differences_read_zero_on_int8_and_one_step_does_not(images):
    x, y = images
    int8 = get_backend(MODEL, "engine-int8")
    step = step_of(int8)
    paper = estimate_backend(int8, x, y, 0.1 * step, step, k=8)
    assert paper.zero_share == 1.0 and paper.norm_mean == 0.0
    for steps in (1, 2):
        ours = estimate_backend(int8, x, y, steps * step, step, k=8)
        assert ours.zero_share < 0.9 and ours.norm_mean > 0
        assert ours.h_steps == pytest.approx(steps)
        assert ours.norm_steps_mean == pytest.approx(ours.norm_mean * step)


def test_differences_on_the_float_model_match_its_exact_gradient(images):
    x, y = images
    step = step_of(get_backend(MODEL, "engine-int8"))
    exact = estimate_analytic("float", logits_model(zoo.model_file(MODEL, "float")), x, y, step)
    assert exact.zero_share < 0.1 and exact.k == x[0].size
    estimated = estimate_backend(get_backend(MODEL, "float"), x, y, 1e-3, step, k=64)
    assert estimated.zero_share == 0.0
    assert estimated.norm_mean == pytest.approx(exact.norm_mean, rel=0.35)


def test_directions():
    signs = random_directions((4, 4, 3), 5, "sign", seed=1)
    assert signs.shape == (5, 4, 4, 3) and set(np.unique(signs)) == {-1.0, 1.0}
    coordinates = random_directions((4, 4, 3), 5, "coordinate", seed=1)
    assert (coordinates.reshape(5, -1).sum(axis=1) == 1).all()
    with pytest.raises(UserError, match="unknown directions"):
        random_directions((2,), 1, "gaussian", seed=0)


def test_bootstrap_interval_holds_the_statistic_and_narrows_with_n():
    rng = np.random.default_rng(3)
    small, large = rng.exponential(1.0, 20), rng.exponential(1.0, 500)
    widths = []
    for values in (small, large):
        for statistic in (np.mean, np.median):
            interval = bootstrap(values, statistic, seed=0)
            assert interval.low <= interval.value <= interval.high
            assert interval.value == pytest.approx(statistic(values))
        mean = bootstrap(values, seed=0)
        widths.append(mean.high - mean.low)
        assert bootstrap(values, seed=0) == mean  # seeded
    assert widths[1] < widths[0] / 2
    with pytest.raises(UserError, match="at least one value"):
        bootstrap([])


def distortion(l2: float, step: float = 1 / 255) -> dict:
    floats = {"l0": 3.0, "l2": l2, "linf": l2 / 2}
    steps = {"l0": 3.0, "l2": l2 / step, "linf": l2 / 2 / step}
    return {"float": floats, "steps": steps}


def record(
    index: int, l2: float, success: bool, eps: str = "none", oracle: str = "float"
) -> AttackRecord:
    return AttackRecord(
        config_id="c", model="m", mode="transfer", oracle=oracle, attack="deepfool",
        norm="l2", params={}, params_effective={}, seed=0, query_budget=None, eps=eps,
        eps_steps=None, index=index, label=0, target=None, oracle_success=success,
        oracle_prediction=1, queries=0, invalid=False,
        distortion={"crafted": distortion(l2), "sent": distortion(l2)}, reference_step=1 / 255,
        backends={},
    )  # fmt: skip


def test_boundary_distances_and_quantiles_over_successful_examples():
    records = [record(i, 0.1 * (i + 1), success=i < 8) for i in range(10)]
    records.append(record(0, 5.0, True, eps="0.5"))  # not a minimal attack's own output
    (row,) = boundary_distances(records)
    assert (row["n"], row["successful"], row["success_pct"]) == (10, 8, 80.0)
    assert row["step"] == pytest.approx(1 / 255)
    assert row["mean_float"]["value"] == pytest.approx(0.45)
    assert row["median_steps"]["value"] == pytest.approx(0.45 * 255)
    assert row["mean_float"]["low"] < 0.45 < row["mean_float"]["high"]
    assert row["ratio_to_float"] is None
    int8 = [record(i, 0.2 * (i + 1), success=i > 0, oracle="engine-int8") for i in range(10)]
    ratio = boundary_distances(records + int8)[1]["ratio_to_float"]
    assert (ratio["value"], ratio["n"]) == (pytest.approx(2.0), 7)  # examples 1-7 fooled by both
    rows = distortion_quantiles(records)
    assert len(rows) == 2
    assert rows[0]["float"]["l2"]["q0"] == pytest.approx(0.1)
    assert rows[0]["float"]["l2"]["q100"] == pytest.approx(0.8)
    assert rows[0]["steps"]["linf"]["q50"] == pytest.approx(0.225 * 255)
    assert quantiles([]) == {}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "0"], "--n and --k must be positive"),
        (["--directions", "gaussian"], "--directions must be one of sign, coordinate"),
        (["--models", "nope"], "unknown model 'nope'"),
    ],
)
def test_the_command_refuses_bad_input_in_one_line(argv, message, capsys):
    assert metrics_main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_the_boundary_table_in_markdown():
    records = [record(i, 0.1 * (i + 1), success=i < 8) for i in range(10)]
    text = boundary_markdown(boundary_distances(records))
    assert "| m | deepfool (l2) | float | 8 of 10 | 0.45 [" in text
    assert text.splitlines()[-1].endswith("| 0.00392 | - |")
    assert boundary_markdown([]) == ""


def test_a_run_summary_holds_the_boundary_and_the_quantiles():
    records = [record(i, 0.1 * (i + 1), success=i < 8) for i in range(10)]
    summary = summarise_run(records)
    assert summary["boundary"] == boundary_distances(records)
    (cell,) = summary["distortion_quantiles"]
    assert cell["float"]["l2"]["q50"] == pytest.approx(0.45)
