"""Validation of an ONNX model before anything reads it: every field the importer relies on, checked against its
domain, each finding one line naming the node as `name (OpType)`, the input, attribute or initializer and the
value (docs/onnx.md, "What is validated"). All findings are reported together as one InputError (exit 2).

    check_structure   on the file as written: opsets and domains, initializers (data against dims), graph inputs
                      (dims), nodes (required inputs, attribute types, window attributes, QDQ scales and zero
                      points), the graph (every value produced once, before it is read; no cycle; outputs), then
                      onnx.checker, whose findings become the same one-line messages
    check_shapes      after a lenient shape inference: what needs ranks and sizes (axes, groups against
                      channels, pool windows that hold padding only, values too large for C's int sizes)

The importer then runs ONNX's strict shape inference and maps the nodes; anything these checks pass is in the
domain the importer's functions assume.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..errors import InputError

#: window attributes (kernel_shape, strides, dilations, pads) above this are refused: no real model comes near,
#: and the C computes window positions as int (stride x output index must not overflow)
MAX_WINDOW = 1 << 16
#: a value with more bytes than this does not fit the C's int sizes and offsets (nor any microcontroller)
MAX_BYTES = (1 << 31) - 1
WINDOW_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool", "QLinearConv"}
POOL_OPS = {"MaxPool", "AveragePool", "LpPool"}
QDQ_SLOTS = {"QuantizeLinear": [(1, 2)], "DequantizeLinear": [(1, 2)], "QLinearConv": [(1, 2), (4, 5), (6, 7)],
             "QLinearMatMul": [(1, 2), (4, 5), (6, 7)]}
#: zero point types edgec computes with (int32: only the zero zero point of a DequantizeLinear'd int32 bias)
QDQ_TYPES = {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT32}
MAX_LISTED = 20
#: integer types ONNX stores in int32_data when not in raw_data: their values must fit the type
SMALL_INT_RANGES = {TensorProto.INT8: (-128, 127), TensorProto.UINT8: (0, 255), TensorProto.INT16: (-32768, 32767),
                    TensorProto.UINT16: (0, 65535), TensorProto.BOOL: (0, 1)}
#: ops whose inputs 1 and 2 are weights and bias: float initializers there must be finite
WEIGHTED_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}
#: ops whose `axis` attribute names one axis of their first input (Flatten's may also be the rank itself)
AXIS_OPS = {"Softmax", "LogSoftmax", "Hardmax", "Concat", "Gather", "Split", "QuantizeLinear", "DequantizeLinear"}


def label(node: onnx.NodeProto, index: int) -> str:
    return f"{node.name or f'#{index}'} ({node.op_type})"


def _fail(problems: list[str], path: Path | str) -> None:
    if problems:
        shown = problems[:MAX_LISTED] + ([f"... and {len(problems) - MAX_LISTED} more"]
                                         if len(problems) > MAX_LISTED else [])
        raise InputError(f"{path}: invalid ONNX model:\n" + "\n".join(f"  - {p}" for p in shown))


def _type_name(t: int) -> str:
    try:
        return helper.tensor_dtype_to_string(t).removeprefix("TensorProto.").lower()
    except Exception:
        return f"type {t}"


# ---- before shape inference -----------------------------------------------------------------------------------

def check_structure(model: onnx.ModelProto, path: Path | str = "model",
                    input_shapes: dict[str, tuple[int, ...]] | None = None) -> None:
    from .onnx_passes import check_opset, opset

    _fail(_non_utf8_strings(model), path)
    g = model.graph
    version = opset(model)
    check_opset(model, path)  # UnsupportedError: a valid model of an opset edgec does not read
    problems: list[str] = []
    consts = _initializers(g, problems)
    _graph_inputs(g, consts, problems, set(input_shapes or {}))
    imported = {o.domain for o in model.opset_import}
    for k, node in enumerate(g.node):
        _node(node, k, version, imported, consts, problems)
    if not problems:
        _dataflow(g, consts, problems)
    _fail(problems, path)
    try:
        onnx.checker.check_model(model)
    except Exception as e:  # onnx.checker.ValidationError, or a C++ error for unreadable fields
        _fail([_checker_line(str(e)) or type(e).__name__], path)


def _non_utf8_strings(model: onnx.ModelProto) -> list[str]:
    """ONNX strings (names, op types, domains) are UTF-8. The protobuf runtime hands a string field that is not
    as bytes, which no name handling expects; such a file is damaged. (A tensor name may hold any Unicode text:
    the generated C never uses it as code.)"""
    problems = []

    def check(value, where: str) -> None:
        if isinstance(value, bytes):
            problems.append(f"{where} is not valid UTF-8 ({value!r}); ONNX strings are UTF-8")

    g = model.graph
    for o in model.opset_import:
        check(o.domain, "an opset_import domain")
    for k, node in enumerate(g.node):
        where = f"node #{k}"
        for field in ("name", "op_type", "domain"):
            check(getattr(node, field), f"{where}: its {field}")
        for role, names in (("input", node.input), ("output", node.output)):
            for pos, name in enumerate(names):
                check(name, f"{where}: {role} {pos}")
        for a in node.attribute:
            check(a.name, f"{where}: an attribute name")
    for t in g.initializer:
        check(t.name, "an initializer's name")
    for role, infos in (("graph input", g.input), ("graph output", g.output), ("value_info", g.value_info)):
        for vi in infos:
            check(vi.name, f"a {role}'s name")
    return problems


def _checker_line(text: str) -> str:
    """onnx.checker's finding without its dump of the node: the first line, its node named our way."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    m = re.search(r"==> Context: Bad node spec for node\. Name: (.*?) OpType: (\S+)", text)
    if m:
        return f"{m.group(1) or 'unnamed node'} ({m.group(2)}): {first}"
    return first


