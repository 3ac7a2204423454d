"""LOGISTIC and TANH (``firmware/engine/logistic_tanh.cc``): SigmoidParams.

TFLite Micro's Prepare: int8 rescales the input to Q4.27 (a multiplier from ``frexp`` of
scale * 2^27, and the radius beyond which the output saturates); int16 needs zero points 0 and
an output scale of 2^-15, and rescales the input to the sigmoid table's 1 / (3 * 4096) steps
(a power-of-two input scale uses 3 * 2^shift exactly).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler import quant as q
from host.compiler.ops import common as c
from host.tflite import Tensor

# The builtin ops this module prepares: at least this many inputs, and options of this type.
BUILTINS: c.Builtins = {
    "LOGISTIC": (1, None),
    "TANH": (1, None),
}

F32 = np.float32
_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_LIBM.logf.restype = ctypes.c_float
_LIBM.logf.argtypes = [ctypes.c_float]

INPUT_INTEGER_BITS_S8 = 4  # Q4.27
INPUT_INTEGER_BITS_S16 = 3


def checked_log2(x: float) -> tuple[bool, int]:
    """CheckedLog2 in float32: (whether x is a power of two within 1e-3, rounded log2 x)."""
    log2 = F32(F32(_LIBM.logf(F32(x))) * F32(F32(1.0) / F32(_LIBM.logf(F32(2.0)))))
    rounded = F32(q.round_away(float(log2)))
    return bool(abs(F32(log2 - rounded)) < F32(1e-3)), int(rounded)


def _params_s8(inp: Tensor, out: Tensor, name: str) -> dict[str, int]:
    if name == "LOGISTIC" and out.zero_point != -128:
        raise c.OpError(f"int8 output needs zero point -128, got {out.zero_point}")
    real = float(F32(inp.scale)) * float(1 << (31 - INPUT_INTEGER_BITS_S8))
    fraction, shift = math.frexp(real)
    multiplier = int(q.round_away(fraction * (1 << 31)))
    if multiplier >= 1 << 31 or shift < 0:
        raise c.OpError(f"input scale {inp.scale} is out of the kernel's range")
    radius = math.floor(
        ((1 << INPUT_INTEGER_BITS_S8) - 1)
        * float(1 << (31 - INPUT_INTEGER_BITS_S8))
        / float(1 << shift)
    )
    return {
        "input_zero_point": inp.zero_point,
        "input_range_radius": radius,
        "input_multiplier": multiplier,
        "input_shift": shift,
    }


def _params_s16(inp: Tensor, out: Tensor, name: str) -> dict[str, int]:
    c.zero_point_int16(inp, out)
    pot, log2 = checked_log2(inp.scale)
    shift = (15 - INPUT_INTEGER_BITS_S16) + log2
    pot = pot and shift in ((0, 1) if name == "TANH" else (0,))
    if pot:
        multiplier = 3 << shift  # the kernel's power-of-two case, resolved here
        shift = 0
    else:
        real = float(F32(inp.scale)) * 4096.0 * 3.0
        shift = 0
        while real <= 32767.0 / 2.0 and shift <= 30:
            shift += 1
            real *= 2.0
        multiplier = int(real)
        if multiplier > 32767:
            raise c.OpError(f"input scale {inp.scale} is too large for the int16 kernel")
    pot_out, log2_out = checked_log2(out.scale)
    if not pot_out or log2_out != -15:
        raise c.OpError(f"int16 output needs scale 2^-15, got {out.scale}")
    return {
        "input_zero_point": 0,
        "input_range_radius": 0,
        "input_multiplier": multiplier,
        "input_shift": shift,
    }


def prepare(index: int, name: str, op: schema.OperatorT, tensors: list[Tensor]) -> c.Op:
    """LOGISTIC: LogisticS8/S16; TANH: TanhS8/S16."""
    inp, out = c.input_and_output(op, tensors)
    if inp.size != out.size:
        raise c.OpError("input and output sizes differ")
    params_for = _params_s8 if inp.bits == 8 else _params_s16
    params = {"size": out.size, **params_for(inp, out, name)}
    kernel = c.kernel_name("Logistic" if name == "LOGISTIC" else "Tanh", out)
    return c.Op(index, name, kernel, "SigmoidParams", [inp.index], out.index, params)
