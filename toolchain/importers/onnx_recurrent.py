"""ONNX recurrent layers: LSTM, mapped onto the IR's `lstm` op (TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM, ops/lstm.py),
and GRU, mapped onto the IR's float `gru` op (ops/gru.py; TFLite has no GRU builtin).

ONNX's LSTM holds its gates in the order i, o, f, c (W [1, 4H, I], R [1, 4H, H], B [1, 8H] = input biases then
recurrent biases); the IR op takes them as i, f, c, o with one bias per gate (the input and recurrent biases
added, in float32). layout 0 is time-major ([seq, B, I]), layout 1 batch-major; Y ([seq, 1, B, H] or [B, seq, 1, H])
is the op's output reshaped. ONNX restarts every run from initial_h / initial_c (zero when absent), where TFLite
keeps the state between invocations: the op gets `reset_state`, and each invocation starts from a zero state.
A reverse LSTM is the op with `reverse` (float32 only: TFLite's LSTM runs forward), a bidirectional one a
forward and a reverse op, their outputs concatenated on the direction axis (`_assemble`). What the op cannot
compute is refused by name: other activations, clip (ONNX clips the gate inputs, TFLite the cell), input_forget
(CIFG), peepholes (P), non-zero initial states, sequence_lens shorter than the sequence. Y_h and Y_c ([D, B, H])
are h and c after the last step: extra outputs of the op (`final_h`, `final_c`).

GRU: W [D, 3H, I], R [D, 3H, H], B [D, 6H] (input biases then recurrent biases), gates z, r, h in ONNX's order,
which the IR op keeps; the input and recurrent biases stay apart (with linear_before_reset = 1 the candidate's
recurrent bias is inside the reset gate's product). A reverse GRU is the op with `reverse`; a bidirectional one
(D = 2) is a forward and a reverse op, their Y (and Y_h) reshaped and concatenated on the direction axis. Refused
by name as for the LSTM: other activations, clip, non-zero initial_h, sequence_lens shorter than the sequence.
"""

from __future__ import annotations

import numpy as np

from .onnx_graph import Node, Unsupported
from .onnx_layout import identity

#: ONNX's gate blocks (i, o, f, c) -> the IR's order (i, f, c, o)
ONNX_TO_IR_GATES = (0, 2, 3, 1)


def _common(n: Node, kind: str) -> tuple[int, int, int]:
    """The checks LSTM and GRU share, after `_directions`: (layout, seq, batch)."""
    if n.quantized:
        raise Unsupported(f"a quantized (Q/DQ) {kind}; edgec imports the float {kind} (`--dtype float32`"
                          + (", or `--calib` for int8)" if kind == "LSTM" else ")"))
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


def _directions(n: Node, kind: str, acts: list[str]) -> list[bool]:
    """The directions (reverse flags) of the node, its activations checked: the default ones per direction."""
    direction = n.attr("direction", "forward")
    dirs = {"forward": [False], "reverse": [True], "bidirectional": [False, True]}.get(direction)
    if dirs is None:
        raise Unsupported(f"direction {direction} (ONNX's are forward, reverse and bidirectional)")
    given = [a.decode() if isinstance(a, bytes) else a for a in (n.attr("activations") or [])]
    if given and [a.lower() for a in given] != [a.lower() for a in acts] * len(dirs):
        raise Unsupported(f"activations {given} (supported: the default {', '.join(acts)} per direction)")
    return dirs


