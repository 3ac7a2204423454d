"""Read .tflite flatbuffers, check them, and cut the graph after one op (layer-by-layer debugging).

Uses the schema module that ships with ai-edge-litert (the TFLite flatbuffer object API).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import flatbuffers
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
