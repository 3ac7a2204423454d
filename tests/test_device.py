"""The firmware in QEMU: protocol behaviour, fault recovery and bit-exactness with TFLite Micro.

Every test builds the firmware (cached under build/firmware), runs it in QEMU on a free port and
stops QEMU at teardown. Exactness streams real CIFAR-10 test images through the UART and compares
the raw outputs with the tflite-micro wheel byte for byte (20 per model and board in the default
run, 100 in the slow run; the engine itself is checked on many more inputs in test_engine.py).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from host import emulator, zoo
from host.board import firmware, protocol, qemu
from host.board.client import Device, DeviceError, open_transport
from host.board.faults import FaultSpec, FaultyTransport
from host.board.protocol import FrameType
from host.data import sha256_file
from host.errors import TinyRobustWarning, UserError
from host.paths import REPO_ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
    reason="needs qemu-system-arm and arm-none-eabi-gcc (make apt)",
)

BOARDS = ("qemu-an386", "qemu-stm32f405")
CIFAR_MODELS = ("mlperf-resnet8", "cifar10-resnet8")
N_IMAGES = 20  # per model and board in the default run; 100 in the slow run
N_IMAGES_SLOW = 100


# ---------------------------------------------------------------- fixtures and helpers


class Boards:
    """Starts each (model, board) emulator once per module and stops them all at the end."""

    def __init__(self) -> None:
        self._running: dict[tuple[str, str], qemu.Emulator] = {}

    def get(self, model: str, board: str) -> qemu.Emulator:
        key = (model, board)
        if key not in self._running:
            image = firmware.build(model, board)
            self._running[key] = qemu.Emulator(image.board.qemu_machine, image.elf).start()
        return self._running[key]

    def stop_all(self) -> None:
        for emu in self._running.values():
            emu.stop()
        self._running.clear()


@pytest.fixture(scope="module")
def boards():
    running = Boards()
    yield running
    running.stop_all()


def int8_model(name: str):
    """The int8 .tflite of a zoo model, or a skip with the reason."""
    try:
        return zoo.model_file(name, "int8")
    except UserError as error:
        pytest.skip(f"{name}: {error}")


def reference(name: str, x_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw int8 inputs, TFLite Micro raw outputs) for uint8 images."""
    from host.backends.tflm import TflmBackend

    backend = TflmBackend(int8_model(name), "int8", zoo.spec(name).input_range)
    q = backend.quantize(x_uint8.astype(np.float32) / np.float32(255.0))
    return q, backend.invoke(q)


def toy_outputs(x: np.ndarray) -> np.ndarray:
    """What firmware/app/test_model computes: out[j] = clamp((j+1) * sum(x[i::10]) / 16)."""
    flat = x.reshape(len(x), -1).astype(np.int64)
    columns = [np.trunc((j + 1) * flat[:, j::10].sum(1) / 16) for j in range(10)]
    return np.clip(np.stack(columns, 1), -128, 127).astype(np.int8)


@pytest.fixture(scope="module")
def cifar(data_dir) -> np.ndarray:
    from host import data

    return data.load("cifar10", "test").x[:N_IMAGES_SLOW]


def faulty_device(emu: qemu.Emulator, spec: str) -> tuple[Device, FaultyTransport]:
    """A client whose link to ``emu`` breaks as ``spec`` says (host.board.faults)."""
    port = FaultyTransport(open_transport(emu.url), FaultSpec.parse(spec))
    return Device(emu.url, transport=port, base_timeout=0.5), port


# ---------------------------------------------------------------- protocol on the test model


