"""The driver: the path of a model as a list of stages (DESIGN.md). Each stage is one call; nothing else here.

    import -> verify -> canonicalize -> verify -> plan memory -> emit C -> [build -> run -> compare]
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__, host, reference
from .board import get_board
from .codegen import emit_c
from .compare import Metrics, compare, lsb_keys
from .data import load_inputs, random_inputs
from .errors import InputError, ValidationError
from .importers import import_model
from .ir import Graph, verify
from .memory import MemoryPlan, plan_memory
from .passes import canonicalize
from .report import make_report, write_report

Step = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class Build:
    model: Path
    out: Path
    graph: Graph
    plan: MemoryPlan
    sources: list[str]
    report: dict


def compile_model(model: Path, board: str = "host", step: Step = _quiet) -> tuple[Graph, MemoryPlan]:
    get_board(board)
    step("import")
    g = verify(import_model(model))
    step("canonicalize")
    g = verify(canonicalize(g))
    step("plan memory")
    return g, plan_memory(g)


def build(model: Path, out: Path, board: str = "host", step: Step = _quiet) -> Build:
    """Write the output folder. It is generated beside `out` and moved in only when complete, so a failed
    build never leaves a half-written folder, and a folder edgec did not make is never overwritten."""
    g, plan = compile_model(model, board, step)
    _check_writable(out)
    step("emit C")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        sources = emit_c(g, plan, staging)
        report = make_report(g, plan, model, board, __version__, sha256(model))
        write_report(staging, report, g, plan)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return Build(model=model, out=out, graph=g, plan=plan, sources=sources, report=report)


def _check_writable(out: Path) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "report.json").is_file())):
        raise InputError(f"{out} exists and is not an edgec output folder; refusing to overwrite it "
                         "(choose another --out or remove it)")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class TestResult:
    build: Build
    rows: list[Metrics]
    samples: int
    passed: bool
    layers: list[dict] | None = None


def test(model: Path, out: Path, board: str = "host", inputs: Path | None = None, samples: int = 50,
         seed: int = 0, tolerance: int = 0, layers: bool = False, step: Step = _quiet) -> TestResult:
    b = build(model, out, board, step)
    g = b.graph
    step("compile (host gcc)")
    exe = host.build(out, b.sources)
    xs = load_inputs(inputs, g, samples) if inputs else random_inputs(g, samples, seed)
    step(f"run edgec on {len(xs)} samples")
    ours = split_outputs(host.run(exe, xs), g, len(xs))
    step("run TFLM (reference kernels)")
    tflm, _ = reference.run_tflm(model, xs)
    out_t = g.t(g.outputs[0])
    scale = out_t.scale if out_t.quant is not None else 1.0
    rows = [compare_all("TFLM", ours, tflm, g, scale)]
    if reference.litert_available():
        step("run LiteRT (BUILTIN_REF kernels)")
        try:
            rows.append(compare_all("LiteRT (ref)", ours, reference.run_litert(model, xs), g, scale))
        except Exception as e:  # LiteRT refuses some models TFLM runs (e.g. per-channel bias quantization)
            step(f"LiteRT could not run the model: {e}")
    passed = rows[0].max_abs_diff_lsb <= tolerance
    layer_rows = layer_diff(model, b, xs[: min(len(xs), 5)], step) if layers or not passed else None
    b.report["test"] = dict(samples=len(xs), reference="tflite-micro (reference kernels)", tolerance_lsb=tolerance,
                            passed=passed, max_abs_diff_lsb=rows[0].max_abs_diff_lsb,
                            mismatch_fraction=rows[0].mismatch_fraction, cosine=rows[0].cosine, rmse=rows[0].rmse,
                            top1_agreement=rows[0].top1_agreement, rows=[r.as_dict() for r in rows],
                            instructions_per_inference=None, cycles_estimate=None, stack_bytes=None,
                            layers=layer_rows)
    (out / "report.json").write_text(json.dumps(b.report, indent=2) + "\n")
    return TestResult(build=b, rows=rows, samples=len(xs), passed=passed, layers=layer_rows)


def compare_all(name: str, ours: list[list[np.ndarray]], theirs: list[list[np.ndarray]], g: Graph,
                scale: float) -> Metrics:
    """One row over all outputs of all samples (outputs concatenated per sample)."""
    a = [np.concatenate([o.reshape(-1) for o in s]) for s in ours]
    b = [np.concatenate([np.asarray(o).reshape(-1) for o in s]) for s in theirs]
    return compare(name, a, b, scale, g.t(g.outputs[0]).zero_point)


def split_outputs(raw: bytes, g: Graph, n: int, tensors: list[str] | None = None) -> list[list[np.ndarray]]:
    """Cut the harness' stdout into per-sample arrays of the given tensors (default: the graph outputs)."""
    names = tensors if tensors is not None else g.outputs
    per_sample = sum(g.t(t).nbytes for t in names)
    if len(raw) != per_sample * n:
        raise ValidationError(f"the harness wrote {len(raw)} bytes, expected {per_sample * n}")
    out, pos = [], 0
    for _ in range(n):
        arrays = []
        for t in names:
            tensor = g.t(t)
            arrays.append(np.frombuffer(raw[pos:pos + tensor.nbytes], dtype=tensor.dtype).reshape(tensor.shape))
            pos += tensor.nbytes
        out.append(arrays)
    return out


def layer_diff(model: Path, b: Build, xs: list[list[np.ndarray]], step: Step = _quiet) -> list[dict]:
    """Every layer's output, edgec (traced C build) vs TFLM (kPreserveAllTensors). Rows in execution order."""
    g = b.graph
    step("compile the traced build")
    exe = host.build(b.out, b.sources, exe="model_trace", trace=True)
    traced = [o for op in g.ops for o in op.outputs]
    per_sample = sum(g.t(t).nbytes for t in traced + list(g.outputs))
    raw = host.run(exe, xs)
    step("run TFLM with all tensors preserved")
    _, tflm_tensors = reference.run_tflm(model, xs, preserve=True)
    assert tflm_tensors is not None
    rows = []
    for op in g.ops:
        for k, name in enumerate(op.outputs):
            idx = op.attrs.get("tflite_outputs", [None] * len(op.outputs))[k]
            start = sum(g.t(t).nbytes for t in traced[: traced.index(name)])
            t = g.t(name)
            ours = [np.frombuffer(raw[s * per_sample + start: s * per_sample + start + t.nbytes], dtype=t.dtype)
                    for s in range(len(xs))]
            theirs = [d.get(idx) for d in tflm_tensors] if idx is not None else [None]
            if any(x is None for x in theirs):
                rows.append(dict(layer=op.attrs.get("label", op.name), tensor=name, max_abs_diff_lsb=None,
                                 mismatch_fraction=None))
                continue
            diff = np.concatenate([np.abs(lsb_keys(a) - lsb_keys(np.asarray(b_).reshape(-1)))
                                   for a, b_ in zip(ours, theirs)])
            rows.append(dict(layer=op.attrs.get("label", op.name), tensor=name, max_abs_diff_lsb=int(diff.max()),
                             mismatch_fraction=float(np.mean(diff > 0))))
    return rows


def first_differing_layer(rows: list[dict]) -> dict | None:
    return next((r for r in rows if r["max_abs_diff_lsb"]), None)
