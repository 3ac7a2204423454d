"""Edge-only attacks: DIVA against the real int8 engine, and the edge-only rate from records.

DIVA crafts through the replica of the int8 .tflite and the float model; success is judged on
the real engine (byte-exact with TFLite Micro) and on the real float model. The edge-only table
is built from the records of real tiny campaigns (with and without the float backend).
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_reference import needs_board

from host import data, zoo
from host.api import run_campaign
from host.attacks import Oracle, make_attack
from host.attacks.threat import step_of
from host.backends import get_backend
from host.backends.device import DeviceBackend
from host.board import firmware, qemu
from host.errors import UserError
from host.report.edge import edge_markdown, edge_summary
from host.report.html import write_report

MODEL = "cifar10-resnet8"
N = 20


@pytest.fixture(scope="module")
def sample(data_dir) -> tuple[np.ndarray, np.ndarray]:
    dataset = data.load("cifar10", "test").take(N)
    return dataset.x.astype(np.float32) / np.float32(255.0), dataset.y


@pytest.fixture(scope="module")
def oracles(data_dir) -> tuple[Oracle, Oracle]:
    """(the int8 engine with its float model and .tflite, the float model)."""
    float_path = zoo.model_file(MODEL, "float")
    int8_path = zoo.model_file(MODEL, "int8")
    engine = Oracle(get_backend(MODEL, "engine-int8"), 10, float_path, model_path=int8_path)
    return engine, Oracle(get_backend(MODEL, "float"), 10, float_path)


def _edge_only(oracles, x, y, x_adv) -> tuple[int, int]:
    """(edge-only examples, examples both models get right when clean)."""
    engine, floating = oracles
    both = (engine.labels(x) == y) & (floating.labels(x) == y)
    edge = both & (floating.labels(x_adv) == y) & (engine.labels(x_adv) != y)
    return int(edge.sum()), int(both.sum())


def test_diva_finds_edge_only_inputs_pgd_transfer_does_not(sample, oracles) -> None:
    """At 2 int8 input steps (n=20), DIVA makes the engine wrong with the float model right on
    several inputs (measured 5 of 20); PGD transfer fools both models (measured 0 of 20)."""
    x, y = sample
    engine, floating = oracles
    eps = 2 * step_of(engine.backend)
    diva = make_attack("diva")(engine, x, y, [eps])[0]
    pgd = make_attack("pgd")(floating, x, y, [eps])[0]
    diva_edge, both = _edge_only(oracles, x, y, diva.x_adv)
    pgd_edge, _ = _edge_only(oracles, x, y, pgd.x_adv)
    assert both >= N - 3
    assert diva_edge >= 3 and diva_edge > pgd_edge
    assert np.abs(diva.x_adv - x).max() <= eps + 1e-6  # inside the ball, on the lattice
    assert np.array_equal(diva.success, engine.labels(diva.x_adv) != y)  # judged on the engine


def test_bad_diva_parameters_are_user_errors(sample, oracles) -> None:
    x, y = sample
    engine, floating = oracles
    with pytest.raises(UserError, match="parameter c takes a number > 0"):
        make_attack("diva", c=0)
    with pytest.raises(UserError, match="does not support norm l1"):
        make_attack("diva", norm="l1")
    with pytest.raises(UserError, match="needs an integer oracle"):
        make_attack("diva")(floating, x[:2], y[:2], [0.01])
    with pytest.raises(UserError, match="eps-bounded"):
        make_attack("diva")(engine, x[:2], y[:2], [None])


def test_edge_only_table_from_records(data_dir, tmp_path) -> None:
    """PGD transfer at 2 steps on float and the engine: every row counts what its records say,
    and summary.md and the HTML report show it; without the float backend, a note instead."""
    backends = ["float", "engine-int8"]
    result = run_campaign(
        MODEL, ["pgd"], eps_steps=[2], backends=backends, n=6, data_dir=data_dir, out=tmp_path
    )
    summary = edge_summary(result.records)
    (row,) = summary["rows"]
    assert (row["backend"], row["float"], row["n"]) == ("engine-int8", "float", 6)
    outcomes = [(r.label, r.backends["float"], r.backends["engine-int8"]) for r in result.records]
    both = [(y, f, i) for y, f, i in outcomes if f.clean_prediction == i.clean_prediction == y]
    edge = [f.prediction == y != i.prediction for y, f, i in both]
    wrong = [i.prediction != y for y, _, i in both]
    assert row["both_correct"] == len(both) and row["edge_only"] == sum(edge)
    assert row["integer_wrong_pct"] == pytest.approx(100 * np.mean(wrong))
    assert summary["notes"] == [] and row["integer_wrong_pct"] > 0
    table = edge_markdown(summary)
    assert "| engine-int8 |" in table and table in (tmp_path / "summary.md").read_text()
    page = write_report(tmp_path).read_text()
    section = page[page.index('<section id="edge">') :]
    section = section[: section.index("</section>")]
    assert "pgd (linf, transfer from float)" in section and f"{len(both)} of 6" in section

    alone = run_campaign(
        MODEL, ["pgd"], eps_steps=[2], backends=["engine-int8"], n=2, data_dir=data_dir
    )
    summary = edge_summary(alone.records)
    assert summary["rows"] == []
    assert summary["notes"] == [
        f"{MODEL}: no float backend among the evaluated backends, so no edge-only rate for "
        "engine-int8 (add float to the backends)"
    ]
    assert summary["notes"][0] in edge_markdown(summary)


@pytest.mark.slow
def test_diva_l2_stays_in_its_ball(sample, oracles) -> None:
    """L2 DIVA (normalised gradient steps): inside the ball; measured 4 of 8 engine-wrong at
    eps 0.25 with the float model right on all 8."""
    x, y = sample[0][:8], sample[1][:8]
    engine, floating = oracles
    result = make_attack("diva", norm="l2")(engine, x, y, [0.25])[0]
    assert np.linalg.norm((result.x_adv - x).reshape(8, -1), axis=1).max() <= 0.25 + 1e-5
    assert result.success.sum() >= 2 and (floating.labels(result.x_adv) == y).sum() >= 6


@needs_board
@pytest.mark.slow
def test_board_computes_the_engines_outputs_on_diva_inputs(sample, oracles) -> None:
    """DIVA's inputs (crafted against the engine) on the emulated board: the same raw outputs."""
    x, y = sample[0][:4], sample[1][:4]
    engine, _ = oracles
    result = make_attack("diva")(engine, x, y, [4 * step_of(engine.backend)])[0]
    image = firmware.build(MODEL, "qemu-an386")
    with qemu.Emulator(image.board.qemu_machine, image.elf) as emulator:
        board = DeviceBackend(zoo.model_file(MODEL, "int8"), "int8", emulator.url)
        try:
            on_board = board.run(result.x_adv)
        finally:
            board.close()
    assert on_board.tobytes() == engine.backend.run(result.x_adv).tobytes()
