"""Peak memory side by side, in one run: TFLite Micro vs edgec (layer by layer and patch-based) vs the lower bound
vs TinyEngine's published figures, on the MLPerf Tiny int8 models and the MCUNet zoo (bench/zoo.py).

Per model:
- TFLM arena from print_allocations() after one invoke, measured here with the tflite-micro wheel: head
  (non-persistent: activations and scratch, TFLM's greedy plan) and total (head + tail: runtime structs and
  kernel data, with 64-bit host pointers, so the tail is somewhat larger than on a Cortex-M);
- edgec's activation arena compiled layer by layer (compile_model(patch=False)) and with patch-based inference
  allowed (compile_model(patch=True); the split layer, the patch grid and the MAC overhead when the plan has one);
- the lower bound: the peak of live bytes in the model's op order (layer by layer, no in-place ops);
- edgec's peak SRAM: the default build (patched when a patch plan is chosen) cross-compiled for an emulated
  Cortex-M board and run once under QEMU: .data + .bss + arena + the measured stack high-water mark
  (stack painting); edgec kernels use no scratch outside the arena and the stack;
- TinyEngine's published peak SRAM (arena + im2col sbuf + kbuf) where one is published: the README of
  github.com/mit-han-lab/tinyengine (STM32H743, kB rounded) or its golden codegen (mcunet-vww1, bytes).

The goal columns: peak SRAM <= TFLM's total arena; activation arena <= 0.5 x TFLM's head on the
vision models; mcunet-vww1 at 80x80 under TinyEngine's 2x2-patch 62,352 B; every zoo model under TinyEngine's
published peak.

    .venv/bin/python bench/memory.py [--models mlperf zoo NAME ...] [--board mps2_an500 | --no-stack]
                                     [--out bench/results/memory.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zoo

from edgec import cortexm, driver, reference, validate
from edgec.data import random_inputs
from edgec.errors import EdgecError
from edgec.ops import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT.parent / "shared" / "models" / "mlperf-tiny"
# model file -> is it a vision model (the 0.5 x TFLM head goal applies to vision models only)
MLPERF_MODELS = {"kws_ref_model.tflite": False, "vww_96_int8.tflite": True, "pretrainedResnet_quant.tflite": True,
                 "ad01_int8.tflite": False}
VWW1_PATCH_TARGET = 62_352  # TinyEngine's golden codegen, mcunet-vww1 80x80, 2x2 patches split at layer 5


@dataclasses.dataclass
class Model:
    name: str
    path: Path
    vision: bool
    te_peak: int | None = None
    te_source: str = ""


def select(names: list[str], seed: int) -> list[Model]:
    """`mlperf`, `zoo` (zoo.DEFAULT), `all`, or single names (MLPerf file names with or without .tflite,
    zoo names as in bench/zoo.py)."""
    out: list[Model] = []
    for n in names:
        if n in ("mlperf", "all"):
            out += [Model(f, MLPERF / f, v) for f, v in MLPERF_MODELS.items()]
        if n in ("zoo", "all"):
            out += [zoo_model(z, seed) for z in zoo.DEFAULT]
        if n in ("mlperf", "zoo", "all"):
            continue
        if n in zoo.ARCHS:
            out.append(zoo_model(n, seed))
        elif n in MLPERF_MODELS or n + ".tflite" in MLPERF_MODELS:
            f = n if n in MLPERF_MODELS else n + ".tflite"
            out.append(Model(f, MLPERF / f, MLPERF_MODELS[f]))
        else:
            sys.exit(f"error: unknown model {n!r}; use mlperf, zoo, all, one of {', '.join(MLPERF_MODELS)} or "
                     f"{', '.join(zoo.ARCHS)}")
    return out


def zoo_model(name: str, seed: int) -> Model:
    a = zoo.ARCHS[name]
    return Model(name, zoo.model_path(name, seed), True, a.te_peak_bytes, a.te_source)


def patch_facts(plan) -> dict | None:
    """The patch plan as plain facts (split layer, grid, MAC overhead), whatever object the planner returns."""
    p = plan.patch
    if p is None:
        return None
    if hasattr(p, "as_dict"):
        d = p.as_dict()
    elif dataclasses.is_dataclass(p) and not isinstance(p, type):
        d = dataclasses.asdict(p)
    else:
        d = dict(vars(p))
    split = next((d[k] for k in ("split_layer", "split_op", "split") if d.get(k) is not None), None)
    if isinstance(split, dict):
        split = split.get("label") or split.get("name")
    elif isinstance(split, (list, tuple)):
        split = split[-1]  # (index, label)
    if isinstance(split, str) and len(split) > 48:  # TF's fused names: "a/Relu;a/BatchNorm;..." -> the first
        split = split.split(";")[0][:45] + "..."
    grid = d.get("grid") or d.get("patches")
    if isinstance(grid, (list, tuple)):
        grid = "x".join(str(v) for v in grid)
    overhead = d.get("mac_overhead")
    if overhead is None and d.get("overhead_macs") is not None and d.get("macs"):
        overhead = d["overhead_macs"] / d["macs"]
    return dict(split=split, grid=grid, mac_overhead=overhead, overhead_macs=d.get("overhead_macs"))


def measure(m: Model, board: str | None, work: Path) -> dict:
    t0 = time.perf_counter()
    tflm = reference.tflm_arena_bytes(m.path) or {}
    layer = driver.compile_model(m.path, patch=False)
    g, layer_plan = layer.graph, layer.plan
    macs = sum(int(REGISTRY[op.type].macs(op, g)) for op in g.ops)
    r = dict(model=m.name, vision=m.vision, macs=macs, tflm_head=tflm.get("head"), tflm_total=tflm.get("total"),
             layer_arena=layer_plan.arena_bytes, patched_arena=None, patch=None, patch_error=None,
             lower_bound=layer_plan.lower_bound_bytes, patched_bound=None, te_peak=m.te_peak, te_source=m.te_source,
             peak_sram=None,
             stack=None, statics=None, peak_build="-")
    try:
        plan = driver.compile_model(m.path, patch=True).plan
    except Exception as e:  # a benchmark row, not a verdict: record the failure, keep the other models
        print(f"  {m.name}: compile_model(patch=True) failed: {type(e).__name__}: {e}", file=sys.stderr)
        r["patch_error"] = f"{type(e).__name__}"
        plan = None
    if plan is not None:
        r.update(patched_arena=plan.arena_bytes, patch=patch_facts(plan), patched_bound=plan.lower_bound_bytes)
    if plan is not None and plan.layer_arena_bytes is not None and plan.layer_arena_bytes != layer_plan.arena_bytes:
        print(f"  note: {m.name}: the patched plan compared against a {plan.layer_arena_bytes:,} B layer-by-layer "
              f"arena, compile_model(patch=False) gives {layer_plan.arena_bytes:,} B", file=sys.stderr)
    if board:
        # the build whose peak is measured: patch-based when a patched plan exists and compiled, else layer by layer
        patched = r["patch"] is not None
        b = driver.build(m.path, work / m.name, patch=patched)
        r["peak_build"] = "patched" if patched else "layer by layer"
        xs = random_inputs(b.graph, 2, seed=0)
        fw = cortexm.measure(b.out, b.sources, board, xs, graph=b.graph, per_layer=False)
        sizes = fw["sizes"]
        # the measured build must compute the model: its outputs against TFLM on the same inputs
        ours = validate.split_outputs(fw["outputs"], b.graph, len(xs))
        theirs, _ = reference.run_tflm(m.path, xs)
        lsb = max(int(np.max(np.abs(a.astype(np.int64) - np.asarray(t).astype(np.int64).reshape(a.shape))))
                  for so, st in zip(ours, theirs) for a, t in zip(so, st))
        r.update(peak_sram=fw["peak_sram_bytes"], stack=fw["stack_bytes"],
                 statics=sizes["static_sram_bytes"] - sizes["arena"], fw_arena=sizes["arena"], lsb=lsb)
    r["seconds"] = time.perf_counter() - t0
    return r


def _b(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def _ratio(a: int | None, b: int | None) -> str:
    return "-" if not a or not b else f"{a / b:.2f}"


def _goal(ok: bool | None) -> str:
    return "-" if ok is None else ("yes" if ok else "**no**")


def best_arena(r: dict) -> int:
    return min(a for a in (r["layer_arena"], r["patched_arena"]) if a is not None)


def goals(r: dict) -> dict[str, bool | None]:
    peak = r["peak_sram"]
    te = r["te_peak"]
    vww1 = r["model"].startswith("mcunet-vww1")
    return {
        "peak SRAM <= TFLM total": None if peak is None or not r["tflm_total"] else peak <= r["tflm_total"],
        "arena <= 0.5 x TFLM head": (best_arena(r) <= 0.5 * r["tflm_head"]) if r["vision"] and r["tflm_head"]
        else None,
        "peak < TinyEngine published": None if peak is None or te is None else peak < te,
        "peak < 62,352 B (TE 2x2 patches)": None if peak is None or not vww1 else peak < VWW1_PATCH_TARGET,
    }


def render(results: list[dict], board: str | None) -> str:
    lines = [
        "| model | MACs | TFLM head B | TFLM total B | edgec layer-by-layer B | edgec patched B | patch plan | "
        "lower bound B (layer / chosen) | edgec peak SRAM B | TinyEngine published B | edgec arena / TFLM head | "
        "peak / TFLM total | "
        "peak / TinyEngine |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        p = r["patch"]
        plan = f"failed ({r['patch_error']})" if r["patch_error"] else "layer by layer" if p is None else (
            f"{p['grid']} patches to {p['split']}" + (f", +{100 * p['mac_overhead']:.1f} % MACs"
                                                       if p["mac_overhead"] is not None else ""))
        lines.append(
            f"| {r['model']} | {r['macs']:,} | {_b(r['tflm_head'])} | {_b(r['tflm_total'])} | {r['layer_arena']:,} | "
            f"{_b(r['patched_arena'])} | {plan} | {r['lower_bound']:,} / {_b(r['patched_bound'])} | "
            f"{_b(r['peak_sram'])} | {_b(r['te_peak'])} | "
            f"{_ratio(best_arena(r), r['tflm_head'])} | {_ratio(r['peak_sram'], r['tflm_total'])} | "
            f"{_ratio(r['peak_sram'], r['te_peak'])} |")
    names = list(goals(results[0])) if results else []
    lines += ["", "| model | " + " | ".join(names) + " | edgec peak = arena + statics + stack | measured build | "
              "its max LSB vs TFLM |", "|---|" + "---|" * len(names) + "---|---|---:|"]
    for r in results:
        g = goals(r)
        split = "-" if r["peak_sram"] is None else \
            f"{r['fw_arena']:,} + {r['statics']:,} + {_b(r['stack'])}"
        lines.append(f"| {r['model']} | " + " | ".join(_goal(g[n]) for n in names) +
                     f" | {split} | {r['peak_build']} | {r.get('lsb', '-')} |")
    sources = sorted({(r["model"], r["te_source"]) for r in results if r["te_peak"]})
    notes = [
        "",
        "TFLM: tflite-micro Python interpreter (reference kernels) on this host; total = head + tail, the tail holds "
        "runtime structs with 64-bit pointers. edgec patched = compile_model(patch=True): the smaller of the best "
        "patch-based plan (MAC overhead capped at 20 %) and layer by layer; layer by layer = "
        "compile_model(patch=False). Lower bound = peak live bytes over the steps of the schedule (no plan of those "
        "buffers can be smaller): layer by layer / the chosen schedule. "
        + (f"edgec peak SRAM = .data + .bss + arena + measured stack high-water of the patch=True build, two "
           f"inferences under QEMU on {board}, whose outputs are compared with TFLM's on the same inputs."
           if board else "edgec peak SRAM not measured (--no-stack)."),
        "Zoo models: bench/zoo.py, random int8 weights (seed 0), the architectures of the MCUNet model zoo. "
        "TinyEngine published peaks (arena + sbuf + kbuf): "
        + "; ".join(f"{m}: {s}" for m, s in sources) + ".",
    ]
    return "\n".join(lines + notes) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["mlperf", "zoo"],
                    help="mlperf, zoo, all, or model names (default: mlperf zoo)")
    ap.add_argument("--board", default="mps2_an500", help="emulated board for the peak-SRAM run (default mps2_an500)")
    ap.add_argument("--no-stack", action="store_true", help="skip the emulated run (no peak SRAM column)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the zoo models' random weights")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory.md",
                    help="Markdown output (default bench/results/memory.md)")
    args = ap.parse_args()
    board = None if args.no_stack else args.board
    if board and (why := cortexm.toolchain_available()):
        print(f"no peak-SRAM run: {why}", file=sys.stderr)
        board = None
    models = select(args.models, args.seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in models:
            print(f"{m.name} ...", file=sys.stderr, flush=True)
            try:
                results.append(measure(m, board, Path(tmp)))
            except EdgecError as e:
                sys.exit(f"error: {m.name}: {e}")
            print(f"  {results[-1]['seconds']:.1f} s", file=sys.stderr)
    text = render(results, board)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
