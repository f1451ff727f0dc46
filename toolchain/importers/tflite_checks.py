"""Field-by-field validation of a TFLite model before the importer reads it (docs/cli.md, "What edgec checks in a
.tflite file").

A flatbuffer that parses can still hold any value in any field. Each check here names the operator (`#k OP`),
the tensor, the field, the value found and the domain allowed, and every problem of the model is reported at
once (exit 2). What TFLite Micro accepts from real converters is accepted the same way (the bias quantization
quirk below); what it would compute with undefined behaviour, or crash on, is refused.
"""

from __future__ import annotations

import math

import numpy as np

from ..c_text import display_text
from ..errors import InputError
from ..fixedpoint import accumulator_extremes
from .tflite_reader import Reader, plain

INT32_MAX = 2**31 - 1
#: the largest stride, dilation, filter size and dilated filter extent edgec accepts: the kernels' window
#: arithmetic (origin = out * stride - pad, plus dilation * tap) then stays far inside int32. Real models use
#: single or double digits (a global pool: the input's size).
MAX_WINDOW = 65535

#: zero points a quantized tensor of this TFLite type may hold: the type's range. TFLite's 16x8 spec makes int16
#: activations symmetric, but TFLite Micro's QUANTIZE and DEQUANTIZE take any int16 zero point (their reference
#: kernels add it), so the range is int16's here; the ops that compute on int16 check their own rule.
ZERO_POINT_RANGE = {17: (-8, 7), 9: (-128, 127), 3: (0, 255), 7: (-(2**15), 2**15 - 1), 2: (-(2**31), INT32_MAX)}
TYPE_NAMES = {17: "int4", 9: "int8", 3: "uint8", 7: "int16", 2: "int32"}
#: bytes of one element of each TFLite type (float32, float16, int32, uint8, int64, bool, int16, int8, float64;
#: int4, two per byte, counted as one: a bound)
TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 17: 1}
#: a tensor with more bytes than this does not fit the C's int sizes and offsets (nor TFLite Micro's int byte
#: counts, nor any microcontroller): the same bound as for ONNX values
MAX_BYTES = INT32_MAX

#: input positions an operator may leave absent (-1): the bias of the conv-like operators, RESHAPE's shape tensor
OPTIONAL_INPUTS = {"CONV_2D": {2}, "DEPTHWISE_CONV_2D": {2}, "FULLY_CONNECTED": {2}, "TRANSPOSE_CONV": {3},
                   "RESHAPE": {1},
                   # the inputs of the LSTM variants (peephole, projection, layer norm, CIFG): the importer names
                   # the variant when one is present (or CIFG's input gate absent)
                   "UNIDIRECTIONAL_SEQUENCE_LSTM": {1, 5, 9, 10, 11, 12, 16, 17, 20, 21, 22, 23}}

#: the rank each input (then each output) must have, for the operators whose kernels index by rank (None: any)
RANKS: dict[str, tuple[tuple[int | None, ...], tuple[int | None, ...]]] = {
    "CONV_2D": ((4, 4, 1), (4,)),
    "DEPTHWISE_CONV_2D": ((4, 4, 1), (4,)),
    "TRANSPOSE_CONV": ((1, 4, 4, 1), (4,)),
    "AVERAGE_POOL_2D": ((4,), (4,)),
    "MAX_POOL_2D": ((4,), (4,)),
    "FULLY_CONNECTED": ((None, 2, 1), (None,)),
    "RESIZE_NEAREST_NEIGHBOR": ((4, 1), (4,)),
}

#: the operators whose int32 accumulator starts at the bias: (weights input, bias input, output-channel axis)
ACCUMULATING = {"CONV_2D": (1, 2, 0), "DEPTHWISE_CONV_2D": (1, 2, 3), "FULLY_CONNECTED": (1, 2, 0),
                "TRANSPOSE_CONV": (1, 3, 0)}


