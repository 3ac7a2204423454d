"""The UART frame codec (docs/protocol.md): COBS framing, header, CRC-32, payload layouts.

A frame on the wire is ``COBS(header + payload + crc32) + b"\\x00"``; the header is
``version u8, type u8, seq u16, length u32`` (little endian) and the CRC-32 (zlib polynomial)
covers header and payload. This module is pure: no I/O.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from host.board import wire
from host.board.wire import NO_SEQ as NO_SEQ
from host.board.wire import VERSION as VERSION
from host.board.wire import Capability as Capability
from host.board.wire import ErrorCode as ErrorCode
from host.board.wire import FrameType as FrameType
from host.board.wire import NakReason as NakReason
from host.board.wire import TensorType
from host.errors import LinkError

HEADER = wire.HEADER.struct
CRC = wire.CRC.struct
OVERHEAD = HEADER.size + CRC.size
BATCH_HEADER = wire.BATCH_HEADER.struct  # count, reserved
RESULT_HEADER = wire.RESULT_HEADER.struct  # counter, argmax, status
TENSOR = wire.TENSOR.struct  # type, rank, reserved, dims, scale, zero point, bytes
HELLO_FIXED = wire.HELLO.struct
STATS_FIELDS = wire.STATS.names
MAX_RANK = wire.TENSOR.field("dims").count

DTYPES: dict[int, np.dtype] = {
    TensorType.INT8: np.dtype(np.int8),
    TensorType.INT16: np.dtype(np.int16),
    TensorType.FLOAT32: np.dtype("<f4"),
    TensorType.UINT8: np.dtype(np.uint8),
}


class FrameError(LinkError, ValueError):
    """Bytes between two delimiters that are not a valid frame (``reason``: the device's NAK
    reason for them), or a payload that does not decode (``reason`` None)."""

    def __init__(self, message: str, reason: NakReason | None = None):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes
    version: int = VERSION


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode ``data`` (no delimiter added)."""
    out = bytearray()
    start = 0
    while True:
        end = start
        while end < len(data) and data[end] != 0 and end - start < 254:
            end += 1
        out.append(end - start + 1)
        out += data[start:end]
        if end >= len(data):
            return bytes(out)
        if end - start == 254:
            start = end  # a full block carries no zero
        else:
            start = end + 1  # the block ended at a zero
            if start == len(data):
                out.append(1)  # the data ended in a zero: an empty final block carries it
                return bytes(out)


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS block sequence (without its delimiter); FrameError when malformed."""
    out = bytearray()
    i = 0
    while i < len(data):
        code = data[i]
        if code == 0:
            raise FrameError("zero byte inside a COBS frame", NakReason.BAD_COBS)
        end = i + code
        if end > len(data):
            raise FrameError("COBS block runs past the end of the frame", NakReason.BAD_COBS)
        out += data[i + 1 : end]
        i = end
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


def encode_frame(frame_type: int, seq: int, payload: bytes = b"") -> bytes:
    """One frame as sent on the wire, delimiter included."""
    raw = HEADER.pack(VERSION, int(frame_type), seq & 0xFFFF, len(payload)) + bytes(payload)
    return cobs_encode(raw + CRC.pack(zlib.crc32(raw))) + b"\x00"


def decode_frame(encoded: bytes, max_frame: int | None = None) -> Frame:
    """The frame in ``encoded`` (the bytes between two delimiters); FrameError when invalid.

    The checks and their order are the device's (firmware/app/frame.cc), so the error's
    ``reason`` is the NAK the device sends; ``max_frame`` bounds the decoded bytes as the
    device's receive buffer does.
    """
    raw = cobs_decode(encoded)
    if max_frame is not None and len(raw) > max_frame:
        raise FrameError(f"frame of {len(raw)} bytes exceeds {max_frame}", NakReason.TOO_LONG)
    if len(raw) < OVERHEAD:
        raise FrameError(
            f"frame of {len(raw)} bytes is shorter than its header and CRC", NakReason.TOO_SHORT
        )
    version, frame_type, seq, length = HEADER.unpack_from(raw)
    if length != len(raw) - OVERHEAD:
        raise FrameError(
            f"length field {length} does not match {len(raw) - OVERHEAD} bytes",
            NakReason.BAD_LENGTH,
        )
    (crc,) = CRC.unpack_from(raw, len(raw) - CRC.size)
    if zlib.crc32(raw[: -CRC.size]) != crc:
        raise FrameError("bad CRC", NakReason.BAD_CRC)
    return Frame(frame_type, seq, raw[HEADER.size : -CRC.size], version)


class FrameReader:
    """Splits a byte stream at delimiters; keeps the partial frame between calls."""

    def __init__(self, max_bytes: int = 1 << 22):
        self._pending = bytearray()
        self._max = max_bytes
        self.rejected = 0  # chunks that were not valid frames (garbage, banners, corruption)

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by ``data``; invalid chunks are counted and dropped."""
        frames: list[Frame] = []
        self._pending += data
        while True:
            end = self._pending.find(0)
            if end < 0:
                if len(self._pending) > self._max:
                    self._pending.clear()
                    self.rejected += 1
                return frames
            chunk = bytes(self._pending[:end])
            del self._pending[: end + 1]
            if not chunk:
                continue
            try:
                frames.append(decode_frame(chunk))
            except FrameError:
                self.rejected += 1


