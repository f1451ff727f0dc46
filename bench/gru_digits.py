"""The int8 GRU (an ONNX GRU that `--calib` lowers into the FULLY_CONNECTED, ADD, SUB, MUL, LOGISTIC and TANH ops of
its unrolled steps, docs/recurrent.md) against the float model on a small trained GRU, in one run.

Data: scikit-learn's 8x8 digits (bench/accuracy.py's split: 80 % train, 20 % held out), each image read as 8 time
steps of 8 pixels (one row per step). Model: PyTorch nn.GRU(8 -> H, batch_first) and a Linear over the 8 steps'
outputs to 10 classes, trained here (Adam, fixed seed, one thread), exported to ONNX (PyTorch writes a time-major
GRU with linear_before_reset 1 and transposes around it, which edgec folds). edgec quantizes it (minmax over the
same 500 training images bench/accuracy.py calibrates with), then on the held-out images reports: top-1 of
onnxruntime (float) and of edgec's generated C (int8), their agreement, the logits' error against the float ones,
and the largest difference between the C and TFLite Micro running edgec's .tflite of the same graph (LSB).

    .venv/bin/python bench/gru_digits.py [--hidden 32] [--out bench/results/gru_digits.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import export_onnx, fit, sequence_classifier  # noqa: E402  (bench/_common.py: the training loop, the export)
from accuracy import (  # noqa: E402  (bench/accuracy.py: data, runners)
    CALIB,
    SEED,
    dequantized,
    digits,
    edgec_c,
    lsb_diff,
    ort_outputs,
    quantize_samples,
)

from edgec import reference  # noqa: E402
from edgec.exporters import write_tflite  # noqa: E402
from edgec.importers import import_model  # noqa: E402
from edgec.quantizer import quantize_graph  # noqa: E402


def train_gru(x: np.ndarray, y: np.ndarray, hidden: int, epochs: int, path: Path) -> Path:
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(1)

    net = sequence_classifier("gru", 8, 8, hidden)  # [B, 8, 8]: 8 steps (rows) of 8 pixels
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    fit(net, opt, x, y, batch=32, epochs=epochs, seed=SEED, name="gru_digits")
    return export_onnx(net, (1, 8, 8), path, opset=14)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    t0 = time.time()
    x_tr, y_tr, x_te, y_te = digits()
    x_tr, x_te = x_tr[:, 0], x_te[:, 0]  # [N, 8, 8]: 8 steps of 8 pixels
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = train_gru(x_tr, y_tr, args.hidden, args.epochs, work / "gru_digits.onnx")
        float_logits = ort_outputs(path, x_te)
        g = import_model(path)
        q = quantize_graph(g, [[xi[None]] for xi in x_tr[:CALIB]])
        ops = Counter(op.type for op in q.ops)
        tfl = write_tflite(q, work / "gru_digits_int8.tflite")
        xq = quantize_samples(q, [[xi[None]] for xi in x_te])
        ours = edgec_c(q, work / "c", xq)
        tflm, _ = reference.run_tflm(tfl, xq)
        logits = dequantized(q, ours)
    top_f = float(np.mean(float_logits.argmax(1) == y_te))
    top_q = float(np.mean(logits.argmax(1) == y_te))
    agree = float(np.mean(logits.argmax(1) == float_logits.argmax(1)))
    err = float(np.sqrt(np.mean((logits - float_logits) ** 2)) / np.sqrt(np.mean(float_logits ** 2)))
    lsb = lsb_diff(ours, tflm)
    seconds = time.time() - t0
    lines = ["# int8 GRU (lowered into TFLite Micro's ops) against float: scikit-learn digits as 8 steps of 8 pixels",
             "", f"Written by `bench/gru_digits.py --hidden {args.hidden} --epochs {args.epochs}` in {seconds:.0f} s.",
             f"nn.GRU(8, {args.hidden}, batch_first) + Linear({8 * args.hidden}, 10), Adam 5e-3, batch 32, seed "
             f"{SEED}; {len(y_te)} held-out images; minmax calibration over {CALIB} training images.", "",
             "| model | top-1 | agreement with float | logit error (RMS, relative) | C vs TFLM |",
             "|---|---|---|---|---|",
             f"| float (onnxruntime) | {100 * top_f:.2f} % | | | |",
             f"| int8, edgec's C | {100 * top_q:.2f} % | {100 * agree:.2f} % | {err:.4f} | {lsb} LSB |", "",
             "The int8 graph: " + ", ".join(f"{n} {k}" for k, n in sorted(ops.items())) + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
