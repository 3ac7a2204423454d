"""The engine backend (engine-int8/-int16) gives the tflite-micro wheel's outputs, byte for byte.

For every library variant this CPU runs (avx512, avx2, portable) on the zoo's models: real and
random inputs, batches of 1, odd and large sizes, one thread and two. Also the Backend contract
(``run`` quantizes as the wheel's backend does) and a model the engine cannot compile.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema

from host import compiler, zoo
from host.backends import (
    backend_for_file,
    exact_runtime,
    host_backend_for_bytes,
    host_runtimes,
)
from host.backends.engine import EngineBackend
from host.backends.tflm import TflmBackend
from host.bench.command import main as bench_main
from host.bench.oracle import DEFAULT_CASES as MODELS
from host.bench.oracle import inputs
from host.errors import UserError
from host.tflite import check_model_bytes, model_bytes, truncate_after

ISAS = compiler.cpu_isas()
N_DEFAULT = 24  # half real, half random
N_SLOW = 1000


def _wheel_and_inputs(model: str, precision: str, n: int, data_dir) -> tuple:
    entry = zoo.spec(model)
    wheel = TflmBackend(zoo.model_file(model, precision), precision, entry.input_range)
    q = inputs(model, wheel, n, str(data_dir))
    return wheel, q, wheel.invoke(q)


def _assert_same(ours: np.ndarray, expected: np.ndarray, what: str) -> None:
    assert ours.shape == expected.shape and ours.dtype == expected.dtype, what
    bad = np.flatnonzero((ours != expected).reshape(len(ours), -1).any(axis=1))
    assert len(bad) == 0, f"{what}: {len(bad)}/{len(ours)} examples differ, first {bad[0]}"


@pytest.fixture(scope="module", params=MODELS, ids=lambda case: "-".join(case))
def reference(request, data_dir) -> tuple:
    """A zoo model, N_DEFAULT raw inputs and the wheel's outputs for them."""
    model, precision = request.param
    return (model, precision, *_wheel_and_inputs(model, precision, N_DEFAULT, data_dir))


@pytest.mark.parametrize("isa", ISAS)
def test_engine_matches_the_wheel(reference, isa: str) -> None:
    model, precision, wheel, q, expected = reference
    entry = zoo.spec(model)
    engine = EngineBackend(zoo.model_file(model, precision), precision, entry.input_range, isa)
    assert engine.kernels.startswith("tinyrobust engine ") and f"({isa}, " in engine.kernels
    _assert_same(engine.invoke(q), expected, f"{model} {precision} {isa}")
    assert len(np.unique(expected, axis=0)) > 1  # the inputs exercise the model


@pytest.mark.parametrize("isa", ISAS)
def test_batch_sizes_and_threads_give_the_same_bytes(isa: str, data_dir) -> None:
    _, q, expected = _wheel_and_inputs("cifar10-resnet8", "int8", 15, data_dir)
    path = zoo.model_file("cifar10-resnet8", "int8")
    one, two = (EngineBackend(path, "int8", 1.0, isa, threads) for threads in (1, 2))
    assert one.threads == 1 and two.threads == 2
    large = np.concatenate([q] * 20)  # 300: every thread runs many examples
    for engine in (one, two):
        _assert_same(engine.invoke(q[:1]), expected[:1], f"{isa} batch 1")
        _assert_same(engine.invoke(q[:7]), expected[:7], f"{isa} batch 7")
        _assert_same(engine.invoke(large), np.concatenate([expected] * 20), f"{isa} batch 300")
    assert one.invoke(q[:0]).shape == (0, *expected.shape[1:])


def test_backend_contract_as_the_wheel(data_dir) -> None:
    """Same quantization attributes as the wheel's backend; run = invoke(quantize(x))."""
    path = zoo.model_file("mlperf-resnet8", "int8")
    engine = backend_for_file("engine-int8", path)
    wheel = TflmBackend(path, "int8")
    for attribute in ("input_scale", "input_zero_point", "input_dtype", "input_shape"):
        assert getattr(engine, attribute) == getattr(wheel, attribute), attribute
    assert (engine.output_scale, engine.output_zero_point) == (
        wheel.output_scale,
        wheel.output_zero_point,
    )
    x01 = np.random.default_rng(1).random((5, *wheel.input_shape), dtype=np.float32)
    _assert_same(engine.run(x01), wheel.run(x01), "run")
    assert engine.name == "engine-int8"
    with pytest.raises(UserError, match="do not fit"):
        engine.invoke(np.zeros((2, 3), dtype=np.int8))


