"""Mutants of .tflite and .onnx models: raw byte edits and schema-aware field edits.

A mutant is a pure function of (seed model bytes, mutant seed): every choice is drawn from
`random.Random(mutant_seed)`, so a finding is reproduced from the seed model's name and the mutant seed alone
(`python bench/fuzz.py --reproduce SEED MUTANT_SEED`).

Families (the first word of a mutation's name):
- `raw`: format-blind byte edits: bit flips, bytes set to 0/0xff/0x7f/0x80, truncation, a chunk duplicated or
  deleted, a 4-byte little-endian word that looks like a flatbuffer offset or vector length set to an edge value.
- `tflite`: decode with the TFLite flatbuffer object API (the schema bindings the importer uses), edit one field
  (tensor shape/rank, dtype, buffer index, quantization scale/zero point/dimension, opcode index, builtin code,
  operator inputs/outputs, builtin options, buffer data length, names, is_variable, subgraph inputs/outputs) and
  re-serialize.
- `onnx`: parse with the onnx package, edit one field (attributes, value_info dims and dtypes, initializer
  data/dims/dtype, node inputs/outputs, op_type/domain, opset, names, nodes dropped or duplicated) and re-serialize.
Mostly one edit per mutant, sometimes two or three stacked, so a single bad field is what is usually tested.
"""

from __future__ import annotations

import contextlib
import math
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

# ---- edge values -----------------------------------------------------------------------------------------------

INTERESTING_BYTES = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE]
INTERESTING_U32 = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]
INT32_EDGES = [-(2**31), -2, -1, 0, 1, 2, 3, 4, 7, 8, 127, 128, 255, 256, 32767, 65535, 65536, 2**31 - 1]
INT64_EDGES = INT32_EDGES + [2**31, 2**32, -(2**63), 2**63 - 1]
FLOAT_EDGES = [0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e-30, 1e-45, 1e38, 3.4028235e38, 0.5, 2.0, 1e-8]
SCALES = [0.0, -1.0, -0.5, math.nan, math.inf, -math.inf, 1e-30, 1e-45, 1e38, 3.4028235e38, 1e-12, 1e12]
ZERO_POINTS = [-(2**31), -1000, -129, -128, -1, 0, 1, 127, 128, 255, 256, 1000, 2**31 - 1, 2**31, 2**63 - 1]
DIMS = [-1, 0, 1, 2, 3, 7, 1000, 65536, 1 << 20, 2**31 - 1]
HOSTILE_NAMES = ["", "w */ int edgec_injected_global = 42; /*", "x\n#error injected\n", 'a"b', "a\\b", "a\\",
                 "%s%n%x", "..", "../../etc/passwd", "名前", "a" * 10_000, "x y", "-", "0", "NaN"]
TFLITE_DTYPES = list(range(0, 18)) + [-1, 99, 127]  # the schema's TensorType values, and outside them
ONNX_DTYPES = list(range(0, 22)) + [-1, 99]
ONNX_OPS = ["Conv", "Relu", "Add", "Mul", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul",
            "Softmax", "Reshape", "Flatten", "Clip", "Sigmoid", "Concat", "Transpose", "BatchNormalization",
            "QuantizeLinear", "DequantizeLinear", "Identity", "Pad", "Resize", "ConvTranspose", "LeakyRelu",
            "HardSwish", "Tanh", "ReduceMean", "Squeeze", "Unsqueeze", "FooBar", ""]
ONNX_DOMAINS = ["", "ai.onnx", "com.microsoft", "ai.onnx.ml", "bogus.domain"]
ONNX_ATTRIBUTES = ["pads", "strides", "dilations", "group", "kernel_shape", "auto_pad", "axis", "axes", "ceil_mode",
                   "transA", "transB", "alpha", "beta", "perm", "mode", "keepdims", "min", "max", "epsilon"]


@dataclass
class Mutant:
    data: bytes
    family: str  # raw, tflite or onnx: which mutator family made it
    steps: list[str] = field(default_factory=list)  # each edit, e.g. "tflite.quant_scale: tensor 3 scale[0] = nan"

    @property
    def mutator(self) -> str:
        """The first edit's mutator (e.g. tflite.quant_scale): what the per-mutator counts count."""
        return self.steps[0].split(":")[0] if self.steps else self.family


class Retry(Exception):
    """This draw cannot apply to this model (e.g. no operator has options): draw another edit."""


def _edit_count(rng: random.Random) -> int:
    r = rng.random()
    return 1 if r < 0.8 else 2 if r < 0.95 else 3


# ---- raw byte edits ------------------------------------------------------------------------------------------


