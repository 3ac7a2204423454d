"""One prepare module per engine kernel file, mirroring ``firmware/engine/<op>.cc``.

Each module's ``prepare`` checks one op as TFLite Micro's Prepare would and fills its kernel's
parameter struct (``firmware/engine/kernels.h``); ``PREPARE`` maps a builtin op name to it.
"""

from host.compiler.ops import (
    activation,
    add,
    concatenation,
    conv,
    depthwise_conv,
    fully_connected,
    mean,
    pad,
    pool,
    reshape,
    softmax,
)
from host.compiler.ops.common import Op, OpError, Prepare

PREPARE: dict[str, Prepare] = {
    "ADD": add.prepare,
    "AVERAGE_POOL_2D": pool.prepare,
    "CONCATENATION": concatenation.prepare,
    "CONV_2D": conv.prepare,
    "DEPTHWISE_CONV_2D": depthwise_conv.prepare,
    "FULLY_CONNECTED": fully_connected.prepare,
    "MAX_POOL_2D": pool.prepare,
    "MEAN": mean.prepare,
    "PAD": pad.prepare,
    "PADV2": pad.prepare,
    "RELU": activation.prepare,
    "RELU6": activation.prepare,
    "RESHAPE": reshape.prepare,
    "SOFTMAX": softmax.prepare,
}

__all__ = ["PREPARE", "Op", "OpError", "Prepare"]
