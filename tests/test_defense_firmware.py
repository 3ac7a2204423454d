"""The firmware's input squeezers (firmware/app/defense.cc) give the host's bytes
(host/defenses/squeeze.py): the host build of defense.cc on 300 real CIFAR-10 test images and
300 random inputs for every bit depth and median window on int8 and int16 lattices, and the
emulated board built with ``--defense bits5+median2`` against the host engine on the
host-squeezed inputs. ``-m slow`` adds the board's cost of each defense (instructions, RAM,
flash) against the undefended firmware.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from engine_reference import needs_board

from host import data, zoo
from host.backends import get_backend, quantize_input
from host.backends.device import DeviceBackend
from host.board import firmware, qemu
from host.defenses.base import Lattice, Preprocessor
from host.defenses.squeeze import BitDepth, Median, median_filter
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


def model_inputs(dtype: np.dtype, n: int) -> tuple[np.ndarray, Lattice]:
    """n real CIFAR-10 test images quantized for the model's int8 or int16 input, n random
    inputs over the whole type, and the model's lattice."""
    path = model_path(dtype)
    tensor = firmware.io_tensors(path)[0]
    x = data.load("cifar10", "test").x[:n].astype(np.float32) / np.float32(255.0)
    real = quantize_input(x, 1.0, tensor.scale, tensor.zero_point, dtype)
    info = np.iinfo(dtype)
    rng = np.random.default_rng(13)
    noise = rng.integers(info.min, info.max, size=real.shape, endpoint=True).astype(dtype)
    ends = quantize_input(np.array([0.0, 1.0]), 1.0, tensor.scale, tensor.zero_point, dtype)
    return np.concatenate([real, noise]), Lattice(int(ends[0]), int(ends[1]))


@pytest.fixture(scope="module", params=[np.int8, np.int16], ids=["int8", "int16"])
def inputs(request, data_dir) -> tuple[np.ndarray, Lattice]:
    return model_inputs(np.dtype(request.param), N)


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


def run_on_board(image: firmware.Firmware, path: Path, q: np.ndarray) -> tuple:
    """The board's raw outputs for q, its per-input counts, its defenses and kernels string."""
    emulator = qemu.Emulator(image.board.qemu_machine, image.elf).start()
    try:
        board = DeviceBackend(path, "int8", emulator.url)
        try:
            outputs = board.invoke(q)
            return outputs, list(board.last_counts), board.firmware_defenses, board.kernels
        finally:
            board.close()
    finally:
        emulator.stop()


@needs_board
def test_board_squeezes_as_the_host(data_dir) -> None:
    """bits5+median2 in the firmware: the board's outputs are the host engine's on the inputs
    squeezed on the host (and differ from the unsqueezed ones'), and HELLO names the defense."""
    q, lattice = model_inputs(np.dtype(np.int8), N_BOARD)
    defense = firmware.Defense((("bits", 5), ("median", 2)), lattice.lo, lattice.hi)
    image = firmware.build(MODEL, "qemu-an386", defense=defense)
    assert image.defense == "bits5+median2"
    outputs, counts, running, kernels = run_on_board(image, model_path(np.dtype(np.int8)), q)
    assert running == ("bits5", "median2") and "+bits5+median2 on mps2-an386" in kernels
    assert all(count > 0 for count in counts)
    engine = get_backend(MODEL, "engine-int8")
    squeezed = Median(2).raw(BitDepth(5).raw(q, lattice), lattice)
    assert outputs.tobytes() == engine.invoke(squeezed).tobytes()
    assert not np.array_equal(outputs, engine.invoke(q))
