"""The .tflite reader: the flatbuffer parsed through the schema bindings shipped in the tflite-micro wheel (no hand
parsing), its structure checked, and tensors read as IR tensors.

Both the field-by-field validation (tflite_checks.py) and the importer (tflite.py) read a model through `Reader`;
it imports neither of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..int4 import packed_size, unpack_int4
from ..ir import Quant, Tensor

try:
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl
except ImportError:  # pragma: no cover - the wheel is a dependency; this only guards a broken install
    tfl = None

TFLITE_DTYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 5: "string", 6: "bool",
                 7: "int16", 9: "int8", 10: "float64", 17: "int4"}


def plain(values) -> list:
    """Python numbers for a message (a numpy scalar's repr, np.int32(8), must never reach a user)."""
    return [v.item() if isinstance(v, np.generic) else v for v in (values if values is not None else [])]


def bias_quantization_quirk(shape: list[int], n_scale: int, axis: int) -> bool:
    """Some converter versions write a 1-D bias's per-channel quantization with the quantized_dimension of its
    weights (3 for a depthwise filter, 1 or 3 elsewhere), a dimension the bias lacks. TFLite Micro never reads a
    bias's quantized_dimension (the kernels rescale with input scale x weight scale), so such models run there;
    edgec accepts them the same way and reads the scales along the bias's only axis."""
    return len(shape) == 1 and shape[0] == n_scale and not 0 <= axis < len(shape)


class Reader:
    """A .tflite file parsed through the schema bindings, its structure checked (indices in range, quantization
    consistent with shapes, a dataflow order): what the validation (tflite_checks.py) and the importer read."""

    def __init__(self, path: Path, buf: bytes):
        self.path = path
        try:
            self.model = tfl.ModelT.InitFromPackedBuf(buf, 0)
        except Exception as e:  # flatbuffers raises a mix of struct/index/unicode errors on a damaged file
            raise InputError(f"{path}: malformed TFLite file, truncated or damaged ({e or type(e).__name__})") from None
        if not self.model.subgraphs:
            raise InputError(f"{path}: the model has no subgraph")
        self.sg = self.model.subgraphs[0]
        self.op_names = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
        self.names = self._unique_names()
        self._check_structure()

    def _check_structure(self) -> None:
        """A flatbuffer can parse and still point anywhere (a damaged or hand-made file; a negative index would
        even wrap around in Python): every index must be in range and quantization consistent with the shape."""

        def malformed(what: str) -> InputError:
            return InputError(f"{self.path}: malformed TFLite file: {what}")

        tensors, n_buffers = self.sg.tensors or [], len(self.model.buffers or [])
        for i, t in enumerate(tensors):
            if t.buffer != 0 and not 0 <= t.buffer < n_buffers:
                raise malformed(f"tensor {self.names[i]} refers to buffer {t.buffer} of {n_buffers}")
            q = t.quantization
            n_scale = len(q.scale) if q is not None and q.scale is not None else 0
            n_zp = len(q.zeroPoint) if q is not None and q.zeroPoint is not None else 0
            if n_scale and n_zp not in (0, 1, n_scale):
                raise malformed(f"tensor {self.names[i]} has {n_scale} scales but {n_zp} zero points")
            if q is not None and n_scale > 1:
                shape = plain(t.shape)
                if bias_quantization_quirk(shape, n_scale, q.quantizedDimension):
                    continue  # accepted as TFLite Micro does (bias_quantization_quirk)
                if not 0 <= q.quantizedDimension < len(shape) or shape[q.quantizedDimension] != n_scale:
                    raise malformed(f"tensor {self.names[i]} of shape {shape} has {n_scale} per-channel scales "
                                    f"along dimension {q.quantizedDimension}")

        def check_indices(indices, what: str, optional: bool = False) -> None:
            for i in indices if indices is not None else []:
                if not (-1 if optional else 0) <= i < len(tensors):
                    raise malformed(f"{what} refers to tensor {i} of {len(tensors)}")

        n_codes = len(self.model.operatorCodes or [])
        for k, op in enumerate(self.sg.operators or []):
            if not 0 <= op.opcodeIndex < n_codes:
                raise malformed(f"operator #{k} has operator code {op.opcodeIndex} of {n_codes}")
            check_indices(op.inputs, f"operator #{k}'s input", optional=True)
            check_indices(op.outputs, f"operator #{k}'s output")
        check_indices(self.sg.inputs, "a model input")
        check_indices(self.sg.outputs, "a model output")
        for what, indices in (("inputs", self.sg.inputs), ("outputs", self.sg.outputs)):
            if indices is None or len(indices) == 0:
                raise malformed(f"the model has no {what}")

        # dataflow: an operator reads model inputs, constants, variables and what an earlier operator wrote
        def has_data(t) -> bool:
            buf = self.model.buffers[t.buffer] if 0 <= t.buffer < n_buffers else None
            return buf is not None and ((buf.data is not None and len(buf.data) > 0) or bool(getattr(buf, "size", 0)))

        written = {int(i) for i in self.sg.inputs} | {i for i, t in enumerate(tensors) if t.isVariable or has_data(t)}
        for k, op in enumerate(self.sg.operators or []):
            if op.outputs is None or len(op.outputs) == 0:
                raise malformed(f"operator #{k} has no output")
            for i in op.inputs if op.inputs is not None else []:
                if i >= 0 and int(i) not in written:
                    raise malformed(f"operator #{k} reads tensor {self.names[i]} before any operator writes it")
            for i in op.outputs:
                if int(i) in written:
                    raise malformed(f"tensor {self.names[i]} is written twice (the second time by operator #{k})")
                written.add(int(i))
        for i in self.sg.outputs:
            if int(i) not in written:
                raise malformed(f"model output {self.names[i]} is never written")
            if has_data(tensors[i]) and int(i) not in self.sg.inputs:
                raise malformed(f"model output {self.names[i]} is a constant")

    def _unique_names(self) -> list[str]:
        seen: dict[str, int] = {}
        names = []
        for i, t in enumerate(self.sg.tensors or []):
            n = (t.name or b"").decode(errors="replace") or f"tensor_{i}"
            if n in seen:
                n = f"{n}#{i}"
            seen[n] = i
            names.append(n)
        return names

    def is_const(self, idx: int) -> bool:
        """Tensor `idx` holds data in the flatbuffer (buffer 0 is the schema's empty sentinel)."""
        t = self.sg.tensors[idx]
        buffers = self.model.buffers or []
        buf = buffers[t.buffer] if 0 < t.buffer < len(buffers) else None
        return buf is not None and buf.data is not None and len(buf.data) > 0

    def tensor_data(self, idx: int) -> np.ndarray | None:
        t = self.sg.tensors[idx]
        buf = self.model.buffers[t.buffer] if 0 <= t.buffer < len(self.model.buffers or []) else None
        if buf is None or buf.data is None or len(buf.data) == 0:
            if buf is not None and getattr(buf, "size", None):
                raise InputError(f"{self.path}: tensor {self.names[idx]} stores its data outside the flatbuffer "
                                 "(models over 2 GB), which edgec does not read")
            return None
        dtype = TFLITE_DTYPES.get(t.type)
        if dtype in (None, "string", "float16", "float64"):
            raise InputError(f"{self.path}: constant {self.names[idx]} has type {dtype or t.type}, not supported")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if dtype == "int4":  # packed two per byte (toolchain/int4.py): the IR holds the values, one per element
            if len(buf.data) != packed_size(expected):
                raise InputError(f"{self.path}: constant {self.names[idx]} holds {len(buf.data)} bytes, shape "
                                 f"{shape} needs {packed_size(expected)} (int4, two values per byte): malformed file")
            return unpack_int4(np.asarray(buf.data, dtype=np.uint8), expected).reshape(shape)
        if len(buf.data) % np.dtype(dtype).itemsize:
            raise InputError(f"{self.path}: constant {self.names[idx]} holds {len(buf.data)} bytes, not a whole "
                             f"number of {dtype} values: malformed file")
        raw = np.frombuffer(np.asarray(buf.data, dtype=np.uint8).tobytes(), dtype=np.dtype(dtype).newbyteorder("<"))
        if raw.size != expected:
            raise InputError(f"{self.path}: constant {self.names[idx]} holds {raw.size} values, shape {shape} "
                             f"needs {expected}: malformed file")
        return raw.astype(np.dtype(dtype)).reshape(shape)

    def tensor(self, idx: int, problems: list[str]) -> Tensor:
        t = self.sg.tensors[idx]
        name = self.names[idx]
        dtype = TFLITE_DTYPES.get(t.type, f"type{t.type}")
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        signature = [int(d) for d in t.shapeSignature] if t.shapeSignature is not None else list(shape)
        # A dynamic batch (-1 in the signature's first dim, 1 in the shape) is the converter's default: run batch 1.
        if any(d < 0 for d in shape) or any(d < 0 for d in signature[1:]):
            problems.append(f"tensor {name}: dynamic shape {signature}; edgec needs static shapes "
                            "(re-export the model with fixed input dimensions)")
        quant = None
        q = t.quantization
        if q is not None and q.scale is not None and len(q.scale) > 0:
            scale = np.asarray(q.scale, dtype=np.float32)
            zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else np.zeros_like(scale), dtype=np.int64)
            if zp.size == 0:  # an empty zero-point vector: zero, as when it is absent
                zp = np.zeros(scale.size, dtype=np.int64)
            if zp.size == 1 and scale.size > 1:
                zp = np.repeat(zp, scale.size)
            axis = int(q.quantizedDimension) if scale.size > 1 else None
            if axis is not None and bias_quantization_quirk(list(shape), scale.size, axis):
                axis = 0  # a 1-D bias whose quantized_dimension names its weights' axis
            quant = Quant(scale=scale, zero_point=zp, axis=axis)
        if t.isVariable:  # a state tensor: TFLM starts it at its zero point and ignores any data in the file
            return Tensor(name=name, shape=shape, dtype=dtype, quant=quant, state=True)
        return Tensor(name=name, shape=shape, dtype=dtype, quant=quant, data=self.tensor_data(idx))

    def op_code(self, op) -> str:
        oc = self.model.operatorCodes[op.opcodeIndex]
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        if code == tfl.BuiltinOperator.CUSTOM:
            return f"CUSTOM:{(oc.customCode or b'').decode(errors='replace')}"
        return self.op_names.get(code, f"BUILTIN_{code}")
