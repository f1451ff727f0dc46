"""Accuracy of edgec's post-training quantization on real data, side by side, in one run.

Part 1, models trained here on real data available offline (seeds fixed):
    MNIST   mnist-10k.npz (10,000 real test digits, in the shared data folder beside the repository):
            8,000 to train, 2,000 held out
    digits  scikit-learn's 8x8 digits: 80 % to train, 20 % held out
A small CNN per data set is trained with PyTorch (CPU) and exported to ONNX; then, on the held-out images:
    float            onnxruntime on the ONNX model
    edgec int8       edgec imports the ONNX model, quantizes it (each calibration method), and the generated C runs
    ORT int8         onnxruntime.quantization.quantize_static (QDQ, per-channel int8 weights, int8 activations)
    TFLM             TFLite Micro running the int8 .tflite that edgec wrote (must equal edgec's C to the bit)
All calibrate on the same 500 training images.

Part 2, the MLPerf Tiny float models quantized by edgec vs their published int8 siblings, on the same inputs:
agreement of top-1 with the float model and cosine of the outputs to the float model's. No data set of these tasks
is available offline, so the inputs are synthetic (stated in the results): image-like noise for IC and VWW, smooth
log-mel-like frames for AD; edgec calibrates on 100 such inputs and is evaluated on 200 others.

    .venv/bin/python bench/accuracy.py [--out bench/results/accuracy.md] [--epochs-mnist 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgec import host, reference
from edgec.calib import load_calibration
from edgec.codegen import emit_c
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.ir import Graph
from edgec.memory import plan_memory
from edgec.passes import canonicalize
from edgec.quantizer import METHODS, quantize_graph
from edgec.validate import split_outputs

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MNIST = SHARED / "data" / "mnist-10k.npz"
MODELS = SHARED / "models" / "mlperf-tiny"
SEED = 0
CALIB = 500


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---- data and training -------------------------------------------------------------------------------------------

def mnist() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = np.load(MNIST)
    x, y = d["images"].astype(np.float32) / 255.0, d["labels"].astype(np.int64)
    perm = np.random.default_rng(SEED).permutation(len(x))
    tr, te = perm[:8000], perm[8000:]
    return x[tr, None], y[tr], x[te, None], y[te]  # NCHW


def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.2, random_state=SEED, stratify=d.target)
    return x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64)


def make_cnn(side: int):
    from torch import nn

    if side == 28:  # 28 -> 14 -> 7
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 8 -> 4 -> 2
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 2 * 2, 10))


def train(x: np.ndarray, y: np.ndarray, epochs: int, lr: float):
    import torch
    import torch.nn.functional as F

    random.seed(SEED)
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    model = make_cnn(x.shape[-1])
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xs, ys = torch.from_numpy(x), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(xs), generator=gen)
        for i in range(0, len(xs), 32):
            idx = perm[i:i + 32]
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


def export_onnx(model, side: int, path: Path) -> Path:
    import torch

    torch.onnx.export(model, (torch.zeros(1, 1, side, side),), str(path), dynamo=False, opset_version=17,
                      input_names=["image"], output_names=["logits"])
    return path


# ---- runners -----------------------------------------------------------------------------------------------------

def ort_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: xi[None]})[0].reshape(-1) for xi in x])


def ort_quantize(path: Path, calib: np.ndarray, out: Path, method: str) -> Path:
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"image": xi[None]} for xi in calib])

        def get_next(self):
            return next(self.items, None)

    quantize_static(str(path), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=getattr(CalibrationMethod, method))
    return out


def quantize_samples(q: Graph, xs: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    t = q.t(q.inputs[0])
    return [[np.clip(np.round(s[0] / t.scale) + t.zero_point, -128, 127).astype(np.int8)] for s in xs]


def dequantized(q: Graph, ys: list[list[np.ndarray]]) -> np.ndarray:
    t = q.t(q.outputs[0])
    return np.stack([(np.asarray(s[0], np.float64).reshape(-1) - t.zero_point) * t.scale for s in ys])


def edgec_c(q: Graph, work: Path, xq: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    g = canonicalize(q)
    sources = emit_c(g, plan_memory(g), work)
    return split_outputs(host.run(host.build(work, sources), xq), g, len(xq))


def lsb_diff(a: list[list[np.ndarray]], b: list[list[np.ndarray]]) -> int:
    return max(int(np.abs(x[0].astype(np.int32).reshape(-1) - np.asarray(y[0]).astype(np.int32).reshape(-1)).max())
               for x, y in zip(a, b))


def edgec_int8(onnx_path: Path, calib_npz: Path, x_te: np.ndarray, method: str, work: Path) -> dict:
    t0 = time.time()
    g = import_model(onnx_path)
    calib = load_calibration(calib_npz, g, limit=CALIB)
    q = quantize_graph(g, calib, method=method)
    t_quant = time.time() - t0
    tfl = write_tflite(q, work / f"{method}.tflite")
    xs = [[xi.transpose(1, 2, 0)[None]] for xi in x_te]  # NCHW -> the IR's NHWC
    xq = quantize_samples(q, xs)
    ours = edgec_c(q, work / method, xq)
    tflm, _ = reference.run_tflm(tfl, xq)
    return dict(logits=dequantized(q, ours), tflm_logits=dequantized(q, tflm), lsb=lsb_diff(ours, tflm),
                seconds=t_quant)


@dataclass
class Trained:
    """A data set's CNN, trained and exported: what every bench of int8 variants starts from."""
    onnx_path: Path
    calib_npz: Path  # `calib` saved under the key "image" (edgec's --calib file)
    calib: np.ndarray  # CALIB training images, NCHW (the ONNX model's layout)
    x_te: np.ndarray
    y_te: np.ndarray
    float_logits: np.ndarray  # onnxruntime on x_te

    def top1(self, logits: np.ndarray) -> float:
        return float(np.mean(logits.argmax(1) == self.y_te))

    def agree(self, logits: np.ndarray) -> float:
        """fraction of held-out images whose class equals float32's"""
        return float(np.mean(logits.argmax(1) == self.float_logits.argmax(1)))