def _initializers(g: onnx.GraphProto, problems: list[str]) -> dict[str, onnx.TensorProto]:
    consts: dict[str, onnx.TensorProto] = {}
    for t in g.initializer:
        where = f"initializer {t.name}"
        if t.name in consts:
            problems.append(f"{where} is given twice")
            continue
        consts[t.name] = t
        dims = [int(d) for d in t.dims]
        if any(d < 0 for d in dims):
            problems.append(f"{where}: dims {dims} (a dimension must be >= 0)")
            continue
        if t.data_location == TensorProto.EXTERNAL:
            continue  # loaded by onnx_passes.load; still external only when it could not be
        if (t.data_type in (TensorProto.UNDEFINED, TensorProto.STRING)
                or t.data_type not in TensorProto.DataType.values()):
            problems.append(f"{where}: data type {_type_name(t.data_type)} (edgec reads numeric tensors)")
            continue
        count = int(np.prod(dims, dtype=np.float64))
        if count * 4 > MAX_BYTES * 4:  # more elements than any C size holds: do not even try to read it
            problems.append(f"{where}: dims {dims} ({count} elements) is too large")
            continue
        try:
            n = _stored_count(t)
        except Exception as e:
            problems.append(f"{where}: unreadable data ({e})")
            continue
        if n < 0:
            itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize
            problems.append(f"{where}: dims {dims} call for {count} {_type_name(t.data_type)} values "
                            f"({count * itemsize} bytes), its raw_data holds {len(t.raw_data)} bytes")
            continue
        if n != count:
            problems.append(f"{where}: dims {dims} call for {count} values, its data holds {n}")
            continue
        small = SMALL_INT_RANGES.get(t.data_type)
        if small is not None and not t.HasField("raw_data") and len(t.int32_data):
            # int8/uint8/int16 values stored in int32_data: numpy would wrap 1000 to -24 without a word
            values = np.asarray(t.int32_data, dtype=np.int64)
            out = values[(values < small[0]) | (values > small[1])]
            if out.size:
                problems.append(f"{where}: a {_type_name(t.data_type)} tensor holding {int(out[0])} (outside "
                                f"{small[0]}..{small[1]})")
    return consts


