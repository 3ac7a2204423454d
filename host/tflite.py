"""Read .tflite flatbuffers, check them, and cut the graph after one op (layer-by-layer debugging).

Uses the schema module that ships with ai-edge-litert (the TFLite flatbuffer object API).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.errors import UserError

FILE_IDENTIFIER = b"TFL3"
_OP_NAMES = {
    value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}


@dataclass(frozen=True)
class OpInfo:
    """One op of the main subgraph, in execution order."""

    index: int
    name: str  # builtin op name, e.g. "FULLY_CONNECTED"
    output: int  # index of its (first) output tensor


def read_model_bytes(path: str | Path) -> bytes:
    """The bytes of a .tflite file, or a UserError when it is missing or not a TFLite model."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    content = path.read_bytes()
    check_model_bytes(content, str(path))
    return content


def check_model_bytes(content: bytes, label: str = "model") -> schema.ModelT:
    """Parse a TFLite flatbuffer fully; a UserError when it is corrupt."""
    if len(content) < 8 or content[4:8] != FILE_IDENTIFIER:
        raise UserError(f"{label} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        model = schema.ModelT.InitFromPackedBuf(content, 0)
    except Exception as error:  # the generated parser raises whatever it hits
        raise UserError(f"{label} is a corrupt TFLite flatbuffer ({error})") from error
    if not model.subgraphs or not model.subgraphs[0].operators:
        raise UserError(f"{label} has no ops in its main subgraph")
    return model


def op_name(model: schema.ModelT, op: schema.OperatorT) -> str:
    """The builtin name of an op (custom ops by their custom code)."""
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM and code.customCode:
        custom = code.customCode
        return custom.decode() if isinstance(custom, bytes) else str(custom)
    return _OP_NAMES.get(builtin, f"OP{builtin}")


def list_ops(content: bytes) -> list[OpInfo]:
    """The ops of the main subgraph in execution order."""
    model = check_model_bytes(content)
    return [
        OpInfo(index, op_name(model, op), int(op.outputs[0]))
        for index, op in enumerate(model.subgraphs[0].operators)
    ]


def truncate_after(content: bytes, op_index: int) -> bytes:
    """A model that stops after op ``op_index``: its output is that op's output tensor.

    Later ops are dropped; weights and tensors stay (unused), so all kernels see the same data.
    """
    model = check_model_bytes(content)
    graph = model.subgraphs[0]
    if not 0 <= op_index < len(graph.operators):
        raise ValueError(f"op index {op_index} outside 0..{len(graph.operators) - 1}")
    graph.outputs = [int(graph.operators[op_index].outputs[0])]
    graph.operators = graph.operators[: op_index + 1]
    model.signatureDefs = []  # signatures would name the dropped outputs
    builder = flatbuffers.Builder(len(content) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


_TENSOR_TYPES = {
    value: name.lower() for name, value in vars(schema.TensorType).items() if name.isupper()
}


def input_type(content: bytes) -> str:
    """The element type of the model's (first) input, e.g. "int8", "int16", "float32"."""
    model = check_model_bytes(content)
    graph = model.subgraphs[0]
    return _TENSOR_TYPES.get(graph.tensors[graph.inputs[0]].type, "unknown")


@dataclass(frozen=True)
class FullyConnectedParams:
    """What a FULLY_CONNECTED op's requantization depends on (weights as [out, in])."""

    input_scale: float
    input_zero_point: int
    weights: np.ndarray
    weight_scales: np.ndarray  # one per output channel (repeated when per-tensor)
    bias: np.ndarray
    output_scale: float
    output_zero_point: int
    fused_activation: int  # 0: none


def fully_connected_params(content: bytes, op_index: int) -> FullyConnectedParams:
    """Scales, zero points, weights and bias of the FULLY_CONNECTED op ``op_index``."""
    model = check_model_bytes(content)
    graph = model.subgraphs[0]
    op = graph.operators[op_index]
    if op_name(model, op) != "FULLY_CONNECTED":
        raise ValueError(f"op {op_index} is {op_name(model, op)}, not FULLY_CONNECTED")
    tensor_in, tensor_w, tensor_out = (graph.tensors[i] for i in (*op.inputs[:2], op.outputs[0]))
    weights = _constant(model, tensor_w).reshape(tensor_w.shape)
    channels = weights.shape[0]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = _constant(model, graph.tensors[op.inputs[2]]).astype(np.int64)
    else:
        bias = np.zeros(channels, dtype=np.int64)
    options = op.builtinOptions
    return FullyConnectedParams(
        float(tensor_in.quantization.scale[0]),
        int(tensor_in.quantization.zeroPoint[0]),
        weights.astype(np.int64),
        np.resize(np.asarray(tensor_w.quantization.scale, dtype=np.float32), channels),
        bias,
        float(tensor_out.quantization.scale[0]),
        int(tensor_out.quantization.zeroPoint[0]),
        int(options.fusedActivationFunction) if options is not None else 0,
    )


_NUMPY_TYPES = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64}


def _constant(model: schema.ModelT, tensor: schema.TensorT) -> np.ndarray:
    data = model.buffers[tensor.buffer].data
    if data is None:
        raise ValueError(f"tensor {tensor.name!r} has no constant data")
    dtype = _NUMPY_TYPES[_TENSOR_TYPES[tensor.type]]
    return np.frombuffer(np.asarray(data, dtype=np.uint8).tobytes(), dtype=dtype)
