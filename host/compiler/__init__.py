"""The ahead-of-time compiler: a .tflite model in, C++ source for the firmware engine out.

Stages, one module each: ``graph`` takes the model as ``host.tflite`` reads it and prepares
every op with its module in ``ops`` (one per ``firmware/engine/<op>.cc``: multipliers, shifts,
padding; ``quant`` holds TFLite's fixed-point rules), ``plan`` places activations in a static
arena, ``emit`` renders the C++ (jinja2), ``source`` ties them together and ``toolchain`` builds
the result as a shared library for the host or measures it for a Cortex-M.
"""

from host.compiler.source import CompiledModel, compile_model, generate
from host.compiler.toolchain import (
    ARM_CPUS,
    arm_size,
    chosen_isa,
    cpu_isas,
    engine_sources,
    host_library,
)

__all__ = [
    "ARM_CPUS",
    "CompiledModel",
    "arm_size",
    "chosen_isa",
    "compile_model",
    "cpu_isas",
    "engine_sources",
    "generate",
    "host_library",
]
