"""ONNX-level canonicalization, before the model is mapped to the IR. Each pass is ModelProto -> ModelProto.

    load -> check opset -> static input shapes -> shape inference -> drop identities -> fold constants
         -> fold batch norms -> shape inference

The passes work on the ONNX graph because there the facts are still in ONNX terms: a Shape node of a
static tensor is a constant, a BatchNormalization right after a Conv folds into its weights
(w' = w * gamma / sqrt(var + eps) per output channel, b' = (b - mean) * gamma / sqrt(var + eps) + beta),
and DequantizeLinear of a weight constant stays as it is (its int8 data and scales are what a QDQ model means).
Constant folding evaluates nodes with `onnx.reference` (the ONNX reference implementation), never our own maths.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import InputError, UnsupportedError

OPSET_MIN, OPSET_MAX = 13, 21
#: ops that are removed when they only pass their input through at inference
PASS_THROUGH = {"Identity", "Dropout"}
#: readers of a DequantizeLinear of a constant that take it as int8 (the data and scales of a QDQ weight):
#: such a DequantizeLinear is not folded; one read by anything else (e.g. batch-norm statistics) is
INT8_READERS = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "Sub", "Mul", "Concat"}


# ---- loading and checking ------------------------------------------------------------------------------------

def load(path: Path) -> onnx.ModelProto:
    """Parse and check a model file; a damaged file is an InputError, not a traceback."""
    try:
        model = onnx.load_model_from_string(path.read_bytes())
    except Exception as e:  # protobuf raises DecodeError and friends on damaged files
        raise InputError(f"{path}: malformed ONNX file, truncated or damaged ({e or type(e).__name__})") from None
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        # weights in a side file (torch.export's exporter writes <model>.onnx.data): read them from the
        # model's folder, wherever edgec runs from
        try:
            onnx.load_external_data_for_model(model, str(path.resolve().parent))
        except Exception as e:
            raise InputError(f"{path}: its weights are stored in a separate file next to it that cannot be read "
                             f"({str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__})") from None
    if not model.graph.node and not model.graph.output:
        raise InputError(f"{path}: malformed ONNX file: the graph is empty")
    return model  # checked by onnx_checks (and onnx.checker) when imported


def opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def check_opset(model: onnx.ModelProto, path: Path | str = "model") -> onnx.ModelProto:
    """edgec maps the ONNX operator definitions of opsets 13 to 21."""
    v = opset(model)
    if not OPSET_MIN <= v <= OPSET_MAX:
        raise UnsupportedError([f"{path}: ONNX opset {v}; edgec reads opsets {OPSET_MIN} to {OPSET_MAX} "
                                f"(convert it: onnx.version_converter.convert_version(model, {OPSET_MAX}))"])
    return model


# ---- static shapes --------------------------------------------------------------------------------------------

def constant_names(model: onnx.ModelProto) -> set[str]:
    return {i.name for i in model.graph.initializer}


def real_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """Graph inputs that are not initializers (IR < 4 lists every weight as an input too)."""
    consts = constant_names(model)
    return [i for i in model.graph.input if i.name not in consts]


def _dims(vi: onnx.ValueInfoProto) -> list[int | str | None]:
    """A value's dims: an int when static, the dim_param name or None when not."""
    out: list[int | str | None] = []
    for d in vi.type.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value > 0:
            out.append(int(d.dim_value))
        else:
            out.append(d.dim_param or None)
    return out


