"""The frame codecs: the host's (host/board/protocol.py) and the firmware's (firmware/app/frame.cc,
built for the host) on the same vectors; COBS, CRC-32, frame checks, payload layouts."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from host import zoo
from host.board import firmware, platformio, protocol, wire
from host.board.client import Device, DeviceError, open_transport
from host.board.protocol import FrameError, FrameType, NakReason
from host.compiler.toolchain import CXX_FLAGS
from host.errors import LinkError, UserError
from host.paths import BUILD, FIRMWARE


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x00",
        b"\x00\x00",
        b"\x11\x22\x00\x33",
        bytes(range(1, 255)),  # exactly one full 254-byte block
        bytes(range(1, 256)),  # one byte more than a full block
        bytes(range(1, 255)) + b"\x00",
        bytes(600),
        bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8)),
    ],
    ids=["empty", "zero", "zeros", "mixed", "254", "255", "254+zero", "600-zeros", "random"],
)
def test_cobs_round_trip_has_no_zero(data: bytes) -> None:
    encoded = protocol.cobs_encode(data)
    assert 0 not in encoded
    assert protocol.cobs_decode(encoded) == data


def test_cobs_known_vectors() -> None:
    assert protocol.cobs_encode(b"\x00") == b"\x01\x01"
    assert protocol.cobs_encode(b"\x11\x22\x00\x33") == b"\x03\x11\x22\x02\x33"
    assert protocol.cobs_encode(b"\x11\x00\x00\x00") == b"\x02\x11\x01\x01\x01"


def test_frame_layout_and_crc() -> None:
    wire = protocol.encode_frame(FrameType.INFER, 0x1234, b"\x01\x02\x00\x03")
    assert wire.endswith(b"\x00") and 0 not in wire[:-1]
    raw = protocol.cobs_decode(wire[:-1])
    assert raw[:8] == struct.pack("<BBHI", 1, 0x02, 0x1234, 4)
    assert struct.unpack("<I", raw[-4:])[0] == zlib.crc32(raw[:-4])
    frame = protocol.decode_frame(wire[:-1])
    assert (frame.type, frame.seq, frame.payload) == (FrameType.INFER, 0x1234, b"\x01\x02\x00\x03")


def test_corrupted_frames_are_rejected() -> None:
    wire = bytearray(protocol.encode_frame(FrameType.HELLO_REQUEST, 7, b"abc")[:-1])
    for i in range(len(wire)):
        broken = bytearray(wire)
        broken[i] ^= 0x40
        if 0 in broken:
            continue
        with pytest.raises(FrameError):
            protocol.decode_frame(bytes(broken))
    with pytest.raises(FrameError):
        protocol.decode_frame(b"\x05\x01\x02")  # block longer than the data


def test_reader_resynchronizes_after_garbage() -> None:
    reader = protocol.FrameReader()
    a = protocol.encode_frame(FrameType.LOG, 1, b"hello")
    b = protocol.encode_frame(FrameType.LOG, 2, b"world")
    stream = b"\x13\x37garbage\x00" + a + b"\xff\xfe" + b"\x00\x00" + b
    frames = []
    for i in range(0, len(stream), 3):  # arrives in small pieces
        frames += reader.feed(stream[i : i + 3])
    assert [f.seq for f in frames] == [1, 2]
    assert reader.rejected == 2


def _tensor(type_code: int, dims: list[int], scale: float, zp: int, size: int) -> bytes:
    padded = dims + [0] * (6 - len(dims))
    return protocol.TENSOR.pack(type_code, len(dims), 0, *padded, scale, zp, size)


def test_hello_and_result_payloads() -> None:
    fixed = protocol.HELLO_FIXED.pack(0x21, 1, 3088, 8, 0, 1000, 2000, 12, 0, bytes(range(32)))
    payload = fixed + _tensor(1, [1, 32, 32, 3], 1.0, -128, 3072)
    payload += _tensor(1, [1, 10], 1 / 256, -128, 10)
    for text in (b"mps2-an386", b"tinyrobust-aot", b"mlperf-resnet8"):
        payload += bytes([len(text)]) + text
    hello = protocol.parse_hello(payload)
    assert hello.boot and hello.max_batch == 8 and hello.counter_unit == "instructions"
    assert hello.input.shape == (1, 32, 32, 3) and hello.input.zero_point == -128
    assert hello.output.dtype == np.int8 and hello.model == "mlperf-resnet8"
    assert hello.model_sha256 == bytes(range(32)).hex()

    outputs = np.arange(20, dtype=np.int8).reshape(2, 10) - 5
    result = protocol.BATCH_HEADER.pack(2, 0)
    for i in range(2):
        result += protocol.RESULT_HEADER.pack(1000 + i, 9, 0) + outputs[i].tobytes()
    parsed = protocol.parse_result(result, hello.output)
    assert [r.count for r in parsed] == [1000, 1001]
    assert np.array_equal(np.stack([r.output for r in parsed]), outputs)
    with pytest.raises(FrameError):
        protocol.parse_result(result[:-1], hello.output)


def _valid_payloads() -> dict[str, bytes]:
    """One valid payload per parsed frame type (the HELLO of a CIFAR model)."""
    fixed = protocol.HELLO_FIXED.pack(0x21, 1, 3088, 8, 0, 1000, 2000, 12, 0, bytes(32))
    hello = fixed + _tensor(1, [1, 32, 32, 3], 1.0, -128, 3072) + _tensor(1, [1, 10], 0.5, 0, 10)
    hello += b"".join(bytes([len(text)]) + text for text in (b"board", b"engine", b"model"))
    result = protocol.BATCH_HEADER.pack(1, 0) + protocol.RESULT_HEADER.pack(5, 1, 0) + bytes(10)
    return {
        "hello": hello,
        "result": result,
        "stats": bytes(wire.STATS.size),
        "op_stats": wire.OP_STATS.struct.pack(2, 0, 30) + bytes(range(8)),
        "nak": wire.NAK.struct.pack(1, 0, 7),
        "error": wire.ERROR.struct.pack(3, 7) + "é".encode()[:1],  # cut UTF-8 is replaced
    }


OUTPUT = protocol.TensorInfo(np.dtype(np.int8), (1, 10), 0.5, 0, 10)
PARSERS = {
    "hello": protocol.parse_hello,
    "result": lambda payload: protocol.parse_result(payload, OUTPUT),
    "stats": protocol.parse_stats,
    "op_stats": protocol.parse_op_stats,
    "nak": protocol.parse_nak,
    "error": protocol.parse_error,
}


def test_parsers_raise_only_frame_error() -> None:
    """Every cut, extension and random byte string: a value or FrameError, a LinkError (one
    line, exit 2 in a command); never struct.error, ValueError, IndexError or UnicodeError."""
    assert issubclass(FrameError, LinkError) and issubclass(DeviceError, LinkError)
    rng = np.random.default_rng(2)
    for name, valid in _valid_payloads().items():
        parse = PARSERS[name]
        parse(valid)
        candidates = [valid[:n] for n in range(len(valid))] + [valid + b"\x00", valid + b"xyz"]
        for _ in range(300):
            broken = bytearray(valid)
            broken[rng.integers(len(broken))] = rng.integers(256)
            candidates += [bytes(broken), rng.bytes(rng.integers(0, 300))]
        failures = 0
        for payload in candidates:
            try:
                parse(payload)
            except FrameError:
                failures += 1
        if name != "error":  # any ERROR payload of at least 4 bytes is valid
            assert failures >= len(valid) + 2, name  # every cut and extension is refused
    with pytest.raises(FrameError, match="ERROR cut short"):
        protocol.parse_error(b"\x03\x00")  # the CRC-valid 2-byte ERROR of the issue


def test_hello_with_inconsistent_tensor_is_refused() -> None:
    hello = _valid_payloads()["hello"]
    wrong_bytes = hello[:64] + _tensor(1, [1, 32, 32, 3], 1.0, -128, 3000) + hello[104:]
    rank_seven = hello[:65] + b"\x07" + hello[66:]  # the input tensor's rank byte
    for payload in (wrong_bytes, rank_seven):
        with pytest.raises(FrameError, match="HELLO tensor"):
            protocol.parse_hello(payload)


@pytest.mark.parametrize(
    "url", ["socket://127.0.0.1:99999", "socket://127.0.0.1:0", "socket://127.0.0.1", "socket://:5"]
)
def test_socket_url_port_is_checked_before_pyserial(url: str) -> None:
    with pytest.raises(UserError, match=r"port must be 1-65535") as caught:
        open_transport(url)
    assert "debug|info" not in str(caught.value) and "\n" not in str(caught.value)


def test_infer_payload() -> None:
    x = np.arange(6, dtype=np.int8).reshape(2, 3)
    assert protocol.infer_payload(x) == b"\x02\x00\x00\x00" + x.tobytes()


def test_client_without_firmware_is_a_user_error() -> None:
    """loop:// echoes the host's own frames back: never taken for an answer."""
    with pytest.raises(UserError, match="no tinyrobust firmware answers at loop://"):
        Device("loop://", retries=1, base_timeout=0.1)
    with pytest.raises(UserError, match="cannot open"):
        Device("nosuchscheme://x")


