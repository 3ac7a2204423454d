"""The device client: requests over a serial transport, with timeouts and bounded retries.

One request is outstanding at a time. A request is resent (same sequence number) after a NAK,
a timeout or a device reset (the boot HELLO); the device answers a repeated sequence number from
its cache, and the client drops every answer whose sequence number it is not waiting for, so each
input gets exactly one result.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass, field

import numpy as np
import serial

from host.board import protocol, wire
from host.board.protocol import Frame, FrameType, Hello
from host.errors import LinkError, UserError

log = logging.getLogger(__name__)

SOCKET_BYTES_PER_S = 20_000.0  # QEMU's UART takes ~30 kB/s from the host; stay below it


SOCKET_URL = re.compile(r"socket://(?P<host>\[[^\]]+\]|[^:/?\[]+):(?P<port>\d+)(?:\?.*)?$")


class DeviceError(LinkError):
    """The device did not answer after the allowed retries, answered with an ERROR, or its
    port failed (closed, unplugged, QEMU gone)."""


def one_line(error: BaseException) -> str:
    """An exception's message on one line (pyserial's and the OS's can span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def open_transport(url: str, baudrate: int = 115200, read_timeout: float = 0.05) -> serial.Serial:
    """A pyserial port for ``url``: ``socket://host:port``, ``/dev/ttyACM0``, ``loop://``."""
    if url.startswith("socket://"):
        match = SOCKET_URL.match(url)
        if match is None or not 1 <= int(match["port"]) <= 65535:
            raise UserError(f"bad device URL {url}: socket://HOST:PORT, port must be 1-65535")
    try:
        return serial.serial_for_url(url, baudrate=baudrate, timeout=read_timeout)
    except (serial.SerialException, ValueError) as error:
        raise UserError(f"cannot open {url}: {one_line(error)}") from error


def link_bytes_per_s(url: str, baudrate: int) -> float:
    """Expected payload rate of the link: 10 bits per byte on a UART, QEMU's rate on a socket."""
    return SOCKET_BYTES_PER_S if url.startswith("socket://") else baudrate / 10.0


@dataclass
class ClientStats:
    """What the client saw: counts of every recovery action."""

    requests: int = 0
    resends: int = 0
    timeouts: int = 0
    naks: int = 0
    resets_seen: int = 0
    stale_frames: int = 0
    logs: list[str] = field(default_factory=list)


