"""The firmware's input squeezers (firmware/app/defense.cc) give the host's bytes
(host/defenses/squeeze.py): the host build of defense.cc on 300 real CIFAR-10 test images and
300 random inputs for every bit depth and median window on int8 and int16 lattices, and the
emulated board built with ``--defense bits5+median2`` against the host engine on the
host-squeezed inputs, with its cost in RAM, flash and counted instructions. ``-m slow`` adds the
int16 model's firmware and a board built and started through PlatformIO.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from engine_reference import needs_board

from host import data, zoo
from host.backends import backend_for_file, get_backend, quantize_input
from host.backends.device import DeviceBackend
from host.board import firmware, platformio, qemu
from host.defenses.base import Lattice, Preprocessor
from host.defenses.squeeze import BitDepth, Median, median_filter
from host.flash import board_defense, main
from host.paths import BUILD, FIRMWARE

MODEL = "cifar10-resnet8"
N = 300  # real and random inputs each (host build)
N_CHAIN = 100  # real and random inputs each for two squeezers in a row (host build)
N_BOARD = 16  # real and random inputs each (emulated board)
SOURCES = [FIRMWARE / "app" / "defense.cc", FIRMWARE / "app" / "defense.h"]
TYPE_CODES = {np.dtype(np.int8): 1, np.dtype(np.int16): 2}
# Bit depths and lattices per input type: the model's own lattice, and others (random inputs
# then reach past their ends, which the squeezers clip).
DEPTHS = {np.dtype(np.int8): range(1, 9), np.dtype(np.int16): (1, 3, 5, 8, 11, 13, 15)}
OTHER_LATTICES = {
    np.dtype(np.int8): [Lattice(-100, 90), Lattice(-128, -120)],
    np.dtype(np.int16): [Lattice(-32768, 32767), Lattice(-1000, 29000)],
}


@pytest.fixture(scope="module")
def squeezers() -> ctypes.CDLL:
    """defense.cc built for the host as a shared library (cached under build/defense-host)."""
    if shutil.which("g++") is None:
        pytest.skip("needs g++")
    flags = ["-O2", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"]
    digest = hashlib.sha256(" ".join(flags).encode())
    for source in SOURCES:
        digest.update(source.read_bytes())
    library = BUILD / "defense-host" / digest.hexdigest()[:16] / "libdefense.so"
    if not library.is_file():
        library.parent.mkdir(parents=True, exist_ok=True)
        tmp = library.with_suffix(f".{os.getpid()}.tmp")
        command = ["g++", *flags, f"-I{FIRMWARE / 'app'}", str(SOURCES[0]), "-o", str(tmp)]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        tmp.replace(library)
    lib = ctypes.CDLL(str(library))
    i32, u32, ptr = ctypes.c_int32, ctypes.c_uint32, ctypes.c_void_p
    lib.tr_squeeze_bits.argtypes = [i32, ptr, ptr, u32, i32, i32, i32]
    lib.tr_squeeze_median.argtypes = [i32, ptr, ptr, i32, i32, i32, i32]
    return lib


def c_bits(lib: ctypes.CDLL, q: np.ndarray, bits: int, lattice: Lattice) -> np.ndarray:
    q = np.ascontiguousarray(q)
    out = np.empty_like(q)
    code = lib.tr_squeeze_bits(
        TYPE_CODES[q.dtype], q.ctypes.data, out.ctypes.data, q.size, bits, lattice.lo, lattice.hi
    )
    assert code == 0
    return out


def c_median(lib: ctypes.CDLL, q: np.ndarray, size: int) -> np.ndarray:
    """The C median of each image of an NHWC batch."""
    q = np.ascontiguousarray(q)
    out = np.empty_like(q)
    for image, target in zip(q, out, strict=True):
        code = lib.tr_squeeze_median(
            TYPE_CODES[q.dtype], image.ctypes.data, target.ctypes.data, *image.shape, size
        )
        assert code == 0
    return out


def c_chain(lib: ctypes.CDLL, q: np.ndarray, steps: list[Preprocessor], lattice: Lattice):
    for step in steps:
        q = (
            c_bits(lib, q, step.bits, lattice)
            if isinstance(step, BitDepth)
            else c_median(lib, q, step.size)
        )
    return q


def model_path(dtype: np.dtype) -> Path:
    return zoo.model_file(MODEL, "int8" if dtype == np.int8 else "int16")


def model_name(dtype: np.dtype) -> str:
    """The model whose firmware runs the model's int8 or int16 file (the int16 file declared
    as a model of its own, whose board file it is)."""
    if dtype == np.int8:
        return MODEL
    return zoo.declare_file(model_path(dtype), "cifar10", "int8")


def model_inputs(dtype: np.dtype, n: int) -> tuple[np.ndarray, Lattice]:
    """n real CIFAR-10 test images quantized for the model's int8 or int16 input, n random
    inputs over the whole type, and the model's lattice (computed by ``board_defense``)."""
    path = model_path(dtype)
    tensor = firmware.io_tensors(path)[0]
    x = data.load("cifar10", "test").x[:n].astype(np.float32) / np.float32(255.0)
    real = quantize_input(x, 1.0, tensor.scale, tensor.zero_point, dtype)
    info = np.iinfo(dtype)
    rng = np.random.default_rng(13)
    noise = rng.integers(info.min, info.max, size=real.shape, endpoint=True).astype(dtype)
    defense = board_defense(model_name(dtype), "bits5")
    return np.concatenate([real, noise]), Lattice(defense.lo, defense.hi)


