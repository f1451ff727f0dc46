"""Models trained here, converted by edgec, measured end to end: one row per model (float, int8 and int4-weight
accuracy on held-out real data, TFLM agreement, peak SRAM and instructions on the emulated Cortex-M7).

Each row is a `Row` in ROWS: a name, a description, and `prepare(work)`, which trains (seeded, short, one core) and
exports the model to ONNX and returns the ONNX file with its calibration and test data (float32, in the ONNX
input's layout) and labels. What every row gets, the same way:
    float   onnxruntime on the ONNX file, top-1 on the test set
    int8    edgec's quantizer (`--calib`, minmax on CALIB training samples): the generated C on the host, top-1;
            TFLM on edgec's exported model_int8.tflite on the same int8 inputs (max |diff| in LSB)
    int4    `--weight-bits 4`: int4 weights on every conv / depthwise / fully connected layer that has them (an
            LSTM's weights stay int8: TFLite Micro has no int4 LSTM); top-1 of the C; skipped when there is none
    M7      `edgec build --calib ... --board nucleo_f746zg`, run under QEMU on M7_SAMPLES test inputs: instructions
            per inference and peak SRAM (arena + state + stack + statics, as `edgec test --board` measures them)

Rows today:
    lstm_mnist  MNIST (mnist-10k.npz: 8,000 train, 2,000 held out), each 28x28 image read as 28 time steps of 28
                features (one row per step), nn.LSTM(28 -> 64) then a Linear over the 28 steps' outputs to 10
                classes (edgec has no ONNX Gather/Slice to pick the last step)

    .venv/bin/python bench/models.py [--rows lstm_mnist] [--out bench/results/models.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgec import cortexm, driver, host, reference, validate

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist-10k.npz"
SEED = 0
CALIB = 500
BOARD = "nucleo_f746zg"
M7_SAMPLES = 3


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Prepared:
    onnx: Path
    calib: np.ndarray  # float32 samples in the ONNX input's shape, first axis = samples
    x_test: np.ndarray
    y_test: np.ndarray
    train_seconds: float
    notes: str = ""


@dataclass
class Row:
    name: str
    description: str
    prepare: Callable[[Path], Prepared]


# ---- rows ----------------------------------------------------------------------------------------------------------

def lstm_mnist(work: Path, epochs: int = 8, hidden: int = 64) -> Prepared:
    import torch

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    d = np.load(MNIST)
    x, y = d["images"].astype(np.float32) / 255.0, d["labels"].astype(np.int64)
    x_tr, y_tr, x_te, y_te = x[:8000], y[:8000], x[8000:], y[8000:]

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(28, hidden, batch_first=True)
            self.fc = torch.nn.Linear(28 * hidden, 10)

        def forward(self, img):  # [B, 28, 28]: 28 steps (rows) of 28 features
            seq, _ = self.lstm(img)
            return self.fc(seq.reshape(seq.shape[0], -1))

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    gen = torch.Generator().manual_seed(SEED)
    t0 = time.time()
    for epoch in range(epochs):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        log(f"  lstm_mnist epoch {epoch + 1}/{epochs}: loss {float(loss):.3f} ({time.time() - t0:.0f} s)")
    seconds = time.time() - t0
    net.eval()
    path = work / "lstm_mnist.onnx"
    torch.onnx.export(net, (torch.zeros(1, 28, 28),), str(path), dynamo=False, opset_version=14,
                      input_names=["image"], output_names=["logits"])
    return Prepared(onnx=path, calib=x_tr[:CALIB, None], x_test=x_te[:, None], y_test=y_te, train_seconds=seconds,
                    notes=f"nn.LSTM(28, {hidden}, batch_first) + Linear({28 * hidden}, 10), Adam 3e-3, batch 64, "
                          f"{epochs} epochs, seed {SEED}, 1 thread")


ROWS = [
    Row("lstm_mnist", "MNIST as 28 steps of 28 pixels: LSTM(64) + FC over the sequence", lstm_mnist),
]


# ---- measurements --------------------------------------------------------------------------------------------------

def ort_top1(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.array([int(np.argmax(sess.run(None, {name: xi})[0])) for xi in x])


def quantized(path: Path, calib_npz: Path, x: np.ndarray, work: Path, bits: int) -> dict:
    """edgec's int8 (bits 8) or int4-weight model as `edgec build --calib` makes it: top-1 of its C on the host,
    and TFLM on the model_int8.tflite the build exported (reset before each sample when the model restarts its
    recurrent state on every run, as an ONNX LSTM does)."""
    b = driver.build(path, work / f"int{bits}", conversion=driver.Conversion(calib=calib_npz, calib_limit=CALIB,
                                                                           weight_bits=bits))
    g = b.graph
    int4 = [op.name for op in g.ops if any(g.t(i).dtype == "int4" for i in op.inputs if i is not None)]
    if bits == 4 and not int4:
        return dict(top1=None, lsb=None, int4=[])
    t_in = g.t(g.inputs[0])
    xq = [[np.clip(np.round(xi.reshape(t_in.shape) / t_in.scale) + t_in.zero_point, -128, 127).astype(np.int8)]
          for xi in x]
    ours = validate.split_outputs(host.run(host.build(b.out, b.sources), xq), g, len(xq))
    tflm, _ = reference.run_tflm(b.out / "model_int8.tflite", xq, reset_each=reference.restarts_each_run(g))
    lsb = max(int(np.abs(a[0].astype(np.int32).reshape(-1) - np.asarray(t[0]).astype(np.int32).reshape(-1)).max())
              for a, t in zip(ours, tflm))
    return dict(top1=np.array([int(np.argmax(s[0])) for s in ours]), lsb=lsb, int4=int4)


def m7(path: Path, calib_npz: Path, x: np.ndarray, work: Path) -> dict:
    b = driver.build(path, work / "m7", board=BOARD, conversion=driver.Conversion(calib=calib_npz,
                                                                                  calib_limit=CALIB))
    t_in = b.graph.t(b.graph.inputs[0])
    xq = [[np.clip(np.round(xi.reshape(t_in.shape) / t_in.scale) + t_in.zero_point, -128, 127).astype(np.int8)]
          for xi in x[:M7_SAMPLES]]
    fw = cortexm.measure(b.out, b.sources, BOARD, xq, graph=b.graph, per_layer=False)
    # the measured firmware must compute the model: its outputs against TFLM on the build's own .tflite
    ours = validate.split_outputs(fw["outputs"], b.graph, len(xq))
    tflm, _ = reference.run_tflm(b.out / "model_int8.tflite", xq, reset_each=reference.restarts_each_run(b.graph))
    m7_lsb = max(int(np.abs(a[0].astype(np.int32).reshape(-1) - np.asarray(t[0]).astype(np.int32).reshape(-1)).max())
                 for a, t in zip(ours, tflm))
    return dict(m7_lsb=m7_lsb, instructions=int(fw["instructions_per_inference"]), peak_sram=fw["peak_sram_bytes"],
                flash=fw["sizes"].get("flash_bytes") or b.report.get("flash_bytes"), macs=b.report["macs"],
                arena=b.report["arena_bytes"], state=b.report.get("state_bytes"))


def measure(row: Row, work: Path) -> dict:
    t0 = time.time()
    log(f"{row.name}: train and export")
    p = row.prepare(work)
    calib_npz = work / f"{row.name}_calib.npz"
    np.savez(calib_npz, p.calib)
    r: dict = dict(name=row.name, description=row.description, notes=p.notes, train_seconds=p.train_seconds,
                   test=len(p.y_test))
    log(f"{row.name}: float (onnxruntime)")
    r["float"] = float(np.mean(ort_top1(p.onnx, p.x_test) == p.y_test))
    for bits in (8, 4):
        log(f"{row.name}: int{bits} weights")
        qr = quantized(p.onnx, calib_npz, p.x_test, work, bits)
        r[f"int{bits}"] = None if qr["top1"] is None else float(np.mean(qr["top1"] == p.y_test))
        r[f"int{bits}_lsb"] = qr["lsb"]
        r[f"int{bits}_layers"] = qr["int4"]
    log(f"{row.name}: emulated {BOARD}")
    r.update(m7(p.onnx, calib_npz, p.x_test, work))
    r["seconds"] = time.time() - t0
    return r


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def markdown(results: list[dict]) -> str:
    lines = ["# Models trained here, end to end", "",
             "Generated by `bench/models.py` (see its docstring for the method); every figure is from the run "
             "below. Accuracy is top-1 on the held-out test set; int8 and int4 are edgec's own quantization "
             f"(minmax, {CALIB} calibration samples) run as generated C on the host; 'vs TFLM' is the largest "
             "difference between that C and TFLite Micro running edgec's exported .tflite on the same int8 inputs "
             "(on the host over the whole test set; on the M7 over the inferences measured). "
             f"Instructions and peak SRAM: the int8 C on the emulated {BOARD} (Cortex-M7, QEMU with instruction "
             f"counting, mean of {M7_SAMPLES} inferences); peak SRAM = arena + recurrent state + stack + statics.", "",
             "| model | float | int8 | int8 - float | int8 vs TFLM (host / M7) | int4 weights | MACs | "
             "instructions (M7) | peak SRAM (M7) | arena | state | flash (M7) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        int4 = pct(r["int4"]) + (f" ({', '.join(r['int4_layers'])})" if r["int4_layers"] else "")
        delta = "-" if r["int8"] is None else f"{100 * (r['int8'] - r['float']):+.2f} points"
        lines.append(f"| {r['name']} | {pct(r['float'])} | {pct(r['int8'])} | {delta} | "
                     f"{r['int8_lsb']} / {r['m7_lsb']} LSB | {int4} | {r['macs']:,} | {r['instructions']:,} | "
                     f"{r['peak_sram']:,} B | {r['arena']:,} B | {r['state'] or 0:,} B | {r['flash']:,} B |")
    lines += [""]
    for r in results:
        lines += [f"- **{r['name']}**: {r['description']}. {r['notes']}; trained in {r['train_seconds']:.0f} s, "
                  f"{r['test']:,} test samples; the whole row took {r['seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="*", default=[r.name for r in ROWS], help="rows to run (default: all)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "models.md")
    args = ap.parse_args()
    unknown = set(args.rows) - {r.name for r in ROWS}
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; rows: {[r.name for r in ROWS]}")
    with tempfile.TemporaryDirectory() as tmp:
        results = [measure(r, Path(tmp)) for r in ROWS if r.name in args.rows]
    text = markdown(results)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