def set_input_shapes(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]] | None = None,
                     path: Path | str = "model") -> onnx.ModelProto:
    """Give every model input a static shape: the one stored, or the one the user chose (--input-shape)."""
    model = _copy(model)
    input_shapes = dict(input_shapes or {})
    known = {vi.name for vi in real_inputs(model)}
    unknown = sorted(set(input_shapes) - known)
    if unknown:
        raise InputError(f"{path}: --input-shape names {', '.join(unknown)}, but the model's inputs are "
                         f"{', '.join(sorted(known))}")
    for vi in real_inputs(model):
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise UnsupportedError([f"model input {vi.name} is not a tensor (a sequence, map or optional)"])
        dims = _dims(vi)
        if vi.name in input_shapes:
            shape = tuple(int(d) for d in input_shapes[vi.name])
            if len(shape) != len(dims) or any(d < 1 for d in shape) or any(
                    isinstance(a, int) and a != b for a, b in zip(dims, shape)):
                raise InputError(f"{path}: --input-shape {vi.name}={','.join(map(str, shape))} does not fit the "
                                 f"model's input shape {_show(dims)}")
        elif all(isinstance(d, int) for d in dims):
            continue
        else:
            k = next(k for k, d in enumerate(dims) if not isinstance(d, int))
            guess = ",".join(str(d) if isinstance(d, int) else "1" for d in dims)
            raise InputError(f"{path}: input {vi.name} has the dynamic shape {_show(dims)} (dimension {k} is "
                             f"{dims[k] or 'unknown'!s}); edgec needs static shapes: give them with "
                             f"--input-shape {vi.name}={guess}")
        tt.shape.ClearField("dim")
        for d in shape:
            tt.shape.dim.add().dim_value = d
    return model


def _show(dims: list) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX's own shape inference, with data propagation (so Shape -> Gather -> Reshape chains resolve)."""
    model.graph.ClearField("value_info")
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    except Exception as e:  # InferenceError: the model contradicts itself (or uses an op onnx does not know)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        # "(op_type:Conv, node name: c1): [ShapeInferenceError] detail" -> "c1 (Conv): detail"
        found = re.findall(r"\(op_type:(\w+), node name: ([^)]*)\): \[\w+\] (.*?)(?=\s*\(op_type:|$)", first)
        if found:
            first = "; ".join(f"{name} ({op}): {detail.strip()}" for op, name, detail in found)
        raise InputError(f"ONNX shape inference failed: {first}") from None


def value_shapes(model: onnx.ModelProto) -> dict[str, tuple[int | str | None, ...]]:
    """Every value's shape as shape inference left it (inputs, outputs, intermediates, initializers)."""
    shapes: dict[str, tuple[int | str | None, ...]] = {}
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = tuple(_dims(vi))
    for init in model.graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


def value_types(model: onnx.ModelProto) -> dict[str, int]:
    types = {vi.name: vi.type.tensor_type.elem_type for vi in [*model.graph.input, *model.graph.value_info,
                                                               *model.graph.output]
             if vi.type.HasField("tensor_type")}
    types.update({i.name: i.data_type for i in model.graph.initializer})
    return types


# ---- graph-to-graph passes ------------------------------------------------------------------------------------

