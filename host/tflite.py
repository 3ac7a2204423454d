"""The one reader of .tflite flatbuffers: check a file, read its tensors and ops, cut the graph.

Uses the schema module that ships with ai-edge-litert (the TFLite flatbuffer object API). The
ahead-of-time compiler (``host.compiler``), the backends and the agreement checks all read
models through this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from host.errors import UserError

FILE_IDENTIFIER = b"TFL3"
MODEL_TABLE_VECTORS = (
    "OperatorCodes",
    "Subgraphs",
    "Buffers",
    "Metadata",
    "SignatureDefs",
    "ExternalBufferGroups",
    "ExternalBuffers",
)
MAX_RANK = 8  # more dimensions than any kernel takes: a corrupt shape
OP_NAMES = {
    value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")
}
TYPE_NAMES = {value: name for name, value in vars(schema.TensorType).items() if name.isupper()}
NUMPY_TYPES = {
    schema.TensorType.INT8: np.int8,
    schema.TensorType.INT16: np.int16,
    schema.TensorType.INT32: np.int32,
    schema.TensorType.INT64: np.int64,
    schema.TensorType.UINT8: np.uint8,
    schema.TensorType.FLOAT32: np.float32,
}


@dataclass
class Tensor:
    """One tensor: shape, type, quantization, and its data when it is a constant."""

    index: int
    name: str
    shape: tuple[int, ...]
    type_name: str  # e.g. "INT8"
    dtype: type | None  # None for types numpy does not hold here
    scales: np.ndarray
    zero_points: np.ndarray
    data: np.ndarray | None  # constant tensors only, in ``shape``

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize

    @property
    def scale(self) -> float:
        return float(self.scales[0]) if len(self.scales) else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if len(self.zero_points) else 0

    @property
    def bits(self) -> int:
        return 16 if self.type_name == "INT16" else 8


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
    """Parse a TFLite flatbuffer fully and check what it refers to; a UserError naming
    ``label`` when it is truncated or corrupt."""
    if len(content) < 8 or content[4:8] != FILE_IDENTIFIER:
        raise UserError(f"{label} is not a TFLite flatbuffer (no 'TFL3' identifier)")
    try:
        _check_table_count(content)
        model = schema.ModelT.InitFromPackedBuf(content, 0)
    except UserError as error:
        raise UserError(f"{label} is truncated or corrupt ({error})") from None
    except Exception:  # the generated parser raises whatever it hits (struct.error mostly)
        raise UserError(
            f"{label} is truncated or corrupt (its flatbuffer refers past the end of the file "
            f"or holds invalid values)"
        ) from None
    if not model.subgraphs or not model.subgraphs[0] or not model.subgraphs[0].operators:
        raise UserError(f"{label} has no ops in its main subgraph")
    try:
        _check_references(model)
    except UserError as error:
        raise UserError(f"{label} is corrupt ({error})") from None
    main = model.subgraphs[0]
    if not len(main.inputs) or not len(main.outputs):
        raise UserError(f"{label} has no inputs or no outputs in its main subgraph")
    return model


def _check_table_count(content: bytes) -> None:
    """Refuse more tables than the file can hold (each takes at least a 4-byte offset): a
    corrupt vector length, or vectors sharing their entries, would keep the object API
    building objects for hours. The walk stops as soon as the count is too large."""
    count = 0
    for length in _table_vector_lengths(schema.Model.GetRootAs(content, 0)):
        count += length
        if count * 4 > len(content):
            raise UserError(f"{count} tables do not fit in {len(content)} bytes")


def _table_vector_lengths(root: schema.Model) -> Iterator[int]:
    """The length of every vector of tables the object API unpacks, lazily."""
    for vector in MODEL_TABLE_VECTORS:
        yield getattr(root, f"{vector}Length")()
    for signature in _entries(root.SignatureDefs, root.SignatureDefsLength()):
        yield signature.InputsLength() + signature.OutputsLength()
    for graph in _entries(root.Subgraphs, root.SubgraphsLength()):
        yield graph.TensorsLength() + graph.OperatorsLength()
        for tensor in _entries(graph.Tensors, graph.TensorsLength()):
            sparsity = tensor.Sparsity()
            yield tensor.VariantTensorsLength() + (sparsity.DimMetadataLength() if sparsity else 0)


def _entries(get: Callable[[int], Any], count: int) -> Iterator[Any]:
    return (entry for i in range(count) if (entry := get(i)) is not None)


def _check_references(model: schema.ModelT) -> None:
    """Every op code, tensor, buffer and op refers to something that exists; every constant
    holds as many bytes as its shape needs."""
    if any(entry is None for entry in (*(model.operatorCodes or []), *(model.buffers or []))):
        raise UserError("an op code or buffer entry is missing")
    for number, graph in enumerate(model.subgraphs):
        if graph is None or graph.inputs is None or graph.outputs is None:
            raise UserError(f"subgraph {number} or its inputs or outputs are missing")
        if any(t is None for t in graph.tensors or []):
            raise UserError(f"a tensor of subgraph {number} is missing")
        tensors = len(graph.tensors or [])
        what = f"subgraph {number} inputs and outputs"
        _check_indices(what, graph.inputs, graph.outputs, tensors=tensors)
        for index, op in enumerate(graph.operators or []):
            if op is None or not 0 <= op.opcodeIndex < len(model.operatorCodes or []):
                raise UserError(f"op {index} of subgraph {number} has no valid op code")
            if op.inputs is None or op.outputs is None or not len(op.outputs):
                raise UserError(f"op {index} of subgraph {number} has no inputs or no output")
            _check_indices(f"op {index} of subgraph {number}", op.outputs, tensors=tensors)
            if any(not -1 <= int(i) < tensors for i in op.inputs):  # -1: an omitted input
                raise UserError(f"op {index} of subgraph {number} reads a tensor that is missing")
        for index, tensor in enumerate(graph.tensors or []):
            _check_tensor(model, index, tensor)


def _check_indices(what: str, *vectors: np.ndarray, tensors: int) -> None:
    for vector in vectors:
        if any(not 0 <= int(i) < tensors for i in vector):
            raise UserError(f"{what} name a tensor that is missing")


def _check_tensor(model: schema.ModelT, index: int, t: schema.TensorT) -> None:
    shape = [] if t.shape is None else [int(d) for d in t.shape]
    if len(shape) > MAX_RANK or any(d < 0 for d in shape):
        raise UserError(f"tensor {index} has shape {shape}")
    if not 0 <= t.buffer < len(model.buffers or []):
        raise UserError(f"tensor {index} refers to buffer {t.buffer} of {len(model.buffers or [])}")
    data = model.buffers[t.buffer].data
    dtype = NUMPY_TYPES.get(t.type)
    if data is not None and len(data) and dtype is not None:
        needed = math.prod(shape) * np.dtype(dtype).itemsize
        if len(data) != needed:
            raise UserError(
                f"tensor {index} has {len(data)} bytes of data, its shape needs {needed}"
            )


def custom_code(model: schema.ModelT, op: schema.OperatorT) -> str | None:
    """The custom code of a custom op ("" when it has none); None for a builtin op."""
    code = model.operatorCodes[op.opcodeIndex]
    if max(code.builtinCode, code.deprecatedBuiltinCode) != schema.BuiltinOperator.CUSTOM:
        return None
    custom = code.customCode or b""
    return custom.decode() if isinstance(custom, bytes) else str(custom)


def op_name(model: schema.ModelT, op: schema.OperatorT) -> str:
    """The builtin name of an op (custom ops by their custom code)."""
    custom = custom_code(model, op)
    if custom:
        return custom
    code = model.operatorCodes[op.opcodeIndex]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    return OP_NAMES.get(builtin, f"OP{builtin}")


def read_tensors(model: schema.ModelT, subgraph: int = 0) -> list[Tensor]:
    """Every tensor of a subgraph, constants with their data."""
    return [_tensor(model, index, t) for index, t in enumerate(model.subgraphs[subgraph].tensors)]


def _tensor(model: schema.ModelT, index: int, t: schema.TensorT) -> Tensor:
    quant = t.quantization
    scales = np.asarray(quant.scale if quant is not None and quant.scale is not None else [])
    zps = np.asarray(quant.zeroPoint if quant is not None and quant.zeroPoint is not None else [])
    shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
    dtype = NUMPY_TYPES.get(t.type)
    data = None
    buffer = model.buffers[t.buffer]  # in range: check_model_bytes checked it
    if buffer.data is not None and len(buffer.data) and dtype is not None:
        data = np.frombuffer(np.asarray(buffer.data, dtype=np.uint8).tobytes(), dtype=dtype)
        data = data.reshape(shape) if t.shape is not None else data
    name = t.name.decode("utf-8", "replace") if isinstance(t.name, bytes) else str(t.name)
    return Tensor(index, name, shape, TYPE_NAMES.get(t.type, str(t.type)), dtype, scales, zps, data)


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
    return model_bytes(model)


def model_bytes(model: schema.ModelT) -> bytes:
    """A parsed (and perhaps edited) model written back as .tflite bytes."""
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=FILE_IDENTIFIER)
    return bytes(builder.Output())


def input_quantization(content: bytes) -> tuple[str, float, int]:
    """Element type, scale and zero point of the integers a model computes its (first) input in:
    the input tensor's own, or, for a float32- or uint8-input model (the converter's default,
    or ``inference_input_type=uint8``), those of the QUANTIZE op that reads the input."""
    model = check_model_bytes(content)
    graph = model.subgraphs[0]
    index = graph.inputs[0]
    if graph.tensors[index].type in (schema.TensorType.FLOAT32, schema.TensorType.UINT8):
        readers = [op for op in graph.operators if index in list(op.inputs)]
        if len(readers) == 1 and op_name(model, readers[0]) == "QUANTIZE":
            index = int(readers[0].outputs[0])
    tensor = read_tensors(model)[index]
    return tensor.type_name.lower(), tensor.scale, tensor.zero_point


def input_type(content: bytes) -> str:
    """The integer precision of a model's (first) input, e.g. "int8", "int16" ("float32" for
    an unquantized model): see ``input_quantization``."""
    return input_quantization(content)[0]


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
    tensors = read_tensors(model)
    tensor_in, tensor_w, tensor_out = (tensors[i] for i in (*op.inputs[:2], op.outputs[0]))
    weights = _constant(tensor_w)
    channels = weights.shape[0]
    if len(op.inputs) > 2 and op.inputs[2] >= 0:
        bias = _constant(tensors[op.inputs[2]]).astype(np.int64)
    else:
        bias = np.zeros(channels, dtype=np.int64)
    options = op.builtinOptions
    return FullyConnectedParams(
        tensor_in.scale,
        tensor_in.zero_point,
        weights.astype(np.int64),
        np.resize(tensor_w.scales.astype(np.float32), channels),
        bias,
        tensor_out.scale,
        tensor_out.zero_point,
        int(options.fusedActivationFunction) if options is not None else 0,
    )


def _constant(tensor: Tensor) -> np.ndarray:
    if tensor.data is None:
        raise ValueError(f"tensor {tensor.name!r} has no constant data")
    return tensor.data
