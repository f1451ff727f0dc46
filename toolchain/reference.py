"""The reference runtimes edgec compares against, behind one small function each.

- TFLM (tflite-micro's Python interpreter, reference kernels): the oracle for int8 numerics on a device.
- LiteRT (ai-edge-litert) with its BUILTIN_REF kernels: the desktop TFLite reference. Optional dependency.
- `numpy`: edgec's own op references, run op by op on the IR (what the C must compute).
TFLM's print_allocations() writes to C's stderr only, so it is captured on file descriptor 2.

Every runtime runs in a child process (`_in_child`): the samples go there and the outputs come back in temporary
.npz files, so a crash inside a runtime (TFLM's C++ aborts or dereferences out of bounds on some models edgec
refuses or that are damaged), a hang or a refusal is one clear ToolchainError (exit 4, docs/cli.md), never a
dead edgec. The public functions keep their in-process signatures. The child is forked where the platform can
(it inherits the imported numpy and runtimes: about 0.1 s per run, where a fresh interpreter importing them took
about 1 s per run, 2 s per `edgec test`), spawned elsewhere; its stdout and stderr (where TFLM's C++ reports) go
to a file whose last line explains a refusal.
"""

from __future__ import annotations

import faulthandler
import json
import multiprocessing
import os
import re
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .c_text import display_text
from .errors import ToolchainError
from .ir import DTYPES, Graph, Tensor
from .ops import REGISTRY

