"""The reference runtimes edgec compares against, behind one small function each.

- TFLM (tflite-micro's Python interpreter, reference kernels): the oracle for int8 numerics on a device.
- LiteRT (ai-edge-litert) with its BUILTIN_REF kernels: the desktop TFLite reference. Optional dependency.
- `numpy`: edgec's own op references, run op by op on the IR (what the C must compute).
TFLM's print_allocations() writes to C's stderr only, so it is captured on file descriptor 2.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import numpy as np

from .ir import Graph
from .ops import REGISTRY


def _tflm():
    from tflite_micro.python.tflite_micro import runtime

    return runtime


def run_tflm(model: Path, samples: list[list[np.ndarray]], preserve: bool = False) -> tuple[list, list | None]:
    """Outputs per sample, and with preserve=True every tensor per sample ({tensor_index: array})."""
    rt = _tflm()
    sg = _subgraph(model)  # parsed once: the object API unpacks every weight buffer
    config = rt.InterpreterConfig.kPreserveAllTensors if preserve else rt.InterpreterConfig.kAllocationRecording
    interp = rt.Interpreter.from_file(str(model), arena_size=_arena_bound(model, sg), intrepreter_config=config)
    n_out, n_tensors = len(sg.outputs), len(sg.tensors)
    outputs, tensors = [], []
    for sample in samples:
        for k, x in enumerate(sample):
            interp.set_input(x, k)
        interp.invoke()
        outputs.append([np.array(interp.get_output(k)) for k in range(n_out)])
        if preserve:
            dump = {}
            for idx in range(n_tensors):
                try:
                    dump[idx] = np.array(interp.GetTensor(idx, 0)["tensor_data"])
                except Exception:  # constants and unused tensors may not be readable
                    continue
            tensors.append(dump)
    return outputs, (tensors if preserve else None)


def tflm_arena_bytes(model: Path, timeout_s: float = 120) -> dict[str, int] | None:
    """TFLM's arena (total/head/tail) for `edgec build`'s report, measured in a child process: TFLM's C++ aborts the
    whole process on some models (e.g. a softmax row whose exponentials sum past its table), and a build must not
    die for a figure it only reports. None when TFLM cannot run the model."""
    import json
    import subprocess
    import sys

    code = ("import json, sys; from pathlib import Path; from edgec.reference import _tflm_arena_in_process; "
            "print(json.dumps(_tflm_arena_in_process(Path(sys.argv[1]))))")
    try:
        res = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True,
                             timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
    if res.returncode != 0 or not res.stdout.strip():
        return None
    return json.loads(res.stdout.strip().splitlines()[-1])


def _tflm_arena_in_process(model: Path) -> dict[str, int] | None:
    """TFLM's arena (total/head/tail) from print_allocations(), after one zero-input invoke."""
    rt = _tflm()
    try:
        interp = rt.Interpreter.from_file(str(model))
        interp.invoke()
    except Exception:
        return None
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            interp.print_allocations()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    m = re.search(r"Arena allocation total (\d+) bytes", text)
    h = re.search(r"Arena allocation head (\d+) bytes", text)
    t = re.search(r"Arena allocation tail (\d+) bytes", text)
    if not m:
        return None
    return dict(total=int(m.group(1)), head=int(h.group(1)) if h else -1, tail=int(t.group(1)) if t else -1)


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    return tfl


def _subgraph(model: Path):
    tfl = _schema()
    return tfl.ModelT.InitFromPackedBuf(model.read_bytes(), 0).subgraphs[0]


def _arena_bound(model: Path, sg) -> int:
    """An arena TFLM surely fits in, even keeping every tensor (kPreserveAllTensors). TFLM's default (10x the
    file size) is too small for models with few weights and large activations, and it then fails or crashes."""
    itemsize = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8}
    data = sum(int(np.prod([max(int(d), 1) for d in (t.shape if t.shape is not None else [])], dtype=np.int64))
               * itemsize.get(t.type, 8) for t in sg.tensors or [])
    return 10 * model.stat().st_size + 2 * data + (64 << 10)


def litert_available() -> bool:
    try:
        import ai_edge_litert.interpreter  # noqa: F401
    except Exception:
        return False
    return True


def run_litert(model: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """LiteRT with its reference kernels (BUILTIN_REF): XNNPACK, the default, is tens of LSB away on int8."""
    from ai_edge_litert import interpreter as lrt

    interp = lrt.Interpreter(model_path=str(model), experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    ins, outs = interp.get_input_details(), interp.get_output_details()
    results = []
    for sample in samples:
        for d, x in zip(ins, sample):
            interp.set_tensor(d["index"], x.reshape(d["shape"]))
        interp.invoke()
        results.append([np.array(interp.get_tensor(d["index"])) for d in outs])
    return results


def run_numpy(g: Graph, sample: list[np.ndarray]) -> dict[str, np.ndarray]:
    """edgec's own op references over the IR: every tensor's value for one sample."""
    values: dict[str, np.ndarray] = {n: x.reshape(g.t(n).shape) for n, x in zip(g.inputs, sample)}
    for op in g.ops:
        ins = [None if i is None else (g.t(i).data if g.t(i).is_const else values[i]) for i in op.inputs]
        for name, v in zip(op.outputs, REGISTRY[op.type].run_reference(op, g, ins)):
            values[name] = v
    return values


def run_onnxruntime(model: Path | bytes, samples: list[list[np.ndarray]], g: Graph) -> list[list[np.ndarray]]:
    """onnxruntime (CPU, one thread) on samples in edgec's layout, outputs returned in edgec's layout.

    The ONNX importer records in `g.meta` which 4-D inputs/outputs it turned from NCHW into NHWC and which
    uint8 values it holds as int8 (q - 128); this undoes both on the way in and redoes them on the way out."""
    import onnxruntime as ort

    meta = g.meta
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    in_names = meta.get("onnx_inputs") or [i.name for i in session.get_inputs()]
    shifted = set(meta.get("uint8_as_int8", []))
    results = []
    for sample in samples:
        feeds = {}
        for ir_name, onnx_name, x in zip(g.inputs, in_names, sample):
            x = np.asarray(x).reshape(g.t(ir_name).shape)
            if meta.get("input_layouts", {}).get(ir_name) == "NCHW":
                x = x.transpose(0, 3, 1, 2)
            if onnx_name in shifted:
                x = (x.astype(np.int16) + 128).astype(np.uint8)
            feeds[onnx_name] = np.ascontiguousarray(x)
        outs = session.run(None, feeds)
        converted = []
        for ir_name, onnx_name, y in zip(g.outputs, meta.get("onnx_outputs", g.outputs), outs):
            y = np.asarray(y)
            if meta.get("output_layouts", {}).get(ir_name) == "NCHW":
                y = y.transpose(0, 2, 3, 1)
            if onnx_name in shifted and y.dtype == np.uint8:
                y = (y.astype(np.int16) - 128).astype(np.int8)
            converted.append(np.ascontiguousarray(y).reshape(g.t(ir_name).shape))
        results.append(converted)
    return results
