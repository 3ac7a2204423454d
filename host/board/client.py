"""The device client: requests over a serial transport, sized and timed by what it observes.

One request is outstanding at a time. A request is resent (same sequence number) after a NAK, a
garbled answer, a timeout or a device reset (the boot HELLO); the device answers a repeated
sequence number from its cache, and the client drops every answer whose sequence number it is
not waiting for, so each input gets exactly one result. Where the firmware stages inputs, a batch
goes up in LOAD chunks and runs with INFER_STAGED, so a bad byte costs one chunk, not the batch.
Chunk and batch sizes halve after failures and grow back on a clean link; timeouts come from the
median of recent first-attempt exchanges (docs/protocol.md, "Host recovery").
"""

from __future__ import annotations

import collections
import logging
import os
import random
import re
import statistics
import time
import warnings
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, NamedTuple, TypeVar

import numpy as np
import serial

from host.board import protocol, wire
from host.board.faults import FaultSpec, FaultyTransport
from host.board.lock import BoardLock
from host.board.protocol import ErrorCode, Frame, FrameType, Hello, NakReason
from host.errors import LinkError, TinyRobustWarning, UserError

log = logging.getLogger(__name__)
T = TypeVar("T")

SOCKET_BYTES_PER_S = 20_000.0  # QEMU's UART takes ~30 kB/s from the host; stay below it
SOCKET_URL = re.compile(r"socket://(?P<host>\[[^\]]+\]|[^:/?\[]+):(?P<port>\d+)(?:\?.*)?$")
MIN_CHUNK = 32  # LOAD data bytes at least
FIRST_CHUNK = 4096  # LOAD data bytes at first
GROW_CHUNK_AFTER = 2  # clean LOADs in a row before the chunk size doubles, or when more:
GROW_CHUNK_UNIT = 128  # chunk bytes / this: keeps the share of failed LOADs near sqrt(rate * 128)
GROW_BATCH_AFTER = 2  # clean batches in a row before the batch size doubles
FIRST_COMPUTE_S = 1.0  # seconds per inference until measured
MIN_WAIT_S = 0.1  # the wait for an answer beyond transfer and compute, at least
SAMPLES = 15  # the estimates are medians of this many recent first-attempt exchanges
MIN_BUDGET_S = 10.0  # a request is resent for at least this long before the client gives up
WINDOW_AFTER = 8  # clean LOADs in a row before several LOADs, or a batch and LOADs, go out at once
MAX_UPLOADS = 8  # uploads of one batch (a reset or a CRC mismatch starts it over)
LINK_FAULTS_ENV = "TINYROBUST_LINK_FAULTS"
RESET = "board reset"  # the cause of a failed attempt when the boot HELLO came instead
NAK_TEXT: dict[int, str] = {
    NakReason.BAD_CRC: "bad CRC",
    NakReason.BAD_COBS: "bad COBS",
    NakReason.TOO_SHORT: "too short",
    NakReason.TOO_LONG: "too long",
    NakReason.BAD_LENGTH: "bad length",
}


class DeviceError(LinkError):
    """The device did not answer after the allowed retries, answered with an ERROR (``code``),
    or its port failed (closed, unplugged, QEMU gone)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


def one_line(error: BaseException) -> str:
    """An exception's message on one line (pyserial's and the OS's can span several)."""
    return " ".join(str(error).split()) or type(error).__name__


def type_name(frame_type: int) -> str:
    """``LOAD`` for 0x06; ``frame type 0x33`` for a type the protocol does not have."""
    try:
        return FrameType(frame_type).name
    except ValueError:
        return f"frame type 0x{frame_type:02x}"


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


def link_faults() -> FaultSpec | None:
    """The faults $TINYROBUST_LINK_FAULTS asks for, or None for a clean link."""
    text = os.environ.get(LINK_FAULTS_ENV, "").strip()
    return FaultSpec.parse(text) if text else None


