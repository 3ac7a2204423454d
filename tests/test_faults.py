"""The fault-injecting transport on pyserial's ``loop://`` port: rates, seeds, directions.

On ``loop://`` what is written is read back, so a FaultyTransport's write and read can be driven
separately: writing through it and reading the raw port shows the host->device faults alone,
writing the raw port and reading through it shows the device->host faults alone.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import serial

from host import zoo
from host.board import protocol, soak
from host.board.faults import FaultSpec, FaultyTransport
from host.board.protocol import FrameType
from host.errors import UserError

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make apt)",
)
SOAK_MODEL = "mlperf-kws"  # small inputs (490 bytes) and ~25 ms per inference in QEMU


def frames(count: int, size: int = 199, seed: int = 0) -> list[bytes]:
    """``count`` random frames of ``size`` non-zero bytes, each ending with its 0x00."""
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 256, size, np.uint8).tobytes() + b"\x00" for _ in range(count)]


def read_all(port) -> bytes:
    out = bytearray()
    while data := port.read(max(1, port.in_waiting)):
        out += data
    return bytes(out)


def through(spec: FaultSpec, chunks: list[bytes], to_device: bool) -> tuple[bytes, FaultyTransport]:
    """The bytes that come out when ``chunks`` cross a FaultyTransport in one direction."""
    raw = serial.serial_for_url("loop://", timeout=0.01)
    faulty = FaultyTransport(raw, spec)
    writer, reader = (faulty, raw) if to_device else (raw, faulty)
    out = bytearray()
    for chunk in chunks:
        writer.write(chunk)
        out += read_all(reader)
    faulty.close()
    return bytes(out), faulty


@pytest.mark.parametrize("to_device", [True, False], ids=["to-device", "to-host"])
@pytest.mark.parametrize("fault", ["drop", "flip", "duplicate", "garbage"])
def test_byte_rates_observed_as_requested(fault: str, to_device: bool) -> None:
    data = frames(200)  # 40,000 bytes
    n = sum(map(len, data))
    chunks = [b"".join(data[i : i + 10]) for i in range(0, len(data), 10)]
    out, port = through(FaultSpec.parse(f"{fault}=0.01"), chunks, to_device)
    count = port.injected[fault]
    assert abs(count - 0.01 * n) < 0.2 * 0.01 * n, (count, n)
    assert sum(port.injected.values()) == count  # nothing else was injected
    sent = b"".join(data)
    if fault == "drop":
        assert len(out) == n - count
    if fault == "duplicate":
        assert len(out) == n + count
    if fault == "garbage":
        assert n + count <= len(out) <= n + 16 * count
    if fault == "flip":
        diff = np.frombuffer(out, np.uint8) ^ np.frombuffer(sent, np.uint8)
        assert int(np.unpackbits(diff).sum()) == count  # exactly one bit per flipped byte


@pytest.mark.parametrize("direction", ["to-device", "to-host"])
def test_directions_respected(direction: str) -> None:
    data = frames(20)
    spec = FaultSpec.parse(f"drop=0.05,flip=0.05,duplicate=0.05,garbage=0.05,direction={direction}")
    broken, port = through(spec, data, to_device=direction == "to-device")
    assert broken != b"".join(data) and port.injected["drop"] > 0
    clean, port = through(spec, data, to_device=direction != "to-device")
    assert clean == b"".join(data) and not port.injected


def test_seeded_faults_are_reproducible_however_reads_are_split() -> None:
    data = frames(30)
    spec = FaultSpec.parse("drop=0.01,flip=0.01,duplicate=0.01,garbage=0.01,truncate=0.2,seed=7")
    first, port = through(spec, data, to_device=False)
    again, _ = through(spec, data, to_device=False)
    assert first == again and port.injected["truncate"] > 0
    # The same stream read back as one large chunk: the same faults.
    chunks = [b"".join(data[i : i + 10]) for i in range(0, 30, 10)]
    whole, _ = through(spec, chunks, to_device=False)
    assert whole == first
    other, _ = through(FaultSpec.parse(str(spec).replace("seed=7", "seed=8")), data, False)
    assert other != first
    # Writes too: the same seed breaks the same writes the same way.
    assert through(spec, data, True)[0] == through(spec, data, True)[0]


def test_truncate_cuts_writes_and_reply_frames() -> None:
    data = frames(100)
    out, port = through(FaultSpec(truncate=0.3, direction="to-device"), data, to_device=True)
    cut = port.injected["truncate"]
    assert 15 <= cut <= 45
    assert out.count(0) == 100 - cut  # a cut write loses at least its delimiter
    reader = protocol.FrameReader()
    out, port = through(FaultSpec(truncate=0.3, direction="to-host"), data, to_device=False)
    assert out.count(0) == 100 - port.injected["truncate"]
    assert not reader.feed(out)  # random bytes are not frames: nothing to decode, no crash


def test_reset_frame_injected_before_a_write() -> None:
    data = frames(50, size=20)
    out, port = through(FaultSpec(reset=0.2, seed=3), data, to_device=True)
    resets = [f for f in protocol.FrameReader().feed(out) if f.type == FrameType.RESET]
    assert len(resets) == port.injected["reset"] > 0
    # Faults only on the device's replies still reset the board: a reset is a board event.
    _, port = through(FaultSpec(reset=1.0, direction="to-host"), data[:3], to_device=True)
    assert port.injected["reset"] == 3


def test_delay_waits_per_write() -> None:
    data = frames(10, size=10)
    began = time.monotonic()
    out, port = through(FaultSpec(delay=0.04, direction="to-device"), data, to_device=True)
    elapsed = time.monotonic() - began
    assert out == b"".join(data) and port.injected["delay"] == 10
    assert 0.04 < elapsed < 1.0  # ten waits of [0, 40 ms]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flip=2", "flip=2: a rate must be in"),
        ("drop=-1e-3", "a rate must be in"),
        ("bitrot=1e-3", "bad link fault 'bitrot=1e-3'"),
        ("flip", "bad link fault 'flip'"),
        ("flip=abc", "flip=abc: not a number"),
        ("direction=up", "direction=up: one of both, to-device, to-host"),
        ("seed=1.5", "seed=1.5: not a number"),
        ("flip=1e-3,flip=1e-2", "flip given twice"),
        ("delay=100", "delay=100: seconds in"),
    ],
)
def test_bad_fault_specs_are_user_errors(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        FaultSpec.parse(text)


def test_spec_text_round_trips() -> None:
    spec = FaultSpec.parse(" flip=1e-3, drop=1e-4 ,direction=to-host,seed=1")
    assert spec == FaultSpec(flip=1e-3, drop=1e-4, direction="to-host", seed=1)
    assert FaultSpec.parse(str(spec)) == spec and str(FaultSpec.parse("")) == "none"


# ---------------------------------------------------------------- the soak, on QEMU


@pytest.fixture
def kws(data_dir) -> str:
    try:
        zoo.model_file(SOAK_MODEL, "int8")
    except UserError as error:
        pytest.skip(f"{SOAK_MODEL}: {error}")
    return SOAK_MODEL


FAULT_NAMES = ("flip", "garbage", "duplicate", "truncate")


@needs_qemu
def test_soak_command_short(kws: str, tmp_path, capsys) -> None:
    """40 clean and 40 noisy inferences (both directions): every one answered once, exact; the
    seeded spec injects each of its four faults (truncate raised so that 40 frames get some)."""
    out = tmp_path / "soak.json"
    spec = "flip=5e-4,garbage=5e-4,duplicate=5e-4,truncate=1.5e-2,seed=1"
    assert soak.main(["--model", kws, "--n", "40", "--faults", spec, "--json", str(out)]) == 0
    clean, noisy = json.loads(out.read_text())["runs"]
    assert clean["faults"] == "clean" and not clean["injected"]
    for run in (clean, noisy):
        assert run["inferences"] == run["answered"] == run["exact"] == 40
        assert run["lost"] == run["wrong"] == run["duplicated"] == 0
    assert all(noisy["injected"].get(name, 0) > 0 for name in FAULT_NAMES), noisy["injected"]
    assert noisy["overhead"] == pytest.approx(noisy["seconds"] / clean["seconds"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["n", "exact", "lost", "dup", "wrong"] and len(lines) == 4


@needs_qemu
@pytest.mark.slow
def test_soak_10000_inferences(kws: str) -> None:
    """10,000 inferences with every kind of fault at once, board resets included."""
    spec = FaultSpec.parse(
        "drop=1e-4,flip=1e-4,duplicate=1e-4,garbage=1e-4,truncate=1e-2,reset=2e-3,seed=10"
    )
    (run,) = soak.run(kws, [spec], 10_000, clean=False)
    print(f"\n{soak.HEADER}\n{run.row()}\nclient: {run.client}")  # the figures, with -s
    assert run.inferences == run.answered == run.exact == 10_000, run
    assert run.lost == run.wrong == 0 and run.duplicated in (0, None)
    assert all(run.injected[name] > 0 for name in ("drop", "flip", "garbage", "reset")), run
