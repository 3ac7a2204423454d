"""Rendering a prepared graph and its memory plan into C++ source (jinja2 templates)."""

from __future__ import annotations

import enum

import jinja2
import numpy as np

from host.compiler.graph import Graph
from host.compiler.plan import INPUT, OUTPUT, Plan
from host.paths import FIRMWARE
from host.tflite import Tensor

TEMPLATES_DIR = FIRMWARE / "templates"
TEMPLATE = "model.cc.j2"
C_TYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.int64): "int64_t",
    np.dtype(np.float32): "float",
    np.dtype(np.uint8): "uint8_t",
}


class TensorType(enum.IntEnum):
    """Element type codes of the engine's ``tr_tensor_info.type`` (engine.h), sent in HELLO."""

    INT8 = 1
    INT16 = 2
    FLOAT32 = 3  # a float-I/O model's input or output (little-endian IEEE 754)
    UINT8 = 4  # a uint8-I/O model's input or output


PER_LINE = 24


def _values(array: np.ndarray) -> str:
    flat = array.reshape(-1).tolist()
    if array.dtype == np.float32:  # hexadecimal: the exact float32 bits
        flat = [float(v).hex() + "f" for v in flat]
    suffix = "LL" if array.dtype == np.int64 else ""
    lines = [
        "    " + ", ".join(f"{v}{suffix}" for v in flat[i : i + PER_LINE]) + ","
        for i in range(0, len(flat), PER_LINE)
    ]
    return "\n".join(lines)


def _tensor_info(tensor: Tensor) -> str:
    dims = list(tensor.shape) + [0] * (6 - len(tensor.shape))
    code = TensorType[tensor.type_name].value
    # A float tensor reads as scale 1, zero point 0 (as the TFLite interpreters report it).
    floating = code == TensorType.FLOAT32
    scale = float(np.float32(1.0 if floating else tensor.scale)).hex() + "f"
    zero_point = 0 if floating else tensor.zero_point
    return (
        f"{{{len(tensor.shape)}, {{{', '.join(map(str, dims))}}}, {code}, "
        f"{scale}, {zero_point}, {tensor.nbytes}u}}"
    )


def _pointer(graph: Graph, plan: Plan, index: int) -> str:
    tensor = graph.tensors[index]
    ctype = C_TYPES[np.dtype(tensor.dtype)]
    where = plan.location[index]
    if where == INPUT:
        return f"static_cast<const {ctype}*>(input)"
    if where == OUTPUT:
        return f"static_cast<{ctype}*>(output)"
    return f"reinterpret_cast<{ctype}*>(g_arena + {where})"


def render(graph: Graph, plan: Plan, name: str, sha256: bytes) -> tuple[str, int]:
    """The C++ source of one model and the bytes of constant data it holds."""
    arrays, structs, calls = [], [], []
    weight_bytes = 0
    seen: dict[int, int] = {}  # op index -> Ops emitted for it (SPLIT: one per output)
    for op in graph.ops:
        part = seen[op.index] = seen.get(op.index, -1) + 1
        tag = f"{op.index}" if part == 0 else f"{op.index}_{part}"
        for field, data in op.arrays.items():
            arrays.append(
                {
                    "name": f"k_op{tag}_{field}",
                    "ctype": C_TYPES[data.dtype],
                    "size": data.size,
                    "data": _values(data),
                }
            )
            weight_bytes += data.nbytes
        args = [_pointer(graph, plan, t) for t in [*op.inputs, op.output]]
        if op.struct is None:
            if plan.location[op.inputs[0]] == plan.location[op.output]:
                calls.append(f"// op {op.index}: {op.name} (in place)")
            else:
                calls.append(
                    f"tr::Copy({args[0]}, {args[1]}, {op.params['bytes']});"
                    f"  // op {op.index}: {op.name}"
                )
            continue
        # Designated initializers in the struct's declaration order: the C++ compiler rejects a
        # misspelt, misordered or missing field; pointer fields left out stay nullptr.
        fields = [(field, str(value)) for field, value in op.params.items()]
        fields += [(field, f"k_op{tag}_{field}") for field in op.arrays]
        structs.append(
            {"index": op.index, "tag": tag, "name": op.name, "struct": op.struct, "fields": fields}
        )
        calls.append(f"tr::{op.kernel}(k_op{tag}, {', '.join(args)});  // op {op.index}: {op.name}")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    source = env.get_template(TEMPLATE).render(
        name=name,
        sha_hex=sha256.hex(),
        sha_bytes=", ".join(f"0x{b:02x}" for b in sha256),
        arena_bytes=plan.arena_bytes,
        weight_bytes=weight_bytes,
        arrays=arrays,
        structs=structs,
        calls=calls,
        input_info=_tensor_info(graph.tensors[graph.input]),
        output_info=_tensor_info(graph.tensors[graph.output]),
        op_count=len(graph.ops),
        ops=", ".join(op.name for op in graph.ops),
    )
    return source, weight_bytes
