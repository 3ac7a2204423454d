"""A direct query attack against the emulated board, checked query by query against TFLite Micro.

Square-Linf queries the firmware in QEMU (mps2-an386) over the UART; every batch the attack sends
is also run on the tflite-micro wheel, and the raw int8 outputs must be identical.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from host import data, zoo
from host.attacks import Oracle, make_attack
from host.backends import Backend, get_backend
from host.backends.device import DeviceBackend
from host.board import firmware, qemu
from host.errors import UserError

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
        reason="needs qemu-system-arm and arm-none-eabi-gcc (make apt)",
    ),
]

N_IMAGES = 10
QUERIES = 40
EPS = 8 / 255


class Checked(Backend):
    """The device, with every query also run on TFLite Micro and compared."""

    def __init__(self, device: DeviceBackend, reference: Backend) -> None:
        self.device, self.reference = device, reference
        self.name, self.precision, self.kernels = device.name, device.precision, device.kernels
        self.take_io_from(device)
        self.inputs = 0
        self.mismatches = 0

    def invoke(self, q: np.ndarray) -> np.ndarray:
        got = self.device.invoke(q).reshape(len(q), -1)
        expected = self.reference.invoke(q).reshape(len(q), -1)
        self.inputs += len(q)
        self.mismatches += int(np.sum(np.any(got != expected, axis=1)))
        return got


@pytest.mark.parametrize("model", ["cifar10-resnet8", "mlperf-resnet8"])
def test_square_linf_direct_on_the_emulated_board(model, data_dir) -> None:
    try:
        path = zoo.model_file(model, "int8")
    except UserError as error:
        pytest.skip(f"{model}: {error}")
    image = firmware.build(model, "qemu-an386")
    x = data.load("cifar10", "test").take(N_IMAGES)
    x01, y = x.x.astype(np.float32) / np.float32(255.0), x.y
    with qemu.Emulator(image.board.qemu_machine, image.elf) as emu:
        device = DeviceBackend(path, "int8", emu.url, zoo.spec(model).input_range)
        try:
            checked = Checked(device, get_backend(model, "tflm-int8"))
            oracle = Oracle(checked, 10, None, QUERIES)
            clean = oracle.labels(x01)
            attack = make_attack("square-linf", max_iter=QUERIES)
            (result,) = attack(oracle, x01, y, [EPS], seed=0)
        finally:
            device.close()
    assert checked.mismatches == 0, f"{checked.mismatches}/{checked.inputs} outputs differ"
    assert np.all(result.queries <= QUERIES) and result.queries.sum() > 0
    assert np.abs(result.x_adv - x01).max() <= EPS + 0.5 / 255
    accuracy = float(np.mean(result.predictions == y))
    success = float(result.success.mean())
    print(
        f"\n{model} square-linf eps 8/255 on {device.kernels}: clean accuracy "
        f"{np.mean(clean == y):.2f}, adversarial {accuracy:.2f}, success {success:.2f}, "
        f"queries {result.queries.tolist()}, {checked.inputs} inputs identical to TFLite Micro"
    )
