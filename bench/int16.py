"""int16 activations (TFLite's 16x8) against int8 and float on real data, in one run: accuracy, logit error, memory.

The models are bench/accuracy.py's (same data, same seeds, same training): a small CNN per data set, trained with
PyTorch on MNIST (mnist-10k.npz from the shared data folder: 8,000 train, 2,000 held out) and on scikit-learn's 8x8
digits (80 % / 20 %), exported to ONNX. edgec quantizes each one (minmax calibration on the same 500 training
images) four ways:
    int8                 every activation int8
    int16 all            every layer with an int16 kernel int16, int8 weights (`--activations int16`): all of
                         these models' layers (convs with their fused RELU, pools, flatten, FC)
    int16 convs          int16 on the convolutions only (`--int16-layers`)
    int16 FC             int16 on the fully connected layer only
and on the held-out images reports top-1 of the generated C, its agreement with float, the logits' error against
the float model's (RMS over all logits, relative to the float logits' RMS), TFLM on edgec's .tflite (must equal the
C to the bit), the activation arena and the constants (weights + biases as stored).

    .venv/bin/python bench/int16.py [--out bench/results/int16.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import (  # noqa: E402  (bench/accuracy.py: data, training, runners)
    CALIB,
    SEED,
    dequantized,
    digits,
    export_onnx,
    log,
    lsb_diff,
    mnist,
    ort_outputs,
    train,
)

from edgec import host, reference  # noqa: E402
from edgec.calib import load_calibration  # noqa: E402
from edgec.codegen import emit_c  # noqa: E402
from edgec.data import quantize  # noqa: E402
from edgec.exporters import write_tflite  # noqa: E402
from edgec.importers import import_model  # noqa: E402
from edgec.memory import plan_memory  # noqa: E402
from edgec.passes import canonicalize, simplify  # noqa: E402
from edgec.quantizer import quantize_graph  # noqa: E402
from edgec.validate import split_outputs  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def configs(g) -> list[tuple[str, str, tuple[str, ...]]]:
    convs = tuple(op.name for op in g.ops if op.type in ("conv2d", "depthwise_conv2d"))
    fcs = tuple(op.name for op in g.ops if op.type == "fully_connected")
    return [("int8", "int8", ()), ("int16 all", "int16", ()), ("int16 convs", "int8", convs),
            ("int16 FC", "int8", fcs)]


def one(name: str, onnx_path: Path, calib_npz: Path, x_te: np.ndarray, activations: str, layers: tuple[str, ...],
        work: Path) -> dict:
    g = simplify(import_model(onnx_path))  # as `edgec build` does before quantizing: the RELUs fused
    q = quantize_graph(g, load_calibration(calib_npz, g, limit=CALIB), activations=activations, int16_layers=layers)
    tfl = write_tflite(q, work / f"{name}.tflite")
    x_in = q.t(q.inputs[0])
    xq = [[quantize(xi.transpose(1, 2, 0)[None], x_in)] for xi in x_te]  # NCHW -> NHWC, onto the input's grid
    c = canonicalize(q)
    plan = plan_memory(c)
    ours = split_outputs(host.run(host.build(work / name, emit_c(c, plan, work / name)), xq), c, len(xq))
    tflm, _ = reference.run_tflm(tfl, xq)
    consts = sum(t.nbytes for t in c.tensors.values() if t.is_const)
    dtypes = {op.name: c.t(op.outputs[0]).dtype for op in c.ops}
    return dict(logits=dequantized(q, ours), lsb=lsb_diff(ours, tflm), consts=consts, arena=plan.arena_bytes,
                dtypes=dtypes, input=x_in.dtype)


def run(data_name: str, data, epochs: int, lr: float, work: Path) -> list[dict]:
    x_tr, y_tr, x_te, y_te = data
    log(f"[{data_name}] training ({epochs} epochs on {len(x_tr)} images)")
    model = train(x_tr, y_tr, epochs, lr)
    onnx_path = export_onnx(model, x_tr.shape[-1], work / f"{data_name}.onnx")
    calib = x_tr[np.random.default_rng(SEED).permutation(len(x_tr))[:CALIB]]
    np.savez(work / f"{data_name}_calib.npz", image=calib)
    f = ort_outputs(onnx_path, x_te)
    top1 = lambda logits: float(np.mean(logits.argmax(1) == y_te))  # noqa: E731
    rms_f = float(np.sqrt(np.mean(f.astype(np.float64) ** 2)))
    rows = [dict(data=data_name, config="float32 (onnxruntime)", top1=top1(f))]
    for config, activations, layers in configs(import_model(onnx_path)):
        log(f"[{data_name}] {config}")
        r = one(f"{data_name}_{config.replace(' ', '_')}", onnx_path, work / f"{data_name}_calib.npz", x_te,
                activations, layers, work)
        err = float(np.sqrt(np.mean((r["logits"] - f) ** 2))) / rms_f
        rows.append(dict(data=data_name, config=config, top1=top1(r["logits"]),
                         agree=float(np.mean(r["logits"].argmax(1) == f.argmax(1))), err=err, **r))
    return rows


def markdown(rows: list[dict], seconds: float) -> str:
    lines = ["# int16 activations (16x8) vs int8 vs float: accuracy and memory", "",
             f"Generated by `bench/int16.py` in {seconds:.0f} s (2 shared CPU cores). The models, data and seeds of "
             f"`bench/accuracy.py`; minmax calibration on the same {CALIB} training images for every row; top-1 of "
             "edgec's generated C (host) on the held-out images. Logit error: RMS of (edgec's dequantized logits - "
             "the float model's) over the RMS of the float logits. Arena: edgec's activation arena (layer by layer). "
             "Constants: weights and biases as weights.c stores them (int64 biases on the int16 layers).", "",
             "| data (held-out) | activations | top-1 % | agreement with float % | logit error | TFLM vs edgec C | "
             "arena B | constants B |",
             "|---|---|---:|---:|---:|---|---:|---:|"]
    for r in rows:
        if "lsb" not in r:
            lines.append(f"| {r['data']} | {r['config']} | {100 * r['top1']:.2f} | - | - | | | |")
            continue
        lsb = "0 LSB (bit-exact)" if r["lsb"] == 0 else f"**{r['lsb']} LSB**"
        lines.append(f"| {r['data']} | {r['config']} | {100 * r['top1']:.2f} | {100 * r['agree']:.2f} | "
                     f"{r['err']:.4f} | {lsb} | {r['arena']:,} | {r['consts']:,} |")
    lines += ["", "Output type of every layer (after canonicalize; `quantize` rows are the inserted conversions):", ""]
    for r in rows:
        if "dtypes" in r:
            per = ", ".join(f"{k} {d}" for k, d in r["dtypes"].items())
            lines.append(f"- {r['data']}, {r['config']} (input {r['input']}): {per}")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "int16.md")
    ap.add_argument("--epochs-mnist", type=int, default=4)
    ap.add_argument("--epochs-digits", type=int, default=40)
    args = ap.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = run("MNIST", mnist(), args.epochs_mnist, 2e-3, work)
        rows += run("digits", digits(), args.epochs_digits, 1e-2, work)
    text = markdown(rows, time.time() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