def open_port(url: str) -> serial.SerialBase | FaultyTransport:
    """The port to the board at ``url``: exclusive where the OS allows it (a serial device),
    wrapped in a FaultyTransport when $TINYROBUST_LINK_FAULTS is set (a TinyRobustWarning says
    so)."""
    faults = link_faults()  # a bad spec fails before the port opens
    port = open_transport(url)
    if "://" not in url and os.name == "posix":  # Windows opens COM ports exclusively anyway
        try:
            port.exclusive = True
        except (serial.SerialException, ValueError) as error:
            port.close()
            raise UserError(f"the board at {url} is busy: another program has it open") from error
    if faults is None:
        return port
    warnings.warn(
        TinyRobustWarning(f"faults are injected on the link to {url}: {faults}"), stacklevel=2
    )
    return FaultyTransport(port, faults)


def link_bytes_per_s(url: str, baudrate: int) -> float:
    """Expected payload rate of the link: 10 bits per byte on a UART, QEMU's rate on a socket."""
    return SOCKET_BYTES_PER_S if url.startswith("socket://") else baudrate / 10.0


class Median:
    """The median of the last SAMPLES values, or a first guess until there is one."""

    def __init__(self, first: float) -> None:
        self.first = first
        self._samples: collections.deque[float] = collections.deque(maxlen=SAMPLES)

    def add(self, value: float) -> None:
        self._samples.append(value)

    @property
    def value(self) -> float:
        return statistics.median(self._samples) if self._samples else self.first


