"""`edgec test`: run the C on test vectors and judge it against the references (docs/cli.md, "What `edgec test`
compares with"): the comparison rows, the float-model judgement of a model edgec quantized, the layer-by-layer
diff against TFLM and the `test` section of report.json. The metrics themselves are compare.py's."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cortexm, driver, flasher, host, outdir, reference
from .board import get_board
from .compare import Metrics, compare, lsb_keys
from .data import TestData, dequantize, load_test_data, model_inputs, quantize, random_inputs
from .driver import QUANTIZED_TFLITE, Build, Conversion, Step, quiet
from .errors import InputError, ToolchainError, ValidationError
from .importers import import_model, is_tflite
from .ir import Graph
from .patch import traced_tensors
from .verifier import verify


@dataclass
class TestResult:
    """What `edgec test` found: the build, the comparison rows (the first decides), the verdict and why."""

    build: Build
    rows: list[Metrics]
    samples: int
    passed: bool
    layers: list[dict] | None = None
    failures: list[str] | None = None  # why it failed, one plain sentence each (empty when it passed)


def test(model: Path, out: Path, board: str = "host", inputs: Path | None = None, samples: int | None = None,
         seed: int = 0, tolerance: int | None = None, layers: bool = False, step: Step = quiet,
         device: bool = False, **build_options) -> TestResult:
    """Build, run on the target (host process, emulated board, or with device=True the real board), compare.
    Without `inputs`, `samples` (default 50) seeded random vectors; with `inputs` (what --calib takes: .npz/.npy,
    an image or a folder of images, with the conversion's --scale/--mean/--std), all of its samples unless
    `samples` is given. The inputs and their labels are read and checked against the imported model before
    anything is built."""
    target = get_board(board)
    if target.is_cortexm and not device and not target.qemu_machine:
        raise InputError(f"board `{board}` ({target.core}) has no emulator: `edgec build --board {board}` checks the "
                         "fit; run tests on the real board with --device")
    data: TestData | None = None
    if inputs is not None:
        conv = build_options.get("conversion") or Conversion()
        step(f"read the test inputs {inputs}")
        source = verify(import_model(model, input_shapes=conv.input_shapes))
        data = load_test_data(inputs, source, samples, mean=conv.mean, std=conv.std, scale=conv.scale)
    b = driver.build(model, out, board, step, **build_options)  # by module attribute: the fuzzer observes it
    g = b.graph
    xs = model_inputs(data, g) if data is not None else random_inputs(g, samples or 50, seed)
    measured: dict = {}
    if device:
        step(f"flash and run {len(xs)} samples on the real {board} (pyOCD)")
        ours = split_outputs(flasher.run_on_device(out / "firmware.elf", target, xs), g, len(xs))
    elif target.is_cortexm:
        step(f"run {len(xs)} samples on the emulated {board} ({target.qemu_machine}), counting instructions")
        measured = cortexm.measure(out, b.sources, target, xs, graph=g, per_layer=True)
        ours = split_outputs(measured["outputs"], g, len(xs))
    else:
        step("compile (host gcc)")
        exe = host.build(out, b.sources)
        step(f"run edgec on {len(xs)} samples")
        ours = split_outputs(host.run(exe, xs), g, len(xs))
    real = data.samples if data is not None and data.real else None
    judged = compare_references(model, b, xs, ours, tolerance, step, real_inputs=real)
    rows, primary, tolerance, passed = judged.rows, judged.primary, judged.tolerance, judged.passed
    # layer by layer needs TFLM on the very model whose tensor indices the IR records: the int8 .tflite as given,
    # or the model_int8.tflite edgec exported (write_tflite records its indices on the ops)
    quantized = g.meta.get("quantized_by") == "edgec"
    traced_model = out / QUANTIZED_TFLITE if quantized else model
    traceable = (quantized or is_tflite(model)) and g.meta.get("dtype") != "float32"
    layer_rows = (layer_diff(traced_model, b, xs[: min(len(xs), 5)], step)
                  if traceable and (layers or not passed) else None)
    accuracy = label_accuracy(data.labels, ours, primary) if data is not None and data.labels is not None else None
    b.report["test"] = dict(samples=len(xs), reference=rows[0].reference, tolerance_lsb=tolerance,
                            passed=passed, failures=judged.failures, float_model=judged.float_model,
                            max_abs_error=rows[0].max_abs_error,
                            max_rel_error=rows[0].max_rel_error, max_abs_diff_lsb=rows[0].max_abs_diff_lsb,
                            mismatch_fraction=rows[0].mismatch_fraction, cosine=rows[0].cosine, rmse=rows[0].rmse,
                            top1_agreement=rows[0].top1_agreement, rows=[r.as_dict() for r in rows],
                            accuracy=accuracy, target="device" if device else (
                                f"qemu {target.qemu_machine}" if target.is_cortexm else "host"),
                            instructions_per_inference=measured.get("instructions_per_inference"),
                            instruction_method=measured.get("instruction_method"),
                            cycles_estimate=measured.get("cycles_estimate"),
                            instruction_classes=measured.get("instruction_classes"),
                            cycles_per_instruction_estimate=measured.get("cycles_per_instruction_estimate"),
                            instructions_per_mac=(measured["instructions_per_inference"] / b.report["macs"]
                                                  if measured and b.report["macs"] else None),
                            stack_bytes=measured.get("stack_bytes"),
                            peak_sram_bytes=measured.get("peak_sram_bytes"), flash_bytes=measured.get("flash_bytes"),
                            firmware=Path(measured["elf"]).name if measured else (
                                "firmware.elf" if device else None),
                            layer_instructions=measured.get("layers"),
                            wall_per_sample_s=measured.get("wall_per_sample_s"),
                            layers=layer_rows)
    if measured.get("peak_sram_bytes"):
        b.report["peak_sram_bytes"] = measured["peak_sram_bytes"]
    (out / "report.json").write_text(json.dumps(b.report, indent=2) + "\n")
    outdir.record(out, [out / "report.json"])
    return TestResult(build=b, rows=rows, samples=len(xs), passed=passed, layers=layer_rows,
                      failures=judged.failures)


FLOAT_RTOL = 1e-5  # float32 path: |ours - ref| <= FLOAT_RTOL * max|ref| (docs/numerics.md, "Float32", Tolerance)
# A float model edgec quantized: the int8 C must also agree with the float model on the same inputs, whatever TFLM
# says (TFLM runs edgec's own export, so a wrong quantization is bit-exact garbage). The bounds are measured
# (docs/quantization.md, "Judged against the float model"). On real inputs (--inputs) legitimate quantizations
# score cosine >= 0.997 and top-1 agreement >= 0.95, garbage ones cosine <= 0.78; random vectors span the whole
# int8 input range, far outside the calibration data, so legitimate models saturate there (cosine down to 0.79,
# top-1 down to 0.4) and only gross disagreement is judged (the MaxPool-sentinel garbage: cosine 0.29).
MIN_FLOAT_COSINE = 0.9  # real inputs
MIN_FLOAT_TOP1 = 0.8  # real inputs, one class vector, at least 10 samples
MIN_FLOAT_COSINE_RANDOM = 0.5  # random vectors (top-1 not judged)


@dataclass
class Judgement:
    """What `edgec test` decides: the comparison rows (the first is the reference the C must match), that
    reference's outputs, the LSB tolerance used, pass/fail and why it failed; for a model edgec quantized, the
    agreement with the float model (`float_model`, the bounds included)."""

    rows: list[Metrics]
    primary: list[list[np.ndarray]]
    tolerance: int | None
    passed: bool
    failures: list[str]
    float_model: dict | None = None


def _judged(rows: list[Metrics], primary, tolerance: int | None, within: bool, what: str,
            float_model: dict | None = None) -> Judgement:
    failures = [] if within else [what]
    if float_model is not None and not float_model["passed"]:
        failures.append(float_model["reason"])
    return Judgement(rows, primary, tolerance, not failures, failures, float_model)


def _is_class_vector(g: Graph) -> bool:
    """One output holding one vector of at least 2 scores (all other dims 1): top-1 means a class there."""
    if len(g.outputs) != 1:
        return False
    shape = [d for d in g.t(g.outputs[0]).shape if d != 1]
    return len(shape) == 1 and shape[0] >= 2


def float_agreement(ours: list[list[np.ndarray]], theirs: list[list[np.ndarray]], g: Graph, bit_exact: bool,
                    real: bool) -> dict:
    """The int8 C's outputs (dequantized) against the float model's, on real values (no saturation onto the int8
    grid): cosine over all outputs of all samples, and top-1 agreement when the model has one class vector. On
    `real` inputs it fails below MIN_FLOAT_COSINE or MIN_FLOAT_TOP1 (top-1 judged from 10 samples on); on random
    vectors below MIN_FLOAT_COSINE_RANDOM."""
    a = np.concatenate([dequantize(o, g.t(n)).reshape(-1) for s in ours for o, n in zip(s, g.outputs)])
    b = np.concatenate([np.asarray(o, np.float64).reshape(-1) for s in theirs for o in s])
    a = a.astype(np.float64)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    cosine = float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else float(na == nb)
    top1 = None
    if _is_class_vector(g):
        top1 = float(np.mean([int(np.argmax(np.asarray(x[0]).reshape(-1))) ==
                              int(np.argmax(np.asarray(y[0]).reshape(-1))) for x, y in zip(ours, theirs)]))
    min_cosine = MIN_FLOAT_COSINE if real else MIN_FLOAT_COSINE_RANDOM
    min_top1 = MIN_FLOAT_TOP1 if real and top1 is not None and len(ours) >= 10 else None
    problems = []
    if not cosine >= min_cosine:  # also catches NaN
        problems.append(f"cosine {cosine:.3g} < {min_cosine:g}")
    if min_top1 is not None and top1 is not None and top1 < min_top1:
        problems.append(f"top-1 agreement {100 * top1:.1f} % < {100 * min_top1:.0f} %")
    reason = None
    if problems:
        reason = (("the int8 C equals TFLM bit for bit but " if bit_exact else "the int8 C ")
                  + f"disagrees with the float model on the same {len(ours)} "
                  + ("samples" if real else "random vectors") + ": " + ", ".join(problems)
                  + " (edgec's int8 model is wrong for these inputs: check the calibration data and its preprocessing "
                    "--scale/--mean/--std; docs/quantization.md)")
    return dict(cosine=cosine, top1_agreement=top1, inputs="given" if real else "random", min_cosine=min_cosine,
                min_top1_agreement=min_top1, passed=not problems, reason=reason)


def compare_references(model: Path, b: Build, xs: list[list[np.ndarray]], ours: list[list[np.ndarray]],
                       tolerance: int | None, step: Step,
                       real_inputs: list[list[np.ndarray]] | None = None) -> Judgement:
    """The comparison rows of `edgec test`; the first row decides pass/fail. Which reference runs first:
    - an int8 .tflite: TFLM (bit-exact, tolerance 0 LSB by default), then LiteRT's reference kernels;
    - a float model edgec quantized: TFLM running the exported model_int8.tflite (0 LSB), then the float model
      itself (onnxruntime or TFLM float) on the same inputs (`real_inputs`, the real values of --inputs; random
      vectors dequantized): the quantization error, cosine and top-1, which must also be within
      MIN_FLOAT_COSINE / MIN_FLOAT_TOP1 (float_agreement);
    - an ONNX QDQ model: onnxruntime, 1 LSB by default (edgec rescales as onnxruntime does, but a float input on an
      exact .5 tie is quantized away from zero, not to even: docs/onnx.md);
    - --dtype float32: onnxruntime (ONNX) or TFLM (float .tflite), max |diff| as float32 ULPs, passing when
      every output is within FLOAT_RTOL of the reference's largest magnitude."""
    g = b.graph
    out_t = g.t(g.outputs[0])
    scale = out_t.scale if out_t.quant is not None else 1.0
    onnx_source = g.meta.get("format") == "onnx"
    rows: list[Metrics] = []
    if g.meta.get("quantized_by") == "edgec":
        step("run TFLM on the exported model_int8.tflite (reference kernels)")
        try:
            primary, _ = reference.run_tflm(b.out / QUANTIZED_TFLITE, xs, reset_each=reference.restarts_each_run(g))
        except ToolchainError as e:
            if any(op.type == "gelu" for op in g.ops):
                raise ToolchainError(f"{e}: TFLite Micro has no GELU kernel, so it cannot run this model; edgec's "
                                     "int8 GELU is TFLite's table, bit-exact with LiteRT's reference kernel "
                                     "(docs/quantization.md)") from e
            raise
        rows.append(compare_all("TFLM (model_int8.tflite)", ours, primary, g, scale))
        step("run the float model on the same inputs")
        floats = real_inputs if real_inputs is not None else [
            [dequantize(x, g.t(n)) for x, n in zip(sample, g.inputs)] for sample in xs]
        floats = [[np.asarray(x, np.float32).reshape(g.t(n).shape) for x, n in zip(sample, g.inputs)]
                  for sample in floats]
        theirs = reference.run_onnxruntime(model, floats, g) if onnx_source else reference.run_tflm(model, floats)[0]
        # the float outputs put on the output's int8 grid: |diff| in LSB = how many quantization steps the int8
        # model is from the float one
        on_grid = [[quantize(np.asarray(o, np.float32).reshape(g.t(n).shape), g.t(n))
                    for o, n in zip(sample, g.outputs)] for sample in theirs]
        row = compare_all("float model" + (" (onnxruntime)" if onnx_source else " (TFLM)"), ours, on_grid, g, scale)
        tol = 0 if tolerance is None else tolerance
        within = rows[0].max_abs_diff_lsb <= tol
        agreement = float_agreement(ours, theirs, g, bit_exact=rows[0].max_abs_diff_lsb == 0,
                                    real=real_inputs is not None)
        # cosine and top-1 on real values: the float outputs unsaturated (on the grid, garbage scales hide)
        row.cosine = agreement["cosine"]
        if agreement["top1_agreement"] is not None:
            row.top1_agreement = agreement["top1_agreement"]
        rows.append(row)
        return _judged(rows, primary, tol, within, _lsb_failure(rows[0], tol), agreement)
    if onnx_source:
        step("run onnxruntime")
        primary = reference.run_onnxruntime(model, xs, g)
        steps = g.meta.get("output_scales", {})
        if g.meta.get("quantized") and all(n in steps for n in g.outputs if g.t(n).dtype == "float32"):
            # a QDQ model's float outputs are dequantized int8: count the difference in its LSB, scale * k
            def grid(samples):
                return [[np.rint(np.asarray(o, np.float64) / steps[n]).astype(np.int64) if n in steps else o
                         for o, n in zip(sample, g.outputs)] for sample in samples]

            first = g.outputs[0]
            rows.append(compare_all("onnxruntime", grid(ours), grid(primary), g, steps.get(first, scale)))
        else:
            rows.append(compare_all("onnxruntime", ours, primary, g, scale))
        default = 1  # a quantized ONNX model (a float32 one is judged on its relative error below)
    else:
        step("run TFLM (reference kernels)")
        primary, _ = reference.run_tflm(model, xs)
        rows.append(compare_all("TFLM", ours, primary, g, scale))
        default = 0
        if reference.litert_available():
            step("run LiteRT (BUILTIN_REF kernels)")
            try:
                rows.append(compare_all("LiteRT (ref)", ours, reference.run_litert(model, xs), g, scale))
            except Exception as e:  # LiteRT refuses some models TFLM runs (e.g. per-channel bias quantization)
                step(f"LiteRT could not run the model: {e}")
    if g.meta.get("dtype") == "float32":
        ref_max = max(float(np.max(np.abs(np.asarray(o)))) for s in primary for o in s)
        worst = max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(r, np.float64))))
                    for sa, sr in zip(ours, primary) for a, r in zip(sa, sr))
        rows[0].max_abs_error = worst
        rows[0].max_rel_error = worst / ref_max if ref_max > 0 else worst
        # float: pass/fail on the relative error (or on --tolerance in float32 ULPs when given)
        if tolerance is not None:
            return _judged(rows, primary, tolerance, rows[0].max_abs_diff_lsb <= tolerance,
                           _lsb_failure(rows[0], tolerance, "float32 ULP"))
        rel = rows[0].max_rel_error
        return _judged(rows, primary, None, rel <= FLOAT_RTOL,  # no LSB tolerance: relative error
                       f"relative error {rel:.2e} against {rows[0].reference} exceeds {FLOAT_RTOL:g} "
                       f"(max |diff| {worst:.3g})")
    tol = default if tolerance is None else tolerance
    return _judged(rows, primary, tol, rows[0].max_abs_diff_lsb <= tol, _lsb_failure(rows[0], tol))


