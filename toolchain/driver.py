"""The driver: the path of a model as a list of stages (DESIGN.md). Each stage is one call; nothing else here.

    import -> verify -> canonicalize -> verify -> plan memory -> emit C -> [build -> run -> compare]
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__, cortexm, flasher, host, outdir, reference
from .board import Board, get_board
from .codegen import emit_c
from .compare import Metrics, compare, lsb_keys
from .data import TestData, dequantize, load_test_data, model_inputs, quantize, random_inputs
from .errors import BudgetError, InputError, ValidationError
from .importers import import_model, is_tflite
from .ir import Graph
from .memory import MemoryPlan, plan_memory
from .passes import canonicalize, simplify
from .patch import apply_patches, search_patches, traced_tensors
from .report import make_report, write_report
from .schedule import reorder_for_memory
from .verifier import verify

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


@dataclass
class Conversion:
    """How a model that is not int8 yet becomes C (docs/quantization.md): quantized by edgec's post-training
    quantizer from calibration data (dtype int8), or kept float (dtype float32, for cores with an FPU)."""

    dtype: str = "int8"
    calib: Path | None = None
    calib_method: str = "minmax"
    calib_limit: int | None = None
    mean: tuple[float, ...] | None = None  # preprocessing of image-folder calibration data: (x * scale - mean) / std
    std: tuple[float, ...] | None = None
    scale: float | None = None
    input_shapes: dict[str, tuple[int, ...]] | None = None  # fixes dynamic ONNX dims (--input-shape)
    progress: bool = False


def is_float_model(g: Graph) -> bool:
    """Float activations inside the graph (not just float interface tensors around QUANTIZE/DEQUANTIZE)."""
    from .ops.base import is_float

    return any(is_float(op, g) for op in g.ops)


def convert(g: Graph, conv: Conversion, model: Path, step: Step) -> Graph:
    """A float graph becomes int8 by post-training quantization (or stays float32 when asked); int8 passes."""
    if g.meta.get("quantized"):  # ONNX QDQ / QLinear: quantized by its author, run as given
        if conv.dtype == "float32" or conv.calib is not None:
            raise InputError(f"{model}: is already quantized (QDQ); --dtype float32 and --calib apply to float "
                             "models only")
        from .quantizer import check_accumulators

        check_accumulators(g)  # its author's int32 biases must not overflow the accumulators either
        return g
    if not is_float_model(g):
        if conv.dtype == "float32":
            raise InputError(f"{model}: is already quantized (int8); --dtype float32 needs a float model")
        if conv.calib is not None:
            raise InputError(f"{model}: is already quantized (int8); --calib applies to float models only")
        return g
    if conv.dtype == "float32":
        g.meta["dtype"] = "float32"
        return g
    from .calib import load_calibration, missing_calibration_message

    if conv.calib is None:
        raise InputError(missing_calibration_message(model))
    from .quantizer import quantize_graph

    step(f"load calibration data from {conv.calib}")
    samples = load_calibration(conv.calib, g, mean=conv.mean, std=conv.std, scale=conv.scale, limit=conv.calib_limit)
    step(f"quantize to int8 ({conv.calib_method} calibration over {len(samples)} samples)")
    q = quantize_graph(g, samples, method=conv.calib_method, progress=conv.progress)
    calibration: dict = dict(file=str(conv.calib), method=conv.calib_method, samples=len(samples))
    dropped = q.meta["quantization"].get("dropped") or {}
    if dropped:  # NaN, inf or |x| >= 1e30 left out of the ranges (docs/quantization.md): said, never silent
        calibration["dropped_values"] = dropped
        step(f"warning: calibration left out {sum(dropped.values())} NaN, infinite or |x| >= 1e30 values in "
             f"{len(dropped)} tensors ({', '.join(f'{n}: {c}' for n, c in list(dropped.items())[:3])}"
             f"{', ...' if len(dropped) > 3 else ''})")
    q.meta = {**g.meta, **q.meta, "quantized_by": "edgec", "calibration": calibration}
    return q


@dataclass
class Compiled:
    """What the compile stages produce: the graph codegen emits, the chosen memory plan and why it was chosen."""

    graph: Graph
    plan: MemoryPlan
    layer_plan: MemoryPlan  # the layer-by-layer plan (== plan unless the patch-based schedule was chosen)
    patched_plan: MemoryPlan | None  # the best patch-based plan found (None: none, or --no-patch)
    schedule_reason: str
    arena_budget: int | None
    source_graph: Graph  # before patching: what an int8 .tflite export writes


def compile_model(model: Path, board: str = "host", step: Step = _quiet, *, patch: bool | None = True,
                  max_mac_overhead: float = 0.20, sram_budget: int | None = None,
                  conversion: Conversion | None = None) -> tuple[Graph, MemoryPlan]:
    """import -> canonicalize -> order -> plan; `patch` True takes the smallest plan, None the cheapest that fits
    the budget, False layer by layer only. Returns the graph codegen emits and the chosen plan."""
    c = compile_stages(model, board, step, patch=patch, max_mac_overhead=max_mac_overhead, sram_budget=sram_budget,
                       conversion=conversion)
    return c.graph, c.plan


def compile_stages(model: Path, board: str = "host", step: Step = _quiet, *, patch: bool | None = None,
                   max_mac_overhead: float = 0.20, sram_budget: int | None = None,
                   conversion: Conversion | None = None) -> Compiled:
    target = get_board(board)
    conv = conversion or Conversion()
    step("import")
    g = verify(import_model(model, input_shapes=conv.input_shapes))
    g = verify(convert(verify(simplify(g)), conv, model, step))
    step("canonicalize")
    g = verify(canonicalize(g))
    step("order operators for memory")
    g = verify(reorder_for_memory(g))
    step("plan memory (layer by layer)")
    layer = plan_memory(g)
    budget, budget_source = arena_budget(target, sram_budget)
    patched_graph, patched = None, None
    if patch is not False:
        step(f"search patch-based schedules (MAC overhead cap {100 * max_mac_overhead:.0f} %)")
        found = search_patch_schedule(g, max_mac_overhead, layer)
        if found is not None:
            patched_graph, patched = found
    try:
        return choose_schedule(g, layer, patched_graph, patched, budget, patch, budget_source)
    except BudgetError as e:  # the arena does not fit: say so of the flash too when the weights alone overflow it
        weights = sum(t.nbytes for t in g.tensors.values() if t.is_const)
        raise flash_too(e, weights, target.flash_bytes if target.is_cortexm else None,
                        f"board {target.name} has") from None


def flash_too(e: BudgetError, weights: int, flash: int | None, whose: str) -> BudgetError:
    """The arena's BudgetError, plus the flash when the weights alone overflow it too (a model too big for both is
    told both); `weights` is kept on the error so a caller knowing a --flash-budget can add it (cli)."""
    if flash and weights > flash and "flash does not fit" not in e.message:
        e = BudgetError(f"{e.message}\nthe flash does not fit either: the weights alone need {weights:,} B, {whose} "
                        f"{flash:,} B of flash")
    e.weights_bytes = weights  # type: ignore[attr-defined]
    return e


def search_patch_schedule(g: Graph, max_mac_overhead: float,
                          layer: MemoryPlan | None = None) -> tuple[Graph, MemoryPlan] | None:
    """The best patch-based schedule (patch.py) as (patched graph, plan), or None when none beats layer by layer."""
    found = search_patches(g, max_mac_overhead=max_mac_overhead, layer_plan=layer)
    return None if found is None else apply_patches(g, found)


def arena_budget(target: Board, sram_budget: int | None) -> tuple[int | None, str]:
    """Bytes the activation arena may take: the SRAM budget (--sram-budget, else the board's arena region) minus
    the stack the board reserves beside the arena. The host has no budget unless one is given. The linker makes
    the final check on a board (statics and the real stack layout included)."""
    reserve = target.stack_bytes if target.is_cortexm and target.data_region == target.arena_region else 0
    minus = f" minus the {reserve:,} B stack reserve" if reserve else ""
    if sram_budget is not None:
        return sram_budget - reserve, f"--sram-budget {sram_budget:,} B{minus}"
    if target.is_cortexm and target.arena_region:
        size = int(target.region(target.arena_region)["size"])
        return size - reserve, f"board {target.name}: region {target.arena_region} {size:,} B{minus}"
    return None, "no budget (host)"


def short_label(label: str) -> str:
    """'#3 DEPTHWISE_CONV_2D' of '#3 DEPTHWISE_CONV_2D (model/activation_3/Relu;...)': TFLite tensor names are long."""
    return label.split(" (")[0]


def _peak_layer(g: Graph, plan: MemoryPlan) -> str:
    if not plan.live_bytes or not g.ops:
        return "-"
    k = int(np.argmax(plan.live_bytes))
    op = g.ops[min(k, len(g.ops) - 1)]
    return f"{op.attrs.get('label', op.name)} (step {k}, {plan.live_bytes[k]:,} B live)"


def choose_schedule(g: Graph, layer: MemoryPlan, patched_graph: Graph | None, patched: MemoryPlan | None,
                    budget: int | None, patch: bool | None, budget_source: str = "") -> Compiled:
    """Layer by layer costs no extra MACs, so it is kept whenever it fits (patch=None) and patching is taken only
    to fit the budget; patch=True takes the smaller arena regardless. Nothing that fits: exit 3 with the numbers."""
    layer.layer_arena_bytes = layer.arena_bytes
    better = patched is not None and patched.arena_bytes < layer.arena_bytes
    p = patched.patch if patched is not None else None
    alt = (f"; the best patch-based schedule needs {patched.arena_bytes:,} B ({p.grid[0]}x{p.grid[1]} patches up to "
           f"{short_label(p.split_op[1])}, +{100 * p.mac_overhead:.1f} % MACs)") if better and patched and p else ""
    if better and patched is not None and patched_graph is not None and (
            patch is True or (patch is None and budget is not None and layer.arena_bytes > budget)):
        patched.layer_arena_bytes = layer.arena_bytes
        why = ("--patch: the smallest arena" if patch is True else
               f"layer by layer needs {layer.arena_bytes:,} B, over the {budget:,} B arena budget")
        reason = f"patch-based first stage: {patched.arena_bytes:,} B vs {layer.arena_bytes:,} B layer by layer ({why})"
        chosen = Compiled(patched_graph, patched, layer, patched, reason, budget, g)
    else:
        if patch is False:
            reason = "layer by layer (--no-patch)"
        elif budget is None:
            reason = "layer by layer: no SRAM budget to fit (host), so no patching overhead is taken" + alt
        else:
            reason = f"layer by layer: {layer.arena_bytes:,} B fits the {budget:,} B arena budget" + alt
        if not better:
            reason += "" if patch is False else "; no patch-based schedule beats it"
        elif patch is None:
            reason += "; --patch takes it"
        chosen = Compiled(g, layer, layer, patched if better else None, reason, budget, g)
    if budget is not None and chosen.plan.arena_bytes > budget:
        best = min([x for x in (layer, patched) if x is not None], key=lambda x: x.arena_bytes)
        raise BudgetError(
            f"the activation arena does not fit: need {chosen.plan.arena_bytes:,} B, budget {budget:,} B "
            f"({budget_source})\n  peak at layer {_peak_layer(chosen.graph, chosen.plan)}\n"
            f"  best schedule found: {best.arena_bytes:,} B "
            + (f"with {best.patch.grid[0]}x{best.patch.grid[1]} patches" if best.patch else "layer by layer")
            + ("\n  drop --no-patch to let edgec search patch-based schedules" if patch is False
               else "\n  try a larger --max-mac-overhead, or a board with more SRAM"))
    return chosen


def build(model: Path, out: Path, board: str = "host", step: Step = _quiet, *, patch: bool | None = None,
          max_mac_overhead: float = 0.20, sram_budget: int | None = None, flash_budget: int | None = None,
          conversion: Conversion | None = None) -> Build:
    """Write the output folder (and for a Cortex-M board, link the firmware against the board's memories).
    It is generated beside `out` and swapped in only when complete (outdir.staged), so a failed or interrupted
    build never leaves a half-written folder, and a folder edgec did not write (or one a user changed) is never
    replaced."""
    with outdir.staged(out) as staging:
        c = compile_stages(model, board, step, patch=patch, max_mac_overhead=max_mac_overhead,
                           sram_budget=sram_budget, conversion=conversion)
        g, plan = c.graph, c.plan
        step("emit C")
        sources = emit_c(g, plan, staging)
        report = make_report(g, plan, model, board, __version__, sha256(model))
        report.update(schedule_report(c))
        tflite = model if is_tflite(model) else None
        if g.meta.get("quantized_by") == "edgec":
            from .exporters.tflite import write_tflite

            step("write the quantized model as int8 .tflite (model_int8.tflite: TFLM runs it as the reference)")
            tflite = write_tflite(c.source_graph, staging / QUANTIZED_TFLITE)
            report["quantized_tflite"] = QUANTIZED_TFLITE
            report["calibration"] = g.meta.get("calibration")
        report["dtype"] = "float32" if g.meta.get("dtype") == "float32" else "int8"
        report["source_format"] = g.meta.get("format", "tflite")
        if tflite is not None:
            step("measure TFLM's arena on the same model")
            report["tflm_arena_bytes"] = reference.tflm_arena_bytes(tflite)
        target = get_board(board)
        if target.is_cortexm:
            step(f"cross-compile for {target.name} ({target.core})")
            report.update(firmware_report(staging, sources, target, g, plan))
        check_budgets(report, sram_budget, flash_budget, target)
        write_report(staging, report, g, plan)
    return Build(model=model, out=out, graph=g, plan=plan, sources=sources, report=report)


QUANTIZED_TFLITE = "model_int8.tflite"


def schedule_report(c: Compiled) -> dict:
    """report.json keys on the schedule: which one, why, both timelines for the plot, the budget."""
    timeline = {"layer_by_layer": list(c.layer_plan.live_bytes)}
    if c.patched_plan is not None:
        timeline["patched"] = list(c.patched_plan.live_bytes)
    return dict(schedule="patch-based" if c.plan.patch is not None else "layer by layer",
                schedule_reason=c.schedule_reason, layer_arena_bytes=c.layer_plan.arena_bytes,
                patched_arena_bytes=c.patched_plan.arena_bytes if c.patched_plan is not None else None,
                arena_budget_bytes=c.arena_budget, timeline=timeline,
                patch=c.plan.patch.as_dict() if c.plan.patch is not None else None)


def check_budgets(report: dict, sram_budget: int | None, flash_budget: int | None, target: Board) -> None:
    """Explicit budgets below the board's own: the linker checked the board, this checks the user's numbers
    (on the host: the arena against --sram-budget, the weights against --flash-budget). A model over both budgets
    is told about both in one message (exit 3)."""
    problems = []
    if flash_budget is not None:
        need = report["flash_bytes"] if report.get("flash_bytes") else report["weights_bytes"]
        what = "firmware flash (code + weights)" if report.get("flash_bytes") else "weights (code not counted on host)"
        if need > flash_budget:
            problems.append(f"does not fit the flash budget: {what} need {need:,} B, budget {flash_budget:,} B; "
                            f"largest weights: {_largest_weights(report)}")
    if sram_budget is not None:
        need = report["static_sram_bytes"] + target.stack_bytes if report.get("static_sram_bytes") else \
            report["arena_bytes"]
        if need > sram_budget:
            problems.append(f"does not fit the SRAM budget: need {need:,} B (arena {report['arena_bytes']:,} B"
                            + (f" + statics + {target.stack_bytes:,} B stack" if target.is_cortexm else "")
                            + f"), budget {sram_budget:,} B")
    if problems:
        raise BudgetError("\n".join(problems))
    if flash_budget is not None:
        report["flash_budget_bytes"] = flash_budget
    if sram_budget is not None:
        report["sram_budget_bytes"] = sram_budget


def _largest_weights(report: dict) -> str:
    top = sorted(report["layers"], key=lambda layer: -layer["weight_bytes"])[:3]
    return ", ".join(f"{layer['name']} {layer['weight_bytes']:,} B" for layer in top)


def firmware_report(out: Path, sources: list[str], board: Board, g: Graph, plan: MemoryPlan) -> dict:
    """Link the firmware with the board's real memory sizes; the linker refuses what does not fit (exit 3, with
    the layer at the activation peak added to its numbers). Sizes come from the ELF, not from estimates."""
    try:
        # linked at the board's real addresses (what `edgec flash` programs); the emulated runs link their own
        elf = cortexm.cross_build(out, sources, board, graph=g, emulated=False, elf_name="firmware.elf")
    except BudgetError as e:
        raise BudgetError(f"{e.message}\n  activation arena {plan.arena_bytes:,} B; live bytes peak at layer "
                          f"{_peak_layer(g, plan)}") from None
    sizes = cortexm.elf_sizes(elf)
    return dict(firmware=elf.name, flash_bytes=sizes["flash_bytes"], flash_budget_bytes=board.flash_bytes,
                sram_budget_bytes=board.sram_bytes, static_sram_bytes=sizes["static_sram_bytes"],
                # until a test run measures the stack, peak SRAM counts the statics (arena included) only
                peak_sram_bytes=sizes["static_sram_bytes"], elf_sizes=sizes)


def sources_of(out: Path) -> list[str]:
    """The C sources of an existing output folder, as emit_c lists them."""
    if not (out / "model.c").is_file():
        raise InputError(f"{out} is not an edgec output folder (no model.c); run `edgec build` first")
    return ["model.c", "weights.c", "main.c"] + sorted(f"runtime/{p.name}" for p in (out / "runtime").glob("*.c"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class TestResult:
    build: Build
    rows: list[Metrics]
    samples: int
    passed: bool
    layers: list[dict] | None = None
    failures: list[str] | None = None  # why it failed, one plain sentence each (empty when it passed)


def test(model: Path, out: Path, board: str = "host", inputs: Path | None = None, samples: int | None = None,
         seed: int = 0, tolerance: int | None = None, layers: bool = False, step: Step = _quiet,
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
    b = build(model, out, board, step, **build_options)
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
        primary, _ = reference.run_tflm(b.out / QUANTIZED_TFLITE, xs)
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


def layer_diff(model: Path, b: Build, xs: list[list[np.ndarray]], step: Step = _quiet) -> list[dict]:
    """Every layer's output, edgec (traced C build) vs TFLM (kPreserveAllTensors). Rows in execution order."""
    g = b.graph
    step("compile the traced build")
    exe = host.build(b.out, b.sources, exe="model_trace", trace=True)
    traced = traced_tensors(g, b.plan)  # a patch stage's internal tensors never exist whole: not traced
    # the traced harness writes every layer's outputs, then the graph outputs, per sample
    dumps = split_outputs(host.run(exe, xs), g, len(xs), traced + list(g.outputs))
    position = {name: k for k, name in enumerate(traced)}
    step("run TFLM with all tensors preserved")
    _, tflm_tensors = reference.run_tflm(model, xs, preserve=True)
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
