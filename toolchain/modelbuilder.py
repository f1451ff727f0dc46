"""Write int8 .tflite models from Python, through the flatbuffer object API of the schema shipped in the
tflite-micro wheel (no TensorFlow needed). Used by the tests (one-op models checked against TFLM), the bundled
example model and the benchmark model zoo.

    b = ModelBuilder()
    x = b.input("x", (1, 8, 8, 3), scale=0.02, zero_point=-3)
    w = b.const("w", np.int8 array, scale=per-channel scales, axis=0)   # int4=True: an INT4 tensor, packed
    y = b.activation("y", (1, 8, 8, 4), scale=0.05, zero_point=-128)
    s = b.variable("s", (1, 40), np.int16, scale=0.01)                  # a state tensor (SVDF, LSTM)
    b.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", padding=0, strideH=1, ...)
    b.output(y); path.write_bytes(b.build())
"""

from __future__ import annotations

import flatbuffers
import numpy as np
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

from .int4 import pack_int4

TYPE_CODES = {np.dtype(np.float32): tfl.TensorType.FLOAT32, np.dtype(np.int32): tfl.TensorType.INT32,
              np.dtype(np.uint8): tfl.TensorType.UINT8, np.dtype(np.int64): tfl.TensorType.INT64,
              np.dtype(np.int16): tfl.TensorType.INT16, np.dtype(np.int8): tfl.TensorType.INT8,
              np.dtype(np.bool_): tfl.TensorType.BOOL}


class ModelBuilder:
    def __init__(self, description: str = "built by edgec"):
        self.model = tfl.ModelT()
        self.model.version = 3
        self.model.description = description
        self.model.buffers = [tfl.BufferT()]  # buffer 0 is the empty sentinel by convention
        self.model.operatorCodes = []
        self.sg = tfl.SubGraphT()
        self.sg.tensors, self.sg.operators, self.sg.inputs, self.sg.outputs = [], [], [], []
        self.sg.name = "main"
        self.model.subgraphs = [self.sg]

    def _tensor(self, name: str, shape, dtype, scale=None, zero_point=None, axis: int = 0,
                data: np.ndarray | None = None, int4: bool = False, variable: bool = False) -> int:
        t = tfl.TensorT()
        t.isVariable = variable
        t.name = name
        t.shape = np.asarray(shape, dtype=np.int32)
        t.type = tfl.TensorType.INT4 if int4 else TYPE_CODES[np.dtype(dtype)]
        t.buffer = 0
        if data is not None:
            buf = tfl.BufferT()
            buf.data = (pack_int4(data) if int4 else
                        np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), dtype=np.uint8))
            self.model.buffers.append(buf)
            t.buffer = len(self.model.buffers) - 1
        if scale is not None:
            q = tfl.QuantizationParametersT()
            q.scale = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            zp = np.zeros(q.scale.size, dtype=np.int64) if zero_point is None else np.atleast_1d(zero_point)
            q.zeroPoint = np.asarray(zp, dtype=np.int64)
            q.quantizedDimension = axis
            t.quantization = q
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def input(self, name, shape, dtype=np.int8, scale=None, zero_point=None) -> int:
        idx = self._tensor(name, shape, dtype, scale, zero_point)
        self.sg.inputs.append(idx)
        return idx

    def activation(self, name, shape, dtype=np.int8, scale=None, zero_point=None) -> int:
        return self._tensor(name, shape, dtype, scale, zero_point)

    def variable(self, name, shape, dtype=np.int8, scale=None, zero_point=None) -> int:
        """A variable (state) tensor: an op's state kept between invocations (SVDF, LSTM), zero at reset."""
        return self._tensor(name, shape, dtype, scale, zero_point, variable=True)

    def const(self, name, data: np.ndarray, scale=None, zero_point=None, axis: int = 0, int4: bool = False) -> int:
        """A constant; `int4`: an INT4 tensor of the values of `data` (in [-8, 7]), packed two per byte."""
        return self._tensor(name, data.shape, data.dtype, scale, zero_point, axis, data=data, int4=int4)

    def output(self, idx: int) -> None:
        self.sg.outputs.append(idx)

    def op(self, opcode: str, inputs: list[int], outputs: list[int], options_type: str | None = None,
           **options) -> None:
        """Add a builtin op; `options_type` names the *Options table (e.g. "Conv2DOptions"), options its fields."""
        code = getattr(tfl.BuiltinOperator, opcode)
        codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in self.model.operatorCodes]
        if code not in codes:
            oc = tfl.OperatorCodeT()
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = 1
            self.model.operatorCodes.append(oc)
            codes.append(code)
        op = tfl.OperatorT()
        op.opcodeIndex = codes.index(code)
        op.inputs = np.asarray(inputs, dtype=np.int32)
        op.outputs = np.asarray(outputs, dtype=np.int32)
        if options_type is not None:
            opts = getattr(tfl, options_type + "T")()
            for k, v in options.items():
                if not hasattr(opts, k):
                    raise AttributeError(f"{options_type} has no field {k}")
                setattr(opts, k, v)
            op.builtinOptionsType = getattr(tfl.BuiltinOptions, options_type)
            op.builtinOptions = opts
        self.sg.operators.append(op)

    def build(self) -> bytes:
        b = flatbuffers.Builder(1024)
        b.Finish(self.model.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())