#: a reference run is given this long, plus PER_SAMPLE_TIMEOUT_S per sample, before it counts as hung
BASE_TIMEOUT_S = 300.0
PER_SAMPLE_TIMEOUT_S = 5.0
RUNTIME_NAMES = {"tflm": "TFLite Micro", "litert": "LiteRT", "onnxruntime": "onnxruntime"}
_REFUSED = 3  # the child's exit status when the runtime raised (refused the model) rather than crashed


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _in_child(kind: str, model: Path | bytes, samples: list[list[np.ndarray]], **options) -> tuple[dict, dict]:
    """Run reference `kind` on the samples in a child process; returns (the child's JSON summary, its arrays)."""
    name = RUNTIME_NAMES[kind]
    shown = display_text(Path(model).name if not isinstance(model, bytes) else "the ONNX model")  # one line
    with tempfile.TemporaryDirectory(prefix="edgec-reference-") as tmp:
        folder = Path(tmp)
        if isinstance(model, bytes):
            (folder / "model.onnx").write_bytes(model)
            model = folder / "model.onnx"
        arrays: dict[str, Any] = {f"s{i}_{k}": np.asarray(x) for i, s in enumerate(samples) for k, x in enumerate(s)}
        np.savez(folder / "in.npz", **arrays)
        spec = dict(kind=kind, model=str(Path(model).resolve()), arity=[len(s) for s in samples], options=options)
        (folder / "spec.json").write_text(json.dumps(spec, default=_json_default))
        timeout = BASE_TIMEOUT_S + PER_SAMPLE_TIMEOUT_S * len(samples)
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        child = multiprocessing.get_context(method).Process(  # type: ignore[attr-defined]
            target=_child_main, args=(str(folder),), daemon=True)
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise ToolchainError(f"the reference runtime {name} did not finish within {timeout:.0f} s on "
                                 f"{shown} (hung); edgec cannot compare against it")
        code = child.exitcode if child.exitcode is not None else -1
        if code < 0:
            sig = signal.Signals(-code).name if -code in signal.valid_signals() else code
            raise ToolchainError(f"the reference runtime {name} crashed ({sig}) running {shown}; the "
                                 "model is one it cannot run, so edgec cannot compare against it")
        if code != 0 or not (folder / "out.npz").exists():
            log = folder / "log.txt"
            lines = [ln for ln in (log.read_text(errors="replace") if log.exists() else "").splitlines() if ln.strip()]
            why = display_text(lines[-1].strip()) if lines else f"exit status {code}"
            verb = "refused" if code == _REFUSED else "failed on"
            raise ToolchainError(f"the reference runtime {name} {verb} {shown}: {why}")
        summary = json.loads((folder / "out.json").read_text())
        with np.load(folder / "out.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    return summary, arrays


def _child_main(folder_name: str) -> None:
    """The child's side of `_in_child`: read the samples, run the runtime in this process, write the results."""
    folder = Path(folder_name)
    faulthandler.disable()  # a crash is reported by the parent from the exit signal, not as a traceback here
    log = os.open(folder / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)  # the runtime's C++ prints on the file descriptors, not through sys.stdout / sys.stderr
    os.dup2(log, 2)
    spec = json.loads((folder / "spec.json").read_text())
    with np.load(folder / "in.npz", allow_pickle=False) as z:
        samples = [[z[f"s{i}_{k}"] for k in range(n)] for i, n in enumerate(spec["arity"])]
    model, options = Path(spec["model"]), spec["options"]
    tensors = None
    try:
        if spec["kind"] == "tflm":
            outputs, tensors = _run_tflm_in_process(model, samples, bool(options.get("preserve")),
                                                    bool(options.get("reset_each")))
        elif spec["kind"] == "litert":
            outputs = _run_litert_in_process(model, samples)
        else:
            outputs = _run_onnxruntime_in_process(model, samples, _graph_from_spec(options["graph"]))
    except Exception as e:  # the runtime refused the model: its message is what the user needs
        sys.stderr.write(f"\n{type(e).__name__}: {' '.join(str(e).split()) or 'no message'}\n")
        sys.stderr.flush()
        sys.exit(_REFUSED)
    arrays: dict[str, Any] = {f"o{i}_{k}": np.asarray(y) for i, s in enumerate(outputs) for k, y in enumerate(s)}
    for i, dump in enumerate(tensors or []):
        arrays.update({f"t{i}_{idx}": np.asarray(v) for idx, v in dump.items()})
    np.savez(folder / "out.npz", **arrays)
    summary = dict(outputs=[len(s) for s in outputs],
                   tensors=[sorted(int(i) for i in d) for d in tensors] if tensors is not None else None)
    (folder / "out.json").write_text(json.dumps(summary))


def _outputs(summary: dict, arrays: dict) -> list[list[np.ndarray]]:
    return [[arrays[f"o{i}_{k}"] for k in range(n)] for i, n in enumerate(summary["outputs"])]


def _graph_spec(g: Graph) -> dict:
    """What run_onnxruntime reads of the graph: its meta and its inputs' and outputs' names, shapes and dtypes."""
    names = list(dict.fromkeys(g.inputs + g.outputs))
    return dict(name=g.name, inputs=g.inputs, outputs=g.outputs, meta=g.meta,
                tensors={n: [list(g.t(n).shape), g.t(n).dtype] for n in names})


def _graph_from_spec(spec: dict) -> Graph:
    tensors = {n: Tensor(name=n, shape=tuple(shape), dtype=dtype) for n, (shape, dtype) in spec["tensors"].items()}
    return Graph(name=spec["name"], tensors=tensors, ops=[], inputs=spec["inputs"], outputs=spec["outputs"],
                 meta=spec["meta"])


def _tflm():
    from tflite_micro.python.tflite_micro import runtime

    return runtime


def run_tflm(model: Path, samples: list[list[np.ndarray]], preserve: bool = False,
             reset_each: bool = False) -> tuple[list, list | None]:
    """Outputs per sample, and with preserve=True every tensor per sample ({tensor_index: array}). reset_each:
    the interpreter's state (variable tensors) is reset before every sample (the .tflite of a model whose
    recurrent ops restart from a zero state on each run, as ONNX's LSTM does: `restarts_each_run`)."""
    summary, arrays = _in_child("tflm", model, samples, preserve=preserve, reset_each=reset_each)
    tensors = None
    if summary["tensors"] is not None:
        tensors = [{idx: arrays[f"t{i}_{idx}"] for idx in kept} for i, kept in enumerate(summary["tensors"])]
    return _outputs(summary, arrays), tensors


def _run_tflm_in_process(model: Path, samples: list[list[np.ndarray]], preserve: bool,
                         reset_each: bool = False) -> tuple[list, list | None]:
    rt = _tflm()
    sg = _subgraph(model)  # parsed once: the object API unpacks every weight buffer
    config = rt.InterpreterConfig.kPreserveAllTensors if preserve else rt.InterpreterConfig.kAllocationRecording
    interp = rt.Interpreter.from_file(str(model), arena_size=_arena_bound(model, sg), intrepreter_config=config)
    n_out, n_tensors = len(sg.outputs), len(sg.tensors)
    outputs, tensors = [], []
    for sample in samples:
        if reset_each:
            interp.reset()
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
    return _outputs(*_in_child("litert", model, samples))


def _run_litert_in_process(model: Path, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    from ai_edge_litert import interpreter as lrt

    # the model's bytes, not its path: LiteRT takes the path as a UTF-8 str and refuses undecodable file names
    interp = lrt.Interpreter(model_content=Path(model).read_bytes(),
                             experimental_op_resolver_type=lrt.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    ins, outs = interp.get_input_details(), interp.get_output_details()
    results = []
    for sample in samples:
        for d, x in zip(ins, sample):
            interp.set_tensor(d["index"], x.reshape(d["shape"]))
        interp.invoke()
        results.append([np.array(interp.get_tensor(d["index"])) for d in outs])
    return results


def restarts_each_run(g: Graph) -> bool:
    """A recurrent op restarts from a zero state on every invocation (`reset_state`: ONNX's LSTM); its .tflite
    (TFLite's LSTM keeps its state) runs in TFLM with a reset before each invocation."""
    return any(op.attrs.get("reset_state") for op in g.ops)


def reset_state(g: Graph) -> dict[str, np.ndarray]:
    """The state tensors (ir.Tensor.state) as `<prefix>_reset()` leaves them: the zero point (0 for float)."""
    return {n: np.full(t.shape, t.zero_point, dtype=DTYPES[t.dtype]) for n, t in g.tensors.items() if t.state}


def run_numpy(g: Graph, sample: list[np.ndarray],
              state: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """edgec's own op references over the IR: every tensor's value for one sample (one invocation). A stateful
    model's ops update their state tensors in place in `state` (from reset_state(g)): pass the same dict to the
    invocations of one stream; None runs the sample from the reset state."""
    values: dict[str, np.ndarray] = {n: x.reshape(g.t(n).shape) for n, x in zip(g.inputs, sample)}
    values.update(reset_state(g) if state is None else state)
    for op in g.ops:
        ins = [None if i is None else (g.t(i).data if g.t(i).is_const else values[i]) for i in op.inputs]
        for name, v in zip(op.outputs, REGISTRY[op.type].run_reference(op, g, ins)):
            values[name] = v
    return values


def run_onnxruntime(model: Path | bytes, samples: list[list[np.ndarray]], g: Graph) -> list[list[np.ndarray]]:
    """onnxruntime (CPU, one thread) on samples in edgec's layout, outputs returned in edgec's layout.

    The ONNX importer records in `g.meta` which 4-D inputs/outputs it turned from NCHW into NHWC and which
    uint8 values it holds as int8 (q - 128); this undoes both on the way in and redoes them on the way out."""
    return _outputs(*_in_child("onnxruntime", model, samples, graph=_graph_spec(g)))


def _run_onnxruntime_in_process(model: Path | bytes, samples: list[list[np.ndarray]],
                                g: Graph) -> list[list[np.ndarray]]:
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
