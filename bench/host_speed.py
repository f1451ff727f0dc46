"""Host speed per inference, side by side in one run: edgec's generated C (host build, `make`'s own flags) against
the TFLite Micro Python interpreter, on the same MLPerf Tiny int8 models and the same seeded random inputs.

Per model and repeat, A B A B: edgec's harness as a process on N samples and on 0 samples (its start, subtracted),
then TFLM's interpreter in this process on the same N samples (set_input, invoke, get_output; the interpreter is
built once, outside the timing). Times are CPU seconds (user + system: the child's rusage for edgec,
time.process_time for TFLM), not wall time, so that other processes on a loaded shared machine count less;
per inference = time / N. The medians of the repeats are reported with the median
of the per-repeat ratios TFLM / edgec (each pair run back to back, so a drift of the shared machine's speed hits
both sides). Both sides' outputs are compared first: 0 LSB or the run stops. `--portable` also times edgec's
portable kernels (`--kernels portable`) for the same table.

    .venv/bin/python bench/host_speed.py [--models kws,vww,ic,ad] [--samples 200] [--repeats 7] [--portable]
                                         [--out bench/results/host_speed.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from edgec import driver, host, reference
from edgec.data import random_inputs
from edgec.validate import split_outputs

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT.parent / "shared" / "models" / "mlperf-tiny"
MODELS = {"kws": "kws_ref_model.tflite", "vww": "vww_96_int8.tflite", "ic": "pretrainedResnet_quant.tflite",
          "ad": "ad01_int8.tflite"}


def _tflm_interpreter(model: Path):
    rt = reference._tflm()
    sg = reference._subgraph(model)
    return rt.Interpreter.from_file(str(model), arena_size=reference._arena_bound(model, sg)), len(sg.outputs)


def _time_tflm(interp, n_out: int, xs: list[list[np.ndarray]]) -> tuple[float, list]:
    outputs = []
    t0 = time.process_time()
    for sample in xs:
        for k, x in enumerate(sample):
            interp.set_input(x, k)
        interp.invoke()
        outputs.append([np.array(interp.get_output(k)) for k in range(n_out)])
    return time.process_time() - t0, outputs


def _time_exe(exe: Path, payload: bytes, n: int) -> tuple[float, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run([str(exe), str(n)], input=payload, capture_output=True, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, res.stdout


def measure(key: str, samples: int, repeats: int, work: Path, portable: bool) -> dict:
    model = MODELS_DIR / MODELS[key]
    builds = {}
    for kernels in ["auto"] + (["portable"] if portable else []):
        b = driver.build(model, work / f"{key}-{kernels}", "host", kernels=kernels)
        builds[kernels] = (b, host.build(b.out, b.sources))
    g = builds["auto"][0].graph
    xs = random_inputs(g, samples, seed=0)
    payload = b"".join(x.tobytes() for sample in xs for x in sample)
    interp, n_out = _tflm_interpreter(model)
    _, theirs = _time_tflm(interp, n_out, xs)
    for kernels, (_, exe) in builds.items():
        ours = split_outputs(_time_exe(exe, payload, samples)[1], g, samples)
        worst = max(int(np.abs(a.astype(np.int32) - np.asarray(t).astype(np.int32)).max())
                    for o, t_ in zip(ours, theirs) for a, t in zip(o, t_))
        if worst != 0:
            raise SystemExit(f"{key} ({kernels} kernels): {worst} LSB from TFLM, not 0")
    times: dict[str, list[float]] = {name: [] for name in [*builds, "tflm"]}
    ratios = []
    for _ in range(repeats):
        for kernels, (_, exe) in builds.items():
            start = statistics.median(_time_exe(exe, b"", 0)[0] for _ in range(3))
            times[kernels].append((_time_exe(exe, payload, samples)[0] - start) / samples)
        times["tflm"].append(_time_tflm(interp, n_out, xs)[0] / samples)
        ratios.append(times["tflm"][-1] / times["auto"][-1])
    med = {name: statistics.median(v) * 1e3 for name, v in times.items()}
    return dict(model=MODELS[key], macs=builds["auto"][0].report["macs"], ms=med,
                spread={name: (min(v) * 1e3, max(v) * 1e3) for name, v in times.items()},
                ratio=statistics.median(ratios), ratio_range=(min(ratios), max(ratios)))


def render(results: list[dict], samples: int, repeats: int) -> str:
    portable = "portable" in results[0]["ms"]
    head = "| model | MACs | edgec host kernels ms (min-max) | TFLM ms (min-max) | TFLM / edgec (min-max) |"
    rule = "|---|---:|---:|---:|---:|"
    if portable:
        head, rule = head + " edgec portable ms | portable / host kernels |", rule + "---:|---:|"
    lines = [head, rule]
    for r in results:
        e, t = r["spread"]["auto"], r["spread"]["tflm"]
        row = (f"| {r['model']} | {r['macs']:,} | {r['ms']['auto']:.3f} ({e[0]:.3f}-{e[1]:.3f}) | "
               f"{r['ms']['tflm']:.3f} ({t[0]:.3f}-{t[1]:.3f}) | {r['ratio']:.1f}x "
               f"({r['ratio_range'][0]:.1f}-{r['ratio_range'][1]:.1f}) |")
        if portable:
            row += f" {r['ms']['portable']:.3f} | {r['ms']['portable'] / r['ms']['auto']:.1f}x |"
        lines.append(row)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines += ["", f"{samples} inferences per timing, medians of {repeats} repeats, per inference, in CPU time (user + "
              "system; edgec's process start subtracted, TFLM's interpreter built outside the timing); "
              f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the end of the run."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="kws,vww,ic,ad")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--portable", action="store_true", help="also time the portable kernels")
    ap.add_argument("--out", type=Path, help="also write the Markdown table here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(k, args.samples, args.repeats, Path(tmp), args.portable)
                   for k in args.models.split(",")]
    text = render(results, args.samples, args.repeats)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
