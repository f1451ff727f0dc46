"""TFLite flatbuffer -> IR, through the schema bindings shipped in the tflite-micro wheel (no hand parsing).

Each builtin operator edgec knows is a plain function named after it, in the section "one function per TFLite
builtin" below, the one place a builtin's mapping goes: `@tflite_op(ir_type)` names the IR op it becomes, and
the function takes (options, ctx) and returns the IR op's attributes (`{}` for a builtin without any, such as
TANH). An attribute the function cannot honour is reported as a problem, never ignored.
Every problem in the model (unknown op, unsupported attribute, constraint of the IR op) is collected and
raised together, so a user sees the whole list at once.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, UnsupportedError
from ..fixedpoint import RescaleRangeError
from ..ir import Graph, Op, Tensor
from .tflite_checks import MAX_WINDOW, validate
from .tflite_reader import Reader, tfl

PADDING = {0: "SAME", 1: "VALID"}
ACTIVATION = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}


class Unsupported(Exception):
    """An attribute value the importer cannot honour (collected, then reported with all others)."""


def _activation(opts) -> str:
    act = ACTIVATION.get(opts.fusedActivationFunction, str(opts.fusedActivationFunction))
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise Unsupported(f"fused activation {act} (supported: NONE, RELU, RELU6, RELU_N1_TO_1)")
    return act


def _padding(opts) -> str:
    if opts.padding not in PADDING:
        raise Unsupported(f"padding {opts.padding} (supported: SAME, VALID)")
    return PADDING[opts.padding]


def _positive(opts, *fields: str) -> None:
    """Strides, dilations and filter sizes of 0 or less only come from a damaged file; above MAX_WINDOW the C's
    int index arithmetic would overflow."""
    for f in fields:
        if not 1 <= getattr(opts, f) <= MAX_WINDOW:
            raise Unsupported(f"malformed operator: {f} is {getattr(opts, f)}, it must be in 1..{MAX_WINDOW}")


# ---- one function per TFLite builtin: (options, op context) -> IR attrs; the decorator names the IR op ---------

IMPORTERS: dict[str, Any] = {}


def tflite_op(ir_type: str):
    def register(fn):
        fn.ir_type = ir_type
        IMPORTERS[fn.__name__] = fn
        return fn

    return register


@tflite_op("conv2d")
def CONV_2D(o, ctx):
    _positive(o, "strideH", "strideW", "dilationHFactor", "dilationWFactor")
    return dict(padding=_padding(o), stride_h=o.strideH, stride_w=o.strideW,
                          dilation_h=o.dilationHFactor, dilation_w=o.dilationWFactor, activation=_activation(o))


@tflite_op("depthwise_conv2d")
def DEPTHWISE_CONV_2D(o, ctx):
    _positive(o, "strideH", "strideW", "dilationHFactor", "dilationWFactor")
    return dict(padding=_padding(o), stride_h=o.strideH, stride_w=o.strideW,
                                    dilation_h=o.dilationHFactor, dilation_w=o.dilationWFactor,
                                    activation=_activation(o), depth_multiplier=ctx.depth_multiplier())


@tflite_op("fully_connected")
def FULLY_CONNECTED(o, ctx):
    if o.weightsFormat != 0:
        raise Unsupported("weights_format SHUFFLED4x16INT8 (supported: DEFAULT)")
    if o.asymmetricQuantizeInputs:
        raise Unsupported("asymmetric_quantize_inputs (a hybrid float/int8 model)")
    return dict(activation=_activation(o), keep_num_dims=bool(o.keepNumDims))


def _pool(o):
    _positive(o, "strideH", "strideW", "filterHeight", "filterWidth")
    return dict(padding=_padding(o), stride_h=o.strideH, stride_w=o.strideW, filter_h=o.filterHeight,
                filter_w=o.filterWidth, activation=_activation(o))


@tflite_op("avg_pool2d")
def AVERAGE_POOL_2D(o, ctx):
    return _pool(o)


@tflite_op("max_pool2d")
def MAX_POOL_2D(o, ctx):
    return _pool(o)


@tflite_op("reshape")
def RESHAPE(o, ctx):
    ctx.drop_inputs_after(1)  # the optional shape tensor: the output tensor's static shape is what counts
    return {}


@tflite_op("reshape")
def SQUEEZE(o, ctx):
    return {}


@tflite_op("reshape")
def EXPAND_DIMS(o, ctx):
    ctx.drop_inputs_after(1)
    return {}


@tflite_op("softmax")
def SOFTMAX(o, ctx):
    return dict(beta=float(o.beta))


@tflite_op("add")
def ADD(o, ctx):
    if o is not None and getattr(o, "potScaleInt16", True) is False:
        raise Unsupported("pot_scale_int16 = false")
    return dict(activation=_activation(o) if o is not None else "NONE")


@tflite_op("sub")
def SUB(o, ctx):
    return dict(activation=_activation(o) if o is not None else "NONE")


@tflite_op("mul")
def MUL(o, ctx):
    return dict(activation=_activation(o) if o is not None else "NONE")


@tflite_op("mean")
def MEAN(o, ctx):
    axes = ctx.const_input(1)
    ctx.drop_inputs_after(1)
    if axes.ndim > 1:
        raise Unsupported(f"the axes input has shape {list(axes.shape)}; MEAN's axes are a scalar or a 1-D tensor")
    return dict(axes=[int(a) for a in np.atleast_1d(axes)], keep_dims=bool(o.keepDims) if o else False)


@tflite_op("sum")
def SUM(o, ctx):
    if len(ctx.inputs) < 2 or ctx.inputs[1] < 0 or ctx.reader.tensor_data(ctx.inputs[1]) is None:
        raise Unsupported("the axes input (input 1) must be a constant; edgec compiles SUM over fixed axes only")
    axes = ctx.const_input(1)
    ctx.drop_inputs_after(1)
    if axes.ndim > 1:
        raise Unsupported(f"the axes input has shape {list(axes.shape)}; SUM's axes are a scalar or a 1-D tensor")
    return dict(axes=[int(a) for a in np.atleast_1d(axes)], keep_dims=bool(o.keepDims) if o else False)


@tflite_op("squared_difference")
def SQUARED_DIFFERENCE(o, ctx):
    return {}


@tflite_op("rsqrt")
def RSQRT(o, ctx):
    return {}


@tflite_op("exp")
def EXP(o, ctx):
    return {}


@tflite_op("strided_slice")
def STRIDED_SLICE(o, ctx):
    names = {1: "begin", 2: "end", 3: "strides"}
    if len(ctx.inputs) != 4:
        raise Unsupported(f"malformed operator: {len(ctx.inputs)} inputs (a STRIDED_SLICE has 4)")
    for k, name in names.items():
        if ctx.inputs[k] < 0 or ctx.reader.tensor_data(ctx.inputs[k]) is None:
            raise Unsupported(f"the {name} input (input {k}) must be a constant")
    for field, value in (("ellipsis_mask", o.ellipsisMask), ("new_axis_mask", o.newAxisMask)):
        if value:
            raise Unsupported(f"{field} = {value} is not supported (TFLite Micro ignores it; edgec refuses it "
                              "rather than compute something else): re-export the slice without ellipsis or new axes")
    if getattr(o, "offset", False):
        raise Unsupported("offset = true is not supported (TFLite Micro ignores it)")
    vals = {name: [int(v) for v in np.asarray(ctx.const_input(k)).reshape(-1)] for k, name in names.items()}
    ctx.drop_inputs_after(1)
    return dict(**vals, begin_mask=int(o.beginMask), end_mask=int(o.endMask),
                shrink_axis_mask=int(o.shrinkAxisMask))


@tflite_op("pad")
def PAD(o, ctx):
    paddings = ctx.const_input(1)
    ctx.drop_inputs_after(1)
    return dict(paddings=[[int(a), int(b)] for a, b in np.asarray(paddings).reshape(-1, 2)])


@tflite_op("pad")
def PADV2(o, ctx):
    paddings = ctx.const_input(1)
    value = ctx.const_input(2)
    ctx.drop_inputs_after(1)
    return dict(paddings=[[int(a), int(b)] for a, b in np.asarray(paddings).reshape(-1, 2)],
                       pad_value=np.asarray(value).reshape(-1)[0].item())  # a float in a float model


@tflite_op("concat")
def CONCATENATION(o, ctx):
    return dict(axis=int(o.axis), activation=_activation(o))


@tflite_op("logistic")
def LOGISTIC(o, ctx):
    return {}


@tflite_op("tanh")
def TANH(o, ctx):
    return {}


@tflite_op("relu")
def RELU(o, ctx):
    return dict(lo=0.0, hi=None)


@tflite_op("relu")
def RELU6(o, ctx):
    return dict(lo=0.0, hi=6.0)


@tflite_op("relu")
def RELU_N1_TO_1(o, ctx):
    return dict(lo=-1.0, hi=1.0)


@tflite_op("quantize")
def QUANTIZE(o, ctx):
    return {}


@tflite_op("dequantize")
def DEQUANTIZE(o, ctx):
    return {}


@tflite_op("leaky_relu")
def LEAKY_RELU(o, ctx):
    return dict(alpha=float(o.alpha))


@tflite_op("hard_swish")
def HARD_SWISH(o, ctx):
    return {}


@tflite_op("abs")
def ABS(o, ctx):
    return {}


@tflite_op("batch_matmul")
def BATCH_MATMUL(o, ctx):
    # asymmetric_quantize_inputs only matters to hybrid models, which _reject_hybrid refuses (TFLM ignores it too)
    return dict(adj_x=bool(o.adjX) if o else False, adj_y=bool(o.adjY) if o else False)


@tflite_op("gelu")
def GELU(o, ctx):
    return dict(approximate=bool(o.approximate) if o else False)


def _output_dims(ctx) -> list[int]:
    out = ctx.reader.sg.tensors[int(ctx.op.outputs[0])]
    return [int(d) for d in (out.shape if out.shape is not None else [])]


@tflite_op("transpose")
def TRANSPOSE(o, ctx):
    perm = ctx.const_input(1)
    ctx.drop_inputs_after(1)
    return dict(perm=[int(p) for p in np.asarray(perm).reshape(-1)])


@tflite_op("resize_nearest")
def RESIZE_NEAREST_NEIGHBOR(o, ctx):
    size = [int(s) for s in np.asarray(ctx.const_input(1)).reshape(-1)]
    if len(_output_dims(ctx)) != 4 or size != _output_dims(ctx)[1:3]:
        raise Unsupported(f"the size input {size} is not the output tensor's height and width "
                          f"{_output_dims(ctx)[1:3]}")
    ctx.drop_inputs_after(1)
    return dict(align_corners=bool(o.alignCorners) if o else False,
                half_pixel_centers=bool(o.halfPixelCenters) if o else False)


@tflite_op("conv_transpose")
def TRANSPOSE_CONV(o, ctx):
    # TFLite's inputs are (output_shape, weights [O, KH, KW, I], input, bias?); the IR op takes (input, weights, bias)
    _positive(o, "strideH", "strideW")
    shape = [int(s) for s in np.asarray(ctx.const_input(0)).reshape(-1)]
    if shape != _output_dims(ctx):
        raise Unsupported(f"the output_shape input {shape} is not the output tensor's shape {_output_dims(ctx)}")
    if len(ctx.inputs) not in (3, 4):
        raise Unsupported(f"{len(ctx.inputs)} inputs (a TRANSPOSE_CONV has 3, or 4 with a bias)")
    ctx.inputs = [ctx.inputs[2], ctx.inputs[1], *ctx.inputs[3:]]
    return dict(padding=_padding(o), stride_h=o.strideH, stride_w=o.strideW,
                activation=_activation(o))




@tflite_op("svdf")
def SVDF(o, ctx):
    if o.asymmetricQuantizeInputs:
        raise Unsupported("asymmetric_quantize_inputs (a hybrid float/int8 SVDF)")
    act = ACTIVATION.get(o.fusedActivationFunction, str(o.fusedActivationFunction))
    if act not in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1"):
        raise Unsupported(f"fused activation {act} (supported: NONE, RELU, RELU6, RELU_N1_TO_1)")
    if len(ctx.inputs) != 5 or min(ctx.inputs) < 0:
        raise Unsupported(f"SVDF needs its five inputs (input, weights_feature, weights_time, bias, state); this "
                          f"one has {sum(i >= 0 for i in ctx.inputs)} (TFLite Micro requires the bias too)")
    return dict(rank=int(o.rank), activation=act)


#: TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM inputs that only the LSTM variants TFLite Micro lacks use
LSTM_VARIANT_INPUTS = {"peephole": (9, 10, 11), "projection": (16, 17), "layer-norm": (20, 21, 22, 23)}
#: the 15 inputs of the IR op (ops/lstm.py): x, the 8 weights, the 4 biases, h, c
LSTM_INPUTS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13, 14, 15, 18, 19)
#: the variant inputs' names in TFLite's schema (the messages name the fields a refused LSTM uses)
LSTM_INPUT_NAMES = {9: "9 cell_to_input_weights", 10: "10 cell_to_forget_weights", 11: "11 cell_to_output_weights",
                    16: "16 projection_weights", 17: "17 projection_bias",
                    20: "20 input_layer_norm_coefficients", 21: "21 forget_layer_norm_coefficients",
                    22: "22 cell_layer_norm_coefficients", 23: "23 output_layer_norm_coefficients"}


@tflite_op("lstm")
def UNIDIRECTIONAL_SEQUENCE_LSTM(o, ctx):
    ins = ctx.inputs + [-1] * (24 - len(ctx.inputs))
    if len(ctx.inputs) > 24:
        raise Unsupported(f"malformed operator: {len(ctx.inputs)} inputs (an LSTM has 24)")
    variants = [f"{v} (input{'s' if len(present) > 1 else ''} {', '.join(LSTM_INPUT_NAMES[k] for k in present)})"
                for v, idx in LSTM_VARIANT_INPUTS.items() if (present := [k for k in idx if ins[k] >= 0])]
    if any(ins[k] < 0 for k in (1, 5, 12)):
        variants.append("CIFG (coupled input and forget gates: no input gate, inputs 1, 5 and 12 absent)")
    if variants:
        raise Unsupported(f"a {', '.join(variants)} LSTM: TFLite Micro's LSTM (and edgec's) is the standard one "
                          "only; peephole, projection, layer-norm and CIFG LSTMs are not supported")
    if any(ins[k] < 0 for k in LSTM_INPUTS):
        raise Unsupported("an input of the standard LSTM is missing (the input, 8 weights, 4 biases and the hidden "
                          "and cell states are all required)")
    if o.asymmetricQuantizeInputs:
        raise Unsupported("asymmetric_quantize_inputs (a hybrid float/int8 LSTM)")
    act = ACTIVATION.get(o.fusedActivationFunction, str(o.fusedActivationFunction))
    if act != "TANH":
        raise Unsupported(f"cell activation {act} (supported: TANH)")
    if not o.cellClip >= 0:
        raise Unsupported(f"cell_clip {o.cellClip} (it must be 0, no clip, or positive)")
    x = ctx.reader.sg.tensors[ins[0]]
    if o.timeMajor and x.shapeSignature is not None and len(x.shapeSignature) and x.shapeSignature[0] < 0:
        raise Unsupported("a dynamic sequence length (the time-major input's first dimension is -1): edgec "
                          "compiles static shapes; re-export the model with a fixed sequence length")
    ctx.inputs = [ins[k] for k in LSTM_INPUTS]
    return dict(time_major=bool(o.timeMajor), cell_clip=float(o.cellClip), activation=act)


# ---- what an op function may read (the model itself: tflite_reader.Reader) -----------------------------------

class _OpContext:
    """What an op function may ask of the model: constant inputs, and dropping inputs the IR op does not take."""

    def __init__(self, reader: Reader, op):
        self.reader, self.op = reader, op
        self.inputs: list[int] = [int(i) for i in (op.inputs if op.inputs is not None else [])]

    def const_input(self, k: int) -> np.ndarray:
        if k >= len(self.inputs) or self.inputs[k] < 0:
            raise Unsupported(f"input {k} is missing")
        data = self.reader.tensor_data(self.inputs[k])
        if data is None:
            raise Unsupported(f"input {k} must be a constant")
        return data

    def drop_inputs_after(self, k: int) -> None:
        self.inputs = self.inputs[:k]

    def depth_multiplier(self) -> int:
        # Some converters write depth_multiplier = 0 or stale values; TFLite derives it from the shapes.
        if len(self.inputs) < 2 or min(self.inputs[:2]) < 0:
            return 0  # a damaged op: its constraints report it
        x = self.reader.sg.tensors[self.inputs[0]].shape
        w = self.reader.sg.tensors[self.inputs[1]].shape
        if x is None or w is None or len(x) != 4 or len(w) != 4 or not x[3]:
            return 0  # not 4-D: the op's constraints report it
        return int(w[3] // x[3])


def _identifier(s: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", s)


FLOAT_TYPES = {0, 1, 10}  # FLOAT32, FLOAT16, FLOAT64
#: UINT8, INT16, INT8, INT4: quantized weights (INT32/INT64 constants are shapes, axes)
INTEGER_WEIGHT_TYPES = {3, 7, 9, 17}


def _reject_hybrid(r: Reader) -> None:
    """edgec builds float32 models and full-integer int8 models. A hybrid model (dynamic-range quantization: int8
    weights read by float operators, which quantize their input at run time; or float weights under int8
    activations) and float16/float64 compute are one clear error, not one line per op. QUANTIZE / DEQUANTIZE are
    conversions (the float interface of an int8 model, or a float section inside one) and are not checked here."""
    wide, hybrid = [], []
    for top in r.sg.operators or []:
        if r.op_code(top) in ("QUANTIZE", "DEQUANTIZE"):
            continue
        ins = [int(i) for i in (top.inputs if top.inputs is not None else []) if i >= 0]
        outs = [int(i) for i in (top.outputs if top.outputs is not None else []) if i >= 0]
        types = {r.sg.tensors[i].type for i in ins + outs}
        if types & {1, 10}:
            wide.append(top)
            continue
        acts = {r.sg.tensors[i].type for i in [*(i for i in ins if not r.is_const(i)), *outs]}
        consts = {r.sg.tensors[i].type for i in ins if r.is_const(i)}
        if (0 in acts and consts & INTEGER_WEIGHT_TYPES) or (acts & {9} and 0 in consts) or (0 in acts and acts & {9}):
            hybrid.append(top)
    if wide:
        raise InputError(f"{r.path}: {len(wide)} operators compute in float16 or float64 (the first is "
                         f"{r.op_code(wide[0])}); edgec builds float32 and int8 models: export the model in float32")
    if hybrid:
        raise InputError(f"{r.path}: a hybrid (dynamic-range quantized) model: {len(hybrid)} operators mix float "
                         f"and int8 tensors, e.g. int8 weights under float activations (the first is "
                         f"{r.op_code(hybrid[0])}). edgec builds float32 "
                         "models (`--dtype float32`) and full-integer int8 models: export the model without "
                         "quantization, or as full-integer int8 (TFLite converter with a representative dataset).")


def import_tflite(path: Path) -> Graph:
    from ..ops import REGISTRY
    from ..ops.base import quantized_dtype_message

    if tfl is None:
        raise InputError("the tflite-micro package is missing: pip install edgec's dependencies")
    r = Reader(path, path.read_bytes())
    validate(r)
    if len(r.model.subgraphs) > 1:
        raise UnsupportedError([f"the model has {len(r.model.subgraphs)} subgraphs (control flow: WHILE/IF/CALL); "
                                "edgec supports single-subgraph models"])
    _reject_hybrid(r)
    problems: list[str] = []
    tensors: dict[str, Tensor] = {}

    def use(idx: int) -> str:
        name = r.names[idx]
        if name not in tensors:
            tensors[name] = r.tensor(idx, problems)
        return name

    ops: list[Op] = []
    for k, top in enumerate(r.sg.operators or []):
        code = r.op_code(top)
        out_names = [r.names[i] for i in top.outputs]
        node = f"#{k} {code} ({out_names[0] if out_names else '?'})"
        fn = IMPORTERS.get(code)
        if fn is None:
            problems.append(f"{node}: operator {code} is not supported; supported: {', '.join(sorted(IMPORTERS))}")
            continue
        ctx = _OpContext(r, top)
        try:
            op_type, attrs = fn.ir_type, fn(top.builtinOptions, ctx)
        except Unsupported as e:
            problems.append(f"{node}: {e}")
            continue
        except AttributeError:  # no options table, or one of another operator: a damaged file
            problems.append(f"{node}: malformed operator: its options are missing or belong to another operator")
            continue
        ins: list[str | None] = [use(i) if i >= 0 else None for i in ctx.inputs]
        outs = [use(i) for i in top.outputs]
        op = Op(type=op_type, name=_identifier(f"{code.lower()}_{k}"), inputs=ins, outputs=outs, attrs=attrs)
        op.attrs["tflite_op"] = code
        op.attrs["tflite_index"] = k
        op.attrs["label"] = node
        op.attrs["tflite_outputs"] = [int(i) for i in top.outputs]
        ops.append(op)
    graph_inputs = [use(int(i)) for i in r.sg.inputs]
    graph_outputs = [use(int(i)) for i in r.sg.outputs]
    for name in graph_inputs:
        t = tensors[name]
        # int8 (a full-integer model), int16 (16x8) or float32 (a float model, or the float interface)
        if t.dtype not in ("int8", "int16", "float32"):
            problems.append(quantized_dtype_message(f"model input {name} is {t.dtype}", t.dtype))
    for op in ops:
        impl = REGISTRY.get(op.type)
        if impl is None:
            problems.append(f"{op.attrs['label']}: maps to IR op {op.type}, which has no implementation yet")
            continue
        try:
            # extreme scales overflow a rule's float ratio to inf: the rule (or quantize_multiplier) reports it
            with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
                problems += [f"{op.attrs['label']}: {rule}" for rule in impl.check(op, _graph_view(tensors, ops))]
        except RescaleRangeError as e:  # a rule computed a rescale the fixed-point code cannot represent
            problems.append(f"{op.attrs['label']}: {e.message}")
        except (IndexError, KeyError, TypeError, AttributeError):  # a rule read an input this op does not have
            problems.append(f"{op.attrs['label']}: malformed operator: {len(op.inputs)} inputs and "
                            f"{len(op.outputs)} outputs, which a {op.attrs['tflite_op']} cannot have")
    if problems:
        raise UnsupportedError(problems)
    name = _identifier(path.stem)
    return Graph(name=name, tensors=tensors, ops=ops, inputs=graph_inputs, outputs=graph_outputs)


def _graph_view(tensors: dict[str, Tensor], ops: list[Op]) -> Any:
    return Graph(name="", tensors=tensors, ops=ops, inputs=[], outputs=[])
