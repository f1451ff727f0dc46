"""Speed on the emulated cores, in one run: edgec's fast kernels (`--kernels auto`) against its portable kernels
(`--kernels portable`, the reference), per model and per layer, on the same inputs; against CMSIS-NN on the same
layers (bench/results/cmsis_nn_layers.json, measured by bench/cmsis_nn_layers.py from a checkout outside the
repository) and against the best published MLPerf Tiny results on a Cortex-M4 at 120 MHz.

On a board with Helium (the M55) the fast kernels are the MVE kernels; the same models also run with
`--kernels dsp` (the DSP kernels the M55 ran before them), so the M55 has portable, DSP and MVE figures.

Every figure is an instruction count from QEMU's TCG plugin (targets/cortexm/insncount.c): instructions, not
cycles. `cycles_estimate` weighs the plugin's per-class counts (loads, stores, multiplies, branches, ...) with the
core's published timings (toolchain/cortexm.py, CYCLE_TABLE) and is labelled as an estimate. Every run also
checks the outputs against TFLite Micro (0 LSB or the run fails).

    .venv/bin/python bench/speed.py [--boards nucleo_l4r5zi,nucleo_f746zg] [--models kws,ad] [--samples 2] [--jobs 2]
    .venv/bin/python bench/speed.py --render-only     # speed.md again from speed.json (the last run's figures)
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from edgec import validate
from edgec.board import get_board

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MODELS = {"kws": "kws_ref_model.tflite", "vww": "vww_96_int8.tflite", "ic": "pretrainedResnet_quant.tflite",
          "ad": "ad01_int8.tflite"}
#: Cortex-M4, M7, M33 and M55 boards, each emulated by its QEMU machine (docs/boards.md)
BOARDS = ["nucleo_l4r5zi", "nucleo_f746zg", "nucleo_u575zi", "mps3_an547"]
#: the best published MLPerf Tiny v1.x closed-division results on a Cortex-M4 at 120 MHz (NUCLEO-L4R5ZI), in
#: cycles per inference (latency x 120 MHz): X-CUBE-AI 9.0 / Plumerai submissions. Cycles, not instructions: an
#: M4 retires at most one instruction per cycle, so instructions <= these cycles is necessary, not sufficient.
PUBLISHED_M4_CYCLES = {"kws": 5_180_000, "vww": 10_700_000, "ic": 19_800_000, "ad": 486_000}
CMSIS_NN = ROOT / "bench" / "results" / "cmsis_nn_layers.json"


def run(model: Path, board: str, kernels: str, samples: int, work: Path) -> dict:
    r = validate.test(model, work / f"{model.stem}-{board}-{kernels}", board, samples=samples, seed=0,
                      kernels=kernels)
    rep, t = r.build.report, r.build.report["test"]
    if not t["passed"] or t["max_abs_diff_lsb"] != 0:
        raise SystemExit(f"{model.name} on {board} with --kernels {kernels}: not 0 LSB against TFLM ({t['rows']})")
    layers = []
    for layer, counted in zip(rep["layers"], t["layer_instructions"] or []):
        layers.append(dict(name=layer["name"], op=layer["op"], macs=layer["macs"], kernel=layer["kernel"],
                           instructions=counted["instructions"]))
    return dict(instructions=t["instructions_per_inference"], macs=rep["macs"], flash=t["flash_bytes"],
                arena=rep["arena_bytes"], peak_sram=t["peak_sram_bytes"], cycles_estimate=t["cycles_estimate"],
                layers=layers)


def _cmsis_nn() -> dict:
    """{(model key, layer name): instructions} from the CMSIS-NN measurement, if it was made."""
    if not CMSIS_NN.is_file():
        return {}
    data = json.loads(CMSIS_NN.read_text())
    return {(m, layer["name"]): layer["instructions"] for m, rows in data.get("models", {}).items()
            for layer in rows if layer.get("instructions")}


def _per_instruction(macs: int, instructions: int | None) -> str:
    return f"{macs / instructions:.3f}" if instructions and macs else "-"


#: the per-kernel targets on the M4, in MACs per instruction: (label, which layers, bound)
KERNEL_TARGETS = [("1x1 conv", lambda layer: layer["op"] == "CONV_2D" and "pointwise" in (layer["kernel"] or ""), 0.9),
                  ("3x3 depthwise", lambda layer: layer["op"] == "DEPTHWISE_CONV_2D", 0.35),
                  ("FC", lambda layer: layer["op"] == "FULLY_CONNECTED", 0.7)]


def targets(results: dict, boards: list[str], models: list[str]) -> list[str]:
    """What met its target and what did not, from the figures of this run (the M4 is nucleo_l4r5zi)."""
    m4 = "nucleo_l4r5zi"
    if m4 not in boards:
        return []
    out = ["## Targets (emulated Cortex-M4, nucleo_l4r5zi, instructions per inference)", ""]

    def line(what: str, ok: bool, detail: str) -> None:
        out.append(f"- {what}: **{'met' if ok else 'not met'}** ({detail})")

    ratios = {m: results[m][m4]["auto"]["instructions"] / PUBLISHED_M4_CYCLES[m] for m in models
              if m in PUBLISHED_M4_CYCLES}
    detail = ", ".join(f"{m} {r:.2f}" for m, r in ratios.items())
    line("every model at or below the best published M4 cycles", all(r <= 1 for r in ratios.values()), detail)
    line("aim: 0.8x of them", all(r <= 0.8 for r in ratios.values()), detail)
    per_mac = {m: results[m][m4]["auto"]["macs"] / results[m][m4]["auto"]["instructions"] for m in models}
    detail = ", ".join(f"{m} {v:.3f}" for m, v in per_mac.items())
    line("whole model >= 0.5 MAC per instruction", all(v >= 0.5 for v in per_mac.values()), detail)
    line("aim: 0.8", all(v >= 0.8 for v in per_mac.values()), detail)
    for label, picks, bound in KERNEL_TARGETS:
        rows = [(m, layer) for m in models for layer in results[m][m4]["auto"]["layers"]
                if picks(layer) and layer["macs"] and layer["instructions"]]
        if not rows:
            continue
        short = [f"{m} {layer['name']} {layer['macs'] / layer['instructions']:.3f}" for m, layer in rows
                 if layer["macs"] / layer["instructions"] < bound]
        kept = len(rows) - len(short)
        line(f"per kernel: {label} >= {bound} MAC per instruction", not short,
             f"{kept} of {len(rows)} layers" + (f"; below: {', '.join(short)}" if short else ""))
    helium = [b for b in boards if "dsp" in results[models[0]][b]]
    for b in helium:
        fewer = {m: results[m][m4]["auto"]["instructions"] / results[m][b]["auto"]["instructions"] for m in models}
        line(f"{b}: at least 3x fewer instructions than the M4", all(v >= 3 for v in fewer.values()),
             ", ".join(f"{m} {v:.4f}x" for m, v in fewer.items()))
    return out + [""]


def render(results: dict, boards: list[str], models: list[str]) -> str:
    cmsis = _cmsis_nn()
    out = targets(results, boards, models)
    out += ["## Whole models: instructions per inference (QEMU), fast kernels vs portable", "",
           "| model | board (core) | MACs | portable | fast | fast / portable | MAC per instruction (fast) | "
           "flash B portable / fast | arena B portable / fast | fast cycles (estimate) | published M4 cycles | "
           "fast instructions / published | fast cycles (estimate) / published |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in models:
        for b in boards:
            p, f = results[m][b]["portable"], results[m][b]["auto"]
            pub = PUBLISHED_M4_CYCLES[m] if b == "nucleo_l4r5zi" else None
            cycles = f["cycles_estimate"]
            published = (f"{pub:,} | {f['instructions'] / pub:.2f} | {cycles / pub:.2f}" if pub and cycles
                         else "- | - | -")
            out.append(f"| {m} | {b} | {f['macs']:,} | {p['instructions']:,} | {f['instructions']:,} | "
                       f"{f['instructions'] / p['instructions']:.3f} | {f['macs'] / f['instructions']:.3f} | "
                       f"{p['flash']:,} / {f['flash']:,} | {p['arena']:,} / {f['arena']:,} | "
                       f"{f'{cycles:,}' if cycles else '-'} | {published} |")
    helium = [b for b in boards if "dsp" in results[models[0]][b]]
    m4 = "nucleo_l4r5zi"
    for b in helium:
        out += ["", f"## {b} ({get_board(b).core}): portable vs DSP vs Helium (MVE) kernels", "",
                "| model | MACs | portable | DSP (`--kernels dsp`) | MVE (default) | MVE / DSP | "
                f"MAC per instruction (MVE) | M4 ({m4}) DSP | M4 DSP / M55 MVE (target >= 3) | MVE cycles (estimate) |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for m in models:
            r = results[m][b]
            p, d, f = r["portable"], r["dsp"], r["auto"]
            base = results[m][m4]["auto"]["instructions"] if m4 in boards else None
            ratio = f"{base:,} | {base / f['instructions']:.2f}" if base else "- | -"
            cycles = f["cycles_estimate"]
            out.append(f"| {m} | {f['macs']:,} | {p['instructions']:,} | {d['instructions']:,} | "
                       f"{f['instructions']:,} | {f['instructions'] / d['instructions']:.3f} | "
                       f"{f['macs'] / f['instructions']:.3f} | {ratio} | {f'{cycles:,}' if cycles else '-'} |")
        out += ["", f"### Per layer on {b}: instructions, portable vs DSP vs MVE", ""]
        for m in models:
            r = results[m][b]
            out += [f"#### {m}", "",
                    "| # | layer | op | MACs | kernel (MVE run) | portable | DSP | MVE | MAC/instr MVE |",
                    "|---:|---|---|---:|---|---:|---:|---:|---:|"]
            for k, (lf, ld, lp) in enumerate(zip(r["auto"]["layers"], r["dsp"]["layers"], r["portable"]["layers"])):
                out.append(f"| {k} | {lf['name']} | {lf['op']} | {lf['macs']:,} | {lf['kernel'] or '-'} | "
                           f"{lp['instructions']:,} | {ld['instructions']:,} | {lf['instructions']:,} | "
                           f"{_per_instruction(lf['macs'], lf['instructions'])} |")
            out.append("")
    out += ["", "## Per layer on the Cortex-M4 (nucleo_l4r5zi): instructions, fast vs portable vs CMSIS-NN", ""]
    board = "nucleo_l4r5zi" if "nucleo_l4r5zi" in boards else boards[0]
    for m in models:
        f, p = results[m][board]["auto"], results[m][board]["portable"]
        out += [f"### {m} on {board}", "",
                "| # | layer | op | MACs | kernel (fast) | portable | fast | CMSIS-NN | MAC/instr fast | "
                "MAC/instr CMSIS-NN |", "|---:|---|---|---:|---|---:|---:|---:|---:|---:|"]
        for k, (lf, lp) in enumerate(zip(f["layers"], p["layers"])):
            c = cmsis.get((m, lf["name"]))
            out.append(f"| {k} | {lf['name']} | {lf['op']} | {lf['macs']:,} | {lf['kernel'] or '-'} | "
                       f"{lp['instructions']:,} | {lf['instructions']:,} | {f'{c:,}' if c else '-'} | "
                       f"{_per_instruction(lf['macs'], lf['instructions'])} | {_per_instruction(lf['macs'], c)} |")
        out.append("")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--samples", type=int, default=2, help="inferences per run (the count is per inference)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="runs at once (separate processes)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "speed.md")
    ap.add_argument("--render-only", action="store_true",
                    help="write the .md again from the .json of the last run (no measurement)")
    a = ap.parse_args()
    boards, models = a.boards.split(","), a.models.split(",")
    if a.render_only:
        a.out.write_text(render(json.loads(a.out.with_suffix(".json").read_text()), boards, models))
        return
    results: dict = {m: {b: {} for b in boards} for m in models}
    runs = [(m, b, k) for m in models for b in boards
            for k in (("portable", "dsp", "auto") if get_board(b).mve else ("portable", "auto"))]
    # runs in parallel processes (each builds and emulates on its own; the counts do not depend on the load)
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=a.jobs) as pool:
        futures = {pool.submit(run, MODELS_DIR / MODELS[m], b, k, a.samples, Path(tmp)): (m, b, k)
                   for m, b, k in runs}
        for future in as_completed(futures):
            m, b, k = futures[future]
            results[m][b][k] = future.result()
            print(f"{m:4s} {b:14s} {k:8s} {results[m][b][k]['instructions']:>12,}", flush=True)
    text = render(results, boards, models)
    a.out.write_text(text)
    a.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
