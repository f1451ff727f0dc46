"""UNIDIRECTIONAL_SEQUENCE_LSTM: a standard LSTM over a sequence, its hidden state h and cell state c persisting
between invocations (state tensors, ir.Tensor.state), as TFLite Micro runs it.

IR inputs (15, a compact form of TFLite's 24): x, W_i, W_f, W_c, W_o (input weights [N, I]), R_i, R_f, R_c, R_o
(recurrent weights [N, N]), b_i, b_f, b_c, b_o (biases [N]), h [B, N], c [B, N]; output y. Gate order i, f, c, o.
x and y are [T, B, I] / [T, B, N] when time_major, else [B, T, I] / [B, T, N]. Every batch row runs the steps of
its own sequence (the rows never mix), so both layouts are the same maths in another order.
TFLite Micro has no peephole, projection, layer-norm or CIFG (coupled input-forget) LSTM; the importer refuses them
by name. The hidden activation is always tanh; `activation` (TANH) is the cell gate's. `reset_state` (an ONNX
LSTM, which restarts from a zero state on every run): h and c are set to their zero points before the sequence.
`final_h` / `final_c` (ONNX's Y_h and Y_c): more outputs, copies of h and c [B, N] after the last step.
`reverse` (ONNX's reverse direction, and the backward half of a bidirectional LSTM; float32 only, TFLite's LSTM
has no such form: quantizer._lower_reverse_lstms writes it as a forward LSTM between two STRIDED_SLICEs of stride
-1 on the time axis): the steps run from the last to the first, output step t still at place t.

One step of one row, int8 (TFLM's integer 8x8->16 LSTM: int8 x, h and weights, int16 gates and cell, int32 bias):
  gate pre-activations in Q3.12 (int16, scale 2^-12):
    z_g = sat16(clamp16(MBQM(b_g + sum_k W_g[n,k] (x_k - zp_x), Mx_g, ex_g))
                + clamp16(MBQM(sum_k R_g[n,k] (h_k - zp_h), Mh_g, eh_g)))
    with (Mx_g, ex_g) = QM(float32(s_x s_Wg) / 2^-12) and (Mh_g, eh_g) = QM(float32(s_h s_Rg) / 2^-12);
  gates in Q0.15: i = sigma16(z_i), f = sigma16(z_f), g = tanh16(z_c, Q3.12), o = sigma16(z_o);
  c = clamp16(MBQM(f c, 2^30, -14));  c = sat16(c + clamp16(MBQM(i g, QM(2^-30 / s_c))));
  c = clamp(c, -q, q) when cell_clip > 0, q = trunc(min(cell_clip / s_c, 32767));
  h = y_t = clamp8(MBQM(tanh16(c, Q(15+p).(-p)) o, QM(2^-30 / s_h)) + zp_h)   (s_c = 2^p; y carries h's quantization).
sigma16 and tanh16 interpolate TFLite's 256-entry table of sigma(i/24) 2^16 (SIGMOID_TABLE below):
  sigma16(z): v = 3z, a = |v|, j = a >> 9, r = j >= 255 ? 32767 * 2^10 : T[j] 2^9 + (a & 511)(T[j+1] - T[j]);
              y = v >= 0 ? (r + 2^9) >> 10 : (2^25 - r + 2^9 - 1) >> 10
  tanh16(z, Q3.12): v = 3z; with a cell at 2^p: v = 3 * 2^(p+12) z when p >= -12, else (3z + 2^(-p-13)) >> (-p-12);
              a = |v|, j = a >> 8, r = j >= 255 ? 65535 * 2^8 : T[j] 2^8 + (a & 255)(T[j+1] - T[j]);
              y = v >= 0 ? (r - 2^23 + 2^7) >> 8 : (2^23 - r + 2^7 - 1) >> 8
16x8 (TFLM's LSTM with int16 activations: int16 x, h and y with zero point 0, int8 weights, int64 biases): the
same step with int64 sums, no input or hidden offsets, h clamped to int16, and the two FCs rescaled with TFLM's
64-bit MultiplyByQuantizedMultiplier (MBQM64, ops/int16_common.py) instead of MBQM:
    z_g = sat16(clamp16(MBQM64(b_g + W_g x, Mx_g)) + clamp16(MBQM64(R_g h, Mh_g))),
    with Mx_g = QM(s_x s_Wg / 2^-12), Mh_g = QM(s_h s_Rg / 2^-12), the products in double (measured: TFLM's 16x8
    multipliers are those, where the 64-bit rescale's 16-bit multiplier (M + 2^15) >> 16 would round otherwise);
    h = y_t = clamp16(MBQM(tanh16(c) o, QM(2^-30 / s_h))).
float32: the same step in float (the FCs summed in k order then the bias added, z = fc_x + fc_h, sigma(z) = 1 above
16.619047, e^z below -9, else 1 / (1 + e^-z), tanh from libm, c = f c + i g, clip, h = o tanh(c)).
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from .base import Operator, Quantization, register
from .float_common import all_float32
from .int16_common import mbqm64

X, W0, R0, B0, H, C = 0, 1, 5, 9, 13, 14  # the IR inputs: x, W_i..W_o, R_i..R_o, b_i..b_o, h, c
GATES = "ifco"


def _sigmoid_table() -> np.ndarray:
    """TFLite's sigma(i/24) * 2^16 for i = 0..255, as its kernels hold it: round to nearest, except the entries
    listed, which are one above (recovered from TFLite Micro's int16 TANH, whose output at an input landing exactly
    on entry j is T[j] - 32768; tests/host/test_op_lstm.py measures it again)."""
    i = np.arange(256)
    t = np.minimum(np.round(65536.0 / (1.0 + np.exp(-i / 24.0))), 65535).astype(np.int64)
    above = [4, 8, 12, 14, 15, 16, 17, 19, 20, 21, 22, 25, 27, 28, 29, 30, 31, 33, 34, 35, 37, 39, 40, 41, 43, 44,
             45, 46, 49, 50, 54, 62, 63, 64, 66, 82, 86, 93, 100, 103, 112, 116, 135, 255]
    t[above] += 1
    return t


SIGMOID_TABLE = _sigmoid_table()


def sigmoid16(z: np.ndarray) -> np.ndarray:
    """Q3.12 -> Q0.15 logistic (module doc)."""
    t = SIGMOID_TABLE
    v = 3 * np.asarray(z, dtype=np.int64)
    a = np.abs(v)
    j = np.minimum(a >> 9, 254)
    r = np.where(a >> 9 >= 255, 32767 << 10, t[j] * 512 + (a & 511) * (t[j + 1] - t[j]))
    return np.where(v >= 0, (r + 512) >> 10, ((1 << 25) - r + 511) >> 10)


def tanh16(z: np.ndarray, power: int) -> np.ndarray:
    """tanh of an int16 at scale 2^power -> Q0.15 (module doc)."""
    t = SIGMOID_TABLE
    z = np.asarray(z, dtype=np.int64)
    sh = power + 12
    v = 3 * z * (1 << sh) if sh >= 0 else (3 * z + (1 << (-sh - 1))) >> (-sh)
    a = np.abs(v)
    j = np.minimum(a >> 8, 254)
    r = np.where(a >> 8 >= 255, 65535 << 8, t[j] * 256 + (a & 255) * (t[j + 1] - t[j]))
    return np.where(v >= 0, (r - (1 << 23) + 128) >> 8, ((1 << 23) - r + 127) >> 8)


def _product(s_a: float, s_b: float, double: bool) -> float:
    """s_a s_b as TFLite Micro forms a gate's FC scale: in float32 for the int8 LSTM, in double for the 16x8 one
    (measured: the 16x8 multipliers match TFLite Micro only so, where the 64-bit rescale's 16-bit multiplier
    rounds differently)."""
    if double:
        return float(np.float64(s_a) * np.float64(s_b))
    return float(np.float32(np.float32(s_a) * np.float32(s_b)))


def _dims(op, g) -> tuple[int, int, int, int] | None:
    """(T, B, I, N) when the tensors have an LSTM's shapes, else None."""
    if len(op.inputs) != 15 or any(i is None for i in op.inputs):
        return None
    x = g.t(op.inputs[X]).shape
    w = [g.t(op.inputs[k]).shape for k in range(W0, W0 + 4)]
    r = [g.t(op.inputs[k]).shape for k in range(R0, R0 + 4)]
    b = [g.t(op.inputs[k]).shape for k in range(B0, B0 + 4)]
    if len(x) != 3 or len(w[0]) != 2:
        return None
    t, bt = (x[0], x[1]) if op.attrs.get("time_major") else (x[1], x[0])
    n, i = w[0]
    if (x[2] != i or any(s != (n, i) for s in w) or any(s != (n, n) for s in r) or any(s != (n,) for s in b)
            or g.t(op.inputs[H]).size != bt * n or g.t(op.inputs[C]).size != bt * n):
        return None
    return t, bt, i, n


