"""A .tflite model as the engine runs it: its tensors and one prepared kernel call per op.

The flatbuffer is read by ``host.tflite``; each op is prepared by its module in
``host.compiler.ops``. Anything the engine cannot run raises ``UserError`` naming the op, its
index and the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.compiler.ops import OPERANDS, PREPARE, Op, OpError
from host.errors import UserError
from host.tflite import Tensor, check_model_bytes, custom_code, op_name, read_tensors

SUPPORTED = tuple(sorted(PREPARE))
# Types the engine runs only at a model's edges -> the op that writes such a model output (the
# model input is read by QUANTIZE ops).
EDGE_TYPES = {"FLOAT32": "DEQUANTIZE", "UINT8": "QUANTIZE"}


@dataclass
class Graph:
    """Every tensor of the model, the prepared ops in execution order, the input and output."""

    tensors: list[Tensor]
    ops: list[Op]
    input: int
    output: int


def load_graph(data: bytes, label: str = "model") -> Graph:
    """Parse a .tflite file's bytes (``label``: its name in errors) and prepare every op."""
    model = check_model_bytes(data, label)
    if len(model.subgraphs) != 1:
        raise UserError(
            f"the engine runs models with one subgraph, this one has {len(model.subgraphs)}"
        )
    graph = model.subgraphs[0]
    tensors = read_tensors(model)
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise UserError(
            f"the engine runs models with one input and one output, this one has "
            f"{len(graph.inputs)} and {len(graph.outputs)}"
        )
    for role, index in (("input", graph.inputs[0]), ("output", graph.outputs[0])):
        tensor = tensors[index]
        if tensor.type_name not in ("INT8", "INT16", *EDGE_TYPES):
            raise UserError(
                f"model {role} {tensor.name!r} is {tensor.type_name}; the engine runs int8, "
                f"int16, uint8 and float32 inputs and outputs"
            )
    ops = []
    for index, op in enumerate(graph.operators):
        custom = custom_code(model, op)
        if custom is not None:
            raise UserError(f"op {index} (CUSTOM {custom or '?'}): custom ops are not supported")
        name = op_name(model, op)
        if name not in PREPARE:
            raise UserError(
                f"op {index} ({name}): not supported by the engine "
                f"(supported: {', '.join(SUPPORTED)})"
            )
        inputs, options = OPERANDS[name]
        if len(op.inputs) < inputs:
            raise UserError(f"op {index} ({name}): corrupt, {len(op.inputs)} of {inputs} inputs")
        if options is not None and not isinstance(op.builtinOptions, options):
            found = type(op.builtinOptions).__name__
            raise UserError(
                f"op {index} ({name}): corrupt, {found} where {options.__name__} belong"
            )
        try:
            _check_edges(op, name, tensors, graph.inputs[0], graph.outputs[0])
            with np.errstate(all="raise"):  # an overflow is an error here, never a warning
                prepared = PREPARE[name](index, name, op, tensors)  # an Op, or one per output
            ops.extend(prepared if isinstance(prepared, list) else [prepared])
        except OpError as error:
            raise UserError(f"op {index} ({name}): {error}") from None
        except (ArithmeticError, ValueError) as error:  # a stride of 0, a scale of 1e-30, ...
            raise UserError(f"op {index} ({name}): corrupt values ({error})") from None
    return Graph(tensors, ops, graph.inputs[0], graph.outputs[0])


def _check_edges(
    op: schema.OperatorT, name: str, tensors: list[Tensor], model_input: int, model_output: int
) -> None:
    """Float32 and uint8 activations only at the edges of a model (the converter's float or
    uint8 input and output): the model input, read by QUANTIZE ops, and the model output,
    written by EDGE_TYPES' op."""
    for role, indices in (("reads", op.inputs), ("writes", op.outputs)):
        for index in indices:
            tensor = tensors[index] if index >= 0 else None
            if tensor is None or tensor.type_name not in EDGE_TYPES or tensor.data is not None:
                continue
            writer = EDGE_TYPES[tensor.type_name]
            if role == "reads" and index == model_input and name == "QUANTIZE":
                continue
            if role == "writes" and index == model_output and name == writer:
                continue
            raise OpError(
                f"{role} {tensor.type_name.lower()} tensor {tensor.name!r}: the engine runs int8 "
                f"and int16 ops, {tensor.type_name.lower()} only as the model input read by "
                f"QUANTIZE and the model output written by {writer}"
            )