def _stored_count(t: onnx.TensorProto) -> int:
    """How many values an initializer's data holds, whichever field holds it."""
    if t.HasField("raw_data"):
        np_type = helper.tensor_dtype_to_np_dtype(t.data_type)
        itemsize = np.dtype(np_type).itemsize
        if t.data_type in (TensorProto.INT4, TensorProto.UINT4):
            return len(t.raw_data) * 2  # packed two to a byte (an odd count pads the last byte)
        if len(t.raw_data) % itemsize:
            return -1
        return len(t.raw_data) // itemsize
    field = helper.tensor_dtype_to_field(t.data_type)
    n = len(getattr(t, field))
    if t.data_type in (TensorProto.COMPLEX64, TensorProto.COMPLEX128):
        n //= 2
    return n


def _graph_inputs(g: onnx.GraphProto, consts: dict[str, onnx.TensorProto], problems: list[str],
                  given: set[str]) -> None:
    seen: set[str] = set()
    for vi in g.input:
        if vi.name in seen:
            problems.append(f"model input {vi.name} is listed twice")
            continue
        seen.add(vi.name)
        if not vi.type.HasField("tensor_type"):
            continue  # set_input_shapes reports sequences and maps
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
        if vi.name in consts:  # IR >= 4: a default value for the input; IR 3 lists every weight so. Must agree.
            t = consts[vi.name]
            if tt.HasField("shape") and all(d is not None for d in dims) and dims != [int(d) for d in t.dims]:
                problems.append(f"model input {vi.name} is declared {dims}, its initializer holds "
                                f"{[int(d) for d in t.dims]}")
            elif tt.elem_type and tt.elem_type != t.data_type:
                problems.append(f"model input {vi.name} is declared {_type_name(tt.elem_type)}, its initializer "
                                f"is {_type_name(t.data_type)}")
            continue
        if vi.name in given:
            continue  # --input-shape replaces the stored dims
        for k, d in enumerate(dims):
            if d is not None and d < 1:
                problems.append(f"model input {vi.name}: dimension {k} is {d} (dimensions are >= 1; a dynamic "
                                f"one is given with --input-shape {vi.name}=...)")
            elif d is not None and d > MAX_BYTES:
                problems.append(f"model input {vi.name}: dimension {k} is {d}, too large")


def _node(node: onnx.NodeProto, k: int, version: int, imported: set[str], consts: dict[str, onnx.TensorProto],
          problems: list[str]) -> None:
    where = label(node, k)
    if node.domain not in ("", "ai.onnx"):
        if node.domain not in imported:
            problems.append(f"{where}: operator domain {node.domain!r}, which the model does not import "
                            "(no opset_import entry)")
        else:
            problems.append(f"{where}: operator domain {node.domain!r} is not supported (edgec reads the "
                            "standard ONNX domain, ai.onnx)")
        return
    try:
        schema = onnx.defs.get_schema(node.op_type, version, "")
    except Exception:
        problems.append(f"{where}: there is no ONNX operator {node.op_type!r} in opset {version}")
        return
    single = onnx.defs.OpSchema.FormalParameterOption.Single
    for j, formal in enumerate(schema.inputs):
        if formal.option == single and (j >= len(node.input) or not node.input[j]):
            problems.append(f"{where}: required input {j} ({formal.name}) is missing")
    if len(node.input) > schema.max_input:
        problems.append(f"{where}: {len(node.input)} inputs (the operator takes at most {schema.max_input})")
    attrs: dict[str, object] = {}
    for a in node.attribute:
        spec = schema.attributes.get(a.name)
        if spec is not None and a.type != spec.type:
            problems.append(f"{where}: attribute {a.name} is {onnx.AttributeProto.AttributeType.Name(a.type)}, "
                            f"ONNX defines it as {str(spec.type).rsplit('.', 1)[-1]}")
            continue
        try:
            attrs[a.name] = helper.get_attribute_value(a)
        except Exception as e:
            problems.append(f"{where}: attribute {a.name} is unreadable ({e})")
            continue
        floats = [a.f] if a.type == onnx.AttributeProto.FLOAT else list(a.floats)
        if not all(np.isfinite(floats)):  # alpha, beta, epsilon, ...: NaN or inf is never a model's intent
            problems.append(f"{where}: attribute {a.name} is {next(f for f in floats if not np.isfinite(f))} "
                            "(float attributes must be finite)")
    for name, spec in schema.attributes.items():
        if spec.required and name not in attrs:
            problems.append(f"{where}: required attribute {name} is missing")
    if node.op_type in WINDOW_OPS:
        _window_attrs(node.op_type, where, attrs, problems)
    if node.op_type in QDQ_SLOTS:
        _qdq(node, where, consts, problems)
    if node.op_type in WEIGHTED_OPS:
        _finite_weights(node, where, consts, problems)
    if node.op_type == "Pad" and len(node.input) > 2 and node.input[2] in consts:
        _not_nan(node, where, consts[node.input[2]], "constant_value", problems)