def remove_identities(model: onnx.ModelProto) -> onnx.ModelProto:
    """Identity and inference-time Dropout pass their input through: readers read the input instead.
    (When the pass-through value is a graph output, the node stays: the output name must keep existing.)"""
    model = _copy(model)
    outputs = {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    kept = []
    for node in model.graph.node:
        _rename_inputs(node, rename)
        extra_outputs_used = len(node.output) > 1 and any(o for o in node.output[1:])
        if node.op_type in PASS_THROUGH and node.output[0] not in outputs and not extra_outputs_used:
            if node.op_type == "Dropout" and len(node.input) > 2 and node.input[2]:
                kept.append(node)  # training_mode given as an input: left for the importer to judge
                continue
            rename[node.output[0]] = node.input[0]
            continue
        kept.append(node)
    _set_nodes(model, kept)
    return model


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """Evaluate every node whose inputs are all constants (and Shape/Size of statically shaped values) with
    onnx.reference, replacing it by initializers. A DequantizeLinear of an int8 weight is kept (INT8_READERS)."""
    model = _copy(model)
    consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    shapes = value_shapes(model)
    outputs = {o.name for o in model.graph.output}
    readers: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    folded: dict[str, np.ndarray] = {}
    kept = []
    for node in model.graph.node:
        value = _fold_node(node, consts, shapes, model, readers)
        if value is None or any(o in outputs for o in node.output):
            kept.append(node)
            continue
        for name, v in zip(node.output, value):
            if name:
                consts[name] = folded[name] = np.asarray(v)
    _set_nodes(model, kept)
    used = {i for n in model.graph.node for i in n.input} | outputs
    for name, v in folded.items():
        if name in used:
            model.graph.initializer.append(numpy_helper.from_array(v, name))
    _drop_unused_initializers(model)
    return model


def _fold_node(node: onnx.NodeProto, consts: dict[str, np.ndarray], shapes: dict, model: onnx.ModelProto,
               readers: dict[str, list[onnx.NodeProto]]) -> list[np.ndarray] | None:
    if node.domain not in ("", "ai.onnx"):
        return None
    if node.op_type == "Constant":
        return _evaluate(node, {}, model)
    if node.op_type in ("Shape", "Size") and node.input[0] in shapes:
        shape = shapes[node.input[0]]
        if all(isinstance(d, int) for d in shape):
            dummy = np.zeros(shape, dtype=np.float32)
            return _evaluate(node, {node.input[0]: dummy}, model)
        return None
    if not node.input or any(i and i not in consts for i in node.input):
        return None
    if node.op_type == "DequantizeLinear" and any(r.op_type in INT8_READERS for r in readers.get(node.output[0], [])):
        return None  # a QDQ weight: its int8 data and scales are what the int8 op needs
    if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
        return None  # control flow (If/Loop with subgraphs) is not folded
    return _evaluate(node, {i: consts[i] for i in node.input if i}, model)


def _evaluate(node: onnx.NodeProto, feeds: dict[str, np.ndarray], model: onnx.ModelProto) -> list[np.ndarray] | None:
    from onnx.reference import ReferenceEvaluator

    try:
        ref = ReferenceEvaluator(node, opsets={"": opset(model)} if opset(model) else None)
        return [np.asarray(v) for v in ref.run(None, feeds)]
    except Exception:  # the reference cannot evaluate it (e.g. random ops): the node is kept, the importer judges
        return None


def fold_batchnorm(model: onnx.ModelProto) -> onnx.ModelProto:
    """BatchNormalization (inference) is y = x * k + (beta - mean * k), k = gamma / sqrt(var + eps) per channel.
    After a Conv (or a Gemm with constant weights) that only it reads, k and the offset fold into the weights and
    bias; anywhere else it becomes Mul + Add with per-channel constants."""
    model = _copy(model)
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    readers: dict[str, int] = {}
    for n in model.graph.node:
        for i in n.input:
            readers[i] = readers.get(i, 0) + 1
    for o in model.graph.output:
        readers[o.name] = readers.get(o.name, 0) + 1
    shapes = value_shapes(model)
    new_inits: list[onnx.TensorProto] = []
    kept: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.op_type != "BatchNormalization" or len(node.output) > 1 and any(node.output[1:]) or any(
                i not in consts for i in node.input[1:5]) or _attr(node, "training_mode", 0):
            kept.append(node)
            continue
        gamma, beta, mean, var = (consts[i].astype(np.float64) for i in node.input[1:5])
        k = gamma / np.sqrt(var + float(_attr(node, "epsilon", 1e-5)))
        offset = beta - mean * k
        prev = producers.get(node.input[0])
        if prev is not None and readers.get(node.input[0], 0) == 1 and _fold_into(prev, k, offset, consts, new_inits):
            prev.output[0] = node.output[0]  # the conv now writes the batch norm's output
            continue
        rank = len(shapes.get(node.input[0], ()))
        if rank < 2:
            kept.append(node)
            continue
        # per channel along axis 1: shape [C, 1, ...] broadcasts against [N, C, ...]
        bshape = (len(k),) + (1,) * (rank - 2)
        kname, oname, mid = f"{node.output[0]}__bn_scale", f"{node.output[0]}__bn_offset", f"{node.output[0]}__bn_mul"
        new_inits += [numpy_helper.from_array(k.astype(np.float32).reshape(bshape), kname),
                      numpy_helper.from_array(offset.astype(np.float32).reshape(bshape), oname)]
        name = node.name or node.output[0]
        kept.append(helper.make_node("Mul", [node.input[0], kname], [mid], name=f"{name}_scale"))
        kept.append(helper.make_node("Add", [mid, oname], [node.output[0]], name=f"{name}_offset"))
    model.graph.initializer.extend(new_inits)
    _set_nodes(model, kept)
    _drop_unused_initializers(model)
    return model


def _fold_into(prev: onnx.NodeProto, k: np.ndarray, offset: np.ndarray, consts: dict[str, np.ndarray],
               new_inits: list[onnx.TensorProto]) -> bool:
    """Scale prev's weights per output channel by k and fold offset into its bias; False when it cannot."""
    if prev.op_type == "Conv":
        axis = 0  # W [M, C/group, kh, kw]
    elif prev.op_type == "Gemm" and not _attr(prev, "transA", 0) and _attr(prev, "alpha", 1.0) == 1.0 \
            and _attr(prev, "beta", 1.0) == 1.0:
        axis = 0 if _attr(prev, "transB", 0) else 1  # B [N, K] or [K, N]
    else:
        return False
    if len(prev.input) < 2 or prev.input[1] not in consts:
        return False
    w = consts[prev.input[1]].astype(np.float64)
    if w.dtype.kind != "f" or w.shape[axis] != len(k):
        return False
    bias = consts[prev.input[2]].astype(np.float64) if len(prev.input) > 2 and prev.input[2] else np.zeros(len(k))
    if len(prev.input) > 2 and prev.input[2] not in consts or bias.size not in (1, len(k)):
        return False
    shape = [1] * w.ndim
    shape[axis] = len(k)
    w_name, b_name = f"{prev.output[0]}__bn_w", f"{prev.output[0]}__bn_b"
    new_inits += [numpy_helper.from_array((w * k.reshape(shape)).astype(np.float32), w_name),
                  numpy_helper.from_array((bias.reshape(-1) * k + offset).astype(np.float32), b_name)]
    while len(prev.input) < 3:
        prev.input.append("")
    prev.input[1], prev.input[2] = w_name, b_name
    return True


def canonicalize(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]] | None = None,
                 path: Path | str = "model") -> onnx.ModelProto:
    """The ONNX-level passes in order; the result has static shapes on every value shape inference can reach."""
    model = check_opset(model, path)
    model = infer_shapes(set_input_shapes(model, input_shapes, path))
    model = fold_constants(remove_identities(model))
    model = infer_shapes(fold_batchnorm(model))
    return fold_constants(model)  # Shape of a value whose shape the second inference resolved