@dataclass(frozen=True)
class TensorInfo:
    """Shape, dtype and quantization of one model tensor, as the device reports it."""

    dtype: np.dtype
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    bytes: int


@dataclass(frozen=True)
class Hello:
    """The device's HELLO: what it runs and how much it accepts."""

    capabilities: Capability
    boot: bool
    max_frame: int
    max_batch: int
    max_load: int  # data bytes per LOAD frame (0: no staged upload)
    arena_bytes: int
    weight_bytes: int
    op_count: int
    cpu_hz: int
    model_sha256: str
    input: TensorInfo
    output: TensorInfo
    board: str
    engine: str
    model: str

    @property
    def counter_unit(self) -> str:
        """``instructions`` on an emulator (QEMU -icount), ``cycles`` on hardware."""
        if self.capabilities & Capability.COUNTS_INSTRUCTIONS:
            return "instructions"
        return "cycles"


def _unpack(layout: wire.Layout, payload: bytes, what: str, offset: int = 0) -> tuple:
    """The fields of ``layout`` at ``offset``; FrameError when ``payload`` ends before them."""
    if offset + layout.size > len(payload):
        raise FrameError(f"{what} cut short: {len(payload)} bytes")
    return layout.struct.unpack_from(payload, offset)


def _exact(payload: bytes, size: int, what: str) -> None:
    """FrameError unless ``payload`` is exactly ``size`` bytes."""
    if len(payload) != size:
        raise FrameError(f"{what} payload of {len(payload)} bytes, expected {size}")


def _tensor(payload: bytes, offset: int) -> tuple[TensorInfo, int]:
    type_code, rank, _, *rest = _unpack(wire.TENSOR, payload, "HELLO tensor", offset)
    dims, (scale, zero_point, size) = rest[:MAX_RANK], rest[MAX_RANK:]
    if type_code not in DTYPES:
        raise FrameError(f"unknown tensor type code {type_code}")
    shape = tuple(dims[:rank])
    if not 1 <= rank <= MAX_RANK or min(shape) < 1:
        raise FrameError(f"HELLO tensor of rank {rank} and dims {shape}")
    if size != math.prod(shape) * DTYPES[type_code].itemsize:
        raise FrameError(f"HELLO tensor of dims {shape} says it has {size} bytes")
    info = TensorInfo(DTYPES[type_code], shape, scale, zero_point, size)
    return info, offset + TENSOR.size


def _string(payload: bytes, offset: int) -> tuple[str, int]:
    end = offset + 1 + (payload[offset] if offset < len(payload) else 0)
    if end > len(payload):
        raise FrameError("HELLO string cut short")
    return payload[offset + 1 : end].decode("utf-8", "replace"), end