def lstm_shapes(op, g) -> bool:
    """a standard LSTM: input [T, B, I] (time_major) or [B, T, I], the four input weights [N, I], the four
    recurrent weights [N, N], the four biases [N], hidden and cell states of B*N elements, all present"""
    return _dims(op, g) is not None


def lstm_states(op, g) -> bool:
    """the hidden and cell states (TFLite inputs 18 and 19) are variable tensors; weights and biases constants"""
    return (len(op.inputs) == 15 and all(i is not None for i in op.inputs)
            and g.t(op.inputs[H]).state and g.t(op.inputs[C]).state
            and all(g.t(op.inputs[k]).is_const for k in range(W0, B0 + 4)))


def lstm_cell_activation(op, g) -> bool:
    """the cell gate's activation is TANH (TFLite Micro's LSTM allows tanh or sigmoid, and the schema can only
    name tanh)"""
    return op.attrs.get("activation") == "TANH"


def lstm_int_types(op, g) -> bool:
    """int8 LSTM (TFLite's 8x8->16): input, output and hidden state int8, the eight weights int8 per tensor with
    zero point 0, the biases int32, the cell state int16 (int16 activations: the 16x8 form)"""
    if len(op.inputs) != 15 or any(i is None for i in op.inputs):
        return False
    ts = [g.t(i) for i in op.inputs]
    weights = ts[W0:B0]
    return (ts[X].dtype == "int8" and ts[H].dtype == "int8" and g.t(op.outputs[0]).dtype == "int8"
            and ts[C].dtype == "int16" and all(b.dtype == "int32" for b in ts[B0:B0 + 4])
            and all(w.dtype == "int8" and w.quant is not None and w.quant.scale.size == 1
                    and int(w.quant.zero_point[0]) == 0 for w in weights)
            and all(t.quant is not None and t.quant.scale.size == 1 for t in (ts[X], ts[H], ts[C])))


