"""IR -> int8 .tflite (the inverse of importers/tflite.py), written through edgec.modelbuilder (the flatbuffer
object API of the schema in the tflite-micro wheel).

Its use: a model edgec quantized itself (quantizer.py) becomes a file TFLite Micro runs, so `edgec test` checks
edgec's C against TFLM on edgec's own int8 model, bit for bit, exactly as for an imported int8 model.

Each IR op writes itself: its operator's `export_tflite(op, g, writer, inputs)` (in toolchain/ops/<op>.py) gives
its builtin and options, and writes the attributes the IR keeps outside the op (RESHAPE's shape, PAD's paddings,
MEAN's axes, TRANSPOSE's perm, a resize's size) back as the int32 constant inputs TFLite expects (writer.int32);
an op TFLite cannot hold says why (`not_exportable`, or writer.Unsupported for one instance). This module keeps
the plumbing: tensors, buffers, the options' codes. After writing, every op's `attrs["tflite_outputs"]` and
`attrs["tflite_index"]` point into the written file, so the layer-by-layer diff against TFLM finds its tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import UnsupportedError
from ..importers import tflite as reader
from ..ir import DTYPES, Graph, Op
from ..modelbuilder import ModelBuilder
from ..ops import REGISTRY

#: the schema's codes, the importer's tables inverted (IR name -> code)
PADDING = {name: code for code, name in reader.PADDING.items()}
ACTIVATION = {name: code for code, name in reader.ACTIVATION.items()}


# ---- the writer -------------------------------------------------------------------------------------------------

class _Unsupported(Exception):
    """An op instance the .tflite cannot hold (its message says why)."""


class TfliteWriter:
    """What an op's export_tflite is given: the graph's tensors as the file's indices, new constants, the codes."""

    Unsupported = _Unsupported

    def __init__(self, g: Graph, description: str):
        self.g = g
        self.b = ModelBuilder(description=description)
        self.index: dict[str, int] = {}
        self.used: set[str] = set(g.tensors)

    def tensor(self, name: str) -> int:
        """The file's index of an IR tensor, written on first use (constants with their data)."""
        if name in self.index:
            return self.index[name]
        t = self.g.t(name)
        dtype = DTYPES[t.dtype]
        q = t.quant
        scale = None if q is None else q.scale
        zp = None if q is None else q.zero_point
        axis = 0 if q is None or q.axis is None else int(q.axis)
        if t.is_const:
            assert t.data is not None
            # an int4 tensor (values in an int8 array, ir.py) becomes an INT4 tensor, packed two per byte
            idx = self.b.const(name, np.asarray(t.data, dtype), scale=scale, zero_point=zp, axis=axis,
                               int4=t.dtype == "int4")
        else:
            idx = self.b._tensor(name, t.shape, dtype, scale, zp, axis, variable=t.state)
        self.index[name] = idx
        return idx

    def int32(self, name: str, values) -> int:
        """A new int32 constant input (a shape, axes, paddings ...), named uniquely."""
        base, k = name, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return self.b.const(name, np.asarray(values, dtype=np.int32))

    def const_like(self, name: str, values, like: str) -> int:
        """A new constant input holding `values` in the dtype and quantization (if any) of the IR tensor `like`."""
        t = self.g.t(like)
        q = t.quant
        return self.b.const(name, np.array(values, DTYPES[t.dtype]), scale=None if q is None else q.scale,
                            zero_point=None if q is None else q.zero_point)

    @staticmethod
    def activation(op: Op) -> int:
        """The schema's code of the op's fused activation (NONE when it has none)."""
        return ACTIVATION[op.attrs.get("activation", "NONE")]

    @staticmethod
    def padding(op: Op) -> int:
        """The schema's code of the op's SAME / VALID padding."""
        return PADDING[op.attrs["padding"]]


def write_tflite(g: Graph, path: Path | str, description: str | None = None) -> Path:
    """Write an int8 (or float32) IR graph as a .tflite TFLite Micro runs; returns the path. Ops get
    `tflite_index` / `tflite_outputs` attrs naming their place in the written file."""
    path = Path(path)
    w = TfliteWriter(g, description or f"{g.name}: quantized by edgec")
    problems = []
    for name in g.inputs:
        w.b.sg.inputs.append(w.tensor(name))
    rows = []
    for op in g.ops:
        impl = REGISTRY[op.type]
        label = op.attrs.get("label", op.name)
        if impl.not_exportable is not None:
            problems.append(f"{label}: IR op {op.type} has no .tflite writer ({impl.not_exportable})")
            continue
        ins = [w.tensor(i) if i is not None else -1 for i in op.inputs]
        try:
            builtin, inputs, options_type, options = impl.export_tflite(op, g, w, ins)
        except _Unsupported as e:
            problems.append(f"{label}: {e}")
            continue
        outs = [w.tensor(o) for o in op.outputs]
        rows.append((op, outs, builtin))
        w.b.op(builtin, inputs, outs, options_type, **options)
    if problems:
        raise UnsupportedError(problems)
    for name in g.outputs:
        w.b.output(w.tensor(name))
    path.write_bytes(w.b.build())
    for k, (op, outs, builtin) in enumerate(rows):
        op.attrs["tflite_op"] = builtin
        op.attrs["tflite_index"] = k
        op.attrs["tflite_outputs"] = outs
    return path