# ---------------------------------------------------------------- one source for the wire format


def test_layouts_give_the_spec_sizes_and_formats() -> None:
    """The structs the host codec uses are the layouts of wire.py, with the sizes of the spec."""
    assert protocol.HEADER.format == "<BBHI" and protocol.HEADER.size == 8
    assert protocol.HELLO_FIXED.format == "<IB3xIHHIIII32s" and protocol.HELLO_FIXED.size == 64
    assert protocol.TENSOR.format == "<BBH6ifiI" and protocol.TENSOR.size == 40
    assert protocol.RESULT_HEADER.format == "<IhH" and protocol.BATCH_HEADER.format == "<HH"
    assert wire.HELLO.field("model_sha256").offset == 32
    assert protocol.OVERHEAD == 12 and len(protocol.STATS_FIELDS) == 6
    with pytest.raises(ValueError, match="the spec says 4"):
        wire.Layout("Broken", 4, [("a", "u32"), ("b", "u8")])


def test_wire_header_declares_every_layout_and_enum() -> None:
    header = wire.render_header()
    for layout in wire.LAYOUTS:
        assert f"constexpr uint32_t k{layout.c_name}Bytes = {layout.size};" in header
        for field in layout.fields:
            line = f"k{layout.c_name}{field.c_name}Offset = {field.offset};"
            assert line in header
    assert "kHelloMaxFrameOffset = 8;" in header and "kTensorDimsCount = 6;" in header
    assert "enum NakReason : uint8_t {" in header and "kNakBadLength = 5," in header
    assert "kCapCountsInstructions = 1u << 5," in header and "kNak = 0x92," in header


