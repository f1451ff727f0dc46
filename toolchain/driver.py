"""The driver: the path of a model as a list of stages, each one call (docs/architecture.md).

    import -> simplify -> convert -> canonicalize -> reorder -> schedule -> codegen -> write
                                                                              [-> run -> compare: validate.py]

- import: the model file as IR (importers/); simplify: the fusions made before quantization (passes.py);
- convert: a float model quantized to int8 from calibration data, or kept float32;
- canonicalize: shapes checked, transposes folded, activations fused, dead ops dropped, params prepared;
- reorder: the operator order with the smallest arena;
- schedule: the memory plan layer by layer, the best patch-based one, and the choice of what fits (budget.py);
- codegen: the C sources; write: report.json/md, plan.json, model_int8.tflite, firmware.elf for a board.

`compile_model` runs the stages up to the schedule; `build` all of them into an output folder. The IR after each
stage in STAGES can be written as text (`edgec build --dump STAGE`, irtext.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from . import cortexm, outdir, reference
from .attention import choose_attention
from .board import Board, get_board
from .budget import Schedule, arena_budget, check_budgets, choose_schedule, flash_too, peak_layer
from .codegen import emit_c
from .errors import BudgetError, InputError
from .importers import import_model, is_tflite
from .ir import Graph
from .irtext import Dumps
from .kernels import kernel_target, select_kernels
from .memory import MemoryPlan, plan_memory
from .passes import canonicalize, simplify
from .patch import apply_patches, search_patches
from .report import compile_report, write_report
from .schedule import reorder_for_memory
from .verifier import verify

Step = Callable[[str], None]

#: the stages whose IR `--dump` writes, in the order they run (codegen's output is the C itself)
STAGES = ("import", "simplify", "convert", "canonicalize", "kernels", "reorder", "attention", "schedule")

QUANTIZED_TFLITE = "model_int8.tflite"


def quiet(_: str) -> None:
    pass


@dataclass
class Build:
    """What `build` made: the output folder, the graph and plan its C runs, its C sources and report.json."""

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
    weight_bits: int = 8  # 4: int4 weights on every conv / depthwise / fully connected layer (--weight-bits)
    int4_layers: tuple[str, ...] = ()  # int4 weights on these layers only (--int4-layers)
    activations: str = "int8"  # int16: 16x8 quantization of every layer with an int16 kernel (--activations)
    int16_layers: tuple[str, ...] = ()  # int16 activations on these layers only (--int16-layers)
    float_ops: tuple[str, ...] = ()  # op types kept float32 between int8 layers (--float-ops; mixed precision)
    float_layers: tuple[str, ...] = ()  # layers kept float32 (--float-layers)


def compile_model(model: Path, board: str = "host", step: Step = quiet, *, patch: bool | None = None,
                  max_mac_overhead: float = 0.20, sram_budget: int | None = None,
                  conversion: Conversion | None = None, dumps: Dumps | None = None,
                  kernels: str = "auto", optimize: str = "speed", flash_budget: int | None = None) -> Schedule:
    """The stages from the model file to the schedule: the graph codegen emits and its memory plan. `patch`:
    None takes the patch-based schedule only when layer by layer does not fit the budget (`edgec build`'s
    default), True the smallest arena whatever it costs in MACs, False layer by layer only. `dumps` sees the IR
    after every stage."""
    target = get_board(board)
    conv = conversion or Conversion()
    dump = dumps or Dumps()
    step("import")
    g = dump("import", verify(import_model(model, input_shapes=conv.input_shapes)))
    g = dump("simplify", verify(simplify(g)))
    g = dump("convert", verify(convert(g, conv, model, step)))
    step("canonicalize")
    g = dump("canonicalize", verify(canonicalize(g)))
    g = dump("kernels", select_kernels(g, kernel_target(target, flash_budget), kernels, optimize))
    step("order operators for memory")
    g = dump("reorder", verify(reorder_for_memory(g)))
    unfused = g
    g = dump("attention", verify(choose_attention(g)))  # row-wise attention where it lowers the arena
    s = plan_schedule(g, target, step, patch, max_mac_overhead, sram_budget)
    if g is not unfused:  # the .tflite export writes the chain: TFLite has no fused attention
        s = replace(s, source_graph=unfused)
    return dump.schedule(s)


def build(model: Path, out: Path, board: str = "host", step: Step = quiet, *, patch: bool | None = None,
          max_mac_overhead: float = 0.20, sram_budget: int | None = None, flash_budget: int | None = None,
          conversion: Conversion | None = None, dumps: Dumps | None = None, kernels: str = "auto",
          optimize: str = "speed") -> Build:
    """All the stages into the output folder (for a Cortex-M board, the firmware linked against the board's
    memories too). It is generated beside `out` and swapped in only when complete (outdir.staged), so a failed or
    interrupted build never leaves a half-written folder, and a folder edgec did not write (or one a user changed)
    is never replaced."""
    with outdir.staged(out) as staging:
        s = compile_model(model, board, step, patch=patch, max_mac_overhead=max_mac_overhead,
                          sram_budget=sram_budget, conversion=conversion, dumps=dumps, kernels=kernels,
                          optimize=optimize, flash_budget=flash_budget)
        g, plan = s.graph, s.plan
        step("emit C")
        sources = emit_c(g, plan, staging)
        report = compile_report(s, model, board)
        tflite = model if is_tflite(model) else None
        if g.meta.get("quantized_by") == "edgec":
            from .exporters.tflite import write_tflite

            step("write the quantized model as int8 .tflite (model_int8.tflite: TFLM runs it as the reference)")
            tflite = write_tflite(s.source_graph, staging / QUANTIZED_TFLITE)
            report["quantized_tflite"] = QUANTIZED_TFLITE
            report["calibration"] = g.meta.get("calibration")
        report["dtype"] = "float32" if g.meta.get("dtype") == "float32" else "int8"
        report["source_format"] = g.meta.get("format", "tflite")
        if tflite is not None:
            step("measure TFLM's arena on the same model")
            report["tflm_arena_bytes"] = reference.tflm_arena_bytes(tflite)
        target = get_board(board)
        try:
            if target.is_cortexm:
                step(f"cross-compile for {target.name} ({target.core})")
                report.update(link_firmware(staging, sources, target, g, plan))
            check_budgets(report, sram_budget, flash_budget, target)
        except BudgetError as e:
            raise _size_hint(e, g) from None
        write_report(staging, report, g, plan)
        if dumps is not None:
            dumps.write(staging)
    return Build(model=model, out=out, graph=g, plan=plan, sources=sources, report=report)


def _size_hint(e: BudgetError, g: Graph) -> BudgetError:
    """A flash overflow of a build with fast kernels also names --optimize size (the portable kernels, no int16
    weight copies: the smallest flash edgec makes)."""
    if "flash" not in e.message or not any("kernel_choice" in op.attrs for op in g.ops):
        return e
    return BudgetError(f"{e.message}\n  the fast kernels of --optimize speed add flash (their code, output stages, "
                       "int16 weight copies): --optimize size keeps the portable kernels, the smallest flash",
                       e.weights_bytes)


# ---- the stages -------------------------------------------------------------------------------------------------

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
    int4 = ("int4 weights, " if conv.weight_bits == 4 else
            f"int4 weights on {len(conv.int4_layers)} layers, " if conv.int4_layers else "")
    int16 = ("int16 activations (16x8), " if conv.activations == "int16" else
             f"int16 activations on {len(conv.int16_layers)} layers, " if conv.int16_layers else "")
    step(f"quantize to int8 ({int4}{int16}{conv.calib_method} calibration over {len(samples)} samples)")
    q = quantize_graph(g, samples, method=conv.calib_method, progress=conv.progress, weight_bits=conv.weight_bits,
                       int4_layers=conv.int4_layers, activations=conv.activations, int16_layers=conv.int16_layers,
                       float_ops=conv.float_ops, float_layers=conv.float_layers)
    calibration: dict = dict(file=str(conv.calib), method=conv.calib_method, samples=len(samples))
    for key in ("int4_layers", "int16_layers", "float_layers"):
        if q.meta["quantization"][key]:
            calibration[key] = q.meta["quantization"][key]
    dropped = q.meta["quantization"].get("dropped") or {}
    if dropped:  # NaN, inf or |x| >= 1e30 left out of the ranges (docs/quantization.md): said, never silent
        calibration["dropped_values"] = dropped
        step(f"warning: calibration left out {sum(dropped.values())} NaN, infinite or |x| >= 1e30 values in "
             f"{len(dropped)} tensors ({', '.join(f'{n}: {c}' for n, c in list(dropped.items())[:3])}"
             f"{', ...' if len(dropped) > 3 else ''})")
    q.meta = {**g.meta, **q.meta, "quantized_by": "edgec", "calibration": calibration}
    return q


def plan_schedule(g: Graph, target: Board, step: Step, patch: bool | None, max_mac_overhead: float,
                  sram_budget: int | None) -> Schedule:
    """Plan memory layer by layer, search the patch-based schedules (unless patch is False), keep what fits."""
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


def search_patch_schedule(g: Graph, max_mac_overhead: float,
                          layer: MemoryPlan | None = None) -> tuple[Graph, MemoryPlan] | None:
    """The best patch-based schedule (patch.py) as (patched graph, plan), or None when none beats layer by layer."""
    found = search_patches(g, max_mac_overhead=max_mac_overhead, layer_plan=layer)
    return None if found is None else apply_patches(g, found)


def link_firmware(out: Path, sources: list[str], board: Board, g: Graph, plan: MemoryPlan) -> dict:
    """Link the firmware with the board's real memory sizes; the linker refuses what does not fit (exit 3, with
    the layer at the activation peak added to its numbers). Sizes come from the ELF, not from estimates."""
    try:
        # linked at the board's real addresses (what `edgec flash` programs); the emulated runs link their own
        elf = cortexm.cross_build(out, sources, board, graph=g, emulated=False, elf_name="firmware.elf")
    except BudgetError as e:
        raise BudgetError(f"{e.message}\n  activation arena {plan.arena_bytes:,} B; live bytes peak at layer "
                          f"{peak_layer(g, plan)}") from None
    sizes = cortexm.elf_sizes(elf)
    return dict(firmware=elf.name, flash_bytes=sizes["flash_bytes"], flash_budget_bytes=board.flash_bytes,
                sram_budget_bytes=board.sram_bytes, static_sram_bytes=sizes["static_sram_bytes"],
                # until a test run measures the stack, peak SRAM counts the statics (arena included) only
                peak_sram_bytes=sizes["static_sram_bytes"], elf_sizes=sizes)