def _name(r: Reader, idx: int) -> str:
    """A tensor's name for a message: on one line whatever the file holds (a newline or escape in a name is shown
    as \\xNN)."""
    return display_text(r.names[idx])


def check_quantization(r: Reader) -> list[str]:
    """Scales finite and positive (0 allowed on a constant's channel: TFLM flushes it to a zero multiplier),
    zero points within the tensor's type, per-channel zero points 0, per-channel axis within the shape."""
    problems = []
    for i, t in enumerate(r.sg.tensors or []):
        q = t.quantization
        if q is None or q.scale is None or len(q.scale) == 0:
            continue
        name = _name(r, i)
        is_const = r.is_const(i)
        scales = np.asarray(q.scale, dtype=np.float64)
        bad = [str(np.float32(s)) for s in scales if not math.isfinite(s) or s < 0 or (s == 0 and not is_const)]
        if bad:
            domain = "finite and >= 0" if is_const else "finite and > 0"
            problems.append(f"tensor {name}: quantization scale {bad[0]} ({len(bad)} of {scales.size} scales "
                            f"bad); a scale must be {domain}")
        zps = [int(z) for z in (q.zeroPoint if q.zeroPoint is not None else [])]
        lo, hi = ZERO_POINT_RANGE.get(t.type, (-(2**63), 2**63 - 1))
        out = [z for z in zps if not lo <= z <= hi]
        if out:
            problems.append(f"tensor {name}: zero point {out[0]} is outside its type "
                            f"{TYPE_NAMES.get(t.type, t.type)} ({lo}..{hi})")
        elif scales.size > 1 and t.type in (9, 7, 17) and any(zps):
            problems.append(f"tensor {name}: per-channel quantization with zero point "
                            f"{next(z for z in zps if z)}; TFLite's per-channel quantization is symmetric "
                            "(every zero point 0)")
    return problems


def check_tensor_sizes(r: Reader) -> list[str]:
    """Every tensor's byte size (product of its shape x element size) fits MAX_BYTES. A damaged dimension
    (16777219 channels) otherwise reaches the memory planner and the patch search, which work per byte."""
    problems = []
    for i, t in enumerate(r.sg.tensors or []):
        shape = plain(t.shape)
        if any(d < 0 for d in shape):
            continue  # a dynamic dimension: the importer reports it
        count = math.prod(int(d) for d in shape)  # Python ints: no overflow
        size = count * TYPE_BYTES.get(t.type, 1)
        if size > MAX_BYTES:
            problems.append(f"tensor {_name(r, i)}: shape {shape} is {count} elements ({size} bytes), more than "
                            f"the {MAX_BYTES} bytes a tensor may have")
    return problems


def check_graph_inputs(r: Reader) -> list[str]:
    """A subgraph input is data the caller supplies at run time, so it is not a constant (a tensor whose buffer
    holds data): TFLite Micro would overwrite the constant, and edgec's memory planner gives a constant no arena
    place. (A constant output is refused with the structure checks.)"""
    problems = []
    buffers = r.model.buffers or []
    for pos, i in enumerate(int(i) for i in (r.sg.inputs if r.sg.inputs is not None else [])):
        if not 0 <= i < len(r.sg.tensors or []):
            continue  # out of range: reported by the structure checks
        t = r.sg.tensors[i]
        if 0 < t.buffer < len(buffers) and buffers[t.buffer].data is not None and len(buffers[t.buffer].data):
            problems.append(f"subgraph input {pos} ({_name(r, i)}) is a constant (buffer {t.buffer} holds "
                            f"{len(buffers[t.buffer].data)} bytes); a model's inputs are values given at run "
                            "time, never a constant")
    return problems