@pytest.fixture(scope="module", params=[np.int8, np.int16], ids=["int8", "int16"])
def inputs(request, data_dir) -> tuple[np.ndarray, Lattice]:
    return model_inputs(np.dtype(request.param), N)


def test_lattices_are_the_models() -> None:
    """Pixel 0 is the input's zero point, pixel 1 its 1/scale above (int8: the whole range)."""
    for dtype in (np.dtype(np.int8), np.dtype(np.int16)):
        defense = board_defense(model_name(dtype), "bits3+median2")
        assert defense.steps == (("bits", 3), ("median", 2))
        tensor = firmware.io_tensors(model_path(dtype))[0]
        one = min(np.iinfo(dtype).max, tensor.zero_point + round(1 / tensor.scale))
        assert (defense.lo, defense.hi) == (tensor.zero_point, one), defense
    assert board_defense(MODEL, "median2").lo == -128


def test_bit_depth_equals_the_host(squeezers, inputs) -> None:
    q, lattice = inputs
    for each in [lattice, *OTHER_LATTICES[q.dtype]]:
        for bits in DEPTHS[q.dtype]:
            ours = c_bits(squeezers, q, bits, each)
            expected = BitDepth(bits).raw(q, each)
            assert ours.dtype == expected.dtype and ours.tobytes() == expected.tobytes(), (
                bits,
                each,
            )
            levels = np.unique(ours[: len(q) // 2])
            assert len(levels) <= 2**bits and levels.min() >= each.lo and levels.max() <= each.hi


def test_median_and_both_orders_equal_the_host(squeezers, inputs) -> None:
    q, lattice = inputs
    for size in range(2, 6):
        ours = c_median(squeezers, q, size)
        assert ours.tobytes() == Median(size).raw(q, lattice).tobytes(), size
        assert not np.array_equal(ours, q)
    few = np.concatenate([q[:N_CHAIN], q[-N_CHAIN:]])  # real and random
    for steps in ([BitDepth(5), Median(2)], [Median(3), BitDepth(4)], [BitDepth(2), Median(5)]):
        expected = few
        for step in steps:
            expected = step.raw(expected, lattice)
        assert c_chain(squeezers, few, steps, lattice).tobytes() == expected.tobytes(), steps
        # The firmware runs the median first whatever the order (defense.cc: the bits are a
        # non-decreasing map, which a window's order statistics commute with).
        swapped = c_chain(squeezers, few, steps[::-1], lattice)
        assert swapped.tobytes() == expected.tobytes(), steps


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 2), (5, 1, 3), (3, 4, 1), (4, 4, 2)])
def test_median_of_small_images_mirrors_the_edges_as_numpy(squeezers, shape) -> None:
    """Windows wider than the image: the mirrored edges repeat as numpy's symmetric padding."""
    rng = np.random.default_rng(sum(shape))
    for dtype in (np.int8, np.int16):
        info = np.iinfo(dtype)
        q = rng.integers(info.min, info.max, size=(20, *shape), endpoint=True).astype(dtype)
        for size in range(2, 6):
            assert c_median(squeezers, q, size).tobytes() == median_filter(q, size).tobytes()