@pytest.mark.parametrize("board", BOARDS)
def test_hello_stats_errors_and_cache(boards: Boards, board: str) -> None:
    emu = boards.get(firmware.TEST_MODEL, board)
    with Device(emu.url) as dev:
        info = dev.info
        assert info.model == "test-model" and info.counter_unit == "instructions"
        assert info.input.shape == (1, 8, 8, 3) and info.output.bytes == 10
        assert info.max_frame >= protocol.OVERHEAD + 4 + info.input.bytes
        x = np.random.default_rng(0).integers(-128, 128, (5, 8, 8, 3), dtype=np.int8)
        results = dev.infer(x)
        assert np.array_equal(np.stack([r.output for r in results]), toy_outputs(x))
        assert all(r.argmax == int(np.argmax(r.output)) and r.count > 0 for r in results)

        # The counter counts instructions: the test model spins 2 instructions x 1000 x in[0].
        spin = np.zeros((2, 8, 8, 3), np.int8)
        spin[1, 0, 0, 0] = 100
        counts = [r.count for r in dev.infer(spin)]
        assert abs(counts[1] - counts[0] - 200_000) <= 80, counts

        # A repeated sequence number is answered from the cache, not by a second inference.
        before = dev.device_stats()
        wire = protocol.encode_frame(FrameType.INFER, 4242, protocol.infer_payload(x[:1]))
        answers = []
        for _ in range(2):
            dev.port.write(wire)
            answers.append(dev._await(4242, FrameType.RESULT, dev.timeout_for(300, 30, 1) + 1))
        after = dev.device_stats()
        assert answers[0] == answers[1]
        assert after["inferences"] == before["inferences"] + 1
        assert after["cache_hits"] == before["cache_hits"] + 1

        # Bad requests get ERROR frames with codes; the device keeps serving.
        with pytest.raises(DeviceError, match="device error 4"):
            dev.request(FrameType.INFER, protocol.infer_payload(x[:0]), FrameType.RESULT, 2.0)
        with pytest.raises(DeviceError, match="device error 3"):
            dev.request(FrameType.INFER, b"\x01\x00\x00\x00abc", FrameType.RESULT, 2.0)
        with pytest.raises(DeviceError, match="device error 1"):
            dev.request(0x33, b"", FrameType.RESULT, 2.0)
        dev.echo(bytes(i % 256 for i in range(info.max_frame - protocol.OVERHEAD)))
        assert dev.device_stats()["errors"] >= 3


def test_reset_frame_reboots(boards: Boards) -> None:
    emu = boards.get(firmware.TEST_MODEL, "qemu-an386")
    with Device(emu.url) as dev:
        dev.infer(np.zeros((2, 8, 8, 3), np.int8))
        assert dev.device_stats()["inferences"] >= 2
        info = dev.reset()
        assert info.boot
        assert dev.device_stats()["inferences"] == 0  # RAM was cleared by the reboot


# ---------------------------------------------------------------- faults, real firmware and model


FAULT_SPECS = {
    # Seeded: each spec injects its fault at least once into 12 batch-1 INFER frames or replies.
    "garbage": "garbage=2e-4,direction=to-device,seed=1",
    "corrupt": "flip=1e-4,truncate=0.1,direction=to-device,seed=2",
    "lost-request": "truncate=0.1,direction=to-device,seed=4",
    "lost-reply": "drop=1e-2,direction=to-host,seed=4",
}


@pytest.mark.parametrize("plan", FAULT_SPECS)
def test_faults_lose_and_duplicate_nothing(boards: Boards, cifar: np.ndarray, plan: str) -> None:
    n = 12
    q, expected = reference("mlperf-resnet8", cifar[:n])
    emu = boards.get("mlperf-resnet8", "qemu-an386")
    dev, port = faulty_device(emu, FAULT_SPECS[plan])
    with dev:
        before = dev.device_stats()
        results = dev.infer(q, batch=1)
        after = dev.device_stats()
    outputs = np.stack([r.output for r in results]).reshape(expected.shape)
    assert len(results) == n
    assert np.array_equal(outputs, expected)
    assert sum(port.injected.values()) >= 1, port.injected
    # Nothing computed twice: repeated requests were answered from the device's cache.
    assert after["inferences"] - before["inferences"] == n
    if plan == "lost-reply":
        assert after["cache_hits"] > before["cache_hits"]
    else:  # a broken request is rejected by the device (a cut one when the resend follows it)
        assert after["frames_rejected"] > before["frames_rejected"]


def test_board_reset_mid_stream(boards: Boards, cifar: np.ndarray) -> None:
    n = 16
    q, expected = reference("mlperf-resnet8", cifar[:n])
    emu = boards.get("mlperf-resnet8", "qemu-an386")
    with Device(emu.url, base_timeout=0.5) as dev:
        dev.infer(q[:1])  # measure the inference time first
        resets_before = dev.stats.resets_seen
        timer = threading.Timer(1.0, emu.monitor, ["system_reset"])
        timer.start()
        try:
            results = dev.infer(q, batch=1)
        finally:
            timer.join()
        assert dev.stats.resets_seen == resets_before + 1
        # Without the reset the device would count at least n + 1 (the warm-up included).
        assert dev.device_stats()["inferences"] <= n
        results += dev.infer(q[:2], batch=2)  # the board still serves after the reset
        outputs = np.stack([r.output for r in results[:n]]).reshape(expected.shape)
        assert len(results) == n + 2
        assert np.array_equal(outputs, expected)


