"""The device backend: the model running on a board (or QEMU) over the UART protocol.

The board is found by URL: ``$TINYROBUST_DEVICE`` (``socket://127.0.0.1:PORT``, ``/dev/ttyACM0``)
or else the emulated board started by ``python -m host.emulator start`` / ``make flash``.
The board must run the same .tflite (the HELLO's model hash is checked). One process uses a board
at a time (the client holds ``host.board.lock``); ``$TINYROBUST_LINK_FAULTS``
(``flip=1e-3,seed=1``, see ``host.board.faults``) breaks the link on purpose, to see how a run
copes with a noisy one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from host.backends.base import Backend
from host.board.client import LINK_FAULTS_ENV, Device, link_faults, open_port
from host.board.protocol import Hello
from host.board.qemu import running_board
from host.data import sha256_file
from host.errors import UserError
from host.tflite import read_model_bytes

__all__ = [
    "DEVICE_ENV",
    "LINK_FAULTS_ENV",
    "BoardBackend",
    "DeviceBackend",
    "device_url",
    "factory",
    "link_faults",
    "open_port",
]

DEVICE_ENV = "TINYROBUST_DEVICE"


def device_url() -> str:
    """The URL of the board to use: $TINYROBUST_DEVICE, else the running emulated board."""
    url = os.environ.get(DEVICE_ENV) or running_board()
    if not url:
        raise UserError(
            f"no device: start the emulated board with `make flash` or set {DEVICE_ENV}=URL"
        )
    return url


class BoardBackend(Backend):
    """A backend on boards running the firmware: named, quantized and described by a HELLO."""

    def describe(
        self, info: Hello, url: str, path: Path, precision: str, input_range: float
    ) -> None:
        """Take name, kernels and input/output mapping from the board's HELLO ``info``; a
        UserError when the board at ``url`` runs another model than the file ``path``."""
        expected = sha256_file(path)
        if info.model_sha256 != expected:
            raise UserError(
                f"the board at {url} runs model {info.model!r} (sha256 "
                f"{info.model_sha256[:12]}), not {path} ({expected[:12]}); flash it first"
            )
        self.name = f"device-{precision}"
        self.precision = precision
        self.kernels = f"{info.engine} on {info.board}"  # "tinyrobust-aot+bits5 on mps2-an386"
        # The defenses built into the firmware (`make flash DEFENSE=bits5`), in the order they run.
        self.firmware_defenses: tuple[str, ...] = tuple(info.engine.split("+")[1:])
        self.input_range = float(input_range)
        self.input_dtype = info.input.dtype
        self.input_shape = info.input.shape[1:]
        self.input_scale, self.input_zero_point = info.input.scale, info.input.zero_point
        self.use_model_input_quantization(read_model_bytes(path))
        self.output_scale, self.output_zero_point = info.output.scale, info.output.zero_point
        self.counter_unit = info.counter_unit  # "instructions" (QEMU) or "cycles"
        self.last_counts: list[int] = []


class DeviceBackend(BoardBackend):
    """Raw integer inputs over the UART, raw integer outputs back; counts recorded per input."""

    def __init__(self, path: Path, precision: str, url: str, input_range: float = 1.0) -> None:
        self.url = url
        self.device = Device(url, transport=open_port(url))  # holds the board's lock
        try:
            self.describe(self.device.info, url, path, precision, input_range)
        except UserError:
            self.close()
            raise

    def invoke(self, q: np.ndarray) -> np.ndarray:
        results = self.device.infer(np.asarray(q, dtype=self.input_dtype))
        self.last_counts = [r.count for r in results]
        bad = [i for i, r in enumerate(results) if r.status != 0]
        if bad:
            raise UserError(f"the device engine failed on inputs {bad[:5]}")
        return np.stack([r.output for r in results])

    def close(self) -> None:
        self.device.close()


def factory(path: Path, precision: str, input_range: float = 1.0) -> DeviceBackend:
    """Backend registry entry (``device-int8``, ``device-int16``)."""
    return DeviceBackend(path, precision, device_url(), input_range)