def test_bad_arguments_are_refused(squeezers) -> None:
    q = np.zeros((1, 4, 4, 1), dtype=np.int8)
    out = np.empty_like(q)
    bits = squeezers.tr_squeeze_bits
    median = squeezers.tr_squeeze_median
    assert bits(1, q.ctypes.data, out.ctypes.data, 16, 5, -128, 127) == 0
    for type_code, depth, lo, hi in [
        (3, 5, -128, 127),
        (1, 0, -128, 127),
        (1, 16, 0, 1),
        (1, 5, 0, 0),
        (2, 5, -40000, 40000),
    ]:
        assert bits(type_code, q.ctypes.data, out.ctypes.data, 16, depth, lo, hi) == -1
    for type_code, size in [(4, 3), (1, 1), (1, 6)]:
        assert median(type_code, q.ctypes.data, out.ctypes.data, 4, 4, 1, size) == -1


@pytest.mark.parametrize(
    "names, message",
    [
        ("bogus", "unknown defense 'bogus'"),
        ("jpeg75", "jpeg75 runs on the host only"),
        ("bits5+bits3", "each at most once"),
        ("bits16", "bits16: the bit depth must be 1..15"),
    ],
)
def test_bad_defense_is_one_line_exit_2(names, message, capsys) -> None:
    code = main(["--build-only", "--defense", names])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err


@dataclass
class BoardRun:
    outputs: np.ndarray  # the raw outputs
    defenses: tuple[str, ...]  # DeviceBackend.firmware_defenses
    kernels: str
    outside_ops: int  # counted instructions of the last inference outside the model's ops


def run_on_board(image: firmware.Firmware, path: Path, q: np.ndarray) -> BoardRun:
    """``image`` on the emulated board, through the device backend, on the raw inputs q."""
    emulator = qemu.Emulator(image.board.qemu_machine, image.elf).start()
    try:
        board = DeviceBackend(path, path.stem, emulator.url)
        try:
            outputs = board.invoke(q)
            stats = board.device.op_stats()
            outside = stats.total - sum(stats.counts)
            return BoardRun(outputs, board.firmware_defenses, board.kernels, outside)
        finally:
            board.close()
    finally:
        emulator.stop()


@needs_board
def test_board_squeezes_as_the_host(data_dir) -> None:
    """bits5+median2 in the firmware: the board's outputs are the host engine's on the inputs
    squeezed on the host (and differ from the unsqueezed ones'), HELLO names the defense, and
    it costs one input's RAM and counted instructions outside the model's ops."""
    defense = board_defense(MODEL, "bits5+median2")
    image = firmware.build(MODEL, "qemu-an386", defense=defense)
    assert image.defense == "bits5+median2"
    plain = firmware.build(MODEL, "qemu-an386")
    input_bytes = firmware.io_bytes(model_path(np.dtype(np.int8)))[0]
    assert image.ram_bytes - plain.ram_bytes == input_bytes
    assert image.flash_bytes > plain.flash_bytes
    q, lattice = model_inputs(np.dtype(np.int8), N_BOARD)
    run = run_on_board(image, model_path(np.dtype(np.int8)), q)
    assert run.defenses == ("bits5", "median2") and "+bits5+median2 on mps2-an386" in run.kernels
    assert run.outside_ops > 32 * 32 * 3  # instructions, the defense's: > 1 per input value
    engine = get_backend(MODEL, "engine-int8")
    squeezed = Median(2).raw(BitDepth(5).raw(q, lattice), lattice)
    assert run.outputs.tobytes() == engine.invoke(squeezed).tobytes()
    assert not np.array_equal(run.outputs, engine.invoke(q))