@dataclass
class Adaptive:
    """A size that halves after a failure and doubles after ``grow_after`` clean uses in a row,
    or ``value // unit`` when more: a big size must stay clean longer before it doubles."""

    value: int
    low: int
    high: int
    grow_after: int
    unit: int = 0
    clean: int = 0
    smallest: int = 0  # the smallest value it came down to

    def __post_init__(self) -> None:
        self.smallest = self.value

    def failed(self) -> None:
        self.value = max(self.low, self.value // 2)
        self.smallest = min(self.smallest, self.value)
        self.clean = 0

    def succeeded(self) -> None:
        self.clean += 1
        if self.clean >= max(self.grow_after, self.value // self.unit if self.unit else 0):
            self.value = min(self.high, self.value * 2)
            self.clean = 0


class Answer(NamedTuple):
    """A request's answer, how many attempts it took and how long the answered one took."""

    frame: Frame
    attempts: int
    seconds: float


@dataclass
class Tries:
    """Attempts at one request, bounded by a count (``limit`` resends) and a time budget."""

    limit: int
    budget: float
    began: float = field(default_factory=time.monotonic)
    count: int = 0
    cause: str = "nothing sent"  # why the last attempt failed

    def left(self) -> bool:
        elapsed = time.monotonic() - self.began
        return self.count == 0 or (self.count <= self.limit and elapsed < self.budget)


@dataclass
class Sent:
    """A request on the wire whose answer has not been taken yet."""

    frame_type: FrameType
    seq: int
    encoded: bytes
    answer: FrameType
    timeout: float
    tries: Tries
    sent: float = 0.0  # when its last attempt was written
    suspect: bool = False  # a NAK, garbled answer or reset came while it was out: resend it


@dataclass
class Job:
    """A batch whose INFER or INFER_STAGED is out: its inputs, payload and uploads so far."""

    chunk: np.ndarray
    frame_type: FrameType
    payload: bytes
    uploads: int
    request: Sent
    timeouts: int  # the client's timeout count when it was sent


@dataclass
class ClientStats:
    """What the client saw: counts of every recovery action."""

    requests: int = 0
    resends: int = 0
    timeouts: int = 0
    naks: int = 0
    garbled: int = 0  # chunks that were not frames, answered by an immediate resend
    resets_seen: int = 0
    stale_frames: int = 0
    uploads_restarted: int = 0
    early_answers: int = 0  # answers that came while the next batch went up (pipelined)
    logs: list[str] = field(default_factory=list)


class Device:
    """A board running the tinyrobust firmware, reached through a serial URL."""

    def __init__(
        self,
        url: str,
        baudrate: int = 115200,
        retries: int = 40,
        base_timeout: float = 1.0,
        transport: serial.SerialBase | None = None,
        pipelined: bool = True,
    ):
        self.url = url
        try:
            self.lock = BoardLock(url)  # one process per board: a second one is told who has it
        except UserError:
            if transport is not None:
                transport.close()
            raise
        try:
            self.port = transport if transport is not None else open_transport(url, baudrate)
        except BaseException:
            self.lock.release()
            raise
        self.retries = retries
        self.base_timeout = base_timeout  # the wait beyond transfer and compute, at most
        self.bytes_per_s = link_bytes_per_s(url, baudrate)
        self.latency = Median(base_timeout / 4)  # seconds an exchange takes beyond transfer
        self.compute = Median(FIRST_COMPUTE_S)  # seconds per inference
        self.stats = ClientStats()
        self._reader = protocol.FrameReader()
        self._frames: list[Frame] = []
        self._seq = random.randrange(0x10000 - 1)  # a new session never collides with an old one
        self._flush = False  # the next write starts with 0x00: a frame may be half received
        self._waiting: dict[int, Sent] = {}  # requests out while another one is awaited
        self._early: dict[int, tuple[Frame, float]] = {}  # their answers, with arrival times
        try:
            self.info: Hello = self.hello()
        except (DeviceError, serial.SerialException) as error:
            self.close()
            raise UserError(f"no tinyrobust firmware answers at {url}: {error}") from error
        self.batch = Adaptive(1, 1, self.info.max_batch, GROW_BATCH_AFTER)  # starts small: timing
        high = max(self.info.max_load, MIN_CHUNK)
        first = min(high, FIRST_CHUNK)
        self.chunk = Adaptive(first, MIN_CHUNK, high, GROW_CHUNK_AFTER, GROW_CHUNK_UNIT)
        caps = self.info.capabilities
        # Two requests in flight: the next batch goes up while the device computes.
        self.pipelined = pipelined and bool(caps & protocol.Capability.RECEIVES_WHILE_COMPUTING)
        self.clean_loads = 0  # LOADs acknowledged since the last failed one

    # ------------------------------------------------------------------ transport

    def close(self) -> None:
        self.port.close()
        self.lock.release()

    def __enter__(self) -> Device:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) % protocol.NO_SEQ  # NO_SEQ is never used by the host
        return self._seq

    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"writing to {self.url} failed: {one_line(error)}") from error

    def _read_frame(self, deadline: float) -> Frame | None:
        """The next frame; None at the deadline or when a garbled chunk arrives first."""
        rejected = self._reader.rejected
        while not self._frames:
            if time.monotonic() >= deadline or self._reader.rejected > rejected:
                return None
            try:
                data = self.port.read(max(1, self.port.in_waiting))
            except (serial.SerialException, OSError) as error:
                raise DeviceError(f"reading from {self.url} failed: {one_line(error)}") from error
            if data:
                self._frames.extend(self._reader.feed(data))
        return self._frames.pop(0)

    def timeout_for(self, tx_bytes: int, rx_bytes: int, inferences: int) -> float:
        """How long to wait for an answer: the link's measured latency, the bytes moved and the
        measured compute time of the inferences, each with a margin."""
        wait = min(self.base_timeout, max(MIN_WAIT_S, 5.0 * self.latency.value))
        transfer = self._transfer_s(tx_bytes, rx_bytes)
        return wait + 3.0 * transfer + 3.0 * inferences * self.compute.value

    def _transfer_s(self, tx_bytes: int, rx_bytes: int) -> float:
        return (tx_bytes + rx_bytes) / self.bytes_per_s

    # ------------------------------------------------------------------ requests

    def request(
        self,
        frame_type: FrameType,
        payload: bytes,
        answer: FrameType,
        timeout: float,
        budget: float | None = None,
    ) -> Answer:
        """Send one request and return its answer, resending the same frame (so the device
        answers a repeated INFER from its cache) on NAK, garbled answer, timeout or device reset,
        at most ``retries`` times and for ``budget`` seconds (default: 10 s, or 4 timeouts)."""
        return self._collect(self._send(frame_type, payload, answer, timeout, budget))

    def _send(
        self,
        frame_type: FrameType,
        payload: bytes,
        answer: FrameType,
        timeout: float,
        budget: float | None = None,
    ) -> Sent:
        """Write a new request once; _collect takes its answer."""
        seq = self._next_seq()
        encoded = protocol.encode_frame(frame_type, seq, payload)
        self.stats.requests += 1
        tries = Tries(self.retries, budget or max(MIN_BUDGET_S, 4.0 * timeout))
        request = Sent(frame_type, seq, encoded, answer, timeout, tries)
        self._write_attempt(request)
        return request

    def _write_attempt(self, request: Sent) -> None:
        request.tries.count += 1
        if request.tries.count > 1:
            self.stats.resends += 1
        request.sent = time.monotonic()
        if self._flush:  # after a failure: the 0x00 first ends a half-received frame
            self._write(b"\x00" + request.encoded)
            self._flush = False
        else:
            self._write(request.encoded)

    def _collect(self, request: Sent) -> Answer:
        """The answer to ``request``, resending it after each failed attempt."""
        tries = request.tries
        while True:
            early = self._early.pop(request.seq, None)
            if early is not None:
                return Answer(self._accept(early[0]), tries.count, early[1] - request.sent)
            if request.suspect:  # maybe lost: a resend costs the device at most a cache hit
                request.suspect, cause = False, "lost while another request was awaited"
            else:
                deadline = request.sent + request.timeout
                frame, cause = self._await(request.seq, request.answer, deadline)
                if frame is not None:
                    return Answer(frame, tries.count, time.monotonic() - request.sent)
            tries.cause = cause
            log.debug(
                "%s seq %d attempt %d: %s", request.frame_type.name, request.seq, tries.count, cause
            )
            if not tries.left():
                raise self._no_answer(request.frame_type, tries)
            self._write_attempt(request)

    def _decode(self, parse: Callable[..., T], frame: Frame, *args: Any) -> T:
        """``parse(frame.payload, *args)``; a malformed payload is a DeviceError naming the
        board."""
        try:
            return parse(frame.payload, *args)
        except protocol.FrameError as error:
            raise DeviceError(f"bad {type_name(frame.type)} from {self.url}: {error}") from error

    def _no_answer(self, frame_type: FrameType, tries: Tries) -> DeviceError:
        return DeviceError(
            f"no answer to {type_name(frame_type)} from {self.url}: {tries.count} attempts in "
            f"{time.monotonic() - tries.began:.1f} s, last: {tries.cause}"
        )

    def _await(
        self, seq: int, answer: FrameType, deadline: float, later: Collection[int] = ()
    ) -> tuple[Frame | None, str]:
        """The answer to ``seq``, or (None, why the request must be sent again). An answer to
        a request in ``later`` (sent after it) coming first means it was lost."""
        frame, cause = self._await_frame(seq, answer, deadline, later)
        if frame is None:
            self._flush = True
            for request in self._waiting.values():
                request.suspect = True
        return frame, cause

    def _await_frame(
        self, seq: int, answer: FrameType, deadline: float, later: Collection[int]
    ) -> tuple[Frame | None, str]:
        while True:
            frame = self._read_frame(deadline)
            if frame is None:
                if time.monotonic() < deadline:
                    self.stats.garbled += 1
                    return None, "garbled answer"
                self.stats.timeouts += 1
                return None, "timeout"
            if frame.type == FrameType.LOG:
                self.stats.logs.append(frame.payload.decode("utf-8", "replace"))
                continue
            if frame.type == FrameType.HELLO and frame.seq == protocol.NO_SEQ:
                self.stats.resets_seen += 1  # the boot HELLO: whatever was in flight is lost
                return None, RESET
            if frame.type == FrameType.NAK:  # whatever its seq: a broken header has a wrong one
                reason, _ = self._decode(protocol.parse_nak, frame)
                self.stats.naks += 1
                return None, f"NAK {NAK_TEXT.get(reason, str(reason))}"
            waiting = self._waiting.get(frame.seq)
            if waiting is not None and frame.type in (waiting.answer, FrameType.ERROR):
                self._early[frame.seq] = (frame, time.monotonic())  # for its _collect
                self.stats.early_answers += 1
                continue
            if frame.seq in later and frame.type in (answer, FrameType.ERROR):
                return None, "answer out of order"
            if frame.seq == seq and frame.type in (answer, FrameType.ERROR):
                return self._accept(frame), ""
            self.stats.stale_frames += 1  # a late or duplicated answer to an older request

    def _accept(self, frame: Frame) -> Frame:
        """``frame`` when it is an answer; a DeviceError for an ERROR."""
        if frame.type == FrameType.ERROR:
            code, _, text = self._decode(protocol.parse_error, frame)
            text = " ".join(text.split())
            raise DeviceError(f"device error {code} from {self.url}: {text}", code)
        return frame

    def hello(self) -> Hello:
        """Ask the device what it runs (also starts a new session: the device drops its cache);
        a port without the firmware is told within 4 timeouts."""
        timeout = self.base_timeout
        frame = self.request(
            FrameType.HELLO_REQUEST, b"", FrameType.HELLO, timeout, 4 * timeout
        ).frame
        self.info = self._decode(protocol.parse_hello, frame)
        return self.info

    def device_stats(self) -> dict[str, int]:
        """The device's own counters (frames, inferences, cache hits, ...)."""
        frame = self.request(FrameType.STATS_REQUEST, b"", FrameType.STATS, self.base_timeout).frame
        return self._decode(protocol.parse_stats, frame)

    def op_stats(self) -> protocol.OpStats:
        """The counter of each op in the device's last inference (capability OP_STATS)."""
        if not self.info.capabilities & protocol.Capability.OP_STATS:
            raise UserError(f"the firmware at {self.url} has no per-op counters: rebuild it")
        frame = self.request(
            FrameType.OP_STATS_REQUEST, b"", FrameType.OP_STATS, self.base_timeout
        ).frame
        return self._decode(protocol.parse_op_stats, frame)

    def reset(self, settle: float = 5.0) -> Hello:
        """Reset the board and wait for its boot HELLO."""
        self.request(FrameType.RESET, b"", FrameType.RESET_ACK, self.base_timeout)
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            frame = self._read_frame(deadline)
            if frame is not None and frame.type == FrameType.HELLO and frame.seq == protocol.NO_SEQ:
                self.info = self._decode(protocol.parse_hello, frame)
                return self.info
        raise DeviceError(f"no boot HELLO from {self.url} within {settle:.0f} s after RESET")

    def echo(self, payload: bytes) -> None:
        """Send ``payload`` and wait for the device to confirm it: the link without compute."""
        if len(payload) + protocol.OVERHEAD > self.info.max_frame:
            raise UserError(f"ECHO of {len(payload)} bytes exceeds the device's max frame")
        reply = protocol.OVERHEAD + wire.ECHO_REPLY.size
        timeout = self.timeout_for(len(payload), reply, 0)
        frame = self.request(FrameType.ECHO, payload, FrameType.ECHO_REPLY, timeout).frame
        if wire.ECHO_REPLY.struct.unpack_from(frame.payload)[0] != len(payload):
            raise DeviceError(f"ECHO reply from {self.url} does not match the bytes sent")

    # ------------------------------------------------------------------ inference

    def infer(self, inputs: np.ndarray, batch: int | None = None) -> list[protocol.Result]:
        """Run raw integer inputs (first axis = examples), at most ``batch`` per exchange
        (default: the device's max_batch; fewer while the link fails); one Result per input,
        in order."""
        info = self.info.input
        data = np.ascontiguousarray(inputs, dtype=info.dtype)
        if data.shape[1:] != info.shape[1:]:
            raise UserError(f"inputs of shape {data.shape[1:]} for a model of {info.shape[1:]}")
        limit = max(1, min(batch or self.info.max_batch, self.info.max_batch))
        results: list[protocol.Result] = []
        job: Job | None = None  # the batch the device computes while the next one goes up
        try:
            while (done := len(results) + (len(job.chunk) if job else 0)) < len(data):
                chunk = data[done : done + min(limit, self.batch.value)]
                if not self.info.max_load:  # no staging: INFER, one request at a time
                    payload = protocol.infer_payload(chunk)
                    results.extend(self._finish(self._start(chunk, 1, payload)))
                    continue
                uploads, payload = self._upload(chunk.tobytes(), job)
                if job is not None:
                    results.extend(self._finish(job))
                job = self._start(chunk, uploads, payload)
                if not (self.pipelined and self.clean_loads >= WINDOW_AFTER):  # a noisy link:
                    results.extend(self._finish(job))  # a lost INFER_STAGED would cost an upload
                    job = None
            if job is not None:
                results.extend(self._finish(job))
        finally:
            self._waiting.clear()
            self._early.clear()
        return results

    def stage(self, inputs: np.ndarray) -> bytes:
        """LOAD a batch of raw inputs into the staging area; the INFER_STAGED payload that runs
        them (again and again: compute without transfer)."""
        return self._upload(np.ascontiguousarray(inputs, self.info.input.dtype).tobytes())[1]

    def infer_staged(self, payload: bytes, count: int) -> list[protocol.Result]:
        """Run the ``count`` staged inputs that ``payload`` (from stage()) names."""
        timeout = self.timeout_for(len(payload), self._result_bytes(count), count)
        frame = self.request(FrameType.INFER_STAGED, payload, FrameType.RESULT, timeout).frame
        return self._decode(protocol.parse_result, frame, self.info.output)

    def _result_bytes(self, count: int) -> int:
        per_result = wire.RESULT_HEADER.size + self.info.output.bytes
        return protocol.OVERHEAD + wire.BATCH_HEADER.size + count * per_result

    def _start(self, chunk: np.ndarray, uploads: int, payload: bytes) -> Job:
        """Send the INFER_STAGED (staged inputs) or INFER of a batch; _finish takes its RESULT."""
        frame_type = FrameType.INFER_STAGED if self.info.max_load else FrameType.INFER
        timeout = self.timeout_for(len(payload), self._result_bytes(len(chunk)), len(chunk))
        request = self._send(frame_type, payload, FrameType.RESULT, timeout)
        self._waiting[request.seq] = request
        return Job(chunk, frame_type, payload, uploads, request, self.stats.timeouts)

    def _finish(self, job: Job) -> list[protocol.Result]:
        """The results of a started batch: its RESULT, or after ERROR 6 (the staged inputs were
        lost or overwritten) a new upload and request; its timing feeds the compute estimate
        and the batch size."""
        del self._waiting[job.request.seq]
        job.request.tries.began = time.monotonic()  # its budget counts from now
        rx_bytes = self._result_bytes(len(job.chunk))
        while True:
            try:
                frame, attempts, elapsed = self._collect(job.request)
                break
            except DeviceError as error:
                if error.code != ErrorCode.STAGED_MISMATCH or job.uploads >= MAX_UPLOADS:
                    raise
            self.stats.uploads_restarted += 1  # the board lost (or garbled) the staged inputs
            uploads, job.payload = self._upload(job.chunk.tobytes())
            job.uploads += uploads
            timeout = self.timeout_for(len(job.payload), rx_bytes, len(job.chunk))
            job.request = self._send(job.frame_type, job.payload, FrameType.RESULT, timeout)
        results = self._decode(protocol.parse_result, frame, self.info.output)
        if len(results) != len(job.chunk):
            raise DeviceError(f"{len(results)} results for {len(job.chunk)} inputs from {self.url}")
        if attempts == 1:  # only a first attempt's time is compute, not waits for resends
            transfer = self._transfer_s(len(job.payload), rx_bytes)
            self.compute.add(max(0.001, elapsed - transfer) / len(job.chunk))
        elif self.stats.timeouts > job.timeouts:  # maybe too short: recover from a low estimate
            self.compute.add(2.0 * self.compute.value)
        if attempts == 1 and job.uploads == 1:
            self.batch.succeeded()
        elif attempts > 2 or job.uploads > 1:
            self.batch.failed()
        return results

    def _upload(self, staged: bytes, behind: Job | None = None) -> tuple[int, bytes]:
        """LOAD ``staged`` into the device's staging area, from the start again when the board
        resets; (uploads it took, the INFER_STAGED payload). ``behind``: the batch the device
        computes before it decodes these LOADs."""
        count = len(staged) // self.info.input.bytes
        for uploads in range(1, MAX_UPLOADS + 1):
            if self._load_all(staged, behind):
                return uploads, protocol.infer_staged_payload(count, staged)
            self.stats.uploads_restarted += 1  # the board rebooted: what it had staged is gone
            self.batch.failed()
        raise DeviceError(f"the board at {self.url} reset during {MAX_UPLOADS} uploads in a row")

    def _load_all(self, staged: bytes, behind: Job | None) -> bool:
        """LOAD ``staged`` in chunks from its end down to offset 0 (a LOAD frame never reaches
        bytes staged after its own); False when the board reset (the caller starts over).

        Where the device receives while it works and the last WINDOW_AFTER LOADs were clean,
        LOADs follow each other without waiting for their LOAD_ACKs while the frames not yet
        acknowledged fit in max_frame bytes (its receive ring); else one at a time. After a
        failure (NAK, garbled answer, timeout, an answer out of order) the oldest unacknowledged
        chunk and every one below it go again, one at a time and halved (a resent LOAD frame may
        overwrite the staged bytes below its own); the NAKs of the frames given up do not count.
        """
        window = self.info.max_frame if self.pipelined else 0
        ack_bytes = protocol.OVERHEAD + wire.LOAD_ACK.size
        resets = self.stats.resets_seen
        tries = Tries(self.retries, MIN_BUDGET_S)
        flight: collections.deque[tuple[Sent, int, int]] = collections.deque()  # LOAD, start, end
        given_up, backlog = 0, 0  # frames of a failed window still to be answered, their bytes
        end = len(staged)
        while end > 0 or flight:
            ahead = len(behind.chunk) if behind and behind.request.seq in self._waiting else 0
            in_flight = sum(len(load.encoded) + 1 for load, _, _ in flight)
            while end > 0:
                start = max(0, end - self.chunk.value)
                payload = protocol.load_payload(start, staged[start:end])
                raw = protocol.OVERHEAD + len(payload)  # on the wire: COBS, delimiter, a 0x00
                clean = self.clean_loads >= WINDOW_AFTER and not given_up
                if flight and (not clean or in_flight + raw + raw // 254 + 3 > window):
                    break
                timeout = self.timeout_for(backlog + in_flight + len(payload), ack_bytes, ahead)
                load = self._send(FrameType.LOAD, payload, FrameType.LOAD_ACK, timeout)
                flight.append((load, start, end))
                in_flight += len(load.encoded) + 1
                end = start
            load, start, stop = flight[0]
            later = [other.seq for other, _, _ in list(flight)[1:]]
            frame, cause = self._await(
                load.seq, FrameType.LOAD_ACK, load.sent + load.timeout, later
            )
            if frame is None:
                if cause == RESET or self.stats.resets_seen != resets:
                    return False
                if given_up and cause != "timeout":  # the answer to a frame given up
                    given_up -= 1
                    continue
                log.debug("LOAD seq %d of %d in flight: %s", load.seq, len(flight), cause)
                tries.count += 1
                tries.cause = cause
                self.chunk.failed()
                self.clean_loads = 0
                if not tries.left():
                    raise self._no_answer(FrameType.LOAD, tries)
                self.stats.resends += len(flight)
                given_up, backlog = len(flight) - 1, in_flight - len(load.encoded) - 1
                end = stop  # this chunk and every one below it go again
                flight.clear()
                continue
            if self._decode(protocol.parse_load_ack, frame) != (start, stop - start):
                raise DeviceError(f"LOAD_ACK from {self.url} does not match the LOAD sent")
            flight.popleft()
            given_up, backlog = 0, 0  # the device answered every frame sent before
            if not flight and not ahead and tries.count == 0:  # its own round trip
                transfer = self._transfer_s(len(load.encoded), ack_bytes)
                self.latency.add(max(0.0, time.monotonic() - load.sent - transfer))
            self.chunk.succeeded()
            self.clean_loads += 1
            tries = Tries(self.retries, MIN_BUDGET_S)
        return True
