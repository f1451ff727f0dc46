"""The ONNX importer's core: the walk over the graph, the IR tensors it defines, and the quantization bookkeeping.

`Importer` holds the model after the ONNX-level passes and builds the IR graph: it maps every node by its
function in the table it is given (`onnx.IMPORTERS`), collects every problem (an unsupported op, an attribute
the function did not read, a constraint of the IR op) and raises them together, and finally writes
`Graph.meta`. Before any node is mapped it reads the quantization of every int8 value from its
QuantizeLinear/DequantizeLinear or QLinear node and decides which float nodes fuse with their Q/DQ nodes into
one int8 IR op. It holds each ONNX value in an IR layout (`onnx_layout`) and makes the transposes or reshapes
between layouts on demand (`value_in`).

`Node` is what an op's function sees of one ONNX node: its attributes (each read is recorded), constant and
quantized inputs, inputs in whichever layout the function asks for, outputs, and `emit` for the IR ops.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import UnsupportedError
from ..ir import Graph, Op, Quant, Tensor
from . import onnx_passes
from .onnx_layout import (
    NHWC,
    UNIT,
    held_order,
    held_shape,
    hold,
    identity,
    moved_axis,
    onnx_axis,
    relative_perm,
    without_unit,
)

ONNX_DTYPES: dict[int, str] = {TensorProto.FLOAT: "float32", TensorProto.INT8: "int8", TensorProto.UINT8: "uint8",
               TensorProto.INT16: "int16", TensorProto.INT32: "int32", TensorProto.INT64: "int64",
               TensorProto.BOOL: "bool"}


class Unsupported(Exception):
    """Something in one node the importer cannot honour (collected, then reported with all others)."""


class _FollowOn(Exception):
    """A node reads a value whose producer was already reported: not a problem of its own."""


#: the function that maps one ONNX node to IR ops, emitted through the Node
OpImporter = Callable[["Node"], None]


class Node:
    """One ONNX node being mapped: its attributes (reads are tracked), inputs in any IR layout, outputs."""

    def __init__(self, imp: Importer, node: onnx.NodeProto, index: int):
        self.imp, self.node = imp, node
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        self.read: set[str] = set()
        first_output = node.output[0] if node.output else "?"
        self.label = f"{node.op_type} node '{node.name or f'#{index}'}' (output {first_output})"
        self.quantized = node.name in imp.fused or (node.op_type.startswith("QLinear"))
        self.unfused_q = node.op_type == "QuantizeLinear" and imp.producer_fused(node.input[0]) is False

    # attributes and constant inputs
    def attr(self, name: str, default=None):
        self.read.add(name)
        v = self.attrs.get(name, default)
        return v.decode() if isinstance(v, bytes) else v

    def has(self, k: int) -> bool:
        return k < len(self.node.input) and bool(self.node.input[k])

    def has_output(self, k: int) -> bool:
        return k < len(self.node.output) and bool(self.node.output[k])

    def is_const(self, k: int) -> bool:
        return self.has(k) and self.imp.const_value(self.data_name(k)) is not None

    def const_input(self, k: int) -> np.ndarray:
        v = self.imp.const_value(self.node.input[k]) if self.has(k) else None
        if v is None:
            raise Unsupported(f"input {k} ({self.node.input[k] if self.has(k) else 'missing'}) must be a constant")
        return v

    def shape(self, k: int) -> tuple[int, ...]:
        return self.imp.static_shape(self.node.input[k])

    def out_shape(self, k: int) -> tuple[int, ...]:
        return self.imp.static_shape(self.node.output[k])

    # quantized views: a fused node reads through its DequantizeLinear inputs, writes its QuantizeLinear's output
    def data_name(self, k: int) -> str:
        name = self.node.input[k]
        if self.quantized and name in self.imp.dq_nodes:
            return self.imp.dq_nodes[name].input[0]
        return name

    def weight(self, k: int) -> tuple[np.ndarray, Quant | None]:
        """A constant weight in ONNX layout, with its quantization when the node is int8."""
        if not self.has(k):
            raise Unsupported(f"input {k} is missing")
        if self.node.op_type.startswith("QLinear"):
            data = self.const_input(k)
            if data.dtype == np.int32:  # the bias: int32 in units of s_x * s_w, as TFLite's
                return data, None
            return data, self.imp.quant_from(self.node.input[k + 1], self.node.input[k + 2], data.dtype,
                                             axis=0, const=True)
        name = self.data_name(k)
        value = self.imp.const_value(name)
        if value is None:
            raise Unsupported(f"input {k} ({self.node.input[k]}) must be a constant")
        return value, (self.imp.quant_of.get(name) if self.quantized else None)

    def bias(self, k: int, channels: int, factor: float = 1.0) -> str:
        data, quant = self.weight(k)
        data = np.asarray(data).reshape(-1)
        if data.size == 1 and channels > 1:
            data = np.repeat(data, channels)
        if data.size != channels:
            raise Unsupported(f"bias of {data.size} values for {channels} outputs")
        if quant is None and data.dtype.kind == "f":
            data = (data * np.float32(factor)).astype(np.float32)
        elif quant is not None and quant.axis is not None:
            quant = Quant(scale=quant.scale, zero_point=quant.zero_point, axis=0)
        return self.const(data, (0,), quant, "bias")

    def const(self, data: np.ndarray, perm: tuple[int, ...], quant: Quant | None, what: str) -> str:
        return self.imp.add_const(f"{self.imp.op_name(self.node)}_{what}", np.asarray(data).transpose(perm),
                                  moved_axis(quant, perm))

    def quantize_scalar(self, value: float) -> float | int:
        """A real value in the units of this node's (int8) input: the integer a quantized pad writes."""
        if not self.quantized:
            return value
        q = self.imp.quant_of.get(self.data_name(0))
        assert q is not None
        return int(np.clip(np.round(value / float(q.scale[0])) + int(q.zero_point[0]), -128, 127))

    # layouts
    def layout(self, k: int, unit: bool = False) -> tuple[int, ...]:
        """Input k's layout. With a UNIT axis (a 1-D conv's [N, 1, W, C]) only for callers that say they handle
        it (element-wise ops keep it, so a 1-D conv -> relu -> 1-D conv chain stays 4-D); the others get the
        same bytes as a plain permutation of the ONNX dimensions (NW1C -> NWC, a reshape)."""
        perm = self.imp.layout_of(self.data_name(k))
        return perm if unit else without_unit(perm)

    def common_layout(self, ks: list[int], rank: int) -> tuple[int, ...]:
        """The layout for the inputs of an element-wise op: that of the first non-constant input of full rank, if
        every other non-constant input has full rank too; ONNX order otherwise."""
        variables = [k for k in ks if not self.is_const(k)]
        full = [k for k in variables if len(self.shape(k)) == rank]
        if full and len(full) == len(variables):
            return self.layout(full[0], unit=True)
        return identity(rank)

    def input_ir(self, k: int, perm: tuple[int, ...], rank: int | None = None) -> str:
        return self.imp.value_in(self.data_name(k), perm, rank)

    def pad(self, x_ir: str, x_shape: tuple[int, ...], pads: list[int], lowest: bool = False) -> str:
        """An explicit `pad` before a window op whose padding is not SAME/VALID-shaped. [t, l, b, r] in NCHW."""
        top, left, bottom, right = pads
        x = self.imp.tensors[x_ir]
        shape = (x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right, x.shape[3])
        name = self.imp.new_tensor(f"{x_ir}__padded", shape, x.dtype, x.quant)
        attrs: dict[str, Any] = dict(paddings=[[0, 0], [top, bottom], [left, right], [0, 0]])
        if lowest:  # a max pool must never pick a padded value
            attrs["pad_value"] = -128 if x.dtype == "int8" else float(np.finfo(np.float32).min)
        self.imp.emit(self.node, "pad", [x_ir], [name], attrs, suffix="pad")
        return name

    # outputs
    def output(self, k: int, perm: tuple[int, ...]) -> list[str]:
        name = self.node.output[k]
        if self.quantized and not self.node.op_type.startswith("QLinear"):
            name = self.imp.readers[name][0].output[0]  # the QuantizeLinear this node writes for
        return [self.imp.define(name, perm)]

    def alias(self, k: int, src: tuple[int, ...], perm: tuple[int, ...]) -> None:
        name = self.output(k, perm)[0]
        if self.quantized and not _same_quant(self.imp.quant_of.get(name), self.imp.quant_of.get(self.data_name(0))):
            raise Unsupported("input and output quantization differ (a transpose must keep them)")
        self.imp.alias_value(name, self.data_name(0), src, perm)

    def emit(self, ir_type: str, inputs: list[str | None], outputs: list[str], attrs: dict) -> None:
        self.imp.emit(self.node, ir_type, inputs, outputs, attrs)


