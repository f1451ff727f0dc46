"""ONNX recurrent layers: LSTM, mapped onto the IR's `lstm` op (TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM, ops/lstm.py).

ONNX's LSTM holds its gates in the order i, o, f, c (W [1, 4H, I], R [1, 4H, H], B [1, 8H] = input biases then
recurrent biases); the IR op takes them as i, f, c, o with one bias per gate (the input and recurrent biases
added, in float32). layout 0 is time-major ([seq, B, I]), layout 1 batch-major; Y ([seq, 1, B, H] or [B, seq, 1, H])
is the op's output reshaped. ONNX restarts every run from initial_h / initial_c (zero when absent), where TFLite
keeps the state between invocations: the op gets `reset_state`, and each invocation starts from a zero state.
What TFLite Micro's LSTM cannot compute is refused by name: reverse and bidirectional directions, other
activations, clip (ONNX clips the gate inputs, TFLite the cell), input_forget (CIFG), peepholes (P), non-zero
initial states, sequence_lens shorter than the sequence. Y_h and Y_c ([1, B, H]) are h and c after the last step:
extra outputs of the op (`final_h`, `final_c`).
"""

from __future__ import annotations

import numpy as np

from .onnx_graph import Node, Unsupported
from .onnx_layout import identity

#: ONNX's gate blocks (i, o, f, c) -> the IR's order (i, f, c, o)
ONNX_TO_IR_GATES = (0, 2, 3, 1)


def LSTM(n: Node) -> None:
    if n.quantized:
        raise Unsupported("a quantized (Q/DQ) LSTM; edgec runs the float LSTM (`--dtype float32`)")
    direction = n.attr("direction", "forward")
    if direction != "forward":
        raise Unsupported(f"direction {direction} (supported: forward; TFLite Micro has no reverse or "
                          "bidirectional LSTM)")
    acts = [a.decode() if isinstance(a, bytes) else a for a in (n.attr("activations") or [])]
    if acts and [a.lower() for a in acts] != ["sigmoid", "tanh", "tanh"]:
        raise Unsupported(f"activations {acts} (supported: the default Sigmoid, Tanh, Tanh)")
    n.attr("activation_alpha")
    n.attr("activation_beta")
    if n.attr("clip") is not None:
        raise Unsupported("clip (ONNX clips the gate pre-activations; TFLite's LSTM clips the cell state)")
    if n.attr("input_forget", 0):
        raise Unsupported("input_forget = 1 (a CIFG LSTM: TFLite Micro's LSTM has separate input and forget gates)")
    layout = int(n.attr("layout", 0))
    hidden = n.attr("hidden_size")
    x_shape = n.shape(0)
    if len(x_shape) != 3:
        raise Unsupported(f"X of rank {len(x_shape)} (an LSTM's X is [seq, batch, input])")
    seq, batch = (x_shape[0], x_shape[1]) if layout == 0 else (x_shape[1], x_shape[0])
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
        raise Unsupported("peephole weights P (TFLite Micro's LSTM has no peepholes)")
    gates = [slice(g * h, (g + 1) * h) for g in ONNX_TO_IR_GATES]
    ws = [n.const(np.ascontiguousarray(w[0, s], np.float32), (0, 1), None, f"w{k}") for k, s in enumerate(gates)]
    rs = [n.const(np.ascontiguousarray(r[0, s], np.float32), (0, 1), None, f"r{k}") for k, s in enumerate(gates)]
    bs = [n.const((bias[0, s] + bias[1, s]).astype(np.float32), (0,), None, f"b{k}") for k, s in enumerate(gates)]
    base = n.imp.op_name(n.node)
    states = [n.imp.new_tensor(f"{base}_{what}", (batch, h), "float32", None) for what in ("h", "c")]
    for s in states:
        n.imp.tensors[s].state = True
    seq_out = n.imp.new_tensor(f"{base}_y", (seq, batch, h) if layout == 0 else (batch, seq, h), "float32", None)
    outputs = {o.name for o in n.imp.model.graph.output}
    used = [len(n.node.output) > k and bool(n.node.output[k]) and (
        n.node.output[k] in n.imp.readers or n.node.output[k] in outputs) for k in range(3)]
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
