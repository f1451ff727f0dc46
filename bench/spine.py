"""Side by side on the MLPerf Tiny int8 models, in one run: edgec vs TFLite Micro (and LiteRT).

Per model: operators, MACs, edgec's arena vs TFLM's arena (print_allocations: total, head = activations,
tail = runtime structs), the lower bound for the op order, and the LSB table against TFLM and LiteRT.
Host speed is printed for information only (never a pass/fail criterion): edgec's C harness vs the TFLM Python
interpreter on the same inputs, per inference.

    .venv/bin/python bench/spine.py [--samples 50] [--models DIR] [--out bench/results/spine.md]
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from pathlib import Path

from edgec import host, reference, validate
from edgec.data import random_inputs

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODELS = ROOT.parent / "shared" / "models" / "mlperf-tiny"
NAMES = ["kws_ref_model.tflite", "vww_96_int8.tflite", "pretrainedResnet_quant.tflite", "ad01_int8.tflite"]


def measure(model: Path, samples: int, work: Path) -> dict:
    r = validate.test(model, work / model.stem, samples=samples, seed=0)
    g = r.build.graph
    xs = random_inputs(g, samples, seed=0)
    exe = host.build(r.build.out, r.build.sources)
    t0 = time.perf_counter()
    host.run(exe, xs)
    edgec_ms = (time.perf_counter() - t0) * 1e3 / samples  # includes process start, amortized over samples
    t0 = time.perf_counter()
    reference.run_tflm(model, xs)
    tflm_ms = (time.perf_counter() - t0) * 1e3 / samples
    arena = reference.tflm_arena_bytes(model) or {}
    ops = collections.Counter(op.attrs.get("tflite_op", op.type) for op in g.ops)
    rows = {m.reference: m for m in r.rows}
    return dict(model=model.name, ops=", ".join(f"{k} x{v}" for k, v in sorted(ops.items())),
                macs=r.build.report["macs"], edgec_arena=r.build.report["arena_bytes"],
                lower_bound=r.build.report["lower_bound_bytes"], tflm_total=arena.get("total"),
                tflm_head=arena.get("head"), tflm_tail=arena.get("tail"),
                lsb_tflm=rows["TFLM"].max_abs_diff_lsb,
                lsb_litert=rows["LiteRT (ref)"].max_abs_diff_lsb if "LiteRT (ref)" in rows else None,
                mismatch_litert=rows["LiteRT (ref)"].mismatch_fraction if "LiteRT (ref)" in rows else None,
                samples=r.samples, edgec_ms=edgec_ms, tflm_ms=tflm_ms)


def render(results: list[dict]) -> str:
    lines = ["| model | MACs | edgec arena B | lower bound B | TFLM total B | TFLM head B | TFLM tail B | "
             "edgec / TFLM head | edgec / TFLM total | LSB vs TFLM | LSB vs LiteRT (share differing) | samples |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        head = f"{r['edgec_arena'] / r['tflm_head']:.2f}" if r["tflm_head"] else "n/a"
        total = f"{r['edgec_arena'] / r['tflm_total']:.2f}" if r["tflm_total"] else "n/a"
        litert = "n/a" if r["lsb_litert"] is None else f"{r['lsb_litert']} ({100 * r['mismatch_litert']:.1f} %)"
        lines.append(f"| {r['model']} | {r['macs']:,} | {r['edgec_arena']:,} | {r['lower_bound']:,} | "
                     f"{r['tflm_total'] or 0:,} | {r['tflm_head'] or 0:,} | {r['tflm_tail'] or 0:,} | {head} | "
                     f"{total} | {r['lsb_tflm']} | {litert} | {r['samples']} |")
    lines += ["", "| model | operators | edgec C host ms/inference | TFLM (Python) host ms/inference | ratio |",
              "|---|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['model']} | {r['ops']} | {r['edgec_ms']:.3f} | {r['tflm_ms']:.3f} | "
                     f"{r['tflm_ms'] / r['edgec_ms']:.1f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=50)
    ap.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    ap.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(args.models / n, args.samples, Path(tmp)) for n in NAMES]
    text = render(results)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
