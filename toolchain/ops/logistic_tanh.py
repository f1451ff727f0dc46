"""LOGISTIC and TANH on int8 (TFLite Micro: reference_integer_ops::Logistic / Tanh, gemmlowp fixed point).

Both rescale the centred input to Q4.27 and evaluate gemmlowp's fixed-point function (result in Q0.31):
    d = x - zp_x
    d <= -radius          -> -128                  (the function is saturated at this end)
    d >=  radius          ->  127
    otherwise  a = MBQM(d, M, shift)               d * s_x in Q4.27
      logistic: y = clamp(RDBPOT(logistic(a), 23) - 128, -128, 127)      output scale 1/256, zero point -128
      tanh:     y = clamp(RDBPOT(tanh(a), 24), -128, 127)                output scale 1/128, zero point 0
Compile time (as TFLM's Prepare, not QuantizeMultiplier):
    q, shift = frexp(s_x * 2^27);  M = round(q * 2^31);  radius = floor(15 * 2^27 / 2^shift)
The radius keeps d * 2^shift inside int32 and |a| below 15 (the Q4.27 range). For input scales of 8 and more
the radius is 0 and TFLM saturates every input (d <= 0 -> -128, d > 0 -> 127); edgec does the same.
TFLM's kernels never read the output's scale (and TANH not its zero point): they assume the fixed values above,
which is what the constraints require.

int16 (16x8; TFLite Micro's int16 kernels, interpolation in a table of sigmoid(i/24)): zero points 0, output scale
2^-15. The input goes to units of 1/(3 * 4096) (|v| = 2^17 is 10.7), v = (x * M + 2^(s-1)) >> s (no rounding term
for s = 0), where at compile time (as TFLM's Prepare):
    LOGISTIC, input scale 2^-12 (CheckedLog2):          M = 3, s = 0
    TANH, input scale 2^-12 or 2^-11:                   M = 3 or 6, s = 0
    otherwise: m = s_x * 4096 * 3 in double, doubled (s += 1) while m <= 16383.5 and s <= 30, M = (int)m
then runtime/logistic_tanh_s16.c's table interpolation (formulas there): y in [0, 32767] (LOGISTIC) or
[-32767, 32767] (TANH).
"""

from __future__ import annotations

import math

import numpy as np

from ..fixedpoint import (
    fixed_logistic,
    fixed_tanh,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    tflite_round,
)
from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32
from .int16_common import io_int16

#: TFLite's sigmoid_table_uint16: sigmoid(i / 24) in 0.16 fixed point, what its int16 LOGISTIC and TANH interpolate
#: (given as numbers: 44 entries are one above round(2^16 sigmoid(i/24)); runtime/logistic_tanh_s16.c has the same)
SIGMOID_TABLE = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794, 41432,
    42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443, 48964, 49475,
    49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485,
    55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288, 59519,
    59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441, 61599, 61750, 61896, 62036,
    62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990, 63090, 63186, 63279, 63368, 63454, 63536,
    63615, 63691, 63765, 63835, 63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405,
    64450, 64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900,
    64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179,
    65194, 65208, 65221, 65234, 65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337,
    65345, 65352, 65360, 65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474,
    65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517,
    65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525, 65525,
    65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529, 65529, 65530, 65530,
    65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532, 65532, 65532, 65532, 65533,
    65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65534, 65535,
], dtype=np.int64)


def checked_log2(x: float) -> tuple[int, bool]:
    """TFLite's CheckedLog2 in float32: (round(log2 x), whether x is a power of two within 1e-3 of log2)."""
    v = np.float32(np.log(np.float32(x))) * np.float32(1.0 / np.log(np.float32(2.0)))
    r = math.floor(abs(float(v)) + 0.5) * (1 if v >= 0 else -1)  # TfLiteRound: halves away from zero
    return int(r), bool(abs(np.float32(v) - np.float32(r)) < np.float32(1e-3))


def output_pot_15(op, g) -> bool:
    """int16: the output scale is 2^-15 (TFLite's CheckedLog2, within 1e-3 of the exponent)"""
    y = g.t(op.outputs[0])
    if y.quant is None:
        return False
    log2, pot = checked_log2(y.scale)
    return pot and log2 == -15


