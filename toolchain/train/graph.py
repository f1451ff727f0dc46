"""The training step as one IR graph: forward (bit-exact with inference), 1-bit masks, float32 head and loss,
then the backward ops in reverse order, each layer's update fused into its backward op (docs/training.md).

    build_training_graph(g, scheme, ...)   the canonicalized int8 inference graph -> the training graph

The graph's inputs are [x, label (int32 [1])] and its outputs [loss (float32 [1]), logits (float32 [1, K])]. The
same planner (memory.plan_memory) and code generator (codegen.emit_c) as inference plan and emit it: saved
activations are tensors the backward ops read (their lifetimes stretch to them), gradients are float32 tensors in
the arena, trained parameters are `mutable` tensors (SRAM arrays the backward ops update in place).

Gradients are in REAL units: the gradient of an int8 tensor t holds dL/d(scale * (q - zero_point)), so pools,
reshapes, dequantize and add need no scales; each weight layer's backward op converts at its accumulator.

The gradient rules are methods of the ops (`Operator.backward(op, g, builder)`, in each op's module, like their
`reference` and `emit`); this module walks the graph and hands them a `GradBuilder`. Dead backward branches are
never built: a rule runs only where a gradient arrives and something below it is trained (`needs_grad`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError, TrainingError
from ..ir import Graph, Op, Quant, Tensor
from ..ops import REGISTRY
from .scheme import LayerTraining, Scheme

#: ops after the classifier that inference keeps and training replaces by the float32 head and the loss
HEAD_TAIL = ("softmax", "reshape", "dequantize")


@dataclass
class TrainingOptions:
    lr: float = 0.01
    #: "nearest" or "stochastic" (edgec_train.h); "": the default, stochastic (it measures better:
    #: bench/results/rounding.md), or nearest for shadow weights (a shadow is rounded to nearest)
    rounding: str = ""
    seed: int = 0
    classes: int | None = None  # a new head with this many classes (zero-initialized); None: keep the model's
    momentum: float = 0.0  # SGD momentum M in [0, 1): a float32 velocity per trained parameter (0: no state)
    weights: str = "int8"  # or "shadow": fp32 shadow copies of the trained int8 weight slices (update.py)
    #: a partially trained conv saves only the input channels its weight gradient reads (a channel_slice op in
    #: the forward pass) instead of its whole input; command.py keeps it only where the planned arena is lower
    slice_saved: bool = True
    #: "float32", or "fp16": every gradient below the head's logits stored as IEEE half (the kernels convert at
    #: their loads and stores, edgec_train.h); command.py keeps it only where the planned arena is lower
    gradients: str = "float32"

    def __post_init__(self) -> None:
        if not self.rounding:
            self.rounding = "nearest" if self.weights == "shadow" else "stochastic"


@dataclass
class GradBuilder:
    """What a gradient rule builds the backward pass with (the contract of Operator.backward)."""

    g: Graph
    scheme: Scheme
    options: TrainingOptions
    grads: dict[str, str] = field(default_factory=dict)  # forward tensor -> its gradient tensor
    needs: set[str] = field(default_factory=set)  # forward tensors some trained parameter lies below
    #: int8 forward tensor -> its clamp_mask tensor (and "<tensor>/channels:<c>" -> its saved channel slice)
    masks: dict[str, str] = field(default_factory=dict)
    mask_ops: list[Op] = field(default_factory=list)  # forward ops the rules add (masks, slices), after producers
    backward_ops: list[Op] = field(default_factory=list)
    params: list[str] = field(default_factory=list)  # the mutable (trained) tensors, in order of creation
    state_tensors: list[str] = field(default_factory=list)  # those of them that are optimizer state (velocity, shadow)
    current: Op | None = None  # the forward op whose rule is running (names its backward ops)

    @property
    def lr(self) -> float:
        return self.options.lr

    @property
    def rounding(self) -> str:
        return self.options.rounding

    @property
    def momentum(self) -> float:
        return self.options.momentum

    @property
    def weights(self) -> str:
        return self.options.weights

    @property
    def grad_dtype(self) -> str:
        """The dtype of the gradient tensors the rules create: float32, or float16 with --gradients fp16."""
        return "float16" if self.options.gradients == "fp16" else "float32"

    def layer(self, op: Op) -> LayerTraining:
        return self.scheme.layer(op)

    def needs_grad(self, tensor: str | None) -> bool:
        return tensor is not None and tensor in self.needs

    def grad_of(self, tensor: str) -> str:
        return self.grads[tensor]

    def new_tensor(self, hint: str, shape: tuple[int, ...], dtype: str | None = None) -> str:
        """A new tensor; its dtype by default the gradients' (grad_dtype)."""
        dtype = dtype or self.grad_dtype
        name, k = f"{hint}", 0
        while name in self.g.tensors:
            k += 1
            name = f"{hint}#{k}"
        self.g.tensors[name] = Tensor(name=name, shape=tuple(shape), dtype=dtype)
        return name

    def add_op(self, type_: str, inputs: list[str | None], outputs: list[str], attrs: dict | None = None) -> Op:
        base = f"{self.current.name if self.current else 'train'}/{type_}"
        names = {op.name for op in self.g.ops} | {op.name for op in self.backward_ops}
        name, k = base, 0
        while name in names:
            k += 1
            name = f"{base}#{k}"
        op = Op(type=type_, name=name, inputs=list(inputs), outputs=list(outputs), attrs=dict(attrs or {}))
        op.attrs.setdefault("label", name)
        REGISTRY[type_].run_prepare(op, self.g)
        self.backward_ops.append(op)
        return op

    def add_grad(self, tensor: str, grad: str) -> None:
        """A contribution to tensor's gradient; several (a tensor read by several ops) are summed."""
        if tensor not in self.grads:
            self.grads[tensor] = grad
            return
        total = self.new_tensor(f"{tensor}/grad_sum", self.g.t(tensor).shape)
        if self.grad_dtype == "float16":  # fp16 storage: one float32 add, rounded to half at the store
            self.add_op("grad_add", [self.grads[tensor], grad], [total])
        else:
            self.add_op("add", [self.grads[tensor], grad], [total], {"activation": "NONE"})
        self.grads[tensor] = total

    def mask_of(self, tensor: str) -> str:
        """The 1-bit clamp mask of an int8 forward tensor (computed right after its producer)."""
        if tensor not in self.masks:
            producer = self.g.producers()[tensor]
            p = producer.params
            name = self.new_tensor(f"{tensor}/mask", ((self.g.t(tensor).size + 7) // 8,), "uint8")
            op = Op(type="clamp_mask", name=f"{producer.name}/clamp_mask", inputs=[tensor], outputs=[name],
                    attrs=dict(act_min=int(p.get("act_min", -128)), act_max=int(p.get("act_max", 127)),
                               label=f"{producer.name}/clamp_mask"))
            self.mask_ops.append(op)
            self.masks[tensor] = name
        return self.masks[tensor]

    def saved_slice(self, tensor: str, channels: int) -> str:
        """The first `channels` channels of int8 forward tensor `tensor`, copied by a channel_slice op right after
        its producer (so the whole tensor may die after its last forward reader), for a backward op to read; the
        tensor itself when it has no producer in the graph (a graph input) or slicing is off."""
        producer = self.g.producers().get(tensor)
        if not self.options.slice_saved or producer is None:
            return tensor
        key = f"{tensor}/channels:{channels}"
        if key not in self.masks:
            t = self.g.t(tensor)
            name = self.new_tensor(f"{tensor}/saved_{channels}ch", (*t.shape[:-1], channels), t.dtype)
            self.g.t(name).quant = t.quant
            op = Op(type="channel_slice", name=f"{producer.name}/channel_slice_{channels}", inputs=[tensor],
                    outputs=[name], attrs=dict(channels=int(channels),
                                               label=f"{producer.name}: channels 0..{channels - 1} saved"))
            self.mask_ops.append(op)
            self.masks[key] = name
        return self.masks[key]

    def param(self, tensor: str, channels: int = 0) -> str:
        """Make a constant a trained (mutable) parameter: a private copy in SRAM the backward op updates.
        `channels` > 0: only the first `channels` entries of its last axis are trained, and only they go to SRAM
        (the rest stays in flash: Tensor.mutable_channels; the kernels then read two weight sources)."""
        t = self.g.t(tensor)
        assert t.data is not None, f"{tensor} is not a constant"
        if not t.mutable:
            t.data = np.array(t.data, copy=True)
            t.mutable = True
            t.mutable_channels = channels if 0 < channels < t.shape[-1] else 0
            self.params.append(tensor)
        return tensor

    def state(self, hint: str, data: np.ndarray) -> str:
        """A new optimizer-state tensor (a velocity, a shadow): mutable float32 in SRAM, initialized to `data`,
        kept between steps and written back like a trained parameter (so its bytes count as one)."""
        name = self.new_tensor(hint, data.shape, "float32")
        t = self.g.t(name)
        t.data, t.mutable = np.array(data, np.float32), True
        self.params.append(name)
        self.state_tensors.append(name)
        return name

    def grad_tensor_for(self, tensor: str) -> str:
        """A new float32 tensor for the gradient of forward tensor `tensor` (its shape)."""
        return self.new_tensor(f"{tensor}/grad", self.g.t(tensor).shape)


def find_head(g: Graph) -> tuple[Op, list[Op]]:
    """The classifier: the last fully connected layer, and the ops after it (softmax, reshape, dequantize) that
    the training graph replaces. A model whose output does not come from a fully connected layer through those
    has no head edgec can train."""
    producers = g.producers()
    tail: list[Op] = []
    name = g.outputs[0] if len(g.outputs) == 1 else None
    while name is not None and name in producers:
        op = producers[name]
        if op.type == "fully_connected":
            return op, tail
        if op.type not in HEAD_TAIL:
            break
        tail.append(op)
        name = op.inputs[0]
    raise TrainingError(f"{g.name}: edgec train needs a classifier: one output computed by a FULLY_CONNECTED "
                        "layer (optionally followed by SOFTMAX / RESHAPE / DEQUANTIZE); this model's output is "
                        f"not (outputs: {len(g.outputs)})")


def build_training_graph(inference: Graph, scheme: Scheme, options: TrainingOptions) -> Graph:
    """The training graph of an int8 inference graph (canonicalized, params prepared) under `scheme`."""
    check_options(options)
    g = copy.deepcopy(inference)
    head, tail = find_head(g)
    dropped = {id(op) for op in tail}
    forward = [op for op in g.ops if id(op) not in dropped and op is not head]
    for op in forward:
        if scheme.layer(op).trained:  # the fast kernels fold the weights into compile-time constants a trained
            op.attrs.pop("kernel_choice", None)  # weight makes stale: a trained layer runs the portable kernel
    features = head.inputs[0]
    assert features is not None
    classes, depth, init_w, init_b = _head_init(g, head, options)

    # the float32 head: logits = W dequantize(features) + b, W and b trained in SRAM
    feat_f32 = _tensor(g, f"{features}/float", (1, depth), "float32")
    w_name = _tensor(g, f"{head.name}/head_weights", (classes, depth), "float32", init_w)
    b_name = _tensor(g, f"{head.name}/head_bias", (classes,), "float32", init_b)
    logits = _tensor(g, f"{head.name}/logits", (1, classes), "float32")
    label = _tensor(g, "label", (1,), "int32")
    loss = _tensor(g, "loss", (1,), "float32")
    g_logits = _tensor(g, f"{head.name}/logits/grad", (1, classes), "float32")
    deq = Op("dequantize", f"{head.name}/dequantize_features", [features], [feat_f32], {"label": "head input"})
    fc = Op("fully_connected", f"{head.name}/head", [feat_f32, w_name, b_name], [logits],
            {"activation": "NONE", "keep_num_dims": False, "label": "classifier head (float32)"})
    ce = Op("softmax_cross_entropy", "loss", [logits, label], [loss, g_logits], {"label": "softmax cross-entropy"})
    for op in (deq, fc, ce):
        REGISTRY[op.type].run_prepare(op, g)
    forward += [deq, fc]

    b = GradBuilder(g=g, scheme=scheme, options=options)
    g.ops = forward + [ce]
    b.needs = _needs_grad(g, forward, scheme)
    b.param(w_name)
    b.param(b_name)
    b.grads[logits] = g_logits
    for op in reversed(forward):
        if not any(o in b.grads for o in op.outputs):
            continue
        if not (scheme.layer(op).trained or op is fc or any(b.needs_grad(i) for i in op.inputs)):
            continue
        rule = _rule(op, g)
        if rule is None:
            below = sorted(n for n, lt in scheme.layers.items() if lt.trained)
            raise TrainingError(f"{op.type} (node {op.name!r}) has no gradient rule yet, and the scheme trains "
                                f"layers below it ({', '.join(repr(n) for n in below[:4])}"
                                f"{', ...' if len(below) > 4 else ''}); train only layers after it")
        b.current = op
        rule(op, g, b)
    b.current = None
    if not b.params:
        raise TrainingError("the scheme trains nothing")
    if options.gradients == "fp16":
        _check_half(g, b.backward_ops)
    g.ops = _with_masks(forward, b.mask_ops) + [ce] + b.backward_ops
    g.inputs = [g.inputs[0], label]
    g.outputs = [loss, logits]
    _drop_unused(g)
    g.meta = {**inference.meta, "training": dict(
        scheme=scheme.name, layers={n: vars(lt) for n, lt in scheme.layers.items() if lt.trained},
        params=list(b.params), classes=classes, lr=options.lr, rounding=options.rounding, seed=options.seed,
        momentum=options.momentum, weights=options.weights, state=list(b.state_tensors),
        gradients=options.gradients,
        forward_ops=len(forward) + len(b.mask_ops), head=head.name, logits=logits,
        new_head=options.classes is not None)}
    return g


def check_options(options: TrainingOptions) -> None:
    """The optimizer options make sense together: 0 <= momentum < 1 (the velocity stays bounded), weights int8 or
    shadow, and a shadow is rounded to nearest (stochastic rounding is for steps applied to int8 weights)."""
    if not 0.0 <= options.momentum < 1.0:
        raise InputError(f"--momentum {options.momentum}: expected a number in [0, 1) (0: plain SGD, 0.9 usual)")
    if options.weights not in ("int8", "shadow"):
        raise InputError(f"--weights {options.weights}: expected int8 or shadow")
    if options.rounding not in ("nearest", "stochastic"):
        raise InputError(f"--rounding {options.rounding}: expected nearest or stochastic")
    if options.gradients not in ("float32", "fp16"):
        raise InputError(f"--gradients {options.gradients}: expected float32 or fp16")
    if options.weights == "shadow" and options.rounding != "nearest":
        raise InputError("--weights shadow keeps fp32 copies of the trained weights and rounds them to nearest; "
                         f"--rounding {options.rounding} applies to --weights int8 only")


#: the backward ops with fp16 kernels (their emit picks the _f16 function when their gradients are float16)
HALF_OPS = frozenset({"apply_mask", "grad_add", "mean_backward", "pad_backward", "reshape", "conv2d_backward",
                      "depthwise_conv2d_backward", "fully_connected_f32_backward", "max_pool2d_backward"})


def _check_half(g: Graph, ops: list[Op]) -> None:
    """--gradients fp16 needs an fp16 kernel for every backward op that reads or writes a gradient: the others
    (average and max pooling's, an int8 fully connected layer's, a depthwise layer's with depth multiplier > 1)
    are float32 only, and the option is refused naming the first."""
    for op in ops:
        half = any(t is not None and g.t(t).dtype == "float16" for t in [*op.inputs, *op.outputs])
        multiplier = op.type == "depthwise_conv2d_backward" and op.attrs.get("depth_multiplier", 1) != 1
        if half and (op.type not in HALF_OPS or multiplier):
            raise TrainingError(f"--gradients fp16: {op.type} (node {op.attrs.get('label', op.name)!r}) has no fp16 "
                                "kernel yet" + (" for a depth multiplier above 1" if multiplier else "")
                                + "; use --gradients float32")


def _rule(op: Op, g: Graph):
    rule = REGISTRY[op.type].backward
    return rule if callable(rule) else None


def _head_init(g: Graph, head: Op, options: TrainingOptions) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(classes, depth, W, b) of the float32 head: the model's head dequantized, or zeros for a new one (the
    pilot of docs/training.md starts a new task's head from zero: no random features to unlearn)."""
    w = g.t(head.inputs[1])
    assert w.data is not None and w.quant is not None
    classes, depth = w.shape
    if options.classes is not None:  # asked for: a new head, even with the old class count (a new task)
        return options.classes, depth, np.zeros((options.classes, depth), np.float32), np.zeros(
            options.classes, np.float32)
    scale = np.broadcast_to(w.quant.scale.astype(np.float64).reshape(-1, 1), w.shape)
    wf = (w.data.astype(np.float64) * scale).astype(np.float32)
    bias = np.zeros(classes, np.float32)
    if len(head.inputs) > 2 and head.inputs[2]:
        bt = g.t(head.inputs[2])
        x = g.t(head.inputs[0])
        assert bt.data is not None
        bias = (bt.data.astype(np.float64) * x.scale * w.quant.scale.astype(np.float64)).astype(np.float32)
    return classes, depth, wf, bias


def _tensor(g: Graph, name: str, shape: tuple[int, ...], dtype: str, data: np.ndarray | None = None,
            quant: Quant | None = None) -> str:
    assert name not in g.tensors, f"training graph: tensor {name} exists"
    g.tensors[name] = Tensor(name=name, shape=shape, dtype=dtype, quant=quant, data=data)
    return name


def _needs_grad(g: Graph, forward: list[Op], scheme: Scheme) -> set[str]:
    """Tensors with a trained parameter below them: the outputs of trained layers and of every op reading one."""
    needs: set[str] = set()
    for op in forward:
        if scheme.layer(op).trained or any(i in needs for i in op.inputs if i is not None):
            needs.update(op.outputs)
    return needs


def _with_masks(forward: list[Op], masks: list[Op]) -> list[Op]:
    """The forward ops with each clamp_mask right after the producer of its tensor (so the int8 tensor may die
    there when nothing else reads it later)."""
    after: dict[str, list[Op]] = {}
    for m in masks:
        assert m.inputs[0] is not None
        after.setdefault(m.inputs[0], []).append(m)
    out: list[Op] = []
    for op in forward:
        out.append(op)
        for o in op.outputs:
            out.extend(after.get(o, []))
    return out


def _drop_unused(g: Graph) -> None:
    used = set(g.inputs) | set(g.outputs) | {t for op in g.ops for t in [*op.inputs, *op.outputs] if t}
    g.tensors = {n: t for n, t in g.tensors.items() if n in used}
