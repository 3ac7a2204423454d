"""LiteRT interpreter backends (int8 and int16): reference kernels and default kernels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from host.backends.base import Backend
from host.errors import UserError
from host.quiet import library_noise_hidden
from host.tflite import read_model_bytes


class LiteRTBackend(Backend):
    """A .tflite model on the LiteRT interpreter, batched when the graph allows it."""

    def __init__(
        self,
        model: str | Path | bytes,
        precision: str,
        input_range: float = 1.0,
        reference: bool = True,
    ) -> None:
        content = model if isinstance(model, bytes) else read_model_bytes(model)
        self.reference = reference
        self.precision = precision
        self.input_range = float(input_range)
        runtime = "litert-ref" if reference else "litert"
        self.name = f"{runtime}-{precision}"
        self.kernels = "litert reference" if reference else "litert default"
        resolver = OpResolverType.BUILTIN_REF if reference else OpResolverType.AUTO
        try:
            with library_noise_hidden():  # LiteRT announces its XNNPACK delegate on stderr
                self._interpreter = Interpreter(
                    model_content=content, experimental_op_resolver_type=resolver, num_threads=1
                )
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise UserError(f"LiteRT cannot load the model: {error}") from error
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise UserError("only models with one input and one output are supported")
        self._input, self._output = inputs[0], outputs[0]
        self.input_scale, self.input_zero_point = self._input["quantization"]
        self.output_scale, self.output_zero_point = self._output["quantization"]
        self.input_dtype = np.dtype(self._input["dtype"])
        self.use_model_input_quantization(content)
        self.input_shape = tuple(int(d) for d in self._input["shape"][1:])
        self._base_batch = int(self._input["shape"][0])
        self._batch = self._base_batch
        self._batchable = True

    def _resize(self, batch: int) -> bool:
        """Resize the input to ``batch``; False (and back to the graph's batch) when it fails."""
        if batch == self._batch:
            return True
        index = self._input["index"]
        try:
            self._interpreter.resize_tensor_input(index, [batch, *self.input_shape])
            self._interpreter.allocate_tensors()
            shape = self._interpreter.get_tensor(self._output["index"]).shape
            if shape[0] != batch:
                raise ValueError(f"output batch {shape[0]} after resizing to {batch}")
        except (ValueError, RuntimeError):
            self._batchable = False
            self._interpreter.resize_tensor_input(index, [self._base_batch, *self.input_shape])
            self._interpreter.allocate_tensors()
            self._batch = self._base_batch
            return False
        self._batch = batch
        return True

    def _run(self, q: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self._input["index"], q)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"]).copy()

    def invoke(self, q: np.ndarray) -> np.ndarray:
        q = np.ascontiguousarray(q, dtype=self.input_dtype)
        if self._batchable and self._resize(len(q)):
            return self._run(q)
        self._resize(self._base_batch)
        step = self._base_batch
        return np.concatenate([self._run(q[i : i + step]) for i in range(0, len(q), step)])


def reference(path: Path, precision: str, input_range: float) -> LiteRTBackend:
    """LiteRT with its reference kernels (BUILTIN_REF)."""
    return LiteRTBackend(path, precision, input_range, reference=True)


def default(path: Path, precision: str, input_range: float) -> LiteRTBackend:
    """LiteRT with its default kernels (optimized builtins and the XNNPACK delegate)."""
    return LiteRTBackend(path, precision, input_range, reference=False)