def lstm_int16_types(op, g) -> bool:
    """16x8 LSTM (TFLite Micro's int16 activations): input, output and hidden state int16 with zero point 0, the
    eight weights int8 per tensor with zero point 0, the biases int64, the cell state int16"""
    if len(op.inputs) != 15 or any(i is None for i in op.inputs):
        return False
    ts = [g.t(i) for i in op.inputs]
    acts = [ts[X], ts[H], g.t(op.outputs[0])]
    return (all(t.dtype == "int16" and t.quant is not None and t.quant.scale.size == 1 and t.zero_point == 0
                for t in acts)
            and ts[C].dtype == "int16" and ts[C].quant is not None and ts[C].quant.scale.size == 1
            and all(b.dtype == "int64" for b in ts[B0:B0 + 4])
            and all(w.dtype == "int8" and w.quant is not None and w.quant.scale.size == 1
                    and int(w.quant.zero_point[0]) == 0 for w in ts[W0:B0]))


def lstm_s16_in_range(op, g) -> bool:
    """16x8: every bias below 2^46 in magnitude and every gate rescale s_x s_W / 2^-12, s_h s_R / 2^-12 in
    [2^-32, 2^7) (TFLite Micro's 64-bit rescale takes shifts -31 to 7 and sums below 2^47)"""
    x, h = g.t(op.inputs[X]), g.t(op.inputs[H])
    for k in range(4):
        for src, wt in ((x, g.t(op.inputs[W0 + k])), (h, g.t(op.inputs[R0 + k]))):
            _, e = quantize_multiplier(_product(src.scale, wt.scale, True) / 2.0 ** -12)
            if not -31 <= e <= 7:
                return False
        b = g.t(op.inputs[B0 + k])
        if b.data is None or int(np.abs(np.asarray(b.data, np.int64)).max(initial=0)) >= 2**46:
            return False
    return True


