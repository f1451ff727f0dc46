"""int4 weights (TFLite's TensorType INT4, dtype "int4" in the IR: ir.py) on the three operators that take them:
CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, with int8 activations.

The maths is the int8 operator's, unchanged: the references, the requantization (prepare) and the constraints read
the int4 values as int8 weights in [-8, 7]. What differs is the C: the weights stay packed two per byte in flash
(weights.c, toolchain/int4.py's order) and the layer calls the operator's int4 kernel, runtime/<op>_s4.c, which
unpacks one output channel's weights at a time into a row buffer in the arena (`row_bytes`, the layer's scratch)
and runs the int8 inner loop on it. Such a layer keeps the portable kernel (no DSP kernel reads int4), never runs
in place and never joins a patch stage.

TFLite Micro runs the same models: it unpacks the whole filter to int8 in its arena every Eval and runs its int8
kernel, so results are equal bit for bit. It accepts int4 per-channel weights for CONV_2D and DEPTHWISE_CONV_2D and
per-TENSOR int4 weights only for FULLY_CONNECTED; edgec also runs a per-channel int4 FULLY_CONNECTED (the same
kernel, one multiplier per output), a model TFLite Micro refuses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..c_emit import EmitContext
    from ..ir import Graph, Op

#: IR op -> its int4 kernel (runtime/<kernel>.c), which takes the int8 kernel's parameter struct
INT4_KERNELS = {"conv2d": "conv2d_s4", "depthwise_conv2d": "depthwise_conv2d_s4",
                "fully_connected": "fully_connected_s4"}


def int4_weights(op: Op, g: Graph) -> bool:
    """The op's weights (input 1) are int4."""
    return op.type in INT4_KERNELS and len(op.inputs) > 1 and op.inputs[1] is not None \
        and g.t(op.inputs[1]).dtype == "int4"


def row_bytes(op: Op, g: Graph) -> int:
    """The int4 kernel's scratch: one output channel's weights, unpacked (conv: k_h * k_w * in_c / groups;
    depthwise: k_h * k_w; fully connected: depth)."""
    w = g.t(op.inputs[1]).shape
    if op.type == "conv2d":
        return w[1] * w[2] * w[3]
    if op.type == "depthwise_conv2d":
        return w[1] * w[2]
    return w[1]


def emit_s4(op: Op, g: Graph, ctx: EmitContext, struct: str, fields: dict) -> str:
    """The call of the int4 kernel: `fields` are the int8 kernel's struct fields (`struct`), whose weights pointer
    the int4 kernel does not read (NULL); the packed weights and the row buffer are arguments."""
    packed = fields["weights"]
    params = ctx.params_struct(op, struct, {**fields, "weights": "NULL"})
    row = f"((int8_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
    x, y = ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0])
    return f"edgec_{INT4_KERNELS[op.type]}(&{params}, {packed}, {row}, {x}, {y});"
