"""PAD and PADV2 on int8 and int16 (16x8) (TFLite Micro pad.cc, reference_ops::PadImpl), up to 5 dimensions.

The input bytes are copied unchanged (no rescaling, even if the input and output quantization differ: TFLM
does not rescale either); every padded position gets one int8 value:
    PAD:   the output zero point (TFLM: `pad_value = output_zero_point`)
    PADV2: the constant_values scalar as stored (TFLM requires its quantization to equal the output's)
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from .base import Operator, Quantization, is_half, register
from .float_common import all_float32, c_float
from .int16_common import io_int16

MAX_RANK = 5  # reference_ops::PadKernelMaxDimensionCount()


def pad_int8(op, g) -> bool:
    """input and output are int8"""
    return g.t(op.inputs[0]).dtype == "int8" and g.t(op.outputs[0]).dtype == "int8"


def pad_rank(op, g) -> bool:
    """input has at most 5 dimensions"""
    return len(g.t(op.inputs[0]).shape) <= MAX_RANK


def paddings_valid(op, g) -> bool:
    """paddings hold one non-negative [before, after] pair per input dimension"""
    pads = op.attrs.get("paddings", [])
    return len(pads) == len(g.t(op.inputs[0]).shape) and all(a >= 0 and b >= 0 for a, b in pads)


def output_quantized(op, g) -> bool:
    """output is quantized per tensor, with a zero point inside int8 (it is the PAD value)"""
    q = g.t(op.outputs[0]).quant
    return q is not None and q.scale.size == 1 and -128 <= int(q.zero_point[0]) <= 127


def pad_value_int8(op, g) -> bool:
    """PADV2's constant value is an int8"""
    return -128 <= int(op.attrs.get("pad_value", 0)) <= 127


def pad_value_int16(op, g) -> bool:
    """PADV2's constant value is an int16"""
    return -32768 <= int(op.attrs.get("pad_value", 0)) <= 32767


def _extended(values: list[int], fill: int) -> list[int]:
    return [fill] * (MAX_RANK - len(values)) + list(values)


@register
class PadBackward(Operator):
    """PAD_BACKWARD (training graphs): g_x[n, h, w, c] = g_y[n + p_n, h + p_h, w + p_w, c + p_c] * factor (the
    leading paddings p, factor = float32(s_y / s_x)); one float32 multiply per element."""

    type = "pad_backward"
    kernel = "pad_backward_f32"
    kernel_f32 = "pad_backward_f32"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = "a training-graph op (edgec train): it has no TFLite form"
    backward = None

    def reference(self, op, g, inputs):
        f = np.float32
        gy = np.asarray(inputs[0], f)
        n, h, w, c = g.t(op.outputs[0]).shape
        (pn, _), (ph, _), (pw, _), (pc, _) = op.attrs["paddings"]
        return [(gy[pn:pn + n, ph:ph + h, pw:pw + w, pc:pc + c] * f(op.attrs["factor"])).astype(f)]

    reference_f32 = reference

    def emit(self, op, g, ctx):
        y = g.t(op.inputs[0]).shape
        x = g.t(op.outputs[0]).shape
        lead = [p[0] for p in op.attrs["paddings"]]
        fn = "edgec_pad_backward_f16" if is_half(g, op.outputs[0]) else "edgec_pad_backward_f32"  # fp16 gradients
        return (f"{fn}({c_list(x)}, {c_list(y)}, {c_list(lead)}, {op.attrs['factor']!r}f, "
                f"{ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});").replace("{", "(const int32_t[]){")

    emit_f32 = emit