def input_multiplier_s16(op) -> tuple[int, int]:
    """(M, s) of the int16 input rescale (module doc), as TFLM's Prepare computes it."""
    scale = float(op.params["input_scale"])
    log2, pot = checked_log2(scale)
    shift = 12 + log2
    if pot and (shift == 0 or (op.type == "tanh" and shift == 1)):
        return 3 << shift, 0
    m, shift = float(np.float64(np.float32(scale))) * 4096.0 * 3.0, 0
    while m <= 32767.0 / 2.0 and shift <= 30:
        shift += 1
        m *= 2.0
    return int(m), shift


def input_scale_s16(op, g) -> bool:
    """int16: the input scale is at most 32767 / 12288 (about 2.67: the rescale's multiplier stays within 15 bits)"""
    x = g.t(op.inputs[0])
    return x.quant is not None and x.scale * 4096.0 * 3.0 <= 32767.0

INPUT_INTEGER_BITS = 4
LOGISTIC_UPPER, LOGISTIC_LOWER = float(np.float32(16.619047164916992188)), -9.0  # float LOGISTIC's cut-offs


def _output_quant_is(op, g, scale: float, zero_point: int) -> bool:
    y = g.t(op.outputs[0])
    return y.quant is not None and y.zero_point == zero_point and abs(y.scale - scale) <= 1e-3 * scale


def logistic_output_quant(op, g) -> bool:
    """output is quantized with scale 1/256 and zero point -128 (what the TFLite converter produces for logistic)"""
    return _output_quant_is(op, g, 1.0 / 256, -128)


def tanh_output_quant(op, g) -> bool:
    """output is quantized with scale 1/128 and zero point 0 (what the TFLite converter produces for tanh)"""
    return _output_quant_is(op, g, 1.0 / 128, 0)


def input_scale_in_range(op, g) -> bool:
    """input scale is at least 2^-28 (TFLite's fixed-point rescaling to Q4.27 cannot shift right)"""
    x = g.t(op.inputs[0])
    return x.quant is not None and x.scale >= 2.0**-28