def lstm_forward(op, g) -> bool:
    """integer kernels run forward only, as TFLite's LSTM (the quantizer turns a reverse LSTM, ONNX's reverse
    direction or the backward half of a bidirectional one, into a forward one between two time reversals)"""
    return not op.attrs.get("reverse")


def lstm_output_is_h(op, g) -> bool:
    """the output has the hidden state's scale and zero point (TFLite Micro copies h into it unscaled)"""
    h, y = g.t(op.inputs[H]), g.t(op.outputs[0])
    return (h.quant is not None and y.quant is not None and float(h.quant.scale[0]) == float(y.quant.scale[0])
            and h.zero_point == y.zero_point)


def lstm_cell_pot(op, g) -> bool:
    """the cell state's scale is a power of two 2^p (p in -31..0) with zero point 0"""
    c = g.t(op.inputs[C])
    if c.quant is None or c.zero_point != 0:
        return False
    m, e = np.frexp(float(c.quant.scale[0]))
    return bool(m == 0.5 and -31 <= e - 1 <= 0)


@register
class Lstm(Operator):
    type = "lstm"
    kernel = "lstm_s8"
    constraints = [lstm_shapes, lstm_states, lstm_cell_activation, lstm_forward, lstm_int_types, lstm_output_is_h,
                   lstm_cell_pot]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None

    def export_tflite(self, op, g, w, ins):
        # an ONNX LSTM (reset_state) is written as TFLite's LSTM, which keeps its state: the file computes the
        # ONNX model when the interpreter is reset before each invocation (reference.restarts_each_run)
        if op.attrs.get("reverse"):
            raise w.Unsupported("a reverse LSTM (ONNX's reverse or bidirectional direction); TFLite's LSTM runs "
                                "forward only")
        if len(op.outputs) > 1:
            raise w.Unsupported("the LSTM outputs its final hidden or cell state (ONNX's Y_h, Y_c); TFLite's "
                                "LSTM outputs only the sequence")
        full = [ins[0], *ins[W0:B0], -1, -1, -1, *ins[B0:B0 + 4], -1, -1, ins[H], ins[C], -1, -1, -1, -1]
        return "UNIDIRECTIONAL_SEQUENCE_LSTM", full, "UnidirectionalSequenceLSTMOptions", dict(
            fusedActivationFunction=4, cellClip=float(op.attrs.get("cell_clip", 0.0)), projClip=0.0,
            timeMajor=bool(op.attrs.get("time_major")), asymmetricQuantizeInputs=False,
            diagonalRecurrentTensors=False)

    def infer_shape(self, op, g):
        x = g.t(op.inputs[X]).shape
        n = g.t(op.inputs[W0]).shape[0]
        batch = x[1] if op.attrs.get("time_major") else x[0]
        return [(*x[:2], n)] + [(batch, n)] * (len(op.outputs) - 1)

    def prepare(self, op, g, double: bool = False):
        x, h, c = g.t(op.inputs[X]), g.t(op.inputs[H]), g.t(op.inputs[C])
        gate = 2.0 ** -12
        mx, ex, mh, eh = [], [], [], []
        for k in range(4):
            s_w, s_r = g.t(op.inputs[W0 + k]).scale, g.t(op.inputs[R0 + k]).scale
            m, e = quantize_multiplier(_product(x.scale, s_w, double) / gate)
            mx.append(m)
            ex.append(e)
            m, e = quantize_multiplier(_product(h.scale, s_r, double) / gate)
            mh.append(m)
            eh.append(e)
        power = int(np.frexp(c.scale)[1]) - 1
        m_ig, e_ig = quantize_multiplier(2.0 ** -30 / float(c.scale))
        m_h, e_h = quantize_multiplier(2.0 ** -30 / float(h.scale))
        clip = float(op.attrs.get("cell_clip", 0.0))
        q = int(min(max(clip / float(c.scale), -32768.0), 32767.0)) if clip > 0 else 0
        op.params.update(input_offset=-x.zero_point, hidden_offset=-h.zero_point, output_offset=h.zero_point,
                         input_multiplier=mx, input_shift=ex, hidden_multiplier=mh, hidden_shift=eh,
                         cell_power=power, ig_multiplier=m_ig, ig_shift=e_ig, h_multiplier=m_h, h_shift=e_h,
                         cell_clip=q)

    def reference(self, op, g, inputs):
        """[y]; h and c (inputs 13 and 14, the live state arrays) are updated in place."""
        return self._reference_int(op, g, inputs, wide=False)

    def _reference_int(self, op, g, inputs, wide: bool):
        """The integer step of both widths: int8 (int32 sums, 32-bit rescale) or 16x8 (`wide`: int16 x, h and y,
        int64 sums and biases, TFLite Micro's 64-bit rescale)."""
        p = op.params
        t_steps, batch, _, n = _dims(op, g)  # type: ignore[misc]
        x, hs, cs = inputs[X], inputs[H], inputs[C]
        assert x is not None and hs is not None and cs is not None
        w = [np.asarray(inputs[W0 + k], np.int64) for k in range(4)]
        r = [np.asarray(inputs[R0 + k], np.int64) for k in range(4)]
        bias = [np.asarray(inputs[B0 + k], np.int64) for k in range(4)]
        tm = bool(op.attrs.get("time_major"))
        act, lo, hi = (np.int16, -32768, 32767) if wide else (np.int8, -128, 127)
        y = np.zeros((t_steps, batch, n) if tm else (batch, t_steps, n), act)
        h2, c2 = hs.reshape(batch, n), cs.reshape(batch, n)
        if op.attrs.get("reset_state"):  # ONNX: every invocation starts from a zero state
            h2[...], c2[...] = p["output_offset"], 0

        def sat16(v):
            return np.clip(v, -32768, 32767)

        fc = mbqm64 if wide else multiply_by_quantized_multiplier
        for b in range(batch):
            for t in range(t_steps):
                xv = np.asarray(x[t, b] if tm else x[b, t], np.int64) + p["input_offset"]
                hv = h2[b].astype(np.int64) + p["hidden_offset"]
                z = [sat16(sat16(fc(w[k] @ xv + bias[k], p["input_multiplier"][k], p["input_shift"][k]))
                           + sat16(fc(r[k] @ hv, p["hidden_multiplier"][k], p["hidden_shift"][k])))
                     for k in range(4)]
                i_g, f_g, g_g, o_g = sigmoid16(z[0]), sigmoid16(z[1]), tanh16(z[2], -12), sigmoid16(z[3])
                c = sat16(multiply_by_quantized_multiplier(f_g * c2[b].astype(np.int64), 1 << 30, -14))
                c = sat16(c + sat16(multiply_by_quantized_multiplier(i_g * g_g, p["ig_multiplier"], p["ig_shift"])))
                if p["cell_clip"] > 0:
                    c = np.clip(c, -p["cell_clip"], p["cell_clip"])
                hn = multiply_by_quantized_multiplier(tanh16(c, p["cell_power"]) * o_g, p["h_multiplier"],
                                                      p["h_shift"]) + p["output_offset"]
                c2[b] = c.astype(np.int16)
                h2[b] = np.clip(hn, lo, hi).astype(act)
                if tm:
                    y[t, b] = h2[b]
                else:
                    y[b, t] = h2[b]
        return [y, *self._finals(op, h2, c2)]

    @staticmethod
    def _finals(op, h2: np.ndarray, c2: np.ndarray) -> list[np.ndarray]:
        """The final-state outputs (ONNX's Y_h, Y_c) the op has."""
        return ([h2.copy()] if op.attrs.get("final_h") else []) + ([c2.copy()] if op.attrs.get("final_c") else [])

    def _final_ptrs(self, op, ctx) -> str:
        k = 1
        ptrs = []
        for flag in ("final_h", "final_c"):
            ptrs.append(ctx.ptr(op.outputs[k]) if op.attrs.get(flag) else "NULL")
            k += bool(op.attrs.get(flag))
        return ", ".join(ptrs)

    def _int_fields(self, op, g, ctx) -> dict:
        """The C fields of both integer kernels (lstm_s8, lstm_s16)."""
        t_steps, batch, i, n = _dims(op, g)  # type: ignore[misc]
        p = op.params
        gates = dict(time_steps=t_steps, batches=batch, input_size=i, units=n,
                     time_major=int(bool(op.attrs.get("time_major"))),
                     reset_state=int(bool(op.attrs.get("reset_state"))),
                     input_multiplier=ctx.const_array(op, "input_multiplier", p["input_multiplier"]),
                     input_shift=ctx.const_array(op, "input_shift", p["input_shift"]),
                     hidden_multiplier=ctx.const_array(op, "hidden_multiplier", p["hidden_multiplier"]),
                     hidden_shift=ctx.const_array(op, "hidden_shift", p["hidden_shift"]),
                     ig_multiplier=p["ig_multiplier"], ig_shift=p["ig_shift"], h_multiplier=p["h_multiplier"],
                     h_shift=p["h_shift"], cell_power=p["cell_power"], cell_clip=p["cell_clip"],
                     sigmoid_table=ctx.const_array(op, "sigmoid_table", SIGMOID_TABLE.astype(np.uint16),
                                                   "uint16_t"),
                     input_weights="{" + ", ".join(ctx.ptr(op.inputs[W0 + k]) for k in range(4)) + "}",
                     recurrent_weights="{" + ", ".join(ctx.ptr(op.inputs[R0 + k]) for k in range(4)) + "}")
        # the shared fields sit in the struct's `g` (runtime/lstm_common.h): C99 nested designators `.g.units`
        return {**{f"g.{k}": v for k, v in gates.items()}, "input_offset": p["input_offset"],
                "hidden_offset": p["hidden_offset"], "output_offset": p["output_offset"],
                "bias": "{" + ", ".join(ctx.ptr(op.inputs[B0 + k]) for k in range(4)) + "}"}

    def emit(self, op, g, ctx):
        params = ctx.params_struct(op, "edgec_lstm_s8_params", self._int_fields(op, g, ctx))
        return (f"edgec_lstm_s8(&{params}, {ctx.ptr(op.inputs[X])}, {ctx.ptr(op.inputs[H])}, "
                f"{ctx.ptr(op.inputs[C])}, {ctx.ptr(op.outputs[0])}, {self._final_ptrs(op, ctx)});")

    # ---- int16 (16x8, TFLite Micro's EvalLstm<int16_t, int8_t, int16_t, int64_t>) ---------------------------
    kernel_s16 = "lstm_s16"
    constraints_s16 = [lstm_shapes, lstm_states, lstm_cell_activation, lstm_forward, lstm_int16_types,
                       lstm_output_is_h, lstm_cell_pot, lstm_s16_in_range]

    def prepare_s16(self, op, g):
        self.prepare(op, g, double=True)  # zero points 0: every offset is 0

    def reference_s16(self, op, g, inputs):
        """[y]; h and c updated in place (16x8: int64 sums, 64-bit rescale of the two FCs)."""
        return self._reference_int(op, g, inputs, wide=True)

    def emit_s16(self, op, g, ctx):
        fields = self._int_fields(op, g, ctx)
        for key in ("input_offset", "hidden_offset", "output_offset"):  # symmetric int16: all 0
            fields.pop(key)
        params = ctx.params_struct(op, "edgec_lstm_s16_params", fields)
        return (f"edgec_lstm_s16(&{params}, {ctx.ptr(op.inputs[X])}, {ctx.ptr(op.inputs[H])}, "
                f"{ctx.ptr(op.inputs[C])}, {ctx.ptr(op.outputs[0])}, {self._final_ptrs(op, ctx)});")

    def macs(self, op, g):
        t_steps, batch, i, n = _dims(op, g) or (0, 0, 0, 0)
        return t_steps * batch * 4 * n * (i + n)

    # ---- float32 --------------------------------------------------------------------------------------------
    kernel_f32 = "lstm_f32"
    constraints_f32 = [all_float32, lstm_shapes, lstm_states, lstm_cell_activation]

    def reference_f32(self, op, g, inputs, cells: list | None = None):
        """[y] in float32 (the FCs in float64 rounded once); h and c updated in place. `cells` (the quantizer's
        calibration): receives the cell state of every step, the range its int16 scale must cover."""
        t_steps, batch, _, n = _dims(op, g)  # type: ignore[misc]
        x, hs, cs = inputs[X], inputs[H], inputs[C]
        assert x is not None and hs is not None and cs is not None
        f32 = np.float32
        w = [np.asarray(inputs[W0 + k], np.float64) for k in range(4)]
        r = [np.asarray(inputs[R0 + k], np.float64) for k in range(4)]
        bias = [np.asarray(inputs[B0 + k], np.float32) for k in range(4)]
        tm = bool(op.attrs.get("time_major"))
        clip = f32(op.attrs.get("cell_clip", 0.0))
        y = np.zeros((t_steps, batch, n) if tm else (batch, t_steps, n), f32)
        h2, c2 = hs.reshape(batch, n), cs.reshape(batch, n)
        if op.attrs.get("reset_state"):
            h2[...], c2[...] = 0, 0

        def sigmoid(z):
            with np.errstate(over="ignore"):
                return np.where(z > f32(16.619047), f32(1), np.where(z < f32(-9), np.exp(z).astype(f32),
                                (f32(1) / (f32(1) + np.exp(-z))).astype(f32))).astype(f32)

        for b in range(batch):
            for t in (range(t_steps - 1, -1, -1) if op.attrs.get("reverse") else range(t_steps)):
                xv = np.asarray(x[t, b] if tm else x[b, t], np.float64)
                hv = h2[b].astype(np.float64)
                z = [((w[k] @ xv).astype(f32) + bias[k]).astype(f32) + (r[k] @ hv).astype(f32) for k in range(4)]
                i_g, f_g, g_g, o_g = sigmoid(z[0]), sigmoid(z[1]), np.tanh(z[2]).astype(f32), sigmoid(z[3])
                c = (f_g * c2[b]).astype(f32) + (i_g * g_g).astype(f32)
                if clip > 0:
                    c = np.clip(c, -clip, clip).astype(f32)
                c2[b] = c
                if cells is not None:
                    cells.append(c.copy())
                h2[b] = (o_g * np.tanh(c).astype(f32)).astype(f32)
                if tm:
                    y[t, b] = h2[b]
                else:
                    y[b, t] = h2[b]
        return [y, *self._finals(op, h2, c2)]

    def emit_f32(self, op, g, ctx):
        t_steps, batch, i, n = _dims(op, g)  # type: ignore[misc]
        from .float_common import c_float

        fields = dict(time_steps=t_steps, batches=batch, input_size=i, units=n,
                      time_major=int(bool(op.attrs.get("time_major"))),
                      reset_state=int(bool(op.attrs.get("reset_state"))),
                      reverse=int(bool(op.attrs.get("reverse"))),
                      cell_clip=c_float(float(op.attrs.get("cell_clip", 0.0))),
                      input_weights="{" + ", ".join(ctx.ptr(op.inputs[W0 + k]) for k in range(4)) + "}",
                      recurrent_weights="{" + ", ".join(ctx.ptr(op.inputs[R0 + k]) for k in range(4)) + "}",
                      bias="{" + ", ".join(ctx.ptr(op.inputs[B0 + k]) for k in range(4)) + "}")
        params = ctx.params_struct(op, "edgec_lstm_f32_params", fields)
        return (f"edgec_lstm_f32(&{params}, {ctx.ptr(op.inputs[X])}, {ctx.ptr(op.inputs[H])}, "
                f"{ctx.ptr(op.inputs[C])}, {ctx.ptr(op.outputs[0])}, {self._final_ptrs(op, ctx)});")
