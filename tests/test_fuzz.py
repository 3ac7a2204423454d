"""Fuzzing: the host's frame decoder and payload parsers (hypothesis), the .tflite reader and
the compiler's graph build on cut and mutated real models, and the firmware's frame decoder
built with ASan/UBSan and driven by random and mutated frames, checked against the host's.

Each target runs a bounded number of cases by default and many more under ``-m slow``.
"""

from __future__ import annotations

import inspect
import itertools
import os
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol import OUTPUT, _valid_payloads, build_codec, python_verdicts

from host.board import protocol
from host.board.protocol import FrameError, FrameType
from host.compiler.graph import Graph, load_graph
from host.compiler.toolchain import CXX_FLAGS
from host.errors import UserError
from host.paths import FIRMWARE, MODELS, REPO_ROOT

HANG_S = 10
MIRROR = Path(os.environ.get("TINYROBUST_MODEL_MIRROR") or "/nonexistent") / "mlperf_tiny"


def budget(examples: int) -> settings:
    """Hypothesis settings for ``examples`` cases: no example database, deterministic in CI."""
    return settings(
        max_examples=examples,
        deadline=2000,  # ms per case: a parse that loops is a failure, not a slow test
        database=None,
        derandomize=examples <= 5000,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def budgets(default: int, slow: int) -> pytest.MarkDecorator:
    """Parametrize a test over its CI budget and its ``slow`` budget."""
    return pytest.mark.parametrize(
        "cases",
        [pytest.param(default, id=f"{default}"), pytest.param(slow, marks=pytest.mark.slow)],
    )


def run_cases(cases: int, strategy: st.SearchStrategy, check: Callable) -> int:
    """Run ``check`` on ``cases`` examples drawn from ``strategy``; the number it ran. A case
    that runs for HANG_S seconds fails the test (a loop would never reach the deadline)."""
    runs = []

    @budget(cases)
    @given(strategy)
    def property_holds(example) -> None:
        runs.append(1)
        signal.alarm(HANG_S)
        try:
            check(example)
        finally:
            signal.alarm(0)

    def hang(signum: int, frame: object) -> None:
        raise TimeoutError(f"{check.__name__}: a case ran for {HANG_S} s")

    previous = signal.signal(signal.SIGALRM, hang)
    try:
        property_holds()
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"{check.__name__}: {len(runs)} executions", file=sys.stderr)
    return len(runs)


def test_a_case_that_loops_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "HANG_S", 1)

    def loops_forever(example: int) -> None:
        while example >= 0:
            example += 1

    with pytest.raises(TimeoutError, match="loops_forever: a case ran for 1 s"):
        run_cases(1, st.just(0), loops_forever)


# ---------------------------------------------------------------- .tflite reader and graph build

MODEL_FILES = [
    path
    for path in [
        MODELS / "cifar10-resnet8" / "int8.tflite",
        MODELS / "coffee-cnn" / "int16.tflite",
        MIRROR / "kws_ref_model.tflite",
        MIRROR / "vww_96_int8.tflite",
    ]
    if path.is_file()
]
MODEL_BYTES = [path.read_bytes() for path in MODEL_FILES]


def load_or_user_error(data: bytes) -> Graph | UserError:
    """The graph of ``data``, or the UserError it gives (one line)."""
    try:
        return load_graph(data, "fuzzed.tflite")
    except UserError as error:
        assert "\n" not in str(error)
        return error


def mutated_model(model: int, seed: int) -> bytes:
    """A real model with 1 to 16 bytes replaced, bit-flipped, set to 0x00 or 0xFF, at places
    drawn uniformly from ``seed`` (hypothesis would favour the first bytes of the file)."""
    data = np.frombuffer(MODEL_BYTES[model], np.uint8).copy()
    rng = np.random.default_rng(seed)
    at = rng.integers(0, len(data), size=rng.integers(1, 17))
    values = np.stack([rng.integers(0, 256, len(at)), data[at] ^ 0x80, 0 * at, 0 * at + 0xFF])
    data[at] = values[rng.integers(0, 4, len(at)), np.arange(len(at))]
    return data.tobytes()


MODEL_INDEX = st.integers(0, max(len(MODEL_BYTES) - 1, 0))