def _not_nan(node: onnx.NodeProto, where: str, t: onnx.TensorProto, what: str, problems: list[str]) -> None:
    """A NaN padding value (infinities are fine: -inf is a max pool's padding)."""
    from onnx import numpy_helper

    try:
        data = numpy_helper.to_array(t)
    except Exception:
        return  # reported with the initializers
    if data.dtype.kind == "f" and np.isnan(data).any():
        problems.append(f"{where}: {what} {t.name} is NaN")


def _finite_weights(node: onnx.NodeProto, where: str, consts: dict[str, onnx.TensorProto],
                    problems: list[str]) -> None:
    """A NaN or infinite weight or bias makes the float model compute NaN or inf (and a quantized one garbage)."""
    from onnx import numpy_helper

    for j in (1, 2):
        t = consts.get(node.input[j]) if j < len(node.input) else None
        if t is None or t.data_type not in (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16):
            continue
        try:
            data = numpy_helper.to_array(t).reshape(-1)
        except Exception:
            continue  # reported with the initializers
        bad = np.flatnonzero(~np.isfinite(data))
        if bad.size:
            problems.append(f"{where}: {'weights' if j == 1 else 'bias'} {t.name} holds {float(data[bad[0]])} at "
                            f"index {int(bad[0])} ({bad.size} values are NaN or infinite; weights and biases must be "
                            "finite)")


def _window_attrs(op: str, where: str, attrs: dict[str, object], problems: list[str]) -> None:
    def ints(name: str) -> list[int] | None:
        v = attrs.get(name)
        return [int(x) for x in v] if isinstance(v, list) else None  # type: ignore[union-attr]

    for name, low in (("kernel_shape", 1), ("strides", 1), ("dilations", 1), ("pads", 0)):
        v = ints(name)
        if v is None:
            continue
        if any(x < low for x in v) or any(x > MAX_WINDOW for x in v):
            problems.append(f"{where}: {name} {v} (each must be in {low}..{MAX_WINDOW})")
            attrs.pop(name)
    group = attrs.get("group")
    if isinstance(group, int) and not 1 <= group <= MAX_BYTES:
        problems.append(f"{where}: group {group} (must be >= 1 and divide the channels)")
    kernel, pads = ints("kernel_shape"), ints("pads")
    if op in POOL_OPS and kernel and pads and len(pads) == 2 * len(kernel):
        # onnxruntime's rule: a pad as large as the kernel makes windows of padding only
        if any(p >= kernel[i % len(kernel)] for i, p in enumerate(pads)):
            problems.append(f"{where}: pads {pads} with kernel_shape {kernel} (each pad must be smaller than the "
                            "kernel along its axis)")