def check_inputs_present(r: Reader) -> list[str]:
    """-1 (absent) only where the operator has an optional input."""
    problems = []
    for k, op in enumerate(r.sg.operators or []):
        code = r.op_code(op)
        optional = OPTIONAL_INPUTS.get(code, set())
        for pos, i in enumerate(op.inputs if op.inputs is not None else []):
            if i < 0 and pos not in optional:
                allowed = (f"only input {', '.join(map(str, sorted(optional)))} may be absent" if optional
                           else "every input is required")
                problems.append(f"#{k} {code}: input {pos} is -1 (absent); a {code} needs it ({allowed})")
    return problems


def check_ranks(r: Reader) -> list[str]:
    """Every tensor an operator reads or writes has the rank the operator's kernel indexes it with."""
    problems = []
    for k, op in enumerate(r.sg.operators or []):
        code = r.op_code(op)
        if code not in RANKS:
            continue
        for role, indices, ranks in (("input", op.inputs, RANKS[code][0]), ("output", op.outputs, RANKS[code][1])):
            for pos, (i, rank) in enumerate(zip(indices if indices is not None else [], ranks)):
                if i < 0 or rank is None:
                    continue
                shape = plain(r.sg.tensors[i].shape)
                if len(shape) != rank:
                    problems.append(f"#{k} {code}: {role} {pos} ({_name(r, i)}) has rank {len(shape)} (shape "
                                    f"{shape}); a {code} takes rank {rank} there")
    return problems


#: the inputs of the stateful builtins that are state tensors (variable tensors persisting between invocations)
STATE_INPUTS = {"SVDF": (4,), "UNIDIRECTIONAL_SEQUENCE_LSTM": (18, 19)}


def check_variables(r: Reader) -> list[str]:
    """Variable tensors (state kept across invocations) are accepted only as the state input of a stateful op
    (STATE_INPUTS: SVDF's state, an LSTM's h and c), read by that op alone. Anywhere else they are refused: TFLite
    Micro allocates a variable in its arena, ignores the buffer's data and resets it to the zero point, so a
    constant marked variable is not the constant its buffer holds there."""
    uses: dict[int, list[tuple[str, int]]] = {}
    for top in r.sg.operators or []:
        code = r.op_code(top) if 0 <= top.opcodeIndex < len(r.model.operatorCodes or []) else "?"
        for k, i in enumerate(top.inputs if top.inputs is not None else []):
            uses.setdefault(int(i), []).append((code, k))
        for i in top.outputs if top.outputs is not None else []:
            uses.setdefault(int(i), []).append((code, -1))
    io = {int(i) for i in [*(r.sg.inputs if r.sg.inputs is not None else []),
                           *(r.sg.outputs if r.sg.outputs is not None else [])]}
    problems = []
    for i, t in enumerate(r.sg.tensors or []):
        if not t.isVariable:
            continue
        used = uses.get(i, [])
        if len(used) == 1 and i not in io and used[0][1] in STATE_INPUTS.get(used[0][0], ()):
            continue
        problems.append(f"tensor {_name(r, i)}: is_variable is true (a state tensor: TFLite Micro ignores its "
                        "buffer and starts it at the zero point); edgec supports variable tensors only as the "
                        "state input of one SVDF or UNIDIRECTIONAL_SEQUENCE_LSTM (SVDF's input 4, the LSTM's "
                        "inputs 18 and 19)")
    return problems


def check_depthwise_options(r: Reader) -> list[str]:
    """DEPTHWISE_CONV_2D's depth_multiplier is what TFLite Micro's kernel loops over (it does not derive it from
    the shapes): it must equal the filter's channels / the input's channels. Another value makes TFLM read outside
    its tensors (32767 crashed it) or, for 0, compute nothing."""
    problems = []
    for k, op in enumerate(r.sg.operators or []):
        if r.op_code(op) != "DEPTHWISE_CONV_2D" or op.builtinOptions is None or op.inputs is None:
            continue
        if len(op.inputs) < 2 or min(op.inputs[:2]) < 0:
            continue
        x, w = (plain(r.sg.tensors[i].shape) for i in op.inputs[:2])
        dm = getattr(op.builtinOptions, "depthMultiplier", None)
        if dm is None or len(x) != 4 or len(w) != 4:
            continue
        if x[3] <= 0 or w[3] % x[3]:
            problems.append(f"#{k} DEPTHWISE_CONV_2D: the filter's {w[3]} channels are not a multiple of the "
                            f"input's {x[3]} (filter shape {w}, input shape {x})")
        elif dm != w[3] // x[3]:
            problems.append(f"#{k} DEPTHWISE_CONV_2D: depth_multiplier is {dm}; the shapes give {w[3] // x[3]} "
                            f"(filter channels {w[3]} / input channels {x[3]}), and it must be that")
    return problems