@budgets(300, 10_000)
def test_cut_models_are_refused_as_truncated(cases: int) -> None:
    """The issue's truncated file: 'truncated or corrupt' with the file name, never a raw
    struct.error ('unpack_from requires a buffer of at least 1651663211 bytes')."""
    if not MODEL_BYTES:
        pytest.skip("no model files")

    def cut_model_is_refused(example: tuple[int, float]) -> None:
        model, fraction = example
        data = MODEL_BYTES[model][: int(fraction * len(MODEL_BYTES[model]))]
        outcome = load_or_user_error(data)
        if isinstance(outcome, UserError):
            assert "truncated or corrupt" in str(outcome) or "not a TFLite" in str(outcome)

    cuts = st.tuples(MODEL_INDEX, st.floats(0, 1, exclude_max=True))
    assert run_cases(cases, cuts, cut_model_is_refused) == cases


@budgets(500, 20_000)
def test_mutated_models_parse_or_give_one_line(cases: int) -> None:
    """Random byte mutations: a clean parse or a one-line UserError, nothing else, no hang."""
    if not MODEL_BYTES:
        pytest.skip("no model files")

    def mutated_model_parses_or_is_refused(example: tuple[int, int]) -> None:
        load_or_user_error(mutated_model(*example))

    mutations = st.tuples(MODEL_INDEX, st.integers(0, 2**32 - 1))
    assert run_cases(cases, mutations, mutated_model_parses_or_is_refused) == cases


def _set(obj: object, **values: object) -> None:
    for name, value in values.items():
        setattr(obj, name, value)


# One edit of the cifar10-resnet8 int8 model (op 0: CONV_2D reading tensors 0, 20 and 19) per
# check, and the words of its error; the first was found by the slow mutation run.
CORRUPTIONS = {
    "no graph inputs": (lambda m: _set(m.subgraphs[0], inputs=None), "inputs or outputs are"),
    "graph output": (lambda m: _set(m.subgraphs[0], outputs=[999]), "name a tensor that is"),
    "empty graph inputs": (lambda m: _set(m.subgraphs[0], inputs=[]), "no inputs or no outputs"),
    "op code": (lambda m: _set(m.subgraphs[0].operators[0], opcodeIndex=99), "no valid op code"),
    "op input": (lambda m: _set(m.subgraphs[0].operators[0], inputs=[0, 99]), "reads a tensor"),
    "no op output": (lambda m: _set(m.subgraphs[0].operators[0], outputs=[]), "no output"),
    "buffer": (lambda m: _set(m.subgraphs[0].tensors[20], buffer=999), "refers to buffer 999"),
    "negative dim": (lambda m: _set(m.subgraphs[0].tensors[20], shape=[16, -3, 3, 3]), "shape"),
    "rank 9": (lambda m: _set(m.subgraphs[0].tensors[20], shape=[1] * 9), "has shape"),
    "constant size": (lambda m: _set(m.subgraphs[0].tensors[20], shape=[16, 3, 3, 4]), "bytes"),
    "operands": (lambda m: _set(m.subgraphs[0].operators[0], inputs=[0]), "1 of 2 inputs"),
    "options": (
        lambda m: _set(
            m.subgraphs[0].operators[0],
            builtinOptionsType=schema.BuiltinOptions.SoftmaxOptions,
            builtinOptions=schema.SoftmaxOptionsT(),
        ),
        "SoftmaxOptionsT where Conv2DOptionsT belong",
    ),
    "stride 0": (lambda m: _set(m.subgraphs[0].operators[0].builtinOptions, strideW=0), "values"),
}


@pytest.mark.parametrize("edit, words", CORRUPTIONS.values(), ids=CORRUPTIONS)
def test_each_corruption_is_named(edit: Callable, words: str) -> None:
    model_file = MODELS / "cifar10-resnet8" / "int8.tflite"
    model = schema.ModelT.InitFromPackedBuf(model_file.read_bytes(), 0)
    edit(model)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    with pytest.raises(UserError, match="edited.tflite|op 0") as refused:
        load_graph(bytes(builder.Output()), "edited.tflite")
    assert words in str(refused.value) and "\n" not in str(refused.value)


def test_table_counts_larger_than_the_file_are_refused() -> None:
    """A vector length the file cannot hold is refused before the object API loops over it."""
    if not MODEL_BYTES:
        pytest.skip("no model files")
    data = bytearray(MODEL_BYTES[0])
    root = schema.Model.GetRootAs(bytes(data), 0)
    field = root._tab.Pos + root._tab.Offset(8)  # Model.subgraphs
    vector = field + int.from_bytes(data[field : field + 4], "little")
    data[vector : vector + 4] = (len(data)).to_bytes(4, "little")
    with pytest.raises(UserError, match=r"truncated or corrupt \(\d+ tables do not fit"):
        load_graph(bytes(data), "big.tflite")