class Device:
    """A board running the tinyrobust firmware, reached through a serial URL."""

    def __init__(
        self,
        url: str,
        baudrate: int = 115200,
        retries: int = 5,
        base_timeout: float = 1.0,
        transport: serial.SerialBase | None = None,
    ):
        self.url = url
        self.port = transport if transport is not None else open_transport(url, baudrate)
        self.retries = retries
        self.base_timeout = base_timeout
        self.bytes_per_s = link_bytes_per_s(url, baudrate)
        self.seconds_per_inference = 2.0  # until measured (then a moving average)
        self._measured = False
        self.stats = ClientStats()
        self._reader = protocol.FrameReader()
        self._frames: list[Frame] = []
        self._seq = random.randrange(0x10000 - 1)  # a new session never collides with an old one
        try:
            self.info: Hello = self.hello()
        except (DeviceError, serial.SerialException) as error:
            self.close()
            raise UserError(f"no tinyrobust firmware answers at {url}: {error}") from error

    # ------------------------------------------------------------------ transport

    def close(self) -> None:
        self.port.close()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % protocol.NO_SEQ  # NO_SEQ is never used by the host
        return self._seq

    def _read_frame(self, deadline: float) -> Frame | None:
        while not self._frames:
            if time.monotonic() >= deadline:
                return None
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError) as error:
                raise DeviceError(f"reading from {self.url} failed: {one_line(error)}") from error
            if data:
                self._frames.extend(self._reader.feed(data))
        return self._frames.pop(0)

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"writing to {self.url} failed: {one_line(error)}") from error

    def timeout_for(self, tx_bytes: int, rx_bytes: int, inferences: int) -> float:
        """How long to wait for an answer: scales with the bytes moved and the inferences run."""
        transfer = (tx_bytes + rx_bytes) / self.bytes_per_s
        return self.base_timeout + 3.0 * transfer + 3.0 * inferences * self.seconds_per_inference

    # ------------------------------------------------------------------ requests

    def request(
        self,
        frame_type: FrameType,
        payload: bytes,
        answer: FrameType,
        timeout: float,
    ) -> Frame:
        """Send one request and return its answer, resending on NAK, timeout or device reset."""
        seq = self._next_seq()
        wire = protocol.encode_frame(frame_type, seq, payload)
        self.stats.requests += 1
        for attempt in range(self.retries + 1):
            if attempt:
                self.stats.resends += 1
            self._write(wire)
            frame = self._await(seq, answer, time.monotonic() + timeout)
            if frame is not None:
                return frame
        raise DeviceError(
            f"no answer to {frame_type.name} (seq {seq}) from {self.url} after "
            f"{self.retries + 1} attempts of {timeout:.1f} s"
        )

    def _await(self, seq: int, answer: FrameType, deadline: float) -> Frame | None:
        """The answer to ``seq``, or None when the request must be sent again."""
        while True:
            frame = self._read_frame(deadline)
            if frame is None:
                self.stats.timeouts += 1
                return None
            if frame.type == FrameType.LOG:
                self.stats.logs.append(frame.payload.decode("utf-8", "replace"))
                continue
            if frame.type == FrameType.NAK:
                self.stats.naks += 1
                return None
            if frame.type == FrameType.HELLO and frame.seq == protocol.NO_SEQ:
                self.stats.resets_seen += 1  # the boot HELLO: whatever was in flight is lost
                return None
            if frame.seq != seq:
                self.stats.stale_frames += 1  # a late or duplicated answer to an older request
                continue
            if frame.type == FrameType.ERROR:
                code, _, text = protocol.parse_error(frame.payload)
                raise DeviceError(f"device error {code}: {text}")
            if frame.type == answer:
                return frame
            self.stats.stale_frames += 1

    def hello(self) -> Hello:
        """Ask the device what it runs (also starts a new session: the device drops its cache)."""
        frame = self.request(FrameType.HELLO_REQUEST, b"", FrameType.HELLO, self.base_timeout)
        self.info = protocol.parse_hello(frame.payload)
        return self.info

    def device_stats(self) -> dict[str, int]:
        """The device's own counters (frames, inferences, cache hits, ...)."""
        frame = self.request(FrameType.STATS_REQUEST, b"", FrameType.STATS, self.base_timeout)
        return protocol.parse_stats(frame.payload)

    def reset(self, settle: float = 5.0) -> Hello:
        """Reset the board and wait for its boot HELLO."""
        self.request(FrameType.RESET, b"", FrameType.RESET_ACK, self.base_timeout)
        deadline = time.monotonic() + settle
        while True:
            frame = self._read_frame(deadline)
            if frame is None:
                raise DeviceError(f"no boot HELLO within {settle:.0f} s after RESET")
            if frame.type == FrameType.HELLO and frame.seq == protocol.NO_SEQ:
                self.info = protocol.parse_hello(frame.payload)
                return self.info

    def echo(self, payload: bytes) -> None:
        """Send ``payload`` and wait for the device to confirm it: the link without compute."""
        if len(payload) + protocol.OVERHEAD > self.info.max_frame:
            raise UserError(f"ECHO of {len(payload)} bytes exceeds the device's max frame")
        reply = protocol.OVERHEAD + wire.ECHO_REPLY.size
        timeout = self.timeout_for(len(payload), reply, 0)
        frame = self.request(FrameType.ECHO, payload, FrameType.ECHO_REPLY, timeout)
        if wire.ECHO_REPLY.struct.unpack_from(frame.payload)[0] != len(payload):
            raise DeviceError("ECHO reply does not match the bytes sent")

    def infer(self, inputs: np.ndarray, batch: int | None = None) -> list[protocol.Result]:
        """Run raw integer inputs (first axis = examples), ``batch`` per frame (default: the
        device's max_batch); one Result per input, in order."""
        info = self.info.input
        data = np.ascontiguousarray(inputs, dtype=info.dtype)
        if data.shape[1:] != info.shape[1:]:
            raise UserError(f"inputs of shape {data.shape[1:]} for a model of {info.shape[1:]}")
        results: list[protocol.Result] = []
        step = max(1, min(batch or self.info.max_batch, self.info.max_batch))
        for start in range(0, len(data), step):
            chunk = data[start : start + step]
            results.extend(self._infer_chunk(chunk))
        return results

    def _infer_chunk(self, chunk: np.ndarray) -> list[protocol.Result]:
        payload = protocol.infer_payload(chunk)
        per_result = wire.RESULT_HEADER.size + self.info.output.bytes
        rx_bytes = protocol.OVERHEAD + wire.BATCH_HEADER.size + len(chunk) * per_result
        timeout = self.timeout_for(len(payload), rx_bytes, len(chunk))
        began = time.monotonic()
        frame = self.request(FrameType.INFER, payload, FrameType.RESULT, timeout)
        results = protocol.parse_result(frame.payload, self.info.output)
        if len(results) != len(chunk):
            raise DeviceError(f"{len(results)} results for {len(chunk)} inputs")
        transfer = (len(payload) + rx_bytes) / self.bytes_per_s
        measured = max(0.01, time.monotonic() - began - transfer) / len(chunk)
        if self._measured:
            measured = 0.7 * self.seconds_per_inference + 0.3 * measured
        self.seconds_per_inference = measured
        self._measured = True
        return results