def _scale(t) -> float | None:
    q = t.quantization
    return float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else None


def check_bias_scale(r: Reader) -> list[str]:
    """A FULLY_CONNECTED with per-tensor weights: TFLite Micro's Prepare (GetQuantizedConvolutionMultipler) refuses
    a bias scale that differs from input scale x weights scale (in double, as the pinned wheel computes it) by more
    than 2 % of
    the output scale; the bias values would be in other units than the accumulator they are added to."""
    problems = []
    tensors = r.sg.tensors or []
    for k, op in enumerate(r.sg.operators or []):
        if r.op_code(op) != "FULLY_CONNECTED" or op.inputs is None or len(op.inputs) < 3 or not len(op.outputs):
            continue
        x_i, w_i, b_i = (int(i) for i in op.inputs[:3])
        if min(x_i, w_i, b_i) < 0 or tensors[x_i].type != 9:
            continue
        w_q = tensors[w_i].quantization
        if w_q is None or w_q.scale is None or len(w_q.scale) != 1:
            continue
        scales = [_scale(tensors[i]) for i in (x_i, w_i, b_i, int(op.outputs[0]))]
        if any(s is None or not s for s in scales):
            continue
        s_x, s_w, s_b, s_y = (float(s or 0.0) for s in scales)
        diff = abs(s_x * s_w - s_b) / s_y
        if not diff <= 0.02:
            problems.append(f"#{k} FULLY_CONNECTED: bias {_name(r, b_i)} has scale {str(np.float32(s_b))} "
                            f"but input scale x "
                            f"weights scale is {s_x * s_w:.7g}: they differ by {diff:.3g} of the output scale "
                            f"{str(np.float32(s_y))}, more than the 0.02 TFLite Micro allows")
    return problems


def check_bias_length(r: Reader) -> list[str]:
    """A conv-like operator's bias holds one int32 per output channel (the weights' output-channel dimension): the
    kernels read bias[c] for every channel c, so a shorter bias would be read past its end."""
    problems = []
    for k, op in enumerate(r.sg.operators or []):
        code = r.op_code(op)
        if code not in ACCUMULATING or op.inputs is None:
            continue
        w_pos, b_pos, axis = ACCUMULATING[code]
        if b_pos >= len(op.inputs) or w_pos >= len(op.inputs) or min(op.inputs[w_pos], op.inputs[b_pos]) < 0:
            continue
        w_shape = plain(r.sg.tensors[int(op.inputs[w_pos])].shape)
        b_shape = plain(r.sg.tensors[int(op.inputs[b_pos])].shape)
        if len(w_shape) <= axis:
            continue  # reported by check_ranks
        if b_shape != [w_shape[axis]]:
            problems.append(f"#{k} {code}: bias {_name(r, int(op.inputs[b_pos]))} has shape {b_shape}; the weights "
                            f"(shape {w_shape}) have {w_shape[axis]} output channels, so it must be "
                            f"[{w_shape[axis]}]")
    return problems


