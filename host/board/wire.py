"""The UART wire format, declared once (docs/protocol.md).

Protocol version, frame types, NAK reasons, error codes, capability bits and every fixed-size
block on the wire (the frame header, the fixed part of each payload) are declared here. The host
codec (host/board/protocol.py) takes its ``struct.Struct`` formats from these layouts; the
firmware's ``wire.h`` is rendered from them (firmware/templates/wire.h.j2) into every build.
``python -m host.board.wire`` prints that header.
"""

from __future__ import annotations

import enum
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import jinja2

from host.compiler.emit import TensorType  # the engine defines the codes HELLO forwards
from host.paths import FIRMWARE

VERSION = 1
NO_SEQ = 0xFFFF  # seq of frames the device sends on its own and of NAKs for unreadable headers
TEMPLATE = "wire.h.j2"
HEADER_NAME = "wire.h"

# Field types: struct format character, C type.
SCALARS = {
    "u8": ("B", "uint8_t"),
    "u16": ("H", "uint16_t"),
    "u32": ("I", "uint32_t"),
    "i16": ("h", "int16_t"),
    "i32": ("i", "int32_t"),
    "f32": ("f", "float"),
}
BYTES = "bytes"  # bytes[n]: one Python bytes value, n uint8_t in C
PAD = "pad"  # pad[n]: n zero bytes, no Python value
FIELD_TYPE = re.compile(r"(\w+)(?:\[(\d+)\])?$")


class FrameType(enum.IntEnum):
    """Frame types: host to device below 0x80, device to host from 0x80."""

    HELLO_REQUEST = 0x01
    INFER = 0x02
    STATS_REQUEST = 0x03
    RESET = 0x04
    ECHO = 0x05
    LOAD = 0x06
    INFER_STAGED = 0x07
    OP_STATS_REQUEST = 0x08
    HELLO = 0x81
    RESULT = 0x82
    STATS = 0x83
    RESET_ACK = 0x84
    ECHO_REPLY = 0x85
    LOAD_ACK = 0x86
    OP_STATS = 0x87
    LOG = 0x90
    ERROR = 0x91
    NAK = 0x92


class NakReason(enum.IntEnum):
    """Why a frame was refused (NAK payload)."""

    BAD_CRC = 1
    BAD_COBS = 2
    TOO_SHORT = 3
    TOO_LONG = 4
    BAD_LENGTH = 5


class ErrorCode(enum.IntEnum):
    """Errors on a well-formed frame (ERROR payload)."""

    UNKNOWN_TYPE = 1
    BAD_VERSION = 2
    BAD_PAYLOAD = 3
    BATCH_TOO_LARGE = 4
    ENGINE = 5
    STAGED_MISMATCH = 6


class Capability(enum.IntFlag):
    """HELLO capability bits."""

    BATCH = 1 << 0
    STATS = 1 << 1
    RESET = 1 << 2
    CACHE = 1 << 3
    LOG = 1 << 4
    COUNTS_INSTRUCTIONS = 1 << 5
    STAGED = 1 << 6
    OP_STATS = 1 << 7  # per-op counters of the last inference (OP_STATS_REQUEST)
    RECEIVES_WHILE_COMPUTING = 1 << 8  # a frame of up to max_frame bytes may come during compute


@dataclass(frozen=True)
class Field:
    """One field of a layout: a scalar, an array of scalars, bytes or padding."""

    name: str
    type: str  # "u32", "i32[6]", "bytes[32]", "pad[3]"
    offset: int
    base: str  # the element type: a key of SCALARS, BYTES or PAD
    count: int  # elements (1 for a scalar)

    @property
    def is_array(self) -> bool:
        return "[" in self.type

    @property
    def format(self) -> str:
        """The field's ``struct`` format."""
        if self.base == BYTES:
            return f"{self.count}s"
        if self.base == PAD:
            return f"{self.count}x"
        code = SCALARS[self.base][0]
        return f"{self.count}{code}" if self.is_array else code

    @property
    def c_type(self) -> str:
        return SCALARS[self.base][1] if self.base in SCALARS else "uint8_t"

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.format)

    @property
    def c_name(self) -> str:
        return camel(self.name)


