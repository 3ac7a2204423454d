"""Rendering a prepared graph and its memory plan into C++ source (jinja2 templates)."""

from __future__ import annotations

import jinja2
import numpy as np

from host.compiler.graph import Graph, Tensor
from host.compiler.plan import INPUT, OUTPUT, Plan
from host.paths import FIRMWARE

TEMPLATES_DIR = FIRMWARE / "templates"
TEMPLATE = "model.cc.j2"
FIELDS = {
    "ConvParams": "in_h in_w in_c out_h out_w out_c k_h k_w stride_h stride_w dil_h dil_w pad_h "
    "pad_w depth_multiplier input_offset output_offset act_min act_max filter bias32 bias_folded "
    "bias64 multiplier shift",
    "FullyConnectedParams": "rows depth units output_offset act_min act_max filter bias_folded "
    "bias64 multiplier shift",
    "AddParams": "size input1_offset input2_offset output_offset left_shift input1_multiplier "
    "input1_shift input2_multiplier input2_shift output_multiplier output_shift act_min act_max",
    "PoolParams": "in_h in_w channels out_h out_w k_h k_w stride_h stride_w pad_h pad_w act_min "
    "act_max",
    "SoftmaxParams": "rows depth input_multiplier input_left_shift diff_min exp_lut recip_lut",
}
C_TYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.int64): "int64_t",
}
TYPE_CODES = {"INT8": 1, "INT16": 2}
PER_LINE = 24


def _values(array: np.ndarray) -> str:
    flat = array.reshape(-1).tolist()
    suffix = "LL" if array.dtype == np.int64 else ""
    lines = [
        "    " + ", ".join(f"{v}{suffix}" for v in flat[i : i + PER_LINE]) + ","
        for i in range(0, len(flat), PER_LINE)
    ]
    return "\n".join(lines)


def _tensor_info(tensor: Tensor) -> str:
    dims = list(tensor.shape) + [0] * (6 - len(tensor.shape))
    scale = float(np.float32(tensor.scale)).hex() + "f"
    return (
        f"{{{len(tensor.shape)}, {{{', '.join(map(str, dims))}}}, {TYPE_CODES[tensor.type_name]}, "
        f"{scale}, {tensor.zero_point}, {tensor.nbytes}u}}"
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
    for op in graph.ops:
        for field, data in op.arrays.items():
            arrays.append(
                {
                    "name": f"k_op{op.index}_{field}",
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
        fields = []
        for field in FIELDS[op.struct].split():
            if field in op.arrays:
                value = f"k_op{op.index}_{field}"
            elif field in op.params:
                value = str(op.params[field])
            else:
                value = "nullptr"
            fields.append((field, value))
        structs.append({"index": op.index, "name": op.name, "struct": op.struct, "fields": fields})
        calls.append(
            f"tr::{op.kernel}(k_op{op.index}, {', '.join(args)});  // op {op.index}: {op.name}"
        )
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