# ---------------------------------------------------------------- bit-exactness with TFLite Micro


def stream(emu: qemu.Emulator, q: np.ndarray) -> tuple[protocol.Hello, np.ndarray]:
    """Stream raw inputs through one board; (its HELLO, the raw outputs in input order)."""
    with Device(emu.url) as dev:
        results = dev.infer(q)
        assert len(results) == len(q)
        return dev.info, np.stack([r.output for r in results])


def _cifar_exact(boards: Boards, images: np.ndarray, model: str) -> None:
    """CIFAR-10 test images on both boards at once (one QEMU per core)."""
    q, expected = reference(model, images)
    assert np.array_equal(q.astype(np.int16), images.astype(np.int16) - 128)  # int8 = pixel - 128
    emus = [boards.get(model, board) for board in BOARDS]
    with ThreadPoolExecutor(len(emus)) as pool:
        answers = list(pool.map(lambda emu: stream(emu, q), emus))
    for board, (info, outputs) in zip(BOARDS, answers, strict=True):
        assert info.model_sha256 == sha256_file(int8_model(model))
        exact = int(np.all(outputs.reshape(expected.shape) == expected, axis=1).sum())
        assert exact == len(q), f"{model} on {board}: {exact}/{len(q)} identical to TFLite Micro"


@pytest.mark.parametrize("model", CIFAR_MODELS)
def test_cifar_models_bit_exact(boards: Boards, cifar: np.ndarray, model: str) -> None:
    _cifar_exact(boards, cifar[:N_IMAGES], model)


@pytest.mark.slow
@pytest.mark.parametrize("model", CIFAR_MODELS)
def test_cifar_models_bit_exact_100(boards: Boards, cifar: np.ndarray, model: str) -> None:
    _cifar_exact(boards, cifar[:N_IMAGES_SLOW], model)


def test_op_counters_add_up(boards: Boards, cifar: np.ndarray) -> None:
    """OP_STATS: one count per op of the last inference; they add up to its whole count (the
    rest is the return from the last op: under one SysTick tick of 40 instructions)."""
    q, _ = reference("cifar10-resnet8", cifar[:3])
    with Device(boards.get("cifar10-resnet8", "qemu-an386").url) as dev:
        assert dev.info.capabilities & protocol.Capability.OP_STATS
        results = dev.infer(q)
        last = dev.op_stats()
    assert len(last.counts) == dev.info.op_count == 15
    assert last.total == results[-1].count  # the last inference's, not a sum over the batch
    assert 0 <= last.total - sum(last.counts) <= 80, (last.total, sum(last.counts))
    assert min(last.counts[:3]) > 100_000  # the convolutions, a few M instructions each


def _vww_exact(boards: Boards, n: int, board: str) -> None:
    from host import data

    images = data.load("vww", "eval").x[:n]
    q, expected = reference("mlperf-vww", images)
    _, outputs = stream(boards.get("mlperf-vww", board), q)
    assert np.array_equal(outputs.reshape(expected.shape), expected)


@pytest.mark.parametrize("board", BOARDS)
def test_vww_bit_exact(boards: Boards, data_dir, board: str) -> None:
    """VWW fits the STM32F405 too: 27 KB input buffer + the engine's arena in 128 KB."""
    _vww_exact(boards, 4, board)


@pytest.mark.slow
@pytest.mark.parametrize("board", BOARDS)
def test_vww_bit_exact_100(boards: Boards, data_dir, board: str) -> None:
    _vww_exact(boards, 100, board)


def test_kws_bit_exact_on_both_boards(boards: Boards, data_dir) -> None:
    """MLPerf KWS DS-CNN: the inputs are already int8 MFCC features."""
    from host import data
    from host.backends.tflm import TflmBackend

    q = data.load("kws", "eval").x[:20]
    expected = TflmBackend(int8_model("mlperf-kws"), "int8").invoke(q)
    for board in BOARDS:
        _, outputs = stream(boards.get("mlperf-kws", board), q)
        assert np.array_equal(outputs.reshape(expected.shape), expected), board