def test_truncated_graph_from_bytes() -> None:
    """host_backend_for_bytes("engine") runs model bytes, as op-by-op agreement does: the whole
    graph, and the graph cut after its first op (no arena at all)."""
    content = zoo.model_file("cifar10-resnet8", "int8").read_bytes()
    for graph in (content, truncate_after(content, 0)):
        engine = host_backend_for_bytes("engine")(graph, "int8", 1.0)
        wheel = TflmBackend(graph, "int8")
        q = np.random.default_rng(2).integers(-128, 128, (3, *wheel.input_shape), dtype=np.int8)
        _assert_same(engine.invoke(q), wheel.invoke(q), "from bytes")


def _with_op(content: bytes, index: int, code: int) -> bytes:
    """The model with op ``index``'s operator code changed (an op the engine lacks)."""
    model = check_model_bytes(content)
    opcode_index = model.subgraphs[0].operators[index].opcodeIndex
    model.operatorCodes[opcode_index].builtinCode = code
    model.operatorCodes[opcode_index].deprecatedBuiltinCode = min(code, 127)
    return model_bytes(model)


def test_unsupported_model_is_a_one_line_user_error() -> None:
    content = zoo.model_file("cifar10-resnet8", "int8").read_bytes()
    bad = _with_op(content, 0, schema.BuiltinOperator.MUL)
    with pytest.raises(UserError) as error:
        EngineBackend(bad, "int8")
    assert "op 0 (MUL)" in str(error.value) and "\n" not in str(error.value)


def test_defaults_fall_back_to_the_wheel_with_a_note(tmp_path, capsys) -> None:
    """A model the engine cannot compile keeps the wheel as its exact oracle (one note)."""
    content = zoo.model_file("cifar10-resnet8", "int8").read_bytes()
    good, bad = tmp_path / "good.tflite", tmp_path / "bad.tflite"
    good.write_bytes(content)
    bad.write_bytes(_with_op(content, 0, schema.BuiltinOperator.MUL))
    assert exact_runtime(good) == "engine" and exact_runtime(bad) == "tflm"
    assert host_runtimes(bad) == ["litert-ref", "litert", "tflm"]
    assert "engine" in host_runtimes(good)
    note = capsys.readouterr().err.strip()
    assert note.startswith("note: the engine cannot run bad.tflite") and "op 0 (MUL)" in note
    assert "\n" not in note


def test_unknown_isa_is_a_user_error(monkeypatch) -> None:
    monkeypatch.setenv("TINYROBUST_ENGINE_ISA", "neon")
    with pytest.raises(UserError, match="unknown engine ISA"):
        compiler.chosen_isa()
    monkeypatch.setenv("TINYROBUST_ENGINE_ISA", "portable")
    assert compiler.chosen_isa() == "portable"


@pytest.mark.slow
@pytest.mark.parametrize("case", MODELS, ids=lambda case: "-".join(case))
def test_engine_matches_the_wheel_on_1000_inputs(case, data_dir) -> None:
    model, precision = case
    _, q, expected = _wheel_and_inputs(model, precision, N_SLOW, data_dir)
    for isa in ISAS:
        path = zoo.model_file(model, precision)
        engine = EngineBackend(path, precision, zoo.spec(model).input_range, isa)
        _assert_same(engine.invoke(q), expected, f"{model} {precision} {isa}")


def test_bench_section_oracle(tmp_path, data_dir) -> None:
    """``python -m host.bench --only oracle``, tiny: a row per backend, no mismatches."""
    argv = ["--only", "oracle", "--models", "cifar10-resnet8", "--oracle-precisions", "int8"]
    argv += ["--oracle-n", "6", "--oracle-repeats", "2", "--oracle-isas", "portable"]
    assert bench_main([*argv, "--data-dir", str(data_dir), "--out", str(tmp_path)]) == 0
    (path,) = tmp_path.glob("*-bench/bench.json")
    rows = json.loads(path.read_text())["oracle"]
    labels = [(r["backend"], r["threads"]) for r in rows]
    assert labels[:2] == [("tflm (wheel)", 1), ("engine portable", 1)]
    assert all(r["mismatches"] == 0 and r["images"] == 6 and r["ratio"] > 0 for r in rows)
    assert rows[0]["ratio"] == 1.0


def test_bench_section_oracle_rejects_an_isa_this_cpu_lacks() -> None:
    missing = [isa for isa in ("avx512", "avx2", "neon") if isa not in ISAS][0]
    assert bench_main(["--only", "oracle", "--oracle-isas", missing]) == 2