@needs_board
@pytest.mark.slow
def test_int16_board_squeezes_as_the_host(data_dir) -> None:
    """median3+bits4 on the int16 model's firmware: the engine's outputs on host-squeezed
    inputs (real and random)."""
    int16 = np.dtype(np.int16)
    image = firmware.build(
        model_name(int16), "qemu-an386", defense=board_defense(model_name(int16), "median3+bits4")
    )
    q, lattice = model_inputs(int16, N_BOARD)
    run = run_on_board(image, model_path(int16), q)
    assert run.defenses == ("median3", "bits4")
    engine = backend_for_file("engine-int16", model_path(int16))
    squeezed = BitDepth(4).raw(Median(3).raw(q, lattice), lattice)
    assert run.outputs.tobytes() == engine.invoke(squeezed).tobytes()


def test_platformio_builds_get_the_defense(tmp_path: Path, monkeypatch) -> None:
    """A PlatformIO build (no -D flags) takes the defense from tr_build_config.h: main.cc
    compiled for a real board names it in HELLO and calls the squeezers."""
    if shutil.which("arm-none-eabi-g++") is None:
        pytest.skip("needs arm-none-eabi-g++ (make apt)")
    monkeypatch.setattr(platformio, "PIO_MODEL_DIR", tmp_path)
    defense = board_defense(MODEL, "median2+bits5")
    platformio.write_pio_sources(MODEL, firmware.board("disco-f407vg"), defense)
    obj = tmp_path / "main.o"
    command = ["arm-none-eabi-g++", *firmware.CPU_FLAGS, *firmware.COMMON_FLAGS]
    command += [*firmware.CXX_FLAGS, f"-I{tmp_path}", f"-I{FIRMWARE / 'app'}"]
    command += [f"-I{FIRMWARE / 'engine'}", "-c", str(FIRMWARE / "app" / "main.cc")]
    result = subprocess.run([*command, "-o", str(obj)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert b"tinyrobust-aot+median2+bits5\0" in obj.read_bytes()
    assert b"DefendInput" in obj.read_bytes()


@needs_board
@pytest.mark.slow
def test_platformio_board_squeezes_as_the_host(tmp_path: Path, monkeypatch, data_dir) -> None:
    """The emulated board built and started through PlatformIO with --defense runs it."""
    if shutil.which("platformio") is None:
        pytest.skip("needs platformio (make setup)")
    state = tmp_path / "emulator.json"
    monkeypatch.setattr(qemu, "STATE_FILE", state)
    monkeypatch.setenv(qemu.STATE_ENV, str(state))  # for the board PlatformIO starts
    argv = ["--model", MODEL, "--board", "qemu-an386", "--platformio", "--defense", "bits4"]
    try:
        assert main(argv) == 0
        url = qemu.read_state().url  # type: ignore[union-attr]
        q, lattice = model_inputs(np.dtype(np.int8), 4)
        board = DeviceBackend(model_path(np.dtype(np.int8)), "int8", url)
        try:
            assert board.firmware_defenses == ("bits4",)
            outputs = board.invoke(q)
        finally:
            board.close()
    finally:
        qemu.stop()
    engine = get_backend(MODEL, "engine-int8")
    assert outputs.tobytes() == engine.invoke(BitDepth(4).raw(q, lattice)).tobytes()