def _same_quant(a: Quant | None, b: Quant | None) -> bool:
    return (a is None) == (b is None) and (a is None or b is None or (
        np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point)))


class Importer:
    """ONNX model -> IR graph, each node mapped by op_importers[its op type]."""

    def __init__(self, model: onnx.ModelProto, path: Path, op_importers: dict[str, OpImporter]):
        self.model, self.path, self.op_importers = model, path, op_importers
        g = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.shapes = onnx_passes.value_shapes(model)
        self.types = onnx_passes.value_types(model)
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.layouts: dict[str, tuple[int, ...]] = {}  # ONNX value -> its IR layout
        self.ir_names: dict[str, str] = {}  # ONNX value -> IR tensor in that layout
        self.views: dict[tuple[str, tuple[int, ...]], str] = {}  # (ONNX value, layout) -> IR tensor
        self.problems: list[str] = []
        self.failed: set[str] = set()  # values of nodes already reported
        self.uint8_shifted: list[str] = []
        self.producers = {o: n for n in g.node for o in n.output}
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for node in g.node:
            for i in node.input:
                if i:
                    self.readers.setdefault(i, []).append(node)
        self.graph_outputs = {o.name for o in g.output}
        self.dq_nodes = {n.output[0]: n for n in g.node if n.op_type == "DequantizeLinear"}
        self.quant_of: dict[str, Quant] = {}  # int8 ONNX value -> its quantization (from its Q or DQ node)
        self._collect_quant()
        self.fused = self._fused_nodes()

    # -- quantization bookkeeping
    def _collect_quant(self) -> None:
        for node in self.model.graph.node:
            if node.op_type in ("QLinearConv", "QLinearMatMul"):
                self._collect_qlinear(node)
            if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 2:
                continue
            int_name = node.output[0] if node.op_type == "QuantizeLinear" else node.input[0]
            try:
                axis = helper.get_attribute_value(next(a for a in node.attribute if a.name == "axis"))
            except StopIteration:
                axis = 1
            zp_name = node.input[2] if len(node.input) > 2 else ""
            dtype = self.types.get(int_name, TensorProto.UINT8)
            np_dtype = np.dtype(helper.tensor_dtype_to_np_dtype(dtype)) if dtype in ONNX_DTYPES else np.dtype(np.int8)
            try:
                q = self.quant_from(node.input[1], zp_name, np_dtype, axis, const=int_name in self.consts)
            except Unsupported:
                continue  # reported when the node is mapped
            self.quant_of.setdefault(int_name, q)

    def _collect_qlinear(self, node: onnx.NodeProto) -> None:
        """QLinearConv / QLinearMatMul carry the quantization of their activations as inputs."""
        slots = [(0, 1, 2), (node.output[0], 6, 7)]
        for value, s, z in slots:
            name = node.input[value] if isinstance(value, int) else value
            if max(s, z) >= len(node.input) or not node.input[s]:
                continue
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(self.types.get(name, TensorProto.UINT8)))
            try:
                self.quant_of.setdefault(name, self.quant_from(node.input[s], node.input[z], dtype, 1, const=False))
            except (Unsupported, TypeError, KeyError):
                continue

    def quant_from(self, scale_name: str, zp_name: str, dtype: np.dtype, axis: int, const: bool) -> Quant:
        scale = self.const_value(scale_name)
        zp = self.const_value(zp_name) if zp_name else np.zeros_like(scale, dtype=np.int64)
        if scale is None or zp is None:
            raise Unsupported("a quantization scale or zero point that is not a constant")
        scale = np.asarray(scale, dtype=np.float32).reshape(-1)
        zp = np.asarray(zp).astype(np.int64).reshape(-1)
        if dtype == np.uint8 and not const:
            zp = zp - 128  # held as int8: q_s8 = q_u8 - 128 is the same real value
        return Quant(scale=scale, zero_point=zp, axis=int(axis) if scale.size > 1 else None)

    def _fused_nodes(self) -> set[str]:
        """Nodes that become one int8 op: data inputs from DequantizeLinear, the only reader a QuantizeLinear."""
        data_inputs = {"Conv": 3, "Gemm": 3, "MatMul": 2, "Add": 2, "Sub": 2, "Mul": 2, "ConvTranspose": 3}
        fused: set[str] = set()
        for k, node in enumerate(self.model.graph.node):
            if not node.name:
                node.name = f"{node.op_type}_{k}"
            if node.op_type in ("QuantizeLinear", "DequantizeLinear") or node.op_type not in self.op_importers:
                continue
            n_data = data_inputs.get(node.op_type, len(node.input) if node.op_type == "Concat" else 1)
            data = [i for i in node.input[:n_data] if i]
            out = node.output[0]
            readers = self.readers.get(out, [])
            if (data and all(i in self.dq_nodes for i in data) and len(readers) == 1
                    and readers[0].op_type == "QuantizeLinear" and out not in self.graph_outputs
                    and len(node.output) == 1 and self._int8_form(node, readers[0])):
                fused.add(node.name)
        return fused

    def _int8_form(self, node: onnx.NodeProto, q: onnx.NodeProto) -> bool:
        """The int8 IR op can express it. Softmax's int8 output is fixed at scale 1/256, zero point -128
        (TFLite's); with any other output quantization (onnxruntime's quantizer picks 1/255) the node stays a
        float softmax between `dequantize` and `quantize`."""
        if node.op_type != "Softmax":
            return True
        quant = self.quant_of.get(q.output[0])
        return quant is not None and quant.scale.size == 1 and float(quant.scale[0]) == 1.0 / 256 \
            and int(quant.zero_point[0]) == -128

    def producer_fused(self, name: str) -> bool:
        p = self.producers.get(name)
        return p is not None and p.name in self.fused

    # -- values
    def const_value(self, name: str) -> np.ndarray | None:
        return self.consts.get(name)

    def static_shape(self, name: str) -> tuple[int, ...]:
        shape = self.shapes.get(name)
        if shape is None or not all(isinstance(d, int) for d in shape):
            raise Unsupported(f"value {name} has no static shape after shape inference "
                              f"({'unknown' if shape is None else list(shape)})")
        return tuple(int(d) for d in shape)  # type: ignore[arg-type]

    def layout_of(self, name: str) -> tuple[int, ...]:
        if name in self.layouts:
            return self.layouts[name]
        return identity(len(self.static_shape(name)))

    def ir_dtype(self, name: str) -> str:
        t = self.types.get(name, TensorProto.FLOAT)
        if t not in ONNX_DTYPES:
            raise Unsupported(f"value {name} has the ONNX type {helper.tensor_dtype_to_string(t)}; edgec computes "
                              "in float32 and int8")
        return ONNX_DTYPES[t]

    def define(self, name: str, perm: tuple[int, ...]) -> str:
        """The IR tensor for an ONNX value this node writes, held in layout perm."""
        shape = held_shape(self.static_shape(name), perm)
        dtype = self.ir_dtype(name)
        quant = moved_axis(self.quant_of.get(name), perm)
        if dtype == "uint8" and quant is not None:
            dtype = "int8"
            self.uint8_shifted.append(name)
        if dtype not in ("float32", "int8"):
            raise Unsupported(f"value {name} is {dtype}; edgec computes in float32 and int8")
        self.tensors[name] = Tensor(name=name, shape=shape, dtype=dtype, quant=quant)
        self.layouts[name], self.ir_names[name] = perm, name
        self.views[(name, perm)] = name
        return name

    def alias_value(self, name: str, src: str, src_perm: tuple[int, ...], perm: tuple[int, ...]) -> None:
        """ONNX value `name` is the IR tensor of `src` in layout src_perm, seen in layout perm (a folded
        Transpose)."""
        del self.tensors[name]
        ir = self.value_in(src, src_perm)
        self.layouts[name], self.ir_names[name] = perm, ir
        self.views = {k: v for k, v in self.views.items() if k[0] != name}
        self.views[(name, perm)] = ir

    def new_tensor(self, base: str, shape: tuple[int, ...], dtype: str, quant: Quant | None,
                   data: np.ndarray | None = None) -> str:
        name, k = base, 1
        while name in self.tensors:
            name, k = f"{base}_{k}", k + 1
        self.tensors[name] = Tensor(name=name, shape=tuple(int(d) for d in shape), dtype=dtype, quant=quant,
                                    data=data)
        return name

    def add_const(self, base: str, data: np.ndarray, quant: Quant | None) -> str:
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float32", np.dtype(np.int8): "int8",
                 np.dtype(np.uint8): "uint8", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64"}.get(data.dtype)
        if dtype is None:
            raise Unsupported(f"a constant of type {data.dtype}")
        data = np.ascontiguousarray(data.astype(dtype))
        return self.new_tensor(base, data.shape, dtype, quant, data)

    def value_in(self, name: str, perm: tuple[int, ...], rank: int | None = None) -> str:
        """The IR tensor holding ONNX value `name` in layout perm (a constant is expanded to `rank` first)."""
        c = self.const_value(name)
        if c is not None:
            c = np.asarray(c)
            if rank is not None and c.ndim < rank:
                c = c.reshape((1,) * (rank - c.ndim) + c.shape)
            key = (name, perm)
            if key not in self.views:
                if c.dtype.kind == "f":
                    c = c.astype(np.float32)
                fits = c.ndim == len(without_unit(perm))
                self.views[key] = self.add_const(_identifier(name), hold(c, perm) if fits else c,
                                                 moved_axis(self.quant_of.get(name), perm)
                                                 if fits else self.quant_of.get(name))
            return self.views[key]
        if name in self.failed:
            raise _FollowOn(name)
        if name not in self.ir_names:
            raise Unsupported(f"input {name} is not produced by a node edgec could map")
        src_perm = self.layouts[name]
        if src_perm == perm:
            return self.ir_names[name]
        if (name, perm) in self.views:
            return self.views[(name, perm)]
        shape = self.static_shape(name)
        same_bytes = held_order(src_perm, shape) == held_order(perm, shape)
        # a transpose keeps the rank: to or from a layout with a UNIT axis, go through its plain permutation
        if not same_bytes and (UNIT in src_perm) != (UNIT in perm):
            mid = without_unit(src_perm if UNIT in src_perm else perm)
            src_ir = self.value_in(name, mid)
            src_perm = mid
        else:
            src_ir = self.views.get((name, src_perm), self.ir_names[name])
        src = self.tensors[src_ir]
        tag = "".join("u" if p == UNIT else str(p) for p in perm)
        out = self.new_tensor(f"{self.ir_names[name]}__{tag}", held_shape(shape, perm), src.dtype,
                              moved_axis(onnx_axis(src.quant, src_perm), perm))
        producer = self.producers.get(name)
        if held_order(src_perm, shape) == held_order(perm, shape):
            self.emit(producer, "reshape", [src_ir], [out], {}, suffix="layout")
        else:
            self.emit(producer, "transpose", [src_ir], [out], dict(perm=list(relative_perm(src_perm, perm))),
                      suffix="layout")
        self.views[(name, perm)] = out
        return out

    def op_name(self, node: onnx.NodeProto | None) -> str:
        return _identifier(node.name if node is not None and node.name else "input")

    def emit(self, node: onnx.NodeProto | None, ir_type: str, inputs: list[str | None], outputs: list[str],
             attrs: dict, suffix: str = "") -> None:
        base = self.op_name(node) + (f"_{suffix}" if suffix else "")
        names = {op.name for op in self.ops}
        name, k = base, 1
        while name in names:
            name, k = f"{base}_{k}", k + 1
        label = (f"{node.op_type} node '{node.name}'" if node is not None else "model input") + (
            f" ({suffix})" if suffix else "")
        attrs = dict(attrs, label=label, onnx_op=node.op_type if node is not None else "")
        self.ops.append(Op(type=ir_type, name=name, inputs=list(inputs), outputs=list(outputs), attrs=attrs))

    # -- the whole graph
    def run(self) -> Graph:
        g = self.model.graph
        inputs = onnx_passes.real_inputs(self.model)
        meta: dict[str, Any] = dict(format="onnx", input_layouts={}, output_layouts={},
                                    onnx_inputs=[i.name for i in inputs], onnx_outputs=[o.name for o in g.output])
        for vi in inputs:
            try:
                shape = self.static_shape(vi.name)
                readers = self.readers.get(vi.name, [])
                image = len(shape) == 4 and not all(r.op_type == "Transpose" for r in readers) and bool(readers)
                self.define(vi.name, NHWC if image else identity(len(shape)))
                if image:
                    meta["input_layouts"][vi.name] = "NCHW"
            except Unsupported as e:
                self.problems.append(f"model input {vi.name}: {e}")
        for k, node in enumerate(g.node):
            n = Node(self, node, k)
            if node.domain not in ("", "ai.onnx"):
                self.problems.append(f"{n.label}: operator {node.domain}.{node.op_type} is not supported"
                                     f"{self._supported()}")
                self._failed(node)
                continue
            fn = self.op_importers.get(node.op_type)
            if fn is None:
                self.problems.append(f"{n.label}: operator {node.op_type} is not supported{self._supported()}")
                self._failed(node)
                continue
            if any(i in self.failed for i in node.input):
                self._failed(node)  # its input's producer is reported already
                continue
            try:
                fn(n)
                ignored = sorted(set(n.attrs) - n.read)
                if ignored:
                    raise Unsupported(f"attribute {', '.join(ignored)} is not supported")
            except Unsupported as e:
                self.problems.append(f"{n.label}: {e}")
                self._failed(node)
            except _FollowOn:
                self._failed(node)
        outputs = []
        for o in g.output:
            if o.name not in self.ir_names:
                if o.name not in self.failed:
                    self.problems.append(f"model output {o.name} is a constant or is not computed by the graph")
                continue
            perm = self.layouts[o.name]
            rank = len(without_unit(perm))  # a 1-D op's output (NW1C) leaves in ONNX order, [N, C, W]
            if perm not in (identity(rank), NHWC):
                try:
                    ir = self.value_in(o.name, identity(rank))
                except Unsupported as e:
                    self.problems.append(f"model output {o.name}: {e}")
                    continue
            else:
                ir = self.ir_names[o.name]
                if perm == NHWC and rank == 4:
                    meta["output_layouts"][ir] = "NCHW"
            outputs.append(ir)
        # a QDQ/QOperator model: int8 by its own scales (not a float model to quantize), and for every float output
        # that a `dequantize` writes, the int8 scale it dequantizes (the unit of "1 LSB" when comparing)
        meta["quantized"] = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.op_type.startswith("QLinear")
                                for n in g.node)
        deq = {op.outputs[0]: str(op.inputs[0]) for op in self.ops if op.type == "dequantize"}
        meta["output_scales"] = {o: self.tensors[deq[o]].scale for o in outputs if o in deq
                                 and self.tensors[deq[o]].quant is not None}
        graph_io = {i.name for i in inputs} | {o.name for o in g.output}
        meta["uint8_as_int8"] = sorted(set(self.uint8_shifted) & graph_io)
        graph = Graph(name=_identifier(self.path.stem), tensors=self.tensors, ops=self.ops,
                      inputs=[i.name for i in inputs if i.name in self.tensors], outputs=outputs, meta=meta)
        self._check_ops(graph)
        if self.problems:
            raise UnsupportedError(self.problems)
        from ..passes import remove_dead_ops

        return remove_dead_ops(graph)

    def _supported(self) -> str:
        """The list of supported ops, given once (with the first unsupported op)."""
        if getattr(self, "_listed", False):
            return ""
        self._listed = True
        return f" (edgec maps the ONNX ops {', '.join(sorted(self.op_importers))})"

    def _failed(self, node: onnx.NodeProto) -> None:
        self.failed.update(node.output)
        if node.name in self.fused:  # it would have written its QuantizeLinear's output
            self.failed.update(self.readers[node.output[0]][0].output)

    def _check_ops(self, graph: Graph) -> None:
        from ..ops import REGISTRY

        if self.problems:
            return  # a partial graph would only add follow-on noise
        for op in graph.ops:
            impl = REGISTRY.get(op.type)
            if impl is None:
                self.problems.append(f"{op.attrs['label']}: maps to IR op {op.type}, which has no implementation yet")
                continue
            try:
                self.problems += [f"{op.attrs['label']}: {rule}" for rule in impl.check(op, graph)]
            except (IndexError, KeyError, TypeError, AttributeError) as e:
                self.problems.append(f"{op.attrs['label']}: malformed node for IR op {op.type} ({e})")


def _identifier(s: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", s) or "_"

