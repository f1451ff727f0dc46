"""ONNX recurrent layers: LSTM, mapped onto the IR's `lstm` op (TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM, ops/lstm.py),
and GRU, mapped onto the IR's float `gru` op (ops/gru.py; TFLite has no GRU builtin).

ONNX's LSTM holds its gates in the order i, o, f, c (W [1, 4H, I], R [1, 4H, H], B [1, 8H] = input biases then
recurrent biases); the IR op takes them as i, f, c, o with one bias per gate (the input and recurrent biases
added, in float32). layout 0 is time-major ([seq, B, I]), layout 1 batch-major; Y ([seq, 1, B, H] or [B, seq, 1, H])
is the op's output reshaped. ONNX restarts every run from initial_h / initial_c (zero when absent), where TFLite
keeps the state between invocations: the op gets `reset_state`, and each invocation starts from a zero state.
What TFLite Micro's LSTM cannot compute is refused by name: reverse and bidirectional directions, other
activations, clip (ONNX clips the gate inputs, TFLite the cell), input_forget (CIFG), peepholes (P), non-zero
initial states, sequence_lens shorter than the sequence. Y_h and Y_c ([1, B, H]) are h and c after the last step:
extra outputs of the op (`final_h`, `final_c`).

GRU: W [1, 3H, I], R [1, 3H, H], B [1, 6H] (input biases then recurrent biases), gates z, r, h in ONNX's order,
which the IR op keeps; the input and recurrent biases stay apart (with linear_before_reset = 1 the candidate's
recurrent bias is inside the reset gate's product). Refused by name as for the LSTM: reverse and bidirectional
directions, other activations, clip, non-zero initial_h, sequence_lens shorter than the sequence.
"""

from __future__ import annotations

import numpy as np

from .onnx_graph import Node, Unsupported
from .onnx_layout import identity

#: ONNX's gate blocks (i, o, f, c) -> the IR's order (i, f, c, o)
ONNX_TO_IR_GATES = (0, 2, 3, 1)


def _common(n: Node, kind: str, default_acts: list[str]) -> tuple[int, int, int]:
    """The checks LSTM and GRU share: (layout, seq, batch)."""
    if n.quantized:
        raise Unsupported(f"a quantized (Q/DQ) {kind}; edgec imports the float {kind} (`--dtype float32`"
                          + (", or `--calib` for int8)" if kind == "LSTM" else ")"))
    direction = n.attr("direction", "forward")
    if direction != "forward":
        raise Unsupported(f"direction {direction} (supported: forward only; a reverse {kind} is a forward one fed "
                          "the time-reversed sequence, which the caller can do; a bidirectional one is both and a "
                          "concatenation, which edgec does not build)")
    acts = [a.decode() if isinstance(a, bytes) else a for a in (n.attr("activations") or [])]
    if acts and [a.lower() for a in acts] != [a.lower() for a in default_acts]:
        raise Unsupported(f"activations {acts} (supported: the default {', '.join(default_acts)})")
    n.attr("activation_alpha")
    n.attr("activation_beta")
    if n.attr("clip") is not None:
        raise Unsupported("clip (ONNX clips the gate pre-activations; TFLite's LSTM clips the cell state)")
    layout = int(n.attr("layout", 0))
    x_shape = n.shape(0)
    if len(x_shape) != 3:
        raise Unsupported(f"X of rank {len(x_shape)} (an {kind}'s X is [seq, batch, input])")
    seq, batch = (x_shape[0], x_shape[1]) if layout == 0 else (x_shape[1], x_shape[0])
    return layout, seq, batch


def _outputs_used(n: Node, count: int) -> list[bool]:
    outputs = {o.name for o in n.imp.model.graph.output}
    return [len(n.node.output) > k and bool(n.node.output[k]) and (
        n.node.output[k] in n.imp.readers or n.node.output[k] in outputs) for k in range(count)]