def repeated(builder: flatbuffers.Builder, start_vector: Callable, table: int, count: int) -> int:
    """A vector of ``count`` offsets that all point at one ``table``."""
    start_vector(builder, count)
    for _ in range(count):
        builder.PrependUOffsetTRelative(table)
    return builder.EndVector()


def shared_tables_model(count: int) -> bytes:
    """A model of ``count`` subgraphs that are all one subgraph of ``count`` tensors that are
    all one tensor: 8 bytes a table in the file, ``count``**2 tensors for the object API."""
    builder = flatbuffers.Builder(0)
    schema.TensorStart(builder)
    tensor = schema.TensorEnd(builder)
    tensors = repeated(builder, schema.SubGraphStartTensorsVector, tensor, count)
    schema.SubGraphStart(builder)
    schema.SubGraphAddTensors(builder, tensors)
    graph = schema.SubGraphEnd(builder)
    graphs = repeated(builder, schema.ModelStartSubgraphsVector, graph, count)
    schema.ModelStart(builder)
    schema.ModelAddSubgraphs(builder, graphs)
    builder.Finish(schema.ModelEnd(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def test_shared_tables_are_refused_at_once() -> None:
    """16 kB that unpack into 4,000,000 tensor objects (minutes and gigabytes in the object
    API): refused before unpacking."""
    data = shared_tables_model(2000)
    assert len(data) < 20_000
    start = time.perf_counter()
    with pytest.raises(UserError, match=r"shared.tflite is truncated or corrupt \(\d+ tables"):
        load_graph(data, "shared.tflite")
    assert time.perf_counter() - start < 1.0


def test_compiler_on_a_truncated_file_prints_one_line(tmp_path: Path) -> None:
    if not MODEL_BYTES:
        pytest.skip("no model files")
    model = tmp_path / "cut.tflite"
    model.write_bytes(MODEL_BYTES[0][: len(MODEL_BYTES[0]) // 2])
    result = subprocess.run(
        [sys.executable, "-m", "host.compiler", str(model), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{model} is truncated or corrupt" in result.stderr
    assert "unpack_from" not in result.stderr


# ---------------------------------------------------------------- the host's frame decoder

FRAMES = st.tuples(
    st.sampled_from(list(FrameType)), st.integers(0, 0xFFFF), st.binary(max_size=600)
)
MUTATIONS = ("flip", "cut", "insert", "delete", "duplicate", "replace")


def as_tuple(frame: protocol.Frame) -> tuple[int, int, bytes]:
    return (int(frame.type), frame.seq, frame.payload)


def read_in_pieces(reader: protocol.FrameReader, stream: bytes, piece: int) -> list:
    """The frames ``reader`` finds in ``stream`` fed ``piece`` bytes at a time, as tuples."""
    frames = []
    for start in range(0, len(stream), piece):
        frames += [as_tuple(frame) for frame in reader.feed(stream[start : start + piece])]
    return frames


@st.composite
def mutated_streams(draw: st.DrawFn) -> tuple[list, bytes, bytes, int, int, int]:
    """Valid frames, their stream, one mutation of it (stream[a:b] replaced), a piece size."""
    frames = [(int(t), seq, p) for t, seq, p in draw(st.lists(FRAMES, min_size=1, max_size=6))]
    stream = b"".join(protocol.encode_frame(*frame) for frame in frames)
    a = draw(st.integers(0, len(stream) - 1))
    b = draw(st.integers(a, min(len(stream), a + 64)))
    kind = draw(st.sampled_from(MUTATIONS))
    if kind == "flip":
        b, middle = a + 1, bytes([stream[a] ^ (1 << draw(st.integers(0, 7)))])
    elif kind == "cut":
        b, middle = len(stream), b""
    elif kind == "insert":
        b, middle = a, draw(st.binary(min_size=1, max_size=64))
    elif kind == "duplicate":
        middle = stream[a:b] * 2
    else:
        middle = b"" if kind == "delete" else draw(st.binary(max_size=64))
    mutated = stream[:a] + middle + stream[b:]
    return frames, stream, mutated, a, b, draw(st.integers(1, len(mutated) + 1))


def test_reader_resynchronizes_after_any_mutation_unit() -> None:
    """The property below on one hand-made case: a flipped byte costs exactly its frame."""
    frames = [(int(FrameType.LOG), i, bytes([i]) * 20) for i in range(3)]
    stream = b"".join(protocol.encode_frame(*frame) for frame in frames)
    at = len(protocol.encode_frame(*frames[0])) + 5  # inside the second frame
    mutated = stream[:at] + bytes([stream[at] ^ 1]) + stream[at + 1 :]
    reader = protocol.FrameReader()
    assert read_in_pieces(reader, mutated, 7) == [frames[0], frames[2]]
    assert reader.rejected == 1


@budgets(1000, 50_000)
def test_reader_resynchronizes_after_any_mutation(cases: int) -> None:
    """Frames before the mutation and after the next delimiter come out unchanged and in
    order; what comes out in between is one of the frames sent; nothing raises."""

    def frames_around_a_mutation_survive(example: tuple) -> None:
        frames, stream, mutated, a, b, piece = example
        ends = list(itertools.accumulate(len(protocol.encode_frame(*f)) for f in frames))
        resync = stream.find(0, b)  # the first delimiter at or after the mutated bytes
        before = [f for f, end in zip(frames, ends, strict=True) if end <= a]
        starts = [0, *ends[:-1]]
        after = [f for f, s in zip(frames, starts, strict=True) if resync >= 0 and s > resync]
        reader = protocol.FrameReader()
        found = read_in_pieces(reader, mutated, piece)
        assert found[: len(before)] == before
        assert found[len(found) - len(after) :] == after if after else True
        assert all(frame in frames for frame in found)
        assert len(found) + reader.rejected <= mutated.count(0)

    assert run_cases(cases, mutated_streams(), frames_around_a_mutation_survive) == cases


@budgets(1000, 50_000)
def test_reader_takes_any_byte_stream(cases: int) -> None:
    """Arbitrary bytes: the same frames whatever the pieces they arrive in; with a 32-byte
    bound on a partial frame as well, nothing raises."""

    def any_stream_splits_the_same(example: tuple[bytes, int]) -> None:
        stream, piece = example
        whole = read_in_pieces(protocol.FrameReader(), stream, len(stream) + 1)
        assert read_in_pieces(protocol.FrameReader(), stream, piece) == whole
        read_in_pieces(protocol.FrameReader(max_bytes=32), stream, piece)

    streams = st.tuples(st.binary(max_size=3000), st.integers(1, 64))
    assert run_cases(cases, streams, any_stream_splits_the_same) == cases


@budgets(1000, 50_000)
def test_decode_frame_raises_only_frame_error_with_a_nak_reason(cases: int) -> None:
    def decode_gives_a_frame_or_a_nak(example: tuple[bytes, int | None]) -> None:
        chunk, max_frame = example
        try:
            frame = protocol.decode_frame(chunk, max_frame)
        except FrameError as error:
            assert error.reason in set(protocol.NakReason)
        else:
            assert max_frame is None or len(frame.payload) + protocol.OVERHEAD <= max_frame

    chunks = st.tuples(
        st.binary(max_size=1000).map(lambda data: data.replace(b"\x00", b"\x01")),
        st.one_of(st.none(), st.integers(0, 2000)),
    )
    assert run_cases(cases, chunks, decode_gives_a_frame_or_a_nak) == cases


@budgets(500, 20_000)
def test_valid_frames_round_trip(cases: int) -> None:
    def frames_round_trip(example: tuple[list, int]) -> None:
        frames, piece = example
        frames = [(int(t), seq, p) for t, seq, p in frames]
        stream = b"".join(protocol.encode_frame(*frame) for frame in frames)
        assert read_in_pieces(protocol.FrameReader(), stream, piece) == frames

    examples = st.tuples(st.lists(FRAMES, max_size=8), st.integers(1, 5000))
    assert run_cases(cases, examples, frames_round_trip) == cases


# ---------------------------------------------------------------- the host's payload parsers

PARSERS = {name: parse for name, parse in vars(protocol).items() if name.startswith("parse_")}
VALID = _valid_payloads()  # one valid payload per parser of test_protocol
OUTPUTS = st.builds(
    protocol.TensorInfo,
    st.sampled_from([np.dtype(np.int8), np.dtype(np.int16)]),
    st.lists(st.integers(1, 12), min_size=1, max_size=3).map(lambda dims: (1, *dims)),
    st.just(0.5),
    st.just(0),
    st.integers(0, 300),
)


@st.composite
def payloads(draw: st.DrawFn) -> tuple[str, bytes, protocol.TensorInfo]:
    """A parser, a payload (random, or a valid one cut, extended or with a byte replaced),
    and the output tensor a RESULT is parsed for."""
    name = draw(st.sampled_from(sorted(PARSERS)))
    valid = VALID.get(name.removeprefix("parse_"))
    output = OUTPUT if valid is not None and name == "parse_result" else draw(OUTPUTS)
    if valid is None or draw(st.booleans()):
        return name, draw(st.binary(max_size=400)), output
    payload = bytearray(valid)
    kind = draw(st.sampled_from(["cut", "extend", "replace"]))
    if kind == "cut":
        del payload[draw(st.integers(0, len(payload) - 1)) :]
    elif kind == "extend":
        payload += draw(st.binary(min_size=1, max_size=40))
    else:
        payload[draw(st.integers(0, len(payload) - 1))] = draw(st.integers(0, 255))
    return name, bytes(payload), output


@budgets(1000, 50_000)
def test_every_parser_raises_only_frame_error(cases: int) -> None:
    """Every ``parse_*`` of the protocol (found by name, so a new one is fuzzed too)."""
    assert {"parse_hello", "parse_result", "parse_stats", "parse_nak", "parse_error"} <= set(
        PARSERS
    )

    def parser_gives_a_value_or_frame_error(example: tuple) -> None:
        name, payload, output = example
        parse = PARSERS[name]
        arguments = (payload, output)[: len(inspect.signature(parse).parameters)]
        try:
            parse(*arguments)
        except FrameError:
            pass

    assert run_cases(cases, payloads(), parser_gives_a_value_or_frame_error) == cases


# ---------------------------------------------------------------- the firmware's frame decoder

FUZZ_SOURCES = [FIRMWARE / "app" / "frame.cc", FIRMWARE / "app" / "host" / "frame_fuzz.cc"]
SANITIZE = ["-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


@pytest.fixture(scope="module")
def frame_fuzz() -> Path:
    """The harness and frame.cc built with ASan and UBSan; ASan's runtime is really linked."""
    executable = build_codec(FUZZ_SOURCES, "frame_fuzz", [*CXX_FLAGS, *SANITIZE])
    help_text = subprocess.run(
        [str(executable)], env={**os.environ, "ASAN_OPTIONS": "help=1"}, capture_output=True
    )
    assert b"AddressSanitizer" in help_text.stderr + help_text.stdout
    return executable


def compact(verdict: str) -> str:
    """A test_protocol verdict in the harness's words: payloads as length and CRC-32."""
    if not verdict.startswith("frame "):
        return verdict
    _, frame_type, seq, payload_hex = verdict.split()
    payload = b"" if payload_hex == "-" else bytes.fromhex(payload_hex)
    return f"frame {frame_type} {seq} {len(payload)} {zlib.crc32(payload)}"


def run_frame_fuzz(executable: Path, seed: int, frames: int, capacity: int, *dump: Path) -> str:
    """Run the harness; its summary line (a sanitizer report or a wrong verdict fails)."""
    result = subprocess.run(
        [str(executable), str(seed), str(frames), str(capacity), *map(str, dump)],
        capture_output=True,
        text=True,
        timeout=60 + frames // 20_000,  # ~100,000 frames a second: a hang fails the test
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Sanitizer" not in result.stderr and "runtime error" not in result.stderr
    return result.stdout


@pytest.mark.parametrize(
    "frames, capacity",
    [
        (100_000, 1024),
        (20_000, 64),  # most frames too long for the buffer
        pytest.param(1_000_000, 4096, marks=pytest.mark.slow),
    ],
)
def test_firmware_decoder_agrees_with_host(
    frame_fuzz: Path, tmp_path: Path, frames: int, capacity: int
) -> None:
    """Random and mutated frames through the sanitized firmware decoder: every verdict (frame,
    NAK reason, empty) is the host decoder's on the same bytes, every NAK reason occurs."""
    stream = tmp_path / "stream.bin"
    lines = run_frame_fuzz(frame_fuzz, frames, frames, capacity, stream).splitlines()
    summary = lines.pop()
    print(f"frame_fuzz {capacity}: {summary}", file=sys.stderr)
    counts = summary.split()
    assert counts[counts.index("checked") + 1] != "0" and counts[counts.index("wrong") + 1] == "0"
    assert lines == [compact(v) for v in python_verdicts(capacity, stream.read_bytes())]
    assert {line for line in lines if line.startswith("nak")} == {
        f"nak {int(reason)}" for reason in protocol.NakReason
    }


@pytest.mark.slow
def test_firmware_decoder_ten_million_frames(frame_fuzz: Path) -> None:
    """10 million frames, checked inside the harness (intact frames come out unchanged)."""
    summary = run_frame_fuzz(frame_fuzz, 7, 10_000_000, 4096)
    print(f"frame_fuzz 4096: {summary}", file=sys.stderr)
    assert " wrong 0 " in summary