def _lsb_failure(row: Metrics, tolerance: int, unit: str = "LSB") -> str:
    return (f"the C differs from {row.reference} by up to {row.max_abs_diff_lsb} {unit} (tolerance {tolerance} "
            f"{unit}) in {100 * row.mismatch_fraction:.3f} % of the output elements")


def label_accuracy(labels: np.ndarray, ours: list[list[np.ndarray]], ref: list[list[np.ndarray]]) -> dict:
    """Top-1 accuracy of edgec and of the reference against the `labels` of the inputs file."""
    top1 = [int(np.argmax(np.asarray(s[0]).reshape(-1))) for s in ours]
    top1_ref = [int(np.argmax(np.asarray(s[0]).reshape(-1))) for s in ref]
    return dict(labels=int(len(labels)), edgec_top1=float(np.mean(np.array(top1) == labels)),
                reference_top1=float(np.mean(np.array(top1_ref) == labels)))


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


def layer_diff(model: Path, b: Build, xs: list[list[np.ndarray]], step: Step = quiet) -> list[dict]:
    """Every layer's output, edgec (traced C build) vs TFLM (kPreserveAllTensors). Rows in execution order."""
    g = b.graph
    step("compile the traced build")
    exe = host.build(b.out, b.sources, exe="model_trace", trace=True)
    traced = traced_tensors(g, b.plan)  # a patch stage's internal tensors never exist whole: not traced
    # the traced harness writes every layer's outputs, then the graph outputs, per sample
    dumps = split_outputs(host.run(exe, xs), g, len(xs), traced + list(g.outputs))
    position = {name: k for k, name in enumerate(traced)}
    step("run TFLM with all tensors preserved")
    _, tflm_tensors = reference.run_tflm(model, xs, preserve=True, reset_each=reference.restarts_each_run(b.graph))
    assert tflm_tensors is not None
    rows = []
    for op in g.ops:
        for k, name in enumerate(op.outputs):
            idx = op.attrs.get("tflite_outputs", [None] * len(op.outputs))[k]
            theirs = [d.get(idx) for d in tflm_tensors] if idx is not None else [None]
            if name not in position or any(x is None for x in theirs):  # patch-internal, or TFLM kept no copy
                rows.append(dict(layer=op.attrs.get("label", op.name), tensor=name, max_abs_diff_lsb=None,
                                 mismatch_fraction=None))
                continue
            ours = [dump[position[name]].reshape(-1) for dump in dumps]
            diff = np.concatenate([np.abs(lsb_keys(a) - lsb_keys(np.asarray(b_).reshape(-1)))
                                   for a, b_ in zip(ours, theirs)])
            rows.append(dict(layer=op.attrs.get("label", op.name), tensor=name, max_abs_diff_lsb=int(diff.max()),
                             mismatch_fraction=float(np.mean(diff > 0))))
    return rows


def first_differing_layer(rows: list[dict]) -> dict | None:
    return next((r for r in rows if r["max_abs_diff_lsb"]), None)