class _LogisticTanh(Operator):
    kernel = "logistic_tanh_s8"
    c_function = ""

    fuses_activation = False
    patch_kind = "unary"
    not_exportable = None
    backward = None  # no gradient rule yet
    builtin = ""  # LOGISTIC or TANH (no options)

    def export_tflite(self, op, g, w, ins):
        return self.builtin, ins, None, {}

    infer_shape = shape_of_first_input

    def prepare(self, op, g):
        x = g.t(op.inputs[0])
        real = float(np.float32(x.scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
        q, shift = math.frexp(real)
        multiplier = tflite_round(q * float(1 << 31))
        # CalculateInputRadius(4, shift, 31): the largest |d| whose rescaled value stays below 15 in Q4.27
        radius = math.floor(((1 << INPUT_INTEGER_BITS) - 1) * float(1 << (31 - INPUT_INTEGER_BITS))
                            / float(1 << shift))
        op.params.update(size=x.size, input_zero_point=x.zero_point, input_range_radius=radius,
                         input_multiplier=multiplier, input_left_shift=shift)

    def function(self, a: np.ndarray) -> np.ndarray:
        """int8 result (before saturation) from the Q4.27 input."""
        raise NotImplementedError

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        p = op.params
        d = x.astype(np.int64) - p["input_zero_point"]
        radius = p["input_range_radius"]
        inside = (d > -radius) & (d < radius)
        a = multiply_by_quantized_multiplier(np.where(inside, d, 0), p["input_multiplier"], p["input_left_shift"])
        y = np.clip(self.function(a), -128, 127)
        y = np.where(d <= -radius, -128, np.where(d >= radius, 127, y))
        return [y.astype(np.int8)]

    def emit(self, op, g, ctx):
        p = op.params
        fields = dict(size=p["size"], input_zero_point=p["input_zero_point"],
                      input_range_radius=p["input_range_radius"], input_multiplier=p["input_multiplier"],
                      input_left_shift=p["input_left_shift"])
        params = ctx.params_struct(op, "edgec_logistic_tanh_s8_params", fields)
        return f"{self.c_function}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        # logistic_tanh_s8.c and _s16.c read input[i] before they write output[i], one element at a time
        return (0,) if io_int8(op, g) or io_int16(op, g) else ()

    # ---- int16 (16x8): table interpolation, module doc and runtime/logistic_tanh_s16.c -------------------------
    kernel_s16 = "logistic_tanh_s16"
    constraints_s16 = [io_int16, input_scale_s16, output_pot_15]

    def prepare_s16(self, op, g):
        x = g.t(op.inputs[0])
        op.params.update(size=x.size, input_scale=float(x.scale))
        m, s = input_multiplier_s16(op)
        op.params.update(input_multiplier=m, input_shift=s)

    def table_s16(self, a: np.ndarray, negative: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference_s16(self, op, g, inputs):
        x = np.asarray(inputs[0]).astype(np.int64)
        m, s = op.params["input_multiplier"], op.params["input_shift"]
        v = (x * m + ((1 << (s - 1)) if s > 0 else 0)) >> s
        return [self.table_s16(np.abs(v), v < 0).astype(np.int16)]

    def emit_s16(self, op, g, ctx):
        p = op.params
        fields = dict(size=p["size"], input_multiplier=p["input_multiplier"], input_shift=p["input_shift"])
        params = ctx.params_struct(op, "edgec_logistic_tanh_s16_params", fields)
        return f"edgec_{self.type}_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32: elementwise, see function_f64 ----------------------------------------------------------------
    kernel_f32 = "logistic_tanh_f32"
    constraints_f32 = [all_float32]

    def function_f64(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float32)
        with np.errstate(over="ignore"):
            return [self.function_f64(x.astype(np.float64)).astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        params = ctx.params_struct(op, "edgec_logistic_tanh_f32_params", dict(size=g.t(op.inputs[0]).size))
        return f"edgec_{self.type}_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


@register
class Logistic(_LogisticTanh):
    type = "logistic"
    c_function = "edgec_logistic_s8"
    builtin = "LOGISTIC"
    # TFLite fixes the int8 output quantization (logistic_output_quant)
    quantization = Quantization(output="fixed", fixed=(1.0 / 256, -128))
    constraints = [io_int8, per_tensor_activations, input_scale_in_range, logistic_output_quant]

    def function(self, a):
        # Q0.31 -> units of 1/256 (Q8.23 raw), then the -128 zero point
        return rounding_divide_by_pot(fixed_logistic(a, INPUT_INTEGER_BITS), 31 - 8) - 128

    def table_s16(self, a, negative):
        i = np.minimum(a >> 9, 254)
        lo, hi = SIGMOID_TABLE[i], SIGMOID_TABLE[i + 1]
        r = np.where(a >> 9 >= 255, 0x7FFF << 10, (lo << 9) + (a & 0x1FF) * (hi - lo))
        return np.where(negative, (1 << 25) - r + (1 << 9) - 1, r + (1 << 9)) >> 10

    def function_f64(self, x):
        # TFLite's float reference: 1 above 16.619... (where 1/(1+e^-x) rounds to 1 in float32), e^x below -9
        # (relative difference e^x < 1.3e-4 from the exact value there), 1/(1+e^-x) between
        return np.where(x > LOGISTIC_UPPER, 1.0, np.where(x < LOGISTIC_LOWER, np.exp(x), 1.0 / (1.0 + np.exp(-x))))


@register
class Tanh(_LogisticTanh):
    type = "tanh"
    c_function = "edgec_tanh_s8"
    builtin = "TANH"
    # TFLite fixes the int8 output quantization (tanh_output_quant)
    quantization = Quantization(output="fixed", fixed=(1.0 / 128, 0))
    constraints = [io_int8, per_tensor_activations, input_scale_in_range, tanh_output_quant]

    def function(self, a):
        # Q0.31 -> units of 1/128, zero point 0
        return rounding_divide_by_pot(fixed_tanh(a, INPUT_INTEGER_BITS), 31 - 7)

    def table_s16(self, a, negative):
        i = np.minimum(a >> 8, 254)
        lo, hi = SIGMOID_TABLE[i], SIGMOID_TABLE[i + 1]
        r = np.where(a >> 8 >= 255, 0xFFFF << 8, (lo << 8) + (a & 0xFF) * (hi - lo))
        return np.where(negative, -r + (1 << 23) + (1 << 7) - 1, r - (1 << 23) + (1 << 7)) >> 8

    def function_f64(self, x):
        return np.tanh(x)