def trained_cnn(name: str, data, epochs: int, lr: float, work: Path) -> Trained:
    x_tr, y_tr, x_te, y_te = data
    log(f"[{name}] training a CNN on {len(x_tr)} images ({epochs} epochs)")
    t0 = time.time()
    model = train(x_tr, y_tr, epochs, lr)
    log(f"[{name}] trained in {time.time() - t0:.0f} s; exporting ONNX")
    onnx_path = export_onnx(model, x_tr.shape[-1], work / f"{name}.onnx")
    calib = x_tr[np.random.default_rng(SEED).permutation(len(x_tr))[:CALIB]]
    np.savez(work / f"{name}_calib.npz", image=calib)
    return Trained(onnx_path, work / f"{name}_calib.npz", calib, x_te, y_te, ort_outputs(onnx_path, x_te))


def mnist_and_digits_main(doc: str, default_out: str, run: Callable[[str, object, int, float, Path], list[dict]],
                          markdown: Callable[[list[dict], float], str]) -> None:
    """The command line of a bench that runs `run` on MNIST then on the 8x8 digits and writes `markdown`'s page."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / default_out)
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


def part1(name: str, data, epochs: int, lr: float, work: Path) -> list[dict]:
    t = trained_cnn(name, data, epochs, lr, work)
    onnx_path, x_te, top1 = t.onnx_path, t.x_te, t.top1
    calib = t.calib
    rows = [dict(data=name, runtime="float32 (onnxruntime)", top1=top1(t.float_logits))]
    for method in METHODS:
        log(f"[{name}] edgec int8, {method}")
        r = edgec_int8(onnx_path, t.calib_npz, x_te, method, work)
        rows.append(dict(data=name, runtime=f"edgec int8, {method} (generated C)", top1=top1(r["logits"]),
                         agree=t.agree(r["logits"])))
        rows.append(dict(data=name, runtime=f"TFLM on edgec's int8 .tflite, {method}", top1=top1(r["tflm_logits"]),
                         lsb=r["lsb"]))
    for method in ("MinMax", "Percentile", "Entropy"):
        log(f"[{name}] onnxruntime quantize_static, {method}")
        qpath = ort_quantize(onnx_path, calib, work / f"{name}_ort_{method}.onnx", method)
        o = ort_outputs(qpath, x_te)
        rows.append(dict(data=name, runtime=f"onnxruntime int8 (quantize_static, {method})", top1=top1(o),
                         agree=t.agree(o)))
    return rows


# ---- part 2: MLPerf Tiny float models vs their published int8 siblings ------------------------------------------

def image_like(n: int, shape: tuple[int, ...], top: float, seed: int) -> np.ndarray:
    """Low-frequency noise (random 4x4 grid, upsampled) plus grain, in [0, top]."""
    rng = np.random.default_rng(seed)
    _, h, w, c = shape
    coarse = rng.uniform(0, 1, size=(n, 4, 4, c))
    img = coarse.repeat(h // 4, axis=1).repeat(w // 4, axis=2) + rng.normal(0, 0.05, size=(n, h, w, c))
    return (np.clip(img, 0, 1) * top).astype(np.float32)[:, None]


def logmel_like(n: int, seed: int) -> np.ndarray:
    """5 frames x 128 log-mel bins (AD01's input): a smooth random spectrum per sample, falling with frequency,
    with frame-to-frame jitter, in the int8 sibling's input range (about -85 .. 15 dB)."""
    rng = np.random.default_rng(seed)
    mel = np.linspace(0, 1, 128)
    base = -20 - 40 * mel[None, :] + np.cumsum(rng.normal(0, 1.5, size=(n, 128)), axis=1)
    frames = base[:, None, :] + rng.normal(0, 2.0, size=(n, 5, 128))
    return np.clip(frames, -84, 14).reshape(n, 1, 640).astype(np.float32)


MLPERF = [  # (task, float model, int8 sibling, inputs(n, seed) for the float model)
    ("IC (ResNet-8)", "pretrainedResnet.tflite", "pretrainedResnet_quant.tflite",
     lambda n, s: image_like(n, (1, 32, 32, 3), 255.0, s)),
    ("VWW (MobileNetV1 0.25)", "vww_96_float.tflite", "vww_96_int8.tflite",
     lambda n, s: image_like(n, (1, 96, 96, 3), 1.0, s)),
    ("AD (FC autoencoder)", "ad01_fp32.tflite", "ad01_int8.tflite", lambda n, s: logmel_like(n, s)),
]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)