class Layout:
    """A fixed-size little-endian block: the frame header or the fixed part of a payload.

    ``size`` is the size the spec gives; a field list that does not add up to it is an error.
    """

    def __init__(self, c_name: str, size: int, fields: list[tuple[str, str]]):
        self.c_name = c_name  # the C++ constants' prefix: kHelloBytes, kHelloMaxFrameOffset
        self.fields: list[Field] = []
        offset = 0
        for name, field_type in fields:
            match = FIELD_TYPE.match(field_type)
            if match is None or match[1] not in (*SCALARS, BYTES, PAD):
                raise ValueError(f"{c_name}.{name}: unknown wire field type {field_type!r}")
            if match[1] in (BYTES, PAD) and match[2] is None:
                raise ValueError(f"{c_name}.{name}: {field_type!r} needs a length, e.g. bytes[4]")
            field = Field(name, field_type, offset, match[1], int(match[2] or 1))
            self.fields.append(field)
            offset += field.size
        self.struct = struct.Struct("<" + "".join(f.format for f in self.fields))
        self.size = self.struct.size
        if self.size != size:
            raise ValueError(f"{c_name} layout is {self.size} bytes, the spec says {size}")

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the fields that carry values (padding left out)."""
        return tuple(f.name for f in self.fields if f.base != PAD)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


HEADER = Layout("Header", 8, [("version", "u8"), ("type", "u8"), ("seq", "u16"), ("length", "u32")])
CRC = Layout("Crc", 4, [("value", "u32")])  # CRC-32 of header and payload, after the payload
BATCH_HEADER = Layout("BatchHeader", 4, [("count", "u16"), ("reserved", "u16")])
RESULT_HEADER = Layout(
    "ResultHeader", 8, [("counter", "u32"), ("argmax", "i16"), ("status", "u16")]
)
TENSOR = Layout(
    "Tensor",
    40,
    [
        ("type", "u8"),
        ("rank", "u8"),
        ("reserved", "u16"),
        ("dims", "i32[6]"),
        ("scale", "f32"),
        ("zero_point", "i32"),
        ("bytes", "u32"),
    ],
)
HELLO = Layout(  # followed by the input and output TENSOR, then three length-prefixed strings
    "Hello",
    64,
    [
        ("capabilities", "u32"),
        ("boot", "u8"),
        ("boot_reserved", "pad[3]"),
        ("max_frame", "u32"),
        ("max_batch", "u16"),
        ("max_load", "u16"),
        ("arena_bytes", "u32"),
        ("weight_bytes", "u32"),
        ("op_count", "u32"),
        ("cpu_hz", "u32"),
        ("model_sha256", "bytes[32]"),
    ],
)
STATS = Layout(
    "Stats",
    24,
    [
        (name, "u32")
        for name in (
            "frames_ok",
            "frames_rejected",
            "inferences",
            "cache_hits",
            "errors",
            "last_count",
        )
    ],
)
ECHO_REPLY = Layout("EchoReply", 8, [("length", "u32"), ("crc", "u32")])
ERROR = Layout("Error", 4, [("code", "u16"), ("seq", "u16")])  # followed by UTF-8 text
NAK = Layout("Nak", 4, [("reason", "u8"), ("reserved", "u8"), ("seq", "u16")])
LOAD = Layout("Load", 4, [("offset", "u32")])  # followed by the bytes to stage at offset
LOAD_ACK = Layout("LoadAck", 8, [("offset", "u32"), ("length", "u32")])
INFER_STAGED = Layout(  # crc: CRC-32 of the count * input bytes staged
    "InferStaged", 8, [("count", "u16"), ("reserved", "u16"), ("crc", "u32")]
)
OP_STATS = Layout(  # followed by count u32: the counter of each op in the last inference
    "OpStats", 8, [("count", "u16"), ("reserved", "u16"), ("total", "u32")]
)
LAYOUTS = (
    HEADER,
    CRC,
    BATCH_HEADER,
    RESULT_HEADER,
    TENSOR,
    HELLO,
    STATS,
    ECHO_REPLY,
    ERROR,
    NAK,
    LOAD,
    LOAD_ACK,
    INFER_STAGED,
    OP_STATS,
)


@dataclass(frozen=True)
class CEnum:
    """A Python enum as a C++ enum whose underlying type is the wire field that carries it."""

    values: type[enum.IntEnum] | type[enum.IntFlag]
    prefix: str  # of the C++ enumerators: kNakBadCrc
    carrier: Field
    hex: bool = False

    @property
    def c_name(self) -> str:
        return self.values.__name__

    @property
    def doc(self) -> str:
        return (self.values.__doc__ or "").strip()

    def members(self) -> list[tuple[str, str]]:
        """(C++ enumerator, value as C++ writes it) for every member."""
        is_flag = issubclass(self.values, enum.IntFlag)
        rows = []
        for member in self.values:
            value = int(member)
            if is_flag:
                text = f"1u << {value.bit_length() - 1}"
            else:
                text = f"0x{value:02X}" if self.hex else str(value)
            rows.append((f"k{self.prefix}{camel(str(member.name))}", text))
        return rows


ENUMS = (
    CEnum(FrameType, "", HEADER.field("type"), hex=True),
    CEnum(NakReason, "Nak", NAK.field("reason")),
    CEnum(ErrorCode, "Err", ERROR.field("code")),
    CEnum(Capability, "Cap", HELLO.field("capabilities")),
    CEnum(TensorType, "Tensor", TENSOR.field("type")),
)


def camel(name: str) -> str:
    """``max_frame`` or ``MAX_FRAME`` -> ``MaxFrame``."""
    return "".join(part.capitalize() for part in name.lower().split("_"))


def render_header() -> str:
    """The firmware's ``wire.h``: constants, enums, offsets and static_asserts."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(FIRMWARE / "templates")),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    template = env.get_template(TEMPLATE)
    return template.render(version=VERSION, no_seq=NO_SEQ, enums=ENUMS, layouts=LAYOUTS)


def write_header(directory: Path) -> Path:
    """Write ``wire.h`` into ``directory`` (created if missing) and return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / HEADER_NAME
    path.write_text(render_header())
    return path


if __name__ == "__main__":
    print(render_header(), end="")