def _qdq(node: onnx.NodeProto, where: str, consts: dict[str, onnx.TensorProto], problems: list[str]) -> None:
    from onnx import numpy_helper

    for s, z in QDQ_SLOTS[node.op_type]:
        if s < len(node.input) and node.input[s] in consts:
            t = consts[node.input[s]]
            try:
                scale = numpy_helper.to_array(t).astype(np.float64).reshape(-1)
            except Exception:
                continue  # reported with the initializers
            bad = scale[~(np.isfinite(scale) & (scale > 0))]
            if bad.size:
                problems.append(f"{where}: scale {node.input[s]} holds {float(bad[0])} (scales must be finite and "
                                "> 0)")
            elif np.any(scale < np.finfo(np.float32).tiny) or np.any(scale > 1e30):
                problems.append(f"{where}: scale {node.input[s]} holds {float(scale.min())}..{float(scale.max())} "
                                "(outside float32's normal range 1.2e-38..1e30)")
        if z < len(node.input) and node.input[z] in consts:
            t = consts[node.input[z]]
            if t.data_type not in QDQ_TYPES:
                problems.append(f"{where}: zero point {node.input[z]} is {_type_name(t.data_type)} (edgec computes "
                                "int8 and uint8)")
            elif t.data_type == TensorProto.INT32:
                try:
                    zp = numpy_helper.to_array(t)
                except Exception:
                    continue
                if node.op_type != "DequantizeLinear" or np.any(zp != 0):
                    problems.append(f"{where}: zero point {node.input[z]} is int32 (edgec computes int8 and uint8; "
                                    "int32 only for a DequantizeLinear of a bias, with zero point 0)")


def _dataflow(g: onnx.GraphProto, consts: dict[str, onnx.TensorProto], problems: list[str]) -> None:
    """Every value written once (SSA) and read after it is written; a cycle named by its nodes."""
    available = {vi.name for vi in g.input} | set(consts)
    producer: dict[str, int] = {}
    for k, node in enumerate(g.node):
        for o in node.output:
            if not o:
                continue
            if o in producer:
                problems.append(f"tensor {o} is written by {label(g.node[producer[o]], producer[o])} and again by "
                                f"{label(node, k)}")
            elif o in available:
                problems.append(f"{label(node, k)}: writes {o}, which is a model input or an initializer")
            else:
                producer[o] = k
    if problems:
        return
    for k, node in enumerate(g.node):
        for i in node.input:
            if i and i not in available and i not in producer:
                problems.append(f"{label(node, k)}: reads {i}, which no node produces and which is no model input "
                                "or initializer")
    if problems:
        return
    cycle = _find_cycle(g, producer)
    if cycle:
        problems.append("the graph has a cycle: " + " -> ".join(label(g.node[k], k) for k in cycle))
        return
    seen_outputs: set[str] = set()
    for o in g.output:
        if o.name in seen_outputs:
            problems.append(f"model output {o.name} is listed twice")
        seen_outputs.add(o.name)
        if o.name not in producer and o.name not in available:
            problems.append(f"model output {o.name} is produced by no node (and is no input or initializer)")
    if not g.output:
        problems.append("the graph has no outputs")


def _find_cycle(g: onnx.GraphProto, producer: dict[str, int]) -> list[int]:
    """The nodes of one cycle (first node repeated at the end), or [] when the graph is acyclic."""
    deps = [[producer[i] for i in node.input if i in producer] for node in g.node]
    state = [0] * len(deps)  # 0 new, 1 on the stack, 2 done
    for start in range(len(deps)):
        if state[start]:
            continue
        stack: list[tuple[int, int]] = [(start, 0)]
        path: list[int] = []
        state[start] = 1
        path.append(start)
        while stack:
            v, j = stack[-1]
            if j < len(deps[v]):
                stack[-1] = (v, j + 1)
                w = deps[v][j]
                if state[w] == 1:
                    cyc = path[path.index(w):]
                    return list(reversed(cyc)) + [cyc[-1]]
                if state[w] == 0:
                    state[w] = 1
                    path.append(w)
                    stack.append((w, 0))
            else:
                state[v] = 2
                path.pop()
                stack.pop()
    return []


# ---- after a lenient shape inference --------------------------------------------------------------------------