def test_device_backend_and_emulator_cli(cifar: np.ndarray, monkeypatch, tmp_path) -> None:
    """``make flash`` (host.flash) starts a board that the device-int8 backend finds by itself."""
    from host import flash
    from host.backends import get_backend

    monkeypatch.setattr(qemu, "STATE_FILE", tmp_path / "emulator.json")
    monkeypatch.delenv("TINYROBUST_DEVICE", raising=False)
    try:
        assert flash.main(["--model", "mlperf-resnet8", "--board", "qemu-an386"]) == 0
        assert qemu.running_board().startswith("socket://127.0.0.1:")
        assert emulator.main(["status"]) == 0
        device = get_backend("mlperf-resnet8", "device-int8")
        reference_backend = get_backend("mlperf-resnet8", "tflm-int8")
        x01 = cifar[:6].astype(np.float32) / np.float32(255.0)
        assert np.array_equal(device.run(x01), reference_backend.run(x01))
        assert len(device.last_counts) == 6 and device.counter_unit == "instructions"
        device.close()
    finally:
        emulator.main(["stop"])
    assert qemu.running_board() is None
    assert flash.main(["--model", "mlperf-resnet8", "--board", "no-such-board"]) == 2


HOLD_BOARD = """
import sys
from pathlib import Path
from host.backends.device import DeviceBackend
backend = DeviceBackend(Path(sys.argv[2]), "int8", sys.argv[1])
print("ready", flush=True)
sys.stdin.read()
backend.close()
"""


def test_busy_board_is_reported_busy(boards: Boards) -> None:
    """Two real clients: while one process holds the board, the next is told who has it."""
    from host.backends.device import DeviceBackend

    path = int8_model("mlperf-resnet8")
    emu = boards.get("mlperf-resnet8", "qemu-an386")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_BOARD, emu.url, str(path)],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        busy = rf"the board at {re.escape(emu.url)} is busy: used by pid {holder.pid} \(python"
        with pytest.raises(UserError, match=busy):
            DeviceBackend(path, "int8", emu.url)
        with pytest.raises(UserError, match=busy):
            Device(emu.url)  # any client: make bench, the soak, a notebook
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0
    DeviceBackend(path, "int8", emu.url).close()  # free again once the holder is gone


def test_serial_port_is_opened_exclusively() -> None:
    """A real board's serial device (a pseudo-terminal here) is opened by one program at a time."""
    from host.backends.device import open_port

    controller, device = os.openpty()
    name = os.ttyname(device)
    try:
        port = open_port(name)
        with pytest.raises(UserError, match=f"the board at {name} is busy: another program"):
            open_port(name)
        port.close()
        open_port(name).close()  # free again
    finally:
        os.close(controller)
        os.close(device)


def test_link_faults_from_the_environment(boards: Boards, cifar: np.ndarray, monkeypatch) -> None:
    """$TINYROBUST_LINK_FAULTS puts a FaultyTransport under the device backend, with a note."""
    from host.backends.device import LINK_FAULTS_ENV, DeviceBackend

    path = int8_model("mlperf-resnet8")
    emu = boards.get("mlperf-resnet8", "qemu-an386")
    q, expected = reference("mlperf-resnet8", cifar[:8])
    monkeypatch.setenv(LINK_FAULTS_ENV, "flip=2e-4,garbage=1e-4,seed=5")
    with pytest.warns(TinyRobustWarning, match=f"faults are injected on the link to {emu.url}"):
        backend = DeviceBackend(path, "int8", emu.url)
    try:
        assert np.array_equal(backend.invoke(q).reshape(expected.shape), expected)
        assert isinstance(backend.device.port, FaultyTransport)
        assert sum(backend.device.port.injected.values()) >= 1
    finally:
        backend.close()
    monkeypatch.setenv(LINK_FAULTS_ENV, "flip=often")
    with pytest.raises(UserError, match="link fault flip=often: not a number"):
        DeviceBackend(path, "int8", emu.url)


@pytest.mark.parametrize("board", ["disco-f407vg", "nucleo-f446re"])
def test_real_board_firmware_links(board: str) -> None:
    """The real STM32F4 boards' firmware (USART2, DWT) builds and fits with the same sources."""
    int8_model("mlperf-resnet8")
    image = firmware.build("mlperf-resnet8", board)
    assert image.flash_bytes < image.board.flash_bytes
    assert image.ram_bytes + 8192 <= image.board.ram_bytes


def test_unknown_board_and_busy_port() -> None:
    with pytest.raises(UserError, match="unknown board"):
        firmware.board("nope")
    with qemu.socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(UserError, match="busy"):
            qemu.Emulator("mps2-an386", REPO_ROOT / "x.elf", sock.getsockname()[1])