def parse_hello(payload: bytes) -> Hello:
    """Decode a HELLO payload; FrameError when it is malformed."""
    caps, boot, max_frame, max_batch, max_load, arena, weights, ops, hz, sha = _unpack(
        wire.HELLO, payload, "HELLO"
    )
    input_info, offset = _tensor(payload, HELLO_FIXED.size)
    output_info, offset = _tensor(payload, offset)
    board, offset = _string(payload, offset)
    engine, offset = _string(payload, offset)
    model, offset = _string(payload, offset)
    _exact(payload, offset, "HELLO")
    return Hello(
        Capability(caps),
        bool(boot),
        max_frame,
        max_batch,
        max_load if caps & Capability.STAGED else 0,
        arena,
        weights,
        ops,
        hz,
        sha.hex(),
        input_info,
        output_info,
        board,
        engine,
        model,
    )


def infer_payload(inputs: np.ndarray) -> bytes:
    """An INFER payload for a batch of raw integer inputs (first axis = examples)."""
    data = np.ascontiguousarray(inputs)
    return BATCH_HEADER.pack(len(data), 0) + data.tobytes()


def load_payload(offset: int, data: bytes) -> bytes:
    """A LOAD payload: ``data`` to be staged at ``offset``."""
    return wire.LOAD.struct.pack(offset) + data


def infer_staged_payload(count: int, staged: bytes) -> bytes:
    """An INFER_STAGED payload for ``count`` inputs whose bytes ``staged`` were LOADed."""
    return wire.INFER_STAGED.struct.pack(count, 0, zlib.crc32(staged))


def parse_load_ack(payload: bytes) -> tuple[int, int]:
    """(offset, length) of the bytes a LOAD_ACK confirms; FrameError when malformed."""
    _exact(payload, wire.LOAD_ACK.size, "LOAD_ACK")
    offset, length = wire.LOAD_ACK.struct.unpack(payload)
    return offset, length


@dataclass(frozen=True)
class Result:
    """One inference: the raw output, its argmax, the engine status and the counter value."""

    output: np.ndarray
    argmax: int
    status: int
    count: int


def parse_result(payload: bytes, output: TensorInfo) -> list[Result]:
    """Decode a RESULT payload into one Result per input; FrameError when malformed."""
    (count, _) = _unpack(wire.BATCH_HEADER, payload, "RESULT")
    step = RESULT_HEADER.size + output.bytes
    _exact(payload, BATCH_HEADER.size + count * step, f"RESULT of {count} results")
    results = []
    for i in range(count):
        offset = BATCH_HEADER.size + i * step
        counter, argmax, status = RESULT_HEADER.unpack_from(payload, offset)
        start = offset + RESULT_HEADER.size
        values = np.frombuffer(payload[start : start + output.bytes], dtype=output.dtype)
        results.append(Result(values.reshape(output.shape[1:]), argmax, status, counter))
    return results


def parse_stats(payload: bytes) -> dict[str, int]:
    """Decode a STATS payload into named counters; FrameError when malformed."""
    _exact(payload, wire.STATS.size, "STATS")
    return dict(zip(STATS_FIELDS, wire.STATS.struct.unpack(payload), strict=True))


@dataclass(frozen=True)
class OpStats:
    """The counter of each op in the device's last inference and of the whole inference."""

    counts: tuple[int, ...]
    total: int


def parse_op_stats(payload: bytes) -> OpStats:
    """Decode an OP_STATS payload; FrameError when malformed."""
    count, _, total = _unpack(wire.OP_STATS, payload, "OP_STATS")
    _exact(payload, wire.OP_STATS.size + 4 * count, f"OP_STATS of {count} ops")
    counts = np.frombuffer(payload, "<u4", count, wire.OP_STATS.size)
    return OpStats(tuple(int(c) for c in counts), total)


def parse_nak(payload: bytes) -> tuple[int, int]:
    """(reason, seq of the refused frame or NO_SEQ) from a NAK payload; FrameError when
    malformed."""
    _exact(payload, wire.NAK.size, "NAK")
    reason, _, seq = wire.NAK.struct.unpack(payload)
    return reason, seq


def parse_error(payload: bytes) -> tuple[int, int, str]:
    """(code, seq, text) from an ERROR payload; FrameError when shorter than its header."""
    code, seq = _unpack(wire.ERROR, payload, "ERROR")
    return code, seq, payload[wire.ERROR.size :].decode("utf-8", "replace")