# ---- small helpers --------------------------------------------------------------------------------------------

def _attr(node: onnx.NodeProto, name: str, default):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _copy(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    return m


def _set_nodes(model: onnx.ModelProto, nodes: list[onnx.NodeProto]) -> None:
    copies = []
    for n in nodes:
        c = onnx.NodeProto()
        c.CopyFrom(n)
        copies.append(c)
    model.graph.ClearField("node")
    model.graph.node.extend(copies)


def _rename_inputs(node: onnx.NodeProto, rename: dict[str, str]) -> None:
    for k, i in enumerate(node.input):
        if i in rename:
            node.input[k] = rename[i]


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    used = {i for n in model.graph.node for i in n.input} | {o.name for o in model.graph.output}
    keep = [i for i in model.graph.initializer if i.name in used]
    model.graph.ClearField("initializer")
    model.graph.initializer.extend(keep)
    graph_inputs = [i for i in model.graph.input if i.name in used or i.name not in constant_names(model)]
    if len(graph_inputs) != len(model.graph.input):
        model.graph.ClearField("input")
        model.graph.input.extend(graph_inputs)


__all__ = ["load", "check_opset", "set_input_shapes", "infer_shapes", "remove_identities", "fold_constants",
           "fold_batchnorm", "canonicalize", "value_shapes", "value_types", "real_inputs"]