def part2(work: Path, method: str) -> list[dict]:
    rows = []
    for task, float_name, int8_name, inputs in MLPERF:
        log(f"[{task}] edgec quantizes {float_name} ({method}); comparing with {int8_name}")
        g = import_model(MODELS / float_name)
        np.save(work / "calib.npy", inputs(100, 1))
        q = quantize_graph(g, load_calibration(work / "calib.npy", g), method=method)
        x = inputs(200, 2)
        xs = [[xi] for xi in x]
        f = np.stack([np.asarray(s[0], np.float64).reshape(-1) for s in reference.run_tflm(MODELS / float_name, xs)[0]])
        ours = dequantized(q, edgec_c(q, work / f"{float_name}_{method}", quantize_samples(q, xs)))
        pub = import_model(MODELS / int8_name)
        theirs = dequantized(pub, reference.run_tflm(MODELS / int8_name, quantize_samples(pub, xs))[0])
        row = dict(task=task)
        for who, y in (("edgec", ours), ("published", theirs)):
            row[f"{who}_cos"] = float(np.mean(cosine(y, f)))
            row[f"{who}_top1"] = float(np.mean(y.argmax(1) == f.argmax(1))) if f.shape[1] > 1 and "AD" not in task \
                else None
            if "AD" in task:  # the anomaly score is the reconstruction error: how well is it kept?
                xin = x.reshape(len(x), -1).astype(np.float64)
                s_f, s_y = np.mean((xin - f) ** 2, axis=1), np.mean((xin - y) ** 2, axis=1)
                row[f"{who}_score_err"] = float(np.median(np.abs(s_y - s_f) / s_f))
        row["agree"] = float(np.mean(ours.argmax(1) == theirs.argmax(1))) if "AD" not in task else None
        rows.append(row)
    return rows