def _assemble(n: Node, used: list[bool], parts: list[list[str]], layout: int, seq: int, batch: int, h: int) -> None:
    """ONNX's outputs from the per-direction IR tensors: parts[0] the sequences ([seq, B, H] or [B, seq, H]),
    parts[k >= 1] the final states ([B, H]). Y is [seq, D, B, H] (layout 0) or [B, seq, D, H], Y_h and Y_c
    [D, B, H] or [B, D, H]: one direction is a reshape, two a reshape each and a concatenation on the D axis."""
    for k, tensors in enumerate(parts):
        if not used[k] or not tensors:
            continue
        seq_like = k == 0
        shape = ((seq, 1, batch, h) if layout == 0 else (batch, seq, 1, h)) if seq_like else (
            (1, batch, h) if layout == 0 else (batch, 1, h))
        axis = (1 if layout == 0 else 2) if seq_like else (0 if layout == 0 else 1)
        suffix = ("", "y_h", "y_c")[k]
        out = n.output(k, identity(len(shape)))
        if len(tensors) == 1:
            n.imp.emit(n.node, "reshape", [tensors[0]], out, {}, suffix=suffix)
            continue
        shaped: list[str | None] = []
        for j, part in enumerate(tensors):
            t = n.imp.new_tensor(f"{part}_{len(shape)}d", shape, "float32", None)
            n.imp.emit(n.node, "reshape", [part], [t], {}, suffix=f"{suffix or 'y'}_{j}")
            shaped.append(t)
        n.imp.emit(n.node, "concat", shaped, out, dict(axis=axis), suffix=suffix or "y")


def LSTM(n: Node) -> None:
    dirs = _directions(n, "LSTM", ["Sigmoid", "Tanh", "Tanh"])
    layout, seq, batch = _common(n, "LSTM")
    if n.attr("input_forget", 0):
        raise Unsupported("input_forget = 1 (a CIFG LSTM: TFLite Micro's LSTM has separate input and forget gates)")
    hidden = n.attr("hidden_size")
    w, r = n.const_input(1), n.const_input(2)
    d, h = len(dirs), w.shape[1] // 4
    if w.shape[0] != d or w.shape[1] != 4 * h or r.shape != (d, 4 * h, h) or (hidden is not None and hidden != h):
        raise Unsupported(f"W {list(w.shape)} and R {list(r.shape)} are not [{d}, 4H, I], [{d}, 4H, H]")
    bias = n.const_input(3).reshape(d, 2, 4 * h).astype(np.float32) if n.has(3) else np.zeros((d, 2, 4 * h),
                                                                                                np.float32)
    if n.has(4):
        lens = n.const_input(4)
        if not np.all(lens == seq):
            raise Unsupported("sequence_lens shorter than the sequence (TFLite Micro runs whole sequences)")
    for k, what in ((5, "initial_h"), (6, "initial_c")):
        if n.has(k) and np.any(n.const_input(k) != 0):
            raise Unsupported(f"a non-zero {what} (each invocation starts from a zero state)")
    if n.has(7):
        raise Unsupported("peephole weights P (input 7; TFLite Micro's LSTM has no peepholes)")
    used = _outputs_used(n, 3)
    base = n.imp.op_name(n.node)
    x = n.input_ir(0, identity(3))
    gates = [slice(g * h, (g + 1) * h) for g in ONNX_TO_IR_GATES]
    parts: list[list[str]] = [[], [], []]
    for k, reverse in enumerate(dirs):
        tag = f"d{k}_" if d > 1 else ""
        ws = [n.const(np.ascontiguousarray(w[k, s], np.float32), (0, 1), None, f"{tag}w{g}")
              for g, s in enumerate(gates)]
        rs = [n.const(np.ascontiguousarray(r[k, s], np.float32), (0, 1), None, f"{tag}r{g}")
              for g, s in enumerate(gates)]
        bs = [n.const((bias[k, 0, s] + bias[k, 1, s]).astype(np.float32), (0,), None, f"{tag}b{g}")
              for g, s in enumerate(gates)]
        states = [n.imp.new_tensor(f"{base}_{tag}{what}", (batch, h), "float32", None) for what in ("h", "c")]
        for st in states:
            n.imp.tensors[st].state = True
        y = n.imp.new_tensor(f"{base}_{tag}y", (seq, batch, h) if layout == 0 else (batch, seq, h), "float32", None)
        # Y_h and Y_c ([D, B, H]): h and c after the last step, extra outputs of the op
        finals = [n.imp.new_tensor(f"{base}_{tag}{what}_last", (batch, h), "float32", None)
                  for q, what in ((1, "h"), (2, "c")) if used[q]]
        n.imp.emit(n.node, "lstm", [x, *ws, *rs, *bs, *states], [y, *finals],
                   dict(time_major=layout == 0, cell_clip=0.0, activation="TANH", reset_state=True, final_h=used[1],
                        final_c=used[2], reverse=reverse), suffix="reverse" if reverse and d > 1 else "")
        parts[0].append(y)
        for q, final in zip([q for q in (1, 2) if used[q]], finals, strict=True):
            parts[q].append(final)
    _assemble(n, used, parts, layout, seq, batch, h)


