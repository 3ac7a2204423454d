"""The host frame codec (host/protocol.py): COBS, CRC-32, frame checks, payload layouts."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from host.board import protocol
from host.board.protocol import FrameError, FrameType


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


def test_infer_payload() -> None:
    x = np.arange(6, dtype=np.int8).reshape(2, 3)
    assert protocol.infer_payload(x) == b"\x02\x00\x00\x00" + x.tobytes()


def test_client_without_firmware_is_a_user_error() -> None:
    """loop:// echoes the host's own frames back: never taken for an answer."""
    from host.board.client import Device
    from host.errors import UserError

    with pytest.raises(UserError, match="no tinyrobust firmware answers at loop://"):
        Device("loop://", retries=1, base_timeout=0.1)
    with pytest.raises(UserError, match="cannot open"):
        Device("nosuchscheme://x")
