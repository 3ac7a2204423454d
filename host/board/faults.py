"""A fault-injecting transport: wraps a serial port and breaks the bytes that cross it.

``FaultyTransport(port, FaultSpec.parse("flip=1e-3,direction=to-host,seed=1"))`` behaves like
``port`` (write, read, in_waiting, close, ...) but drops, flips, duplicates and inserts bytes,
truncates writes and frames, delays them and injects RESET frames (the board reboots), each with
the probability the spec gives. Every fault kind draws from its own seeded generator, one draw per
byte (or per write or frame), so the same seed and the same bytes give the same faults however
the reads happen to be split. ``injected`` counts what was actually injected.
"""

from __future__ import annotations

import collections
import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from host.board import protocol
from host.board.protocol import FrameType
from host.errors import UserError

DIRECTIONS = ("both", "to-device", "to-host")
BYTE_FAULTS = ("drop", "flip", "duplicate", "garbage")
MAX_GARBAGE = 16  # a garbage burst is 1-16 random bytes
RESET_SEQ = protocol.NO_SEQ - 1  # the injected RESET's seq; its RESET_ACK is stale to the client


@dataclass(frozen=True)
class FaultSpec:
    """What to break and how often; rates are probabilities in [0, 1]."""

    drop: float = 0.0  # per byte: the byte is lost
    flip: float = 0.0  # per byte: one random bit of it flipped
    duplicate: float = 0.0  # per byte: the byte sent twice
    garbage: float = 0.0  # per byte: a burst of 1-16 random bytes inserted before it
    truncate: float = 0.0  # per write (to the device) or frame (to the host): the rest cut off
    delay: float = 0.0  # seconds: each write (or frame to the host) delayed by [0, delay]
    reset: float = 0.0  # per host write: a RESET frame injected before it (the board reboots)
    direction: str = "both"  # "both", "to-device" (host writes) or "to-host" (device replies)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (*BYTE_FAULTS, "truncate", "reset"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise UserError(f"link fault {name}={rate:g}: a rate must be in [0, 1]")
        if not 0.0 <= self.delay <= 60.0:
            raise UserError(f"link fault delay={self.delay:g}: seconds in [0, 60]")
        if self.direction not in DIRECTIONS:
            raise UserError(
                f"link fault direction={self.direction}: one of {', '.join(DIRECTIONS)}"
            )
        if self.seed < 0:
            raise UserError(f"link fault seed={self.seed}: must be >= 0")

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """A spec from ``name=value`` pairs separated by commas, e.g. ``flip=1e-3,seed=1``."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, sep, value = (part.strip() for part in item.partition("="))
            if not sep or name not in fields:
                raise UserError(
                    f"bad link fault {item!r}: expected name=value with a name among "
                    f"{', '.join(fields)}"
                )
            if name in values:
                raise UserError(f"link fault {name} given twice in {text!r}")
            values[name] = _value(name, value, fields[name])
        return cls(**values)

    def applies(self, to_device: bool) -> bool:
        """Whether faults apply to host writes (``to_device``) or to device replies."""
        return self.direction in ("both", "to-device" if to_device else "to-host")

    def __str__(self) -> str:
        default = FaultSpec()
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return ",".join(changed) or "none"


def _value(name: str, text: str, kind: Any) -> str | int | float:
    if kind == "str":
        return text
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        raise UserError(f"link fault {name}={text}: not a number") from None


class _Stream:
    """The faults of one direction: a generator per fault kind, applied to chunks of bytes."""

    def __init__(self, spec: FaultSpec, seed: np.random.SeedSequence, counts: collections.Counter):
        self.spec = spec
        names = (*BYTE_FAULTS, "flip-bit", "garbage-bytes", "truncate", "delay", "reset")
        seeds = seed.spawn(len(names))
        self.rng = {name: np.random.default_rng(s) for name, s in zip(names, seeds, strict=True)}
        self.injected = counts

    def apply(self, data: bytes) -> bytes:
        """``data`` after the per-byte faults (each byte in order: garbage, drop, flip, dup)."""
        n = len(data)
        hits = {
            name: self.rng[name].random(n) < getattr(self.spec, name)
            for name in BYTE_FAULTS
            if getattr(self.spec, name) > 0 and n
        }
        if not any(hit.any() for hit in hits.values()):
            return data
        none = np.zeros(n, bool)
        drop, garbage = hits.get("drop", none), hits.get("garbage", none)
        flip, duplicate = hits.get("flip", none) & ~drop, hits.get("duplicate", none) & ~drop
        array = np.frombuffer(data, np.uint8).copy()
        bits = self.rng["flip-bit"].integers(0, 8, int(flip.sum()))
        array[flip] ^= (1 << bits).astype(np.uint8)
        out = bytearray()
        start = 0
        for i in np.flatnonzero(drop | duplicate | garbage):
            out += array[start:i].tobytes()
            if garbage[i]:
                length = int(self.rng["garbage-bytes"].integers(1, MAX_GARBAGE + 1))
                out += self.rng["garbage-bytes"].integers(0, 256, length, np.uint8).tobytes()
            if not drop[i]:
                out += array[i : i + 1].tobytes() * (2 if duplicate[i] else 1)
            start = int(i) + 1
        out += array[start:].tobytes()
        for name, hit in zip(BYTE_FAULTS, (drop, flip, duplicate, garbage), strict=True):
            self.injected[name] += int(hit.sum())
        return bytes(out)

    def truncated(self, data: bytes) -> bytes:
        """``data`` with its tail cut off at a random point, with probability ``truncate``."""
        if self.spec.truncate <= 0 or not data:
            return data
        u = self.rng["truncate"].random()
        if u >= self.spec.truncate:
            return data
        self.injected["truncate"] += 1
        return data[: int(u / self.spec.truncate * len(data))]

    def pause(self) -> None:
        """Sleep a random time in [0, delay]."""
        if self.spec.delay > 0:
            self.injected["delay"] += 1
            time.sleep(float(self.rng["delay"].random()) * self.spec.delay)

    def reset(self) -> bool:
        """Whether to inject a RESET before this write."""
        if self.spec.reset <= 0 or self.rng["reset"].random() >= self.spec.reset:
            return False
        self.injected["reset"] += 1
        return True


class FaultyTransport:
    """Wraps any pyserial-like port (write, read, in_waiting, close, ...) and injects faults.

    Host writes are broken one write at a time. Device replies are passed on a whole frame at a
    time (up to its 0x00 delimiter, which the client waits for anyway), so a reply frame can be
    truncated and delayed like a write; attributes not defined here are the port's.
    """

    def __init__(self, port: Any, spec: FaultSpec) -> None:
        self.port = port
        self.spec = spec
        self.injected: collections.Counter[str] = collections.Counter()
        to_device, to_host = np.random.SeedSequence(spec.seed).spawn(2)
        self._to_device = _Stream(spec, to_device, self.injected)
        self._to_host = _Stream(spec, to_host, self.injected)
        self._partial = bytearray()  # reply bytes before their frame's delimiter
        self._ready = bytearray()  # reply bytes after faults, not read yet

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)

    def write(self, data: bytes) -> int:
        """Write ``data`` to the port, broken as the spec says; returns ``len(data)``."""
        out = bytes(data)
        if self._to_device.reset():
            self.port.write(b"\x00" + protocol.encode_frame(FrameType.RESET, RESET_SEQ))
        if self.spec.applies(to_device=True):
            self._to_device.pause()
            out = self._to_device.apply(self._to_device.truncated(out))
        self.port.write(out)
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self._ready) + self.port.in_waiting

    def read(self, size: int = 1) -> bytes:
        """Up to ``size`` reply bytes (after faults); waits as the port's read does."""
        if not self._ready:
            self._take(self.port.read(max(1, size)))
        data = bytes(self._ready[:size])
        del self._ready[:size]
        return data

    def _take(self, data: bytes) -> None:
        if not self.spec.applies(to_device=False):
            self._ready += data
            return
        self._partial += data
        end = self._partial.rfind(0)
        if end < 0:
            return
        frames, self._partial = bytes(self._partial[: end + 1]), self._partial[end + 1 :]
        for frame in frames.split(b"\x00")[:-1]:
            self._to_host.pause()
            self._ready += self._to_host.apply(self._to_host.truncated(frame + b"\x00"))

    def reset_input_buffer(self) -> None:
        self._partial.clear()
        self._ready.clear()
        self.port.reset_input_buffer()

    def close(self) -> None:
        self.port.close()