def GRU(n: Node) -> None:
    dirs = _directions(n, "GRU", ["Sigmoid", "Tanh"])
    layout, seq, batch = _common(n, "GRU")
    hidden = n.attr("hidden_size")
    lbr = int(n.attr("linear_before_reset", 0))
    w, r = n.const_input(1), n.const_input(2)
    d, h = len(dirs), w.shape[1] // 3
    if w.shape[0] != d or w.shape[1] != 3 * h or r.shape != (d, 3 * h, h) or (hidden is not None and hidden != h):
        raise Unsupported(f"W {list(w.shape)} and R {list(r.shape)} are not [{d}, 3H, I], [{d}, 3H, H]")
    bias = n.const_input(3).reshape(d, 2, 3 * h).astype(np.float32) if n.has(3) else np.zeros((d, 2, 3 * h),
                                                                                                np.float32)
    if n.has(4):
        lens = n.const_input(4)
        if not np.all(lens == seq):
            raise Unsupported("sequence_lens shorter than the sequence (edgec runs whole sequences)")
    if n.has(5) and np.any(n.const_input(5) != 0):
        raise Unsupported("a non-zero initial_h (each invocation starts from a zero state)")
    used = _outputs_used(n, 2)
    base = n.imp.op_name(n.node)
    x = n.input_ir(0, identity(3))
    gates = [slice(g * h, (g + 1) * h) for g in range(3)]  # z, r, h: ONNX's order is the IR op's
    parts: list[list[str]] = [[], []]
    for k, reverse in enumerate(dirs):
        tag = f"d{k}_" if d > 1 else ""
        ws = [n.const(np.ascontiguousarray(w[k, s], np.float32), (0, 1), None, f"{tag}w{g}")
              for g, s in enumerate(gates)]
        rs = [n.const(np.ascontiguousarray(r[k, s], np.float32), (0, 1), None, f"{tag}r{g}")
              for g, s in enumerate(gates)]
        wbs = [n.const(np.ascontiguousarray(bias[k, 0, s]), (0,), None, f"{tag}wb{g}") for g, s in enumerate(gates)]
        rbs = [n.const(np.ascontiguousarray(bias[k, 1, s]), (0,), None, f"{tag}rb{g}") for g, s in enumerate(gates)]
        state = n.imp.new_tensor(f"{base}_{tag}h", (batch, h), "float32", None)
        n.imp.tensors[state].state = True
        y = n.imp.new_tensor(f"{base}_{tag}y", (seq, batch, h) if layout == 0 else (batch, seq, h), "float32", None)
        final = [n.imp.new_tensor(f"{base}_{tag}h_last", (batch, h), "float32", None)] if used[1] else []
        n.imp.emit(n.node, "gru", [x, *ws, *rs, *wbs, *rbs, state], [y, *final],
                   dict(time_major=layout == 0, linear_before_reset=bool(lbr), reset_state=True, final_h=used[1],
                        reverse=reverse), suffix="reverse" if reverse and d > 1 else "")
        parts[0].append(y)
        parts[1] += final
    _assemble(n, used, parts, layout, seq, batch, h)