def test_builds_get_the_generated_wire_header(tmp_path: Path, monkeypatch) -> None:
    """QEMU builds (host/board/firmware.py) and PlatformIO sources (platformio.py) carry wire.h."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs arm-none-eabi-gcc")
    image = firmware.build(firmware.TEST_MODEL, "qemu-an386")
    assert (image.elf.parent / "generated" / "wire.h").read_text() == wire.render_header()
    try:
        zoo.model_file("mlperf-resnet8", "int8")
    except UserError as error:
        pytest.skip(str(error))
    monkeypatch.setattr(platformio, "PIO_MODEL_DIR", tmp_path)
    platformio.write_pio_sources("mlperf-resnet8", firmware.board("disco-f407vg"))
    assert (tmp_path / "wire.h").read_text() == wire.render_header()
    assert (tmp_path / "model.cc").is_file()


# ---------------------------------------------------------------- the C++ codec on the host

RUNNER = FIRMWARE / "app" / "host" / "frame_runner.cc"
CODEC_SOURCES = [FIRMWARE / "app" / "frame.cc", RUNNER]
CAPACITY = 4096  # the decoder's buffer: the device's max_frame


def build_codec(sources: list[Path], name: str, flags: list[str] = CXX_FLAGS) -> Path:
    """``sources`` with the frame codec and wire.h built for the host by g++ with ``flags``
    (cached under build/protocol by a hash of sources, header and flags)."""
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    header = wire.render_header()
    digest = hashlib.sha256(json.dumps(flags).encode() + header.encode())
    for source in [*sources, FIRMWARE / "app" / "frame.h"]:
        digest.update(source.read_bytes())
    directory = BUILD / "protocol" / digest.hexdigest()[:16]
    executable = directory / name
    if not executable.is_file():
        wire.write_header(directory)
        tmp = directory / f"{name}.{os.getpid()}.tmp"
        command = ["g++", *flags, f"-I{directory}", f"-I{FIRMWARE / 'app'}"]
        result = subprocess.run(
            [*command, *map(str, sources), "-o", str(tmp)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        tmp.replace(executable)
    return executable


@pytest.fixture(scope="module")
def cxx_codec() -> Path:
    """The firmware's frame codec built for the host with wire.h (cached under build/protocol)."""
    return build_codec(CODEC_SOURCES, "frame_runner")


