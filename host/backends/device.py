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
import warnings
from pathlib import Path

import numpy as np
import serial

from host.backends.base import Backend
from host.board.client import Device, open_transport
from host.board.faults import FaultSpec, FaultyTransport
from host.board.qemu import running_board
from host.data import sha256_file
from host.errors import TinyRobustWarning, UserError
from host.tflite import read_model_bytes

DEVICE_ENV = "TINYROBUST_DEVICE"
LINK_FAULTS_ENV = "TINYROBUST_LINK_FAULTS"


def device_url() -> str:
    """The URL of the board to use: $TINYROBUST_DEVICE, else the running emulated board."""
    url = os.environ.get(DEVICE_ENV) or running_board()
    if not url:
        raise UserError(
            f"no device: start the emulated board with `make flash` or set {DEVICE_ENV}=URL"
        )
    return url


def link_faults() -> FaultSpec | None:
    """The faults $TINYROBUST_LINK_FAULTS asks for, or None for a clean link."""
    text = os.environ.get(LINK_FAULTS_ENV, "").strip()
    return FaultSpec.parse(text) if text else None


def open_port(url: str) -> serial.SerialBase | FaultyTransport:
    """The port to the board at ``url``: exclusive where the OS allows it (a serial device),
    wrapped in a FaultyTransport when $TINYROBUST_LINK_FAULTS is set (one ``note:`` says so)."""
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


class DeviceBackend(Backend):
    """Raw integer inputs over the UART, raw integer outputs back; counts recorded per input."""

    def __init__(self, path: Path, precision: str, url: str, input_range: float = 1.0) -> None:
        self.url = url
        self.device = Device(url, transport=open_port(url))  # holds the board's lock
        info = self.device.info
        expected = sha256_file(path)
        if info.model_sha256 != expected:
            self.close()
            raise UserError(
                f"the board at {self.url} runs model {info.model!r} (sha256 "
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