@register
class Pad(Operator):
    type = "pad"
    kernel = "pad_s8"
    constraints = [pad_int8, output_quantized, pad_rank, paddings_valid, pad_value_int8]

    fuses_activation = False
    patch_kind = None  # a patch stage stops before a PAD (the padding is not folded into the windows)
    quantization = Quantization(output="same_as_input")
    not_exportable = None

    def backward(self, op, g, b):
        """The input's bytes are copied unchanged, so in real units g_x is the crop of g_y at the input's place,
        times s_y / s_x (1 when the two quantizations are equal, as TFLite writes them): PAD_BACKWARD. 4-D (NHWC)
        inputs only."""
        from ..errors import TrainingError

        x = op.inputs[0]
        if not b.needs_grad(x):
            return
        if len(g.t(x).shape) != 4:
            raise TrainingError(f"PAD (node {op.name!r}): gradients are implemented for 4-D inputs only")
        gx = b.grad_tensor_for(x)
        b.add_op("pad_backward", [b.grad_of(op.outputs[0])], [gx], {
            "paddings": [list(p) for p in op.attrs["paddings"]],
            "factor": float(np.float32(g.t(op.outputs[0]).scale / g.t(x).scale))})
        b.add_grad(x, gx)

    def export_tflite(self, op, g, w, ins):
        paddings = w.int32(f"{op.name}/paddings", np.asarray(op.attrs["paddings"], np.int32).reshape(-1, 2))
        if op.attrs.get("pad_value") is None:
            return "PAD", [ins[0], paddings], "PadOptions", {}
        value = w.const_like(f"{op.name}/constant_values", [op.attrs["pad_value"]], op.outputs[0])
        return "PADV2", [ins[0], paddings, value], "PadV2Options", {}

    def infer_shape(self, op, g):
        x = g.t(op.inputs[0])
        return [tuple(d + a + b for d, (a, b) in zip(x.shape, op.attrs["paddings"]))]

    def prepare(self, op, g):
        value = op.attrs.get("pad_value")
        op.params["pad_value"] = int(value) if value is not None else g.t(op.outputs[0]).zero_point

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        y = np.pad(x, [tuple(p) for p in op.attrs["paddings"]], mode="constant",
                   constant_values=op.params["pad_value"])
        return [y.astype(np.int8)]

    def emit(self, op, g, ctx):
        x = g.t(op.inputs[0])
        pads = op.attrs["paddings"]

        def arr(v: list[int]) -> str:
            return "{" + ", ".join(str(int(i)) for i in v) + "}"

        fields = dict(in_dims=arr(_extended(list(x.shape), 1)), before=arr(_extended([a for a, _ in pads], 0)),
                      after=arr(_extended([b for _, b in pads], 0)), pad_value=op.params["pad_value"])
        params = ctx.params_struct(op, "edgec_pad_s8_params", fields)
        return f"edgec_pad_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- int16 (16x8): values copied, padded positions = pad_value (PAD: the output zero point, 0) -------------
    kernel_s16 = "pad_s16"
    constraints_s16 = [io_int16, pad_rank, paddings_valid, pad_value_int16]

    def prepare_s16(self, op, g):
        self.prepare(op, g)

    def reference_s16(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        return [np.pad(x, [tuple(p) for p in op.attrs["paddings"]], mode="constant",
                       constant_values=op.params["pad_value"]).astype(np.int16)]

    def emit_s16(self, op, g, ctx):
        pads = op.attrs["paddings"]
        fields = dict(in_dims=c_list(_extended(list(g.t(op.inputs[0]).shape), 1)),
                      before=c_list(_extended([a for a, _ in pads], 0)),
                      after=c_list(_extended([b for _, b in pads], 0)), pad_value=op.params["pad_value"])
        params = ctx.params_struct(op, "edgec_pad_s16_params", fields)
        return f"edgec_pad_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32: values copied, padded positions = pad_value (0.0 for PAD) -----------------------------------
    kernel_f32 = "pad_f32"
    constraints_f32 = [all_float32, pad_rank, paddings_valid]

    def reference_f32(self, op, g, inputs):
        value = np.float32(op.attrs.get("pad_value") or 0.0)
        x = np.asarray(inputs[0], dtype=np.float32)
        return [np.pad(x, [tuple(p) for p in op.attrs["paddings"]], mode="constant", constant_values=value)]

    def emit_f32(self, op, g, ctx):
        pads = op.attrs["paddings"]
        fields = dict(in_dims=c_list(_extended(list(g.t(op.inputs[0]).shape), 1)),
                      before=c_list(_extended([a for a, _ in pads], 0)),
                      after=c_list(_extended([b for _, b in pads], 0)),
                      pad_value=c_float(op.attrs.get("pad_value") or 0.0))
        params = ctx.params_struct(op, "edgec_pad_f32_params", fields)
        return f"edgec_pad_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