# ---- report ------------------------------------------------------------------------------------------------------

def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.2f}"


def markdown(p1: list[dict], p2: list[dict], method: str, seconds: float) -> str:
    lines = ["# Accuracy of edgec's post-training quantization", "",
             f"Generated by `bench/accuracy.py` in {seconds:.0f} s (2 shared CPU cores). Seeds fixed; "
             f"every int8 row calibrates on the same {CALIB} training images.", "",
             "## Real data: models trained here", "",
             "| data (held-out) | runtime | top-1 % | top-1 agreement with float % | TFLM vs edgec C |",
             "|---|---|---:|---:|---|"]
    for r in p1:
        lsb = "" if "lsb" not in r else ("0 LSB (bit-exact)" if r["lsb"] == 0 else f"**{r['lsb']} LSB**")
        lines.append(f"| {r['data']} | {r['runtime']} | {pct(r['top1'])} | {pct(r.get('agree'))} | {lsb} |")
    lines += ["", "MNIST: 8,000 of the 10,000 MNIST test digits train, 2,000 are held out; digits: scikit-learn's "
              "1,797 8x8 digits, 20 % held out. CNN: conv3x3(8)-ReLU-maxpool-conv3x3(16)-ReLU-pool-FC(10), exported "
              "by torch.onnx (TorchScript exporter, opset 17), imported by edgec's ONNX importer.", "",
              f"## MLPerf Tiny float models: edgec's int8 ({method}) vs the published int8 siblings", "",
              "Both int8 models are compared with their float model on the same 200 inputs. **The inputs are "
              "synthetic** (no data set of these tasks is available offline): image-like noise for IC and VWW, "
              "smooth log-mel-like frames for AD; edgec calibrated on 100 other synthetic inputs, the published "
              "siblings on the real training data. The KWS float file is not a float model (its convolutions have "
              "int8 weights: a hybrid, dynamic-range model), which edgec does not take, so it is not in the table.", "",
              "| task | edgec: top-1 = float % | published: top-1 = float % | edgec: cosine to float | "
              "published: cosine to float | top-1 edgec = published % | AD score error (median, edgec / published) |",
              "|---|---:|---:|---:|---:|---:|---|"]
    for r in p2:
        score = (f"{100 * r['edgec_score_err']:.2f} % / {100 * r['published_score_err']:.2f} %"
                 if "edgec_score_err" in r else "-")
        lines.append(f"| {r['task']} | {pct(r['edgec_top1'])} | {pct(r['published_top1'])} | {r['edgec_cos']:.4f} "
                     f"| {r['published_cos']:.4f} | {pct(r['agree'])} | {score} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "accuracy.md")
    ap.add_argument("--epochs-mnist", type=int, default=4)
    ap.add_argument("--epochs-digits", type=int, default=40)
    ap.add_argument("--mlperf-method", default="mse", choices=METHODS)
    args = ap.parse_args()
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        p1 = part1("MNIST", mnist(), args.epochs_mnist, 2e-3, work)
        p1 += part1("digits", digits(), args.epochs_digits, 1e-2, work)
        p2 = part2(work, args.mlperf_method)
    text = markdown(p1, p2, args.mlperf_method, time.time() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