def raw_bit_flip(buf: bytearray, rng: random.Random) -> str:
    flips = [rng.randrange(len(buf) * 8) for _ in range(rng.choice([1, 1, 2, 4, 8]))]
    for bit in flips:
        buf[bit // 8] ^= 1 << (bit % 8)
    return f"bits {flips[:4]}{'...' if len(flips) > 4 else ''} flipped"


def raw_byte_set(buf: bytearray, rng: random.Random) -> str:
    where = []
    for _ in range(rng.choice([1, 1, 2, 4])):
        k, v = rng.randrange(len(buf)), rng.choice(INTERESTING_BYTES)
        buf[k] = v
        where.append(f"{k}=0x{v:02x}")
    return "bytes " + ", ".join(where)


def raw_truncate(buf: bytearray, rng: random.Random) -> str:
    n = len(buf)
    keep = rng.choice([0, 1, 4, 8, 16, rng.randrange(n), n - rng.randrange(1, min(n, 64) + 1), n // 2])
    keep = max(0, min(keep, n - 1))
    del buf[keep:]
    return f"truncated to {keep} of {n} bytes"


def raw_chunk_duplicate(buf: bytearray, rng: random.Random) -> str:
    start = rng.randrange(len(buf))
    size = min(rng.choice([1, 4, 8, 16, 64, 256, 4096]), len(buf) - start)
    at = rng.randrange(len(buf) + 1)
    buf[at:at] = buf[start:start + size]
    return f"{size} bytes at {start} duplicated at {at}"


def raw_chunk_delete(buf: bytearray, rng: random.Random) -> str:
    start = rng.randrange(len(buf))
    size = min(rng.choice([1, 4, 8, 16, 64, 256, 4096]), len(buf) - start)
    del buf[start:start + size]
    return f"{size} bytes at {start} deleted"


def raw_length_field(buf: bytearray, rng: random.Random) -> str:
    """Flatbuffers and protobuf hold offsets and lengths as small integers: find an aligned 32-bit word below the
    file size (an offset or a vector length, likely) and move it to an edge or off by a little."""
    words = [k for k in range(0, len(buf) - 3, 4) if struct.unpack_from("<I", buf, k)[0] < len(buf)]
    if not words:
        raise Retry
    k = rng.choice(words)
    old = struct.unpack_from("<I", buf, k)[0]
    new = rng.choice([rng.choice(INTERESTING_U32), old + rng.choice([-4, -1, 1, 4]), old * 2, len(buf),
                      len(buf) + 1, old + 0x10000]) & 0xFFFFFFFF
    struct.pack_into("<I", buf, k, new)
    return f"u32 at {k}: {old} -> {new}"


RAW: dict[str, Callable[[bytearray, random.Random], str]] = {
    "raw.bit_flip": raw_bit_flip, "raw.byte_set": raw_byte_set, "raw.truncate": raw_truncate,
    "raw.chunk_duplicate": raw_chunk_duplicate, "raw.chunk_delete": raw_chunk_delete,
    "raw.length_field": raw_length_field,
}


def mutate_raw(data: bytes, rng: random.Random) -> Mutant:
    buf = bytearray(data)
    steps: list[str] = []
    edits = _edit_count(rng)
    for _draw in range(40):
        if buf and (len(steps) < edits or bytes(buf) == data):  # more edits when one set a byte to its own value
            name = rng.choice(sorted(RAW))
            with contextlib.suppress(Retry):
                steps.append(f"{name}: {RAW[name](buf, rng)}")
    return Mutant(bytes(buf), "raw", steps)


# ---- TFLite schema-aware edits --------------------------------------------------------------------------------


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    return tfl


def _pick(rng: random.Random, items):
    if items is None or len(items) == 0:
        raise Retry
    k = rng.randrange(len(items))
    return k, items[k]


def _index_edge(rng: random.Random, n: int, unsigned: bool = False, old: int | None = None) -> int:
    """An index edge: -1, the count, far beyond, or another valid index (for a uint32 field: no negatives)."""
    choices = [n, n + 1, 2**31 - 1, rng.randrange(max(n, 1))] + ([2**32 - 1] if unsigned else [-1, -2, -(2**31)])
    new = rng.choice(choices)
    return new if new != old else n


def _graph(model):
    """The main subgraph (edgec compiles one)."""
    if not model.subgraphs:
        raise Retry
    return model.subgraphs[0]


def tfl_tensor_shape(model, rng: random.Random) -> str:
    sg = _graph(model)
    k, t = _pick(rng, sg.tensors)
    shape = [int(d) for d in (t.shape if t.shape is not None else [])]
    how = rng.choice(["dim", "dim", "drop", "add", "empty", "none", "signature"])
    if how == "dim" and shape:
        d = rng.randrange(len(shape))
        shape[d] = rng.choice(DIMS + [shape[d] + 1, max(shape[d] - 1, 0), shape[d] * 2])
    elif how == "drop" and shape:
        shape.pop(rng.randrange(len(shape)))
    elif how == "add":
        shape.insert(rng.randrange(len(shape) + 1), rng.choice([1, 1, 2, 3]))
    elif how == "empty":
        shape = []
    elif how == "signature":
        t.shapeSignature = [-1] + shape[1:]
        return f"tensor {k} shape_signature = {t.shapeSignature}"
    else:
        t.shape = None
        return f"tensor {k} shape removed"
    t.shape = shape
    return f"tensor {k} shape = {shape}"


def tfl_tensor_dtype(model, rng: random.Random) -> str:
    k, t = _pick(rng, _graph(model).tensors)
    t.type = rng.choice(TFLITE_DTYPES)
    return f"tensor {k} type = {t.type}"


def tfl_tensor_buffer(model, rng: random.Random) -> str:
    k, t = _pick(rng, _graph(model).tensors)
    t.buffer = _index_edge(rng, len(model.buffers or []), unsigned=True, old=t.buffer) if t.buffer == 0 or \
        rng.random() < 0.7 else 0
    return f"tensor {k} buffer = {t.buffer}"


def _quantized_tensor(model, rng: random.Random):
    tensors = [(k, t) for k, t in enumerate(_graph(model).tensors or []) if t.quantization is not None
               and t.quantization.scale is not None and len(t.quantization.scale)]
    if not tensors:
        raise Retry
    return rng.choice(tensors)


def tfl_quant_scale(model, rng: random.Random) -> str:
    k, t = _quantized_tensor(model, rng)
    scale = [float(s) for s in t.quantization.scale]
    how = rng.choice(["one", "one", "all", "empty", "extra"])
    v = rng.choice(SCALES)
    if how == "one":
        scale[rng.randrange(len(scale))] = v
    elif how == "all":
        scale = [v] * len(scale)
    elif how == "empty":
        scale = []
    else:
        scale = scale + [v]
    t.quantization.scale = scale
    return f"tensor {k} scale ({how}) {v}: {len(scale)} values"


def tfl_quant_zero_point(model, rng: random.Random) -> str:
    k, t = _quantized_tensor(model, rng)
    zp = [int(z) for z in (t.quantization.zeroPoint if t.quantization.zeroPoint is not None else [])] or [0]
    v = rng.choice(ZERO_POINTS)
    how = rng.choice(["one", "one", "all", "empty", "extra"])
    if how == "one":
        zp[rng.randrange(len(zp))] = v
    elif how == "all":
        zp = [v] * len(zp)
    elif how == "empty":
        zp = []
    else:
        zp = zp + [v]
    t.quantization.zeroPoint = zp
    return f"tensor {k} zero_point ({how}) {v}: {len(zp)} values"


def tfl_quant_dimension(model, rng: random.Random) -> str:
    k, t = _quantized_tensor(model, rng)
    how = rng.choice(["dim", "dim", "remove", "min_max"])
    if how == "remove":
        t.quantization = None
        return f"tensor {k} quantization removed"
    if how == "min_max":
        t.quantization.min, t.quantization.max = [rng.choice(FLOAT_EDGES)], [rng.choice(FLOAT_EDGES)]
        return f"tensor {k} min/max = {t.quantization.min}/{t.quantization.max}"
    t.quantization.quantizedDimension = rng.choice([-1, 1, 2, 3, 4, 5, 127, 2**31 - 1])
    return f"tensor {k} quantized_dimension = {t.quantization.quantizedDimension}"


def tfl_opcode_index(model, rng: random.Random) -> str:
    k, op = _pick(rng, _graph(model).operators)
    op.opcodeIndex = _index_edge(rng, len(model.operatorCodes or []), unsigned=True, old=op.opcodeIndex)
    return f"operator {k} opcode_index = {op.opcodeIndex}"


def tfl_builtin_code(model, rng: random.Random) -> str:
    k, code = _pick(rng, model.operatorCodes)
    how = rng.choice(["code", "code", "version", "custom"])
    if how == "version":
        code.version = rng.choice([0, -1, 2, 3, 99, 2**31 - 1])
        return f"operator code {k} version = {code.version}"
    if how == "custom":
        code.builtinCode, code.deprecatedBuiltinCode, code.customCode = 32, 32, rng.choice(HOSTILE_NAMES[:6])
        return f"operator code {k} CUSTOM {code.customCode!r}"
    new = rng.choice(list(range(0, 210)) + [-1, 2**31 - 1])
    code.builtinCode = new
    code.deprecatedBuiltinCode = new if 0 <= new < 127 else 127
    return f"operator code {k} builtin_code = {new}"


def _edit_indices(values, rng: random.Random, n_tensors: int) -> tuple[list[int], str]:
    vals = [int(v) for v in (values if values is not None else [])]
    how = rng.choice(["set", "set", "set", "swap", "drop", "append", "empty", "duplicate"])
    if how == "set" and vals:
        i = rng.randrange(len(vals))
        vals[i] = _index_edge(rng, n_tensors, old=vals[i])
    elif how == "swap" and len(vals) > 1:
        i, j = rng.sample(range(len(vals)), 2)
        vals[i], vals[j] = vals[j], vals[i]
    elif how == "drop" and vals:
        vals.pop(rng.randrange(len(vals)))
    elif how == "duplicate" and vals:
        vals.append(vals[rng.randrange(len(vals))])
    elif how == "empty":
        vals = []
    else:
        how = "append"
        vals.append(_index_edge(rng, n_tensors))
    return vals, how


def tfl_op_inputs(model, rng: random.Random) -> str:
    sg = _graph(model)
    k, op = _pick(rng, sg.operators)
    op.inputs, how = _edit_indices(op.inputs, rng, len(sg.tensors or []))
    return f"operator {k} inputs ({how}) = {op.inputs}"


def tfl_op_outputs(model, rng: random.Random) -> str:
    sg = _graph(model)
    k, op = _pick(rng, sg.operators)
    op.outputs, how = _edit_indices(op.outputs, rng, len(sg.tensors or []))
    return f"operator {k} outputs ({how}) = {op.outputs}"


def tfl_subgraph_io(model, rng: random.Random) -> str:
    sg = _graph(model)
    which = rng.choice(["inputs", "outputs"])
    vals, how = _edit_indices(getattr(sg, which), rng, len(sg.tensors or []))
    if how == "append" and rng.random() < 0.5:  # a constant or an intermediate tensor as a graph input/output
        vals[-1] = rng.randrange(len(sg.tensors or [1]))
    setattr(sg, which, vals)
    return f"subgraph {which} ({how}) = {vals}"


# the fields of the builtin options edgec reads, and their edge values (the flatbuffer type decides the range)
OPTION_VALUES: dict[str, list] = {
    "padding": [0, 1, 2, 3, -1, 127],
    "fusedActivationFunction": [0, 1, 2, 3, 4, 5, 6, -1, 127],
    "strideW": INT32_EDGES, "strideH": INT32_EDGES,
    "dilationWFactor": INT32_EDGES, "dilationHFactor": INT32_EDGES,
    "filterWidth": INT32_EDGES, "filterHeight": INT32_EDGES,
    "depthMultiplier": INT32_EDGES,
    "beta": FLOAT_EDGES, "alpha": FLOAT_EDGES,
    "axis": INT32_EDGES, "keepDims": [True, False], "keepNumDims": [True, False],
    "weightsFormat": [0, 1, 2, -1], "asymmetricQuantizeInputs": [True, False],
    "newShape": [[-1], [0], [1, -1], [2**31 - 1], []],
    "alignCorners": [True, False], "halfPixelCenters": [True, False],
    "quantizedBiasType": [0, 2, 4, 9, 7, -1],
}


def tfl_builtin_options(model, rng: random.Random) -> str:
    ops = [(k, op) for k, op in enumerate(_graph(model).operators or [])]
    k, op = rng.choice(ops) if ops else (None, None)
    if op is None:
        raise Retry
    if op.builtinOptions is None:
        raise Retry
    if rng.random() < 0.1:
        op.builtinOptionsType, op.builtinOptions = 0, None
        return f"operator {k} builtin options removed"
    fields = [f for f in vars(op.builtinOptions) if not f.startswith("_")]
    if not fields:
        raise Retry
    name = rng.choice(fields)
    old = getattr(op.builtinOptions, name)
    if name in OPTION_VALUES:
        new = rng.choice(OPTION_VALUES[name])
    elif isinstance(old, bool):
        new = not old
    elif isinstance(old, float):
        new = rng.choice(FLOAT_EDGES)
    elif isinstance(old, int):
        new = rng.choice(INT32_EDGES)
    else:
        raise Retry
    setattr(op.builtinOptions, name, new)
    return f"operator {k} {type(op.builtinOptions).__name__}.{name}: {old!r} -> {new!r}"


def tfl_buffer_data(model, rng: random.Random) -> str:
    sg = _graph(model)
    const = [(k, t) for k, t in enumerate(sg.tensors or []) if 0 < t.buffer < len(model.buffers or [])
             and model.buffers[t.buffer].data is not None]
    k, t = rng.choice(const) if const else _pick(rng, sg.tensors)
    buf = model.buffers[t.buffer] if 0 <= t.buffer < len(model.buffers or []) else None
    if buf is None:
        raise Retry
    data = np.asarray(buf.data if buf.data is not None else [], dtype=np.uint8)
    how = rng.choice(["truncate", "truncate", "extend", "empty", "one", "fill"])
    if how == "truncate" and len(data):
        data = data[:rng.randrange(len(data))]
    elif how == "extend":
        data = np.concatenate([data, np.zeros(rng.choice([1, 3, 4, 64, 4096]), np.uint8)])
    elif how == "empty":
        data = None
    elif how == "fill" and len(data):
        data = np.full(len(data), rng.choice(INTERESTING_BYTES), np.uint8)
    else:
        how = "one"
        if not len(data):
            data = np.zeros(4, np.uint8)
        data = data.copy()
        data[rng.randrange(len(data))] = rng.choice(INTERESTING_BYTES)
    buf.data = data
    return f"tensor {k} buffer {t.buffer} data ({how}): {0 if data is None else len(data)} bytes"


def tfl_constant_to_activation_input(model, rng: random.Random) -> str:
    """An activation tensor given data (a constant where edgec expects a computed value), or the reverse."""
    sg = _graph(model)
    k, t = _pick(rng, sg.tensors)
    if t.buffer and rng.random() < 0.5:
        t.buffer = 0
        return f"tensor {k} loses its data (buffer 0)"
    if model.buffers is None:
        raise Retry
    nbytes = int(np.prod([max(int(d), 0) for d in (t.shape if t.shape is not None else [])] or [1])) * 4
    model.buffers.append(_schema().BufferT())
    model.buffers[-1].data = np.zeros(min(nbytes, 1 << 20), np.uint8)
    t.buffer = len(model.buffers) - 1
    return f"tensor {k} given {len(model.buffers[-1].data)} bytes of data"


def tfl_names(model, rng: random.Random) -> str:
    sg = _graph(model)
    k, t = _pick(rng, sg.tensors)
    if rng.random() < 0.2:
        _, other = _pick(rng, sg.tensors)
        t.name = other.name
        return f"tensor {k} name duplicated from another tensor"
    if rng.random() < 0.1:
        t.name = bytes([0xFF, 0xFE, 0x80]) + b"x"
        return f"tensor {k} name = non-UTF-8 bytes"
    if rng.random() < 0.1:
        sg.name = rng.choice(HOSTILE_NAMES)
        return f"subgraph name = {sg.name[:40]!r}"
    t.name = rng.choice(HOSTILE_NAMES)
    return f"tensor {k} name = {t.name[:40]!r}"


def tfl_is_variable(model, rng: random.Random) -> str:
    k, t = _pick(rng, _graph(model).tensors)
    t.isVariable = not t.isVariable
    return f"tensor {k} is_variable = {t.isVariable}"


def tfl_structure(model, rng: random.Random) -> str:
    """Whole-model edits: no subgraph, a second copy of the subgraph, an operator dropped or duplicated."""
    sg = _graph(model)
    how = rng.choice(["drop_op", "drop_op", "dup_op", "no_subgraph", "two_subgraphs", "no_buffers", "version"])
    if how == "drop_op" and sg.operators:
        k = rng.randrange(len(sg.operators))
        sg.operators.pop(k)
        return f"operator {k} dropped"
    if how == "dup_op" and sg.operators:
        k = rng.randrange(len(sg.operators))
        sg.operators.insert(k, sg.operators[k])
        return f"operator {k} duplicated"
    if how == "no_subgraph":
        model.subgraphs = []
        return "no subgraph"
    if how == "two_subgraphs":
        model.subgraphs.append(sg)
        return "subgraph duplicated"
    if how == "no_buffers":
        model.buffers = []
        return "no buffers"
    model.version = rng.choice([0, 2, 4, 2**31 - 1])
    return f"model version = {model.version}"


TFLITE: dict[str, Callable] = {
    "tflite.tensor_shape": tfl_tensor_shape, "tflite.tensor_dtype": tfl_tensor_dtype,
    "tflite.tensor_buffer": tfl_tensor_buffer, "tflite.quant_scale": tfl_quant_scale,
    "tflite.quant_zero_point": tfl_quant_zero_point, "tflite.quant_dimension": tfl_quant_dimension,
    "tflite.opcode_index": tfl_opcode_index, "tflite.builtin_code": tfl_builtin_code,
    "tflite.op_inputs": tfl_op_inputs, "tflite.op_outputs": tfl_op_outputs,
    "tflite.subgraph_io": tfl_subgraph_io, "tflite.builtin_options": tfl_builtin_options,
    "tflite.buffer_data": tfl_buffer_data, "tflite.const_data": tfl_constant_to_activation_input,
    "tflite.names": tfl_names, "tflite.is_variable": tfl_is_variable, "tflite.structure": tfl_structure,
}
# the fields the .tflite checks guard (docs/cli.md) get drawn more often than whole-model edits
TFLITE_WEIGHTS = {"tflite.tensor_shape": 3, "tflite.quant_scale": 3, "tflite.quant_zero_point": 3,
                  "tflite.builtin_options": 4, "tflite.op_inputs": 2, "tflite.buffer_data": 2}


def _pack_tflite(model) -> bytes:
    import flatbuffers

    b = flatbuffers.Builder(1 << 16)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _weighted_choice(rng: random.Random, names: list[str], weights: dict[str, int]) -> str:
    return rng.choices(names, weights=[weights.get(n, 1) for n in names])[0]


def mutate_tflite(data: bytes, rng: random.Random) -> Mutant:
    tfl = _schema()
    names = sorted(TFLITE)
    for _attempt in range(30):
        model = tfl.ModelT.InitFromPackedBuf(data, 0)
        steps = []
        try:
            for _ in range(_edit_count(rng)):
                name = _weighted_choice(rng, names, TFLITE_WEIGHTS)
                steps.append(f"{name}: {TFLITE[name](model, rng)}")
            packed = _pack_tflite(model)
            if packed != data:  # an edit that wrote the value already there: draw again
                return Mutant(packed, "tflite", steps)
        except (Retry, struct.error, OverflowError, TypeError, ValueError, AttributeError, IndexError):
            continue  # an edit this model has no place for, or a value its flatbuffer field cannot hold
    return mutate_raw(data, rng)


# ---- ONNX schema-aware edits ----------------------------------------------------------------------------------


def _int_edge(rng: random.Random, old: int | None = None) -> int:
    near = [] if old is None else [old + 1, old - 1, -old, old * 2]
    return rng.choice(INT64_EDGES + near)


def onnx_attribute(m, rng: random.Random) -> str:
    from onnx import AttributeProto, helper

    nodes = list(m.graph.node)
    k, node = _pick(rng, nodes)
    how = rng.random()
    if how < 0.15 or not node.attribute:
        name = rng.choice(ONNX_ATTRIBUTES)
        value = rng.choice([_int_edge(rng), [_int_edge(rng)] * rng.choice([1, 2, 4]), rng.choice(FLOAT_EDGES),
                            rng.choice(["NOTSET", "SAME_UPPER", "VALID", "bogus", ""])])
        for a in list(node.attribute):
            if a.name == name:
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(name, value))
        return f"node {k} ({node.op_type}) attribute {name} = {str(value)[:60]}"
    i, attr = _pick(rng, node.attribute)
    if how < 0.25:
        node.attribute.remove(attr)
        return f"node {k} ({node.op_type}) attribute {attr.name} removed"
    if attr.type == AttributeProto.INT:
        attr.i = _int_edge(rng, attr.i)
        return f"node {k} ({node.op_type}) {attr.name} = {attr.i}"
    if attr.type == AttributeProto.FLOAT:
        attr.f = rng.choice(FLOAT_EDGES)
        return f"node {k} ({node.op_type}) {attr.name} = {attr.f}"
    if attr.type == AttributeProto.INTS:
        vals = list(attr.ints)
        what = rng.choice(["set", "set", "drop", "append", "empty"])
        if what == "set" and vals:
            j = rng.randrange(len(vals))
            vals[j] = _int_edge(rng, vals[j])
        elif what == "drop" and vals:
            vals.pop(rng.randrange(len(vals)))
        elif what == "empty":
            vals = []
        else:
            vals.append(_int_edge(rng))
        del attr.ints[:]
        attr.ints.extend(vals)
        return f"node {k} ({node.op_type}) {attr.name} = {vals}"
    if attr.type == AttributeProto.FLOATS:
        vals = list(attr.floats) or [0.0]
        vals[rng.randrange(len(vals))] = rng.choice(FLOAT_EDGES)
        del attr.floats[:]
        attr.floats.extend(vals)
        return f"node {k} ({node.op_type}) {attr.name} = {vals}"
    if attr.type == AttributeProto.STRING:
        attr.s = rng.choice(["", "SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET", "bogus", "x" * 1000]).encode()
        return f"node {k} ({node.op_type}) {attr.name} = {attr.s[:40]!r}"
    if attr.type == AttributeProto.TENSOR:
        _edit_tensor_proto(attr.t, rng)
        return f"node {k} ({node.op_type}) tensor attribute {attr.name} edited"
    attr.type = rng.choice([AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING])
    return f"node {k} ({node.op_type}) {attr.name} type changed to {attr.type}"


def _edit_tensor_proto(t, rng: random.Random) -> str:
    from onnx import TensorProto, numpy_helper

    how = rng.choice(["dims", "dims", "dtype", "raw_flip", "raw_truncate", "values", "values", "drop_data"])
    if how == "dims":
        dims = list(t.dims)
        what = rng.choice(["set", "drop", "add"])
        if what == "set" and dims:
            j = rng.randrange(len(dims))
            dims[j] = rng.choice(DIMS + [dims[j] + 1, max(dims[j] - 1, 0)])
        elif what == "drop" and dims:
            dims.pop(rng.randrange(len(dims)))
        else:
            dims.insert(rng.randrange(len(dims) + 1), rng.choice([1, 2]))
        del t.dims[:]
        t.dims.extend(dims)
        return f"dims = {dims}"
    if how == "dtype":
        t.data_type = rng.choice(ONNX_DTYPES)
        return f"data_type = {t.data_type}"
    if how in ("raw_flip", "raw_truncate") and t.raw_data:
        raw = bytearray(t.raw_data)
        if how == "raw_flip":
            raw_byte_set(raw, rng)
        else:
            del raw[rng.randrange(len(raw)):]
        t.raw_data = bytes(raw)
        return f"raw_data {how}: {len(raw)} bytes"
    if how == "values" and t.data_type == TensorProto.FLOAT:
        a = numpy_helper.to_array(t).copy()
        if a.size:
            flat = a.reshape(-1)
            v = rng.choice(FLOAT_EDGES)
            if rng.random() < 0.3:
                flat[:] = v
            else:
                flat[rng.randrange(flat.size)] = v
            t.CopyFrom(numpy_helper.from_array(a, t.name))
            return f"float values include {v}"
    t.ClearField("raw_data")
    del t.float_data[:]
    del t.int64_data[:]
    del t.int32_data[:]
    return "data removed"


def onnx_initializer(m, rng: random.Random) -> str:
    g = m.graph
    k, t = _pick(rng, g.initializer)
    if rng.random() < 0.08:
        g.initializer.remove(t)
        return f"initializer {t.name} removed"
    return f"initializer {t.name}: {_edit_tensor_proto(t, rng)}"


def _value_infos(m):
    return list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info)


def onnx_value_info(m, rng: random.Random) -> str:
    infos = [v for v in _value_infos(m) if v.type.HasField("tensor_type")]
    _, v = _pick(rng, infos)
    tt = v.type.tensor_type
    how = rng.choice(["dim", "dim", "param", "drop", "add", "elem_type", "no_shape"])
    dims = tt.shape.dim
    if how == "elem_type":
        tt.elem_type = rng.choice(ONNX_DTYPES)
        return f"value {v.name} elem_type = {tt.elem_type}"
    if how == "no_shape":
        tt.ClearField("shape")
        return f"value {v.name} shape removed"
    if how == "add" or not len(dims):
        dims.add().dim_value = rng.choice([1, 2, 3])
        return f"value {v.name} rank + 1"
    j = rng.randrange(len(dims))
    if how == "drop":
        del dims[j]
        return f"value {v.name} dim {j} dropped"
    if how == "param":
        dims[j].dim_param = rng.choice(["N", "batch", "", "?"])
        return f"value {v.name} dim {j} = {dims[j].dim_param!r}"
    dims[j].dim_value = rng.choice(DIMS + [dims[j].dim_value + 1, max(dims[j].dim_value - 1, 0)])
    return f"value {v.name} dim {j} = {dims[j].dim_value}"


def _tensor_names(m) -> list[str]:
    names = {v.name for v in _value_infos(m)} | {t.name for t in m.graph.initializer}
    for n in m.graph.node:
        names.update(n.input)
        names.update(n.output)
    return sorted(x for x in names if x)


def onnx_node_io(m, rng: random.Random) -> str:
    k, node = _pick(rng, list(m.graph.node))
    field_name = rng.choice(["input", "input", "input", "output"])
    vals = list(getattr(node, field_name))
    names = _tensor_names(m)
    how = rng.choice(["set", "set", "swap", "drop", "append", "empty", "missing"])
    if how == "set" and vals:
        vals[rng.randrange(len(vals))] = rng.choice(names)  # may create a cycle or a second producer
    elif how == "missing" and vals:
        vals[rng.randrange(len(vals))] = rng.choice(["", "no_such_tensor"])
    elif how == "swap" and len(vals) > 1:
        i, j = rng.sample(range(len(vals)), 2)
        vals[i], vals[j] = vals[j], vals[i]
    elif how == "drop" and vals:
        vals.pop(rng.randrange(len(vals)))
    elif how == "empty":
        vals = []
    else:
        how = "append"
        vals.append(rng.choice(names + [""]))
    del getattr(node, field_name)[:]
    getattr(node, field_name).extend(vals)
    return f"node {k} ({node.op_type}) {field_name}s ({how}) = {vals}"


def onnx_graph_io(m, rng: random.Random) -> str:
    """Graph inputs/outputs: one dropped, renamed to a missing or another tensor, an initializer listed as input."""
    g = m.graph
    which = rng.choice(["input", "output"])
    vals = getattr(g, which)
    how = rng.choice(["drop", "rename", "rename", "dup"])
    if how == "drop" and len(vals):
        v = vals[rng.randrange(len(vals))]
        vals.remove(v)
        return f"graph {which} {v.name} removed"
    _, v = _pick(rng, vals)
    if how == "dup":
        vals.add().CopyFrom(v)
        return f"graph {which} {v.name} listed twice"
    old = v.name
    v.name = rng.choice(_tensor_names(m) + ["no_such_tensor", ""])
    return f"graph {which} {old} renamed {v.name}"


def onnx_op_type(m, rng: random.Random) -> str:
    k, node = _pick(rng, list(m.graph.node))
    if rng.random() < 0.25:
        node.domain = rng.choice(ONNX_DOMAINS)
        return f"node {k} ({node.op_type}) domain = {node.domain!r}"
    old = node.op_type
    node.op_type = rng.choice(ONNX_OPS)
    return f"node {k} op_type {old} -> {node.op_type!r}"


def onnx_opset(m, rng: random.Random) -> str:
    how = rng.choice(["version", "version", "remove", "add_domain", "ir_version"])
    if how == "ir_version":
        m.ir_version = rng.choice([0, 1, 3, 7, 10, 11, 99])
        return f"ir_version = {m.ir_version}"
    if how == "remove" and len(m.opset_import):
        del m.opset_import[:]
        return "opset_import removed"
    if how == "add_domain":
        op = m.opset_import.add()
        op.domain, op.version = rng.choice(ONNX_DOMAINS[2:]), rng.choice([1, 99])
        return f"opset {op.domain} {op.version} added"
    _, op = _pick(rng, m.opset_import)
    op.version = rng.choice([-1, 0, 1, 6, 7, 9, 10, 11, 12, 13, 18, 19, 21, 22, 99, 2**31])
    return f"opset {op.domain or 'ai.onnx'} version = {op.version}"


def onnx_names(m, rng: random.Random) -> str:
    g = m.graph
    how = rng.choice(["node", "tensor", "tensor", "graph"])
    new = rng.choice(HOSTILE_NAMES)
    if how == "node":
        k, node = _pick(rng, list(g.node))
        node.name = new
        return f"node {k} name = {new[:40]!r}"
    if how == "graph":
        g.name = new
        return f"graph name = {new[:40]!r}"
    old = rng.choice(_tensor_names(m))
    consistent = rng.random() < 0.7  # renamed everywhere (a valid model with a hostile name) or in one place only
    places = 0
    for n in g.node:
        for lst in (n.input, n.output):
            for j, x in enumerate(lst):
                if x == old and (consistent or places == 0):
                    lst[j] = new
                    places += 1
    for v in list(g.input) + list(g.output) + list(g.value_info) + list(g.initializer):
        if v.name == old and consistent:
            v.name = new
    return f"tensor {old} renamed {new[:40]!r} ({'everywhere' if consistent else 'in one place'})"


def onnx_structure(m, rng: random.Random) -> str:
    g = m.graph
    k, node = _pick(rng, list(g.node))
    if rng.random() < 0.5:
        g.node.remove(node)
        return f"node {k} ({node.op_type}) removed"
    g.node.insert(rng.randrange(len(g.node) + 1), node)
    return f"node {k} ({node.op_type}) duplicated"


ONNX: dict[str, Callable] = {
    "onnx.attribute": onnx_attribute, "onnx.initializer": onnx_initializer, "onnx.value_info": onnx_value_info,
    "onnx.node_io": onnx_node_io, "onnx.graph_io": onnx_graph_io, "onnx.op_type": onnx_op_type,
    "onnx.opset": onnx_opset, "onnx.names": onnx_names, "onnx.structure": onnx_structure,
}
ONNX_WEIGHTS = {"onnx.attribute": 4, "onnx.initializer": 3, "onnx.value_info": 2, "onnx.node_io": 2}


def mutate_onnx(data: bytes, rng: random.Random) -> Mutant:
    import onnx

    names = sorted(ONNX)
    for _attempt in range(30):
        m = onnx.load_from_string(data)
        steps = []
        try:
            for _ in range(_edit_count(rng)):
                name = _weighted_choice(rng, names, ONNX_WEIGHTS)
                steps.append(f"{name}: {ONNX[name](m, rng)}")
            packed = m.SerializeToString()
            if packed != data:
                return Mutant(packed, "onnx", steps)
        except (Retry, TypeError, ValueError, IndexError, AttributeError):
            continue
    return mutate_raw(data, rng)


# ---- one mutant ---------------------------------------------------------------------------------------------

SCHEMA_SHARE = 0.7  # the rest are raw byte edits


def mutate(data: bytes, fmt: str, mutant_seed: int) -> Mutant:
    """The mutant `mutant_seed` of a seed model (`fmt` tflite or onnx): the same arguments, the same bytes."""
    rng = random.Random(mutant_seed)
    if rng.random() >= SCHEMA_SHARE:
        return mutate_raw(data, rng)
    return mutate_tflite(data, rng) if fmt == "tflite" else mutate_onnx(data, rng)