def check_shapes(model: onnx.ModelProto, path: Path | str = "model") -> None:
    """Checks that need ranks and sizes. `model` has static input shapes; inference here is lenient (a node it
    cannot infer is skipped), so these checks run before the strict inference reports anything in its terms."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:
        return  # the strict inference that follows reports it
    from .onnx_passes import value_shapes

    shapes = value_shapes(inferred)
    consts = {t.name: [int(d) for d in t.dims] for t in inferred.graph.initializer}
    problems: list[str] = []
    for k, node in enumerate(inferred.graph.node):
        where = label(node, k)
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}

        x_shape = shapes.get(node.input[0]) if node.input and node.input[0] else None
        r = len(x_shape) if x_shape is not None else None
        if node.op_type == "Flatten":
            if r is not None and "axis" in attrs and not -r <= int(attrs["axis"]) <= r:
                problems.append(f"{where}: axis {attrs['axis']} for an input of rank {r} (in {-r}..{r})")
        elif node.op_type in AXIS_OPS and "axis" in attrs:
            a = int(attrs["axis"])
            if r is not None and r > 0 and not -r <= a < r:
                problems.append(f"{where}: axis {a} for an input of rank {r} (in {-r}..{r - 1})")
        if node.op_type in ("Conv", "QLinearConv") and "group" in attrs:
            w = node.input[3 if node.op_type == "QLinearConv" else 1]
            x, wd = shapes.get(node.input[0]), consts.get(w) or shapes.get(w)
            group = int(attrs["group"])
            if x and wd and len(x) >= 2 and len(wd) >= 2 and all(isinstance(d, int) for d in (x[1], wd[0], wd[1])):
                c, m, cg = int(x[1]), int(wd[0]), int(wd[1])  # type: ignore[arg-type]
                if group < 1 or c % group or m % group or cg * group != c:
                    problems.append(f"{where}: group {group} with {c} input channels and {m} output channels "
                                    f"(weights {wd}): the group must divide both, weights [M, C / group, ...]")
        if node.op_type in POOL_OPS and node.output:
            _pool_windows(node, where, attrs, shapes, problems)
    # the first value too large (in graph order, inputs first): everything computed from it is too
    too_large = [(name, shape) for name, shape in shapes.items() if shape and all(isinstance(d, int) for d in shape)
                 and int(np.prod([int(d) for d in shape if isinstance(d, int)], dtype=np.float64)) * 4 > MAX_BYTES]
    if too_large:
        name, shape = too_large[0]
        count = int(np.prod([int(d) for d in shape if isinstance(d, int)], dtype=np.float64))
        problems.append(f"value {name} has shape {list(shape)} ({count} float32 elements): more than the C's int "
                        f"sizes hold ({MAX_BYTES} bytes)"
                        + (f"; so do {len(too_large) - 1} values computed from it" if len(too_large) > 1 else ""))
    _fail(problems, path)


def _pool_windows(node: onnx.NodeProto, where: str, attrs: dict, shapes: dict, problems: list[str]) -> None:
    """Every output window of a pool must hold at least one input element. ceil_mode can add a last window that
    starts in the padding: ONNX's shape inference counts it, onnxruntime and the ONNX reference do not."""
    x, y = shapes.get(node.input[0]), shapes.get(node.output[0])
    kernel = [int(v) for v in attrs.get("kernel_shape", [])]
    if not x or not y or not kernel or len(x) != len(kernel) + 2 or len(y) != len(x):
        return
    if not all(isinstance(d, int) for d in (*x, *y)) or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return
    n = len(kernel)
    strides = [int(v) for v in attrs.get("strides", [1] * n)]
    dil = [int(v) for v in attrs.get("dilations", [1] * n)]
    pads = [int(v) for v in attrs.get("pads", [0] * 2 * n)]
    if len(strides) != n or len(dil) != n or len(pads) != 2 * n:
        return
    for a in range(n):
        size, out = int(x[2 + a]), int(y[2 + a])
        start = (out - 1) * strides[a] - pads[a]  # the last window's first tap
        if start >= size:
            problems.append(f"{where}: pads {pads}, strides {strides}, ceil_mode {attrs.get('ceil_mode', 0)}: the "
                            f"last of {out} windows along axis {2 + a} starts at {start}, in the padding only, past "
                            f"the input's {size} (onnxruntime drops such a window, ONNX's shape inference keeps it)")
            return
        if (kernel[a] - 1) * dil[a] - pads[a] < 0:  # the first window ends before the input starts
            problems.append(f"{where}: pads {pads}: a window along axis {2 + a} holds padding only")
            return