def check_dilated_extent(r: Reader) -> list[str]:
    """A conv's dilated filter extent (taps - 1) * dilation + 1 stays within the window domain (MAX_WINDOW), so the
    padding and tap offsets the kernel adds up fit an int (each factor alone is checked with the options)."""
    problems = []
    for k, op in enumerate(r.sg.operators or []):
        code = r.op_code(op)
        o = op.builtinOptions
        if code not in ("CONV_2D", "DEPTHWISE_CONV_2D") or o is None or op.inputs is None or len(op.inputs) < 2:
            continue
        w_idx = int(op.inputs[1])
        shape = plain(r.sg.tensors[w_idx].shape) if w_idx >= 0 else []
        if len(shape) != 4:
            continue  # reported by check_ranks
        for axis, taps, field in (("height", shape[1], "dilationHFactor"), ("width", shape[2], "dilationWFactor")):
            dilation = getattr(o, field, 1)
            extent = (taps - 1) * dilation + 1
            if 1 <= dilation and extent > MAX_WINDOW:
                problems.append(f"#{k} {code}: {field} {dilation} with {taps} taps spans {extent} {axis} positions;"
                                f" the dilated filter must span at most {MAX_WINDOW}")
    return problems


def check_bias_headroom(r: Reader) -> list[str]:
    """The int32 accumulator of a conv-like op starts at the bias and adds w * (x - zp_x) for every tap: it cannot
    overflow when |bias[c]| + sum |w[c]| * max|x - zp_x| <= INT32_MAX for every output channel c (the C kernel and
    TFLite Micro both accumulate in int32; an overflow is undefined behaviour in both)."""
    problems = []
    for k, op in enumerate(r.sg.operators or []):
        code = r.op_code(op)
        if code not in ACCUMULATING or op.inputs is None:
            continue
        w_pos, b_pos, axis = ACCUMULATING[code]
        ins = [int(i) for i in op.inputs]
        if max(w_pos, b_pos) >= len(ins) or ins[w_pos] < 0 or ins[0 if code != "TRANSPOSE_CONV" else 2] < 0:
            continue
        x_idx = ins[0 if code != "TRANSPOSE_CONV" else 2]
        x_t, w_t = r.sg.tensors[x_idx], r.sg.tensors[ins[w_pos]]
        if x_t.type != 9 or w_t.type not in (9, 17):
            continue  # int8 activations (int8 or int4 weights) only: float models have no integer accumulator
        try:
            w = r.tensor_data(ins[w_pos])
            bias = r.tensor_data(ins[b_pos]) if ins[b_pos] >= 0 else None
        except InputError:
            continue  # a damaged buffer: the importer reports it
        if w is None or w.ndim <= axis:
            continue
        zp = int(x_t.quantization.zeroPoint[0]) if (x_t.quantization is not None and x_t.quantization.zeroPoint
                                                    is not None and len(x_t.quantization.zeroPoint)) else 0
        if not -128 <= zp <= 127:
            continue  # reported by check_quantization
        peaks, biases, span = accumulator_extremes(w, axis, zp, bias if bias is not None and bias.dtype == np.int32
                                                   else None)
        worst = int(np.argmax(peaks))
        if peaks[worst] > INT32_MAX:
            b = int(biases[worst])
            problems.append(f"#{k} {code}: output channel {worst} can overflow the int32 accumulator: |bias| {b}"
                            f" + sum|w| {int(peaks[worst] - b) // span} x max|x - zp| {span} = "
                            f"{int(peaks[worst])} > {INT32_MAX}")
    return problems


def validate(r: Reader) -> None:
    """All of the checks above; every problem in one message (exit 2)."""
    problems = (check_tensor_sizes(r) + check_graph_inputs(r) + check_quantization(r) + check_inputs_present(r)
                + check_ranks(r) + check_variables(r)
                + check_depthwise_options(r) + check_bias_scale(r)
                + check_dilated_extent(r) + check_bias_length(r))
    if not problems:  # the headroom check reads buffers and quantization the checks above vouch for
        problems = check_bias_headroom(r)
    if problems:
        raise InputError(f"{r.path}: invalid TFLite model ({len(problems)} problem{'s' * (len(problems) > 1)}):\n"
                         + "\n".join(f"  - {p}" for p in problems))