def LSTM(n: Node) -> None:
    layout, seq, batch = _common(n, "LSTM", ["Sigmoid", "Tanh", "Tanh"])
    if n.attr("input_forget", 0):
        raise Unsupported("input_forget = 1 (a CIFG LSTM: TFLite Micro's LSTM has separate input and forget gates)")
    hidden = n.attr("hidden_size")
    w, r = n.const_input(1), n.const_input(2)
    h = w.shape[1] // 4
    if w.shape[0] != 1 or w.shape[1] != 4 * h or r.shape != (1, 4 * h, h) or (hidden is not None and hidden != h):
        raise Unsupported(f"W {list(w.shape)} and R {list(r.shape)} are not one direction's [1, 4H, I], [1, 4H, H]")
    bias = n.const_input(3).reshape(2, 4 * h).astype(np.float32) if n.has(3) else np.zeros((2, 4 * h), np.float32)
    if n.has(4):
        lens = n.const_input(4)
        if not np.all(lens == seq):
            raise Unsupported("sequence_lens shorter than the sequence (TFLite Micro runs whole sequences)")
    for k, what in ((5, "initial_h"), (6, "initial_c")):
        if n.has(k) and np.any(n.const_input(k) != 0):
            raise Unsupported(f"a non-zero {what} (each invocation starts from a zero state)")
    if n.has(7):
        raise Unsupported("peephole weights P (input 7; TFLite Micro's LSTM has no peepholes)")
    gates = [slice(g * h, (g + 1) * h) for g in ONNX_TO_IR_GATES]
    ws = [n.const(np.ascontiguousarray(w[0, s], np.float32), (0, 1), None, f"w{k}") for k, s in enumerate(gates)]
    rs = [n.const(np.ascontiguousarray(r[0, s], np.float32), (0, 1), None, f"r{k}") for k, s in enumerate(gates)]
    bs = [n.const((bias[0, s] + bias[1, s]).astype(np.float32), (0,), None, f"b{k}") for k, s in enumerate(gates)]
    base = n.imp.op_name(n.node)
    states = [n.imp.new_tensor(f"{base}_{what}", (batch, h), "float32", None) for what in ("h", "c")]
    for s in states:
        n.imp.tensors[s].state = True
    seq_out = n.imp.new_tensor(f"{base}_y", (seq, batch, h) if layout == 0 else (batch, seq, h), "float32", None)
    used = _outputs_used(n, 3)
    # Y_h and Y_c ([1, B, H]): h and c after the last step, extra outputs of the op
    finals = [n.imp.new_tensor(f"{base}_{what}_last", (batch, h), "float32", None)
              for k, what in ((1, "h"), (2, "c")) if used[k]]
    n.emit("lstm", [n.input_ir(0, identity(3)), *ws, *rs, *bs, *states], [seq_out, *finals],
           dict(time_major=layout == 0, cell_clip=0.0, activation="TANH", reset_state=True, final_h=used[1],
                final_c=used[2]))
    if used[0]:
        n.emit("reshape", [seq_out], n.output(0, identity(4)), {})
    for k, final in zip([k for k in (1, 2) if used[k]], finals, strict=True):
        n.imp.emit(n.node, "reshape", [final], n.output(k, identity(3)), {}, suffix=("", "y_h", "y_c")[k])


def GRU(n: Node) -> None:
    layout, seq, batch = _common(n, "GRU", ["Sigmoid", "Tanh"])
    hidden = n.attr("hidden_size")
    lbr = int(n.attr("linear_before_reset", 0))
    w, r = n.const_input(1), n.const_input(2)
    h = w.shape[1] // 3
    if w.shape[0] != 1 or w.shape[1] != 3 * h or r.shape != (1, 3 * h, h) or (hidden is not None and hidden != h):
        raise Unsupported(f"W {list(w.shape)} and R {list(r.shape)} are not one direction's [1, 3H, I], [1, 3H, H]")
    bias = n.const_input(3).reshape(2, 3 * h).astype(np.float32) if n.has(3) else np.zeros((2, 3 * h), np.float32)
    if n.has(4):
        lens = n.const_input(4)
        if not np.all(lens == seq):
            raise Unsupported("sequence_lens shorter than the sequence (edgec runs whole sequences)")
    if n.has(5) and np.any(n.const_input(5) != 0):
        raise Unsupported("a non-zero initial_h (each invocation starts from a zero state)")
    gates = [slice(g * h, (g + 1) * h) for g in range(3)]  # z, r, h: ONNX's order is the IR op's
    ws = [n.const(np.ascontiguousarray(w[0, s], np.float32), (0, 1), None, f"w{k}") for k, s in enumerate(gates)]
    rs = [n.const(np.ascontiguousarray(r[0, s], np.float32), (0, 1), None, f"r{k}") for k, s in enumerate(gates)]
    wbs = [n.const(np.ascontiguousarray(bias[0, s]), (0,), None, f"wb{k}") for k, s in enumerate(gates)]
    rbs = [n.const(np.ascontiguousarray(bias[1, s]), (0,), None, f"rb{k}") for k, s in enumerate(gates)]
    base = n.imp.op_name(n.node)
    state = n.imp.new_tensor(f"{base}_h", (batch, h), "float32", None)
    n.imp.tensors[state].state = True
    seq_out = n.imp.new_tensor(f"{base}_y", (seq, batch, h) if layout == 0 else (batch, seq, h), "float32", None)
    used = _outputs_used(n, 2)
    finals = [n.imp.new_tensor(f"{base}_h_last", (batch, h), "float32", None)] if used[1] else []
    n.emit("gru", [n.input_ir(0, identity(3)), *ws, *rs, *wbs, *rbs, state], [seq_out, *finals],
           dict(time_major=layout == 0, linear_before_reset=bool(lbr), reset_state=True, final_h=used[1]))
    if used[0]:
        n.emit("reshape", [seq_out], n.output(0, identity(4)), {})
    if used[1]:
        n.imp.emit(n.node, "reshape", [finals[0]], n.output(1, identity(3)), {}, suffix="y_h")