def run_cxx(executable: Path, commands: list[str]) -> list[str]:
    result = subprocess.run(
        [str(executable)], input="\n".join(commands) + "\n", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _hex(data: bytes) -> str:
    return data.hex() or "-"


def _seq_where(predicate, frame_type: int, payload: bytes) -> int:
    """The first seq whose raw frame (header, payload, CRC) satisfies ``predicate``."""
    for seq in range(protocol.NO_SEQ):
        raw = protocol.cobs_decode(protocol.encode_frame(frame_type, seq, payload)[:-1])
        if predicate(raw):
            return seq
    raise AssertionError("no such seq")


FULL = b"\x01" * 250  # after the header's last zero: 250 + 4 CRC bytes = one full block
RANDOM = bytes(np.random.default_rng(1).integers(0, 256, 3000, dtype=np.uint8))
ENCODE_VECTORS = [
    (FrameType.HELLO_REQUEST, 7, b""),
    (FrameType.INFER, 0x1234, b"\x01\x02\x00\x03"),
    (FrameType.LOG, 0, bytes(range(1, 255))),
    (FrameType.RESULT, protocol.NO_SEQ, bytes(600)),
    (FrameType.ECHO, 0xFFFE, RANDOM),
    (FrameType.ERROR, 1, b"\x00"),
    # a CRC that ends in a zero byte; a full 254-byte COBS block that ends the frame
    (FrameType.LOG, _seq_where(lambda raw: raw[-1] == 0, FrameType.LOG, b"ab"), b"ab"),
    (FrameType.LOG, _seq_where(lambda raw: 0 not in raw[8:], FrameType.LOG, FULL), FULL),
]


def test_cxx_encoder_matches_python(cxx_codec: Path) -> None:
    commands = [f"encode {t} {seq} {_hex(p)}" for t, seq, p in ENCODE_VECTORS]
    expected = [protocol.encode_frame(t, seq, p).hex() for t, seq, p in ENCODE_VECTORS]
    assert run_cxx(cxx_codec, commands) == expected


def _reencoded(raw: bytes) -> bytes:
    return protocol.cobs_encode(raw) + b"\x00"


def _decode_vectors() -> dict[str, tuple[int, bytes]]:
    """Named byte streams (and the decoder's capacity): valid, truncated and broken frames."""
    wires = [protocol.encode_frame(t, seq, p) for t, seq, p in ENCODE_VECTORS]
    small = protocol.encode_frame(FrameType.INFER, 9, b"\x05\x00abc")
    raw = protocol.cobs_decode(small[:-1])
    bad_crc = raw[:-1] + bytes([raw[-1] ^ 0x01])
    long_length = bytearray(raw[:-4])
    long_length[4] += 1
    bad_length = bytes(long_length) + struct.pack("<I", zlib.crc32(long_length))
    vectors = {f"valid-{i}": (CAPACITY, w) for i, w in enumerate(wires)}
    vectors |= {f"truncated-{k}": (CAPACITY, small[:k] + b"\x00") for k in (1, 2, 5, 9, 13, 16)}
    vectors |= {
        "bad-crc": (CAPACITY, _reencoded(bad_crc)),
        "bad-cobs": (CAPACITY, b"\x05\x01\x02\x00"),
        "too-short": (CAPACITY, _reencoded(b"\x01\x02\x03")),
        "too-long": (64, wires[3]),
        "exactly-max": (len(raw), small),
        "bad-length": (CAPACITY, _reencoded(bad_length)),
        "empty": (CAPACITY, b"\x00\x00"),
        "resync": (CAPACITY, b"\x13\x37garbage\x00" + small + b"\xff\xfe\x00\x00" + small),
    }
    for i in range(len(small) - 1):  # every byte corrupted (a new zero splits the frame)
        broken = bytearray(small)
        broken[i] ^= 0x40
        vectors[f"flip-{i}"] = (CAPACITY, bytes(broken))
    return vectors


def python_verdicts(capacity: int, stream: bytes) -> list[str]:
    """What the host codec says of each chunk of ``stream``, in the runner's words."""
    verdicts = []
    for chunk in stream.split(b"\x00")[:-1]:  # bytes after the last 0x00 are still pending
        if not chunk:
            verdicts.append("empty")
            continue
        try:
            frame = protocol.decode_frame(chunk, max_frame=capacity)
        except FrameError as error:
            verdicts.append(f"nak {int(error.reason or 0)}")
        else:
            verdicts.append(f"frame {frame.type} {frame.seq} {_hex(frame.payload)}")
    return verdicts


def test_cxx_decoder_matches_python(cxx_codec: Path) -> None:
    vectors = _decode_vectors()
    commands = [f"decode {capacity} {_hex(stream)}" for capacity, stream in vectors.values()]
    lines = iter(run_cxx(cxx_codec, commands))
    cxx = {name: list(itertools.takewhile(lambda line: line != "end", lines)) for name in vectors}
    python = {
        name: python_verdicts(capacity, stream) for name, (capacity, stream) in vectors.items()
    }
    assert cxx == python
    naks = {verdict for verdicts in python.values() for verdict in verdicts if "nak" in verdict}
    assert naks == {f"nak {int(reason)}" for reason in NakReason}  # every reason is exercised
