"""Models trained here, converted by edgec, measured end to end: one row per model (float, int8, int4-weight and
int16-activation accuracy on held-out real data, TFLM agreement, peak SRAM and instructions on the emulated
Cortex-M7).

Each row is a `Row` in ROWS: a name, a description, and `prepare(work)`, which trains (seeded, short, one core) and
exports the model to ONNX and returns the ONNX file with its calibration and test data (float32, in the ONNX
input's layout) and labels. What every row gets, the same way:
    float   onnxruntime on the ONNX file, top-1 on the test set
    int8    edgec's quantizer (`--calib`, minmax on CALIB training samples): the generated C on the host, top-1;
            TFLM on edgec's exported model_int8.tflite on the same int8 inputs (max |diff| in LSB)
            where TFLM cannot run the exported model (it has no GELU kernel), LiteRT's reference kernels instead,
            named in the column (they round some rescales differently from TFLM, docs/numerics.md)
    int4    `--weight-bits 4`: int4 weights on every conv / depthwise / fully connected layer that has them (an
            LSTM's weights stay int8: TFLite Micro has no int4 LSTM); top-1 of the C; skipped when there is none
    int16   `--activations int16`: int16 activations on every layer with an int16 (16x8) kernel, the others stay int8
            between int8 <-> int16 QUANTIZEs (listed); top-1 of the C
    mixed   rows with `float_ops`: `--float-ops` keeps those op types float32 between the int8 layers (top-1 of the
            C), the alternative to all-int8 the row reports beside it
    M7      `edgec build --calib ... --board nucleo_f746zg`, run under QEMU on M7_SAMPLES test inputs: instructions
            per inference and peak SRAM (arena + state + stack + statics, as `edgec test --board` measures them)

Rows today:
    lstm_mnist  MNIST (mnist-10k.npz: 8,000 train, 2,000 held out), each 28x28 image read as 28 time steps of 28
                features (one row per step), nn.LSTM(28 -> 64) then a Linear over the 28 steps' outputs to 10
                classes (edgec has no ONNX Gather/Slice to pick the last step)
    vit_mnist   the same MNIST split, a tiny ViT: 7x7 patches (a stride-7 Conv) -> 16 tokens + a class token,
                2 pre-norm blocks (LayerNorm, 2-head attention, MLP with GELU), exported at opset 17. Quantized as
                every row (LayerNorm lowered to TFLite's MEAN/SQUARED_DIFFERENCE/RSQRT/MUL/ADD chain in int8, GELU
                as TFLite's int8 table), and also with `--float-ops layer_norm` (mixed precision); besides, the
                float32 C on the host against PyTorch's predictions and the float32 C on the M7 as the planner
                chooses the attention chains and forced the other way (row-wise attention ops or not)

    .venv/bin/python bench/models.py [--rows lstm_mnist vit_mnist] [--out bench/results/models.md]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import export_onnx, fit, log, sequence_classifier  # noqa: E402  (bench/_common.py: the training loop, the export)

from edgec import attention, cortexm, driver, host, reference, validate  # noqa: E402
from edgec.errors import EdgecError, ToolchainError  # noqa: E402
from edgec.schedule import reorder_for_memory  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist-10k.npz"
SEED = 0
CALIB = 500
BOARD = "nucleo_f746zg"
M7_SAMPLES = 3


@dataclass
class Prepared:
    onnx: Path
    calib: np.ndarray  # float32 samples in the ONNX input's shape, first axis = samples
    x_test: np.ndarray
    y_test: np.ndarray
    train_seconds: float
    notes: str = ""
    torch_top1: np.ndarray | None = None  # PyTorch's own predictions on x_test (the float C is compared to them)
    float_board: bool = False  # measure the float32 C on the M7 (with and without row-wise attention)
    float_ops: tuple[str, ...] = ()  # also measure the mixed-precision build keeping these op types float32


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

    net = sequence_classifier("lstm", 28, 28, hidden)  # [B, 28, 28]: 28 steps (rows) of 28 features
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    seconds = fit(net, opt, x_tr, y_tr, batch=64, epochs=epochs, seed=SEED, name="lstm_mnist")
    path = export_onnx(net, (1, 28, 28), work / "lstm_mnist.onnx", opset=14)
    return Prepared(onnx=path, calib=x_tr[:CALIB, None], x_test=x_te[:, None], y_test=y_te, train_seconds=seconds,
                    notes=f"nn.LSTM(28, {hidden}, batch_first) + Linear({28 * hidden}, 10), Adam 3e-3, batch 64, "
                          f"{epochs} epochs, seed {SEED}, 1 thread")


def vit_mnist(work: Path, epochs: int = 30, dim: int = 32, heads: int = 2) -> Prepared:
    """A tiny ViT: 7x7 patches (a stride-7 Conv) of the 28x28 image -> 16 tokens + a class token, positional
    embeddings, 2 pre-norm blocks (LayerNorm, 2-head attention, LayerNorm, MLP dim -> 2 dim -> dim with GELU),
    a final LayerNorm and a linear head on the class token (the ViT of bench/attention.py on one channel)."""
    import torch
    from torch import nn

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    d = np.load(MNIST)
    x, y = d["images"].astype(np.float32) / 255.0, d["labels"].astype(np.int64)
    x_tr, y_tr, x_te, y_te = x[:8000, None], y[:8000], x[8000:, None], y[8000:]

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.proj, self.scale = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), (dim // heads) ** -0.5

        def forward(self, t):
            b, n, c = t.shape
            qkv = self.qkv(t).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            a = ((qkv[0] @ qkv[1].transpose(-2, -1)) * self.scale).softmax(-1)
            return self.proj((a @ qkv[2]).transpose(1, 2).reshape(b, n, c))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.attn, self.n2 = nn.LayerNorm(dim), Attention(), nn.LayerNorm(dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

        def forward(self, t):
            t = t + self.attn(self.n1(t))
            return t + self.mlp(self.n2(t))

    class ViT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Conv2d(1, dim, 7, 7)
            self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
            self.pos = nn.Parameter(torch.randn(1, 17, dim) * 0.02)
            self.blocks = nn.Sequential(Block(), Block())
            self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

        def forward(self, img):  # [B, 1, 28, 28]
            t = self.embed(img).flatten(2).transpose(1, 2)  # [B, 16, dim]
            t = torch.cat([self.cls.expand(t.shape[0], -1, -1), t], 1) + self.pos
            return self.head(self.norm(self.blocks(t))[:, 0])

    net = ViT()
    steps = epochs * ((len(x_tr) + 63) // 64)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps)
    seconds = fit(net, opt, x_tr, y_tr, batch=64, epochs=epochs, seed=SEED, name="vit_mnist", sched=sched)
    with torch.no_grad():
        torch_top1 = net(torch.from_numpy(x_te)).argmax(1).numpy()
    path = export_onnx(net, (1, 1, 28, 28), work / "vit_mnist.onnx", opset=17)
    return Prepared(onnx=path, calib=x_tr[:CALIB, None], x_test=x_te[:, None], y_test=y_te, train_seconds=seconds,
                    torch_top1=torch_top1, float_board=True, float_ops=("layer_norm",),
                    notes=f"Conv2d(1, {dim}, 7, stride 7) -> 16 tokens + class token, 2 pre-norm blocks "
                          f"({heads} heads, dim {dim}, MLP {2 * dim}, GELU), LayerNorm + Linear({dim}, 10) on the "
                          f"class token; ONNX opset 17; AdamW 3e-3 one-cycle, batch 64, {epochs} epochs, seed {SEED}, "
                          "1 thread")


ROWS = [
    Row("lstm_mnist", "MNIST as 28 steps of 28 pixels: LSTM(64) + FC over the sequence", lstm_mnist),
    Row("vit_mnist", "MNIST as 16 patches of 7x7: a 2-block ViT (LayerNorm, 2-head attention, GELU MLP)",
        vit_mnist),
]


# ---- measurements --------------------------------------------------------------------------------------------------

def ort_top1(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.array([int(np.argmax(sess.run(None, {name: xi})[0])) for xi in x])


def quantize_inputs(g, x: np.ndarray) -> list[list[np.ndarray]]:
    """Float samples on the model input's integer grid (int8, or int16 for a 16x8 input)."""
    t_in = g.t(g.inputs[0])
    info = np.iinfo(t_in.dtype)
    return [[np.clip(np.round(xi.reshape(t_in.shape) / t_in.scale) + t_in.zero_point, info.min, info.max)
             .astype(t_in.dtype)] for xi in x]


def against_reference(model: Path, g, xq: list, ours: list) -> tuple[int, str]:
    """(max |C - reference| in LSB, the reference's name): TFLM on the exported .tflite (reset before each sample
    when the model restarts its recurrent state on every run, as an ONNX LSTM does), or LiteRT's reference
    kernels where TFLM refuses the model (no GELU kernel)."""
    try:
        ref, _ = reference.run_tflm(model, xq, reset_each=reference.restarts_each_run(g))
        name = "TFLM"
    except ToolchainError:
        if not reference.litert_available():
            raise
        ref, name = reference.run_litert(model, xq), "LiteRT"
    lsb = max(int(np.abs(a[0].astype(np.int32).reshape(-1) - np.asarray(t[0]).astype(np.int32).reshape(-1)).max())
              for a, t in zip(ours, ref))
    return lsb, name


def quantized(path: Path, calib_npz: Path, x: np.ndarray, work: Path, bits: int, activations: str = "int8",
              float_ops: tuple[str, ...] = ()) -> dict:
    """edgec's int8 (bits 8), int4-weight or int16-activation model as `edgec build --calib` makes it: top-1 of its
    C on the host, and the reference on the model_int8.tflite the build exported (`against_reference`)."""
    b = driver.build(path, work / f"int{bits}_{activations}{'_mixed' if float_ops else ''}",
                     conversion=driver.Conversion(calib=calib_npz, calib_limit=CALIB, weight_bits=bits,
                                                  activations=activations, float_ops=float_ops))
    g = b.graph
    int4 = [op.name for op in g.ops if any(g.t(i).dtype == "int4" for i in op.inputs if i is not None)]
    if bits == 4 and not int4:
        return dict(top1=None, lsb=None, int4=[])
    xq = quantize_inputs(g, x)
    ours = validate.split_outputs(host.run(host.build(b.out, b.sources), xq), g, len(xq))
    lsb, ref = against_reference(b.out / "model_int8.tflite", g, xq, ours)
    narrow = sorted({op.type for op in g.ops if op.type not in ("quantize", "dequantize")
                     and g.t(op.outputs[0]).dtype == "int8"}) if activations == "int16" else []
    return dict(top1=np.array([int(np.argmax(s[0])) for s in ours]), lsb=lsb, ref=ref, int4=int4, int8_ops=narrow,
                arena=b.report["arena_bytes"])


def m7(path: Path, calib_npz: Path, x: np.ndarray, work: Path) -> dict:
    b = driver.build(path, work / "m7", board=BOARD, conversion=driver.Conversion(calib=calib_npz,
                                                                                  calib_limit=CALIB))
    xq = quantize_inputs(b.graph, x[:M7_SAMPLES])
    fw = cortexm.measure(b.out, b.sources, BOARD, xq, graph=b.graph, per_layer=False)
    # the measured firmware must compute the model: its outputs against TFLM (or LiteRT) on the build's own .tflite
    ours = validate.split_outputs(fw["outputs"], b.graph, len(xq))
    m7_lsb, _ = against_reference(b.out / "model_int8.tflite", b.graph, xq, ours)
    return dict(m7_lsb=m7_lsb, instructions=int(fw["instructions_per_inference"]), peak_sram=fw["peak_sram_bytes"],
                flash=fw["sizes"].get("flash_bytes") or b.report.get("flash_bytes"), macs=b.report["macs"],
                arena=b.report["arena_bytes"], state=b.report.get("state_bytes"))


def float_c(path: Path, x: np.ndarray, work: Path) -> np.ndarray:
    """The logits of `edgec build --dtype float32`'s C on the host, one row per sample."""
    b = driver.build(path, work / "float32", conversion=driver.Conversion(dtype="float32"))
    t_in = b.graph.t(b.graph.inputs[0])  # one channel: NCHW and NHWC hold the same bytes
    xs = [[xi.reshape(t_in.shape).astype(np.float32)] for xi in x]
    outs = validate.split_outputs(host.run(host.build(b.out, b.sources), xs), b.graph, len(xs))
    return np.stack([np.asarray(o[0], dtype=np.float32).reshape(-1) for o in outs])


def m7_float(path: Path, x: np.ndarray, work: Path, mode: str) -> dict:
    """`edgec build --dtype float32 --board nucleo_f746zg` on M7_SAMPLES test images under QEMU, the attention
    chains as the planner chooses (mode "auto") or forced fused into row-wise attention ops / left as chains."""
    original = driver.choose_attention
    if mode == "fused":
        driver.choose_attention = lambda g: reorder_for_memory(attention.fuse_attention(g)[0])  # type: ignore
    elif mode == "chain":
        driver.choose_attention = lambda g: g  # type: ignore
    try:
        b = driver.build(path, work / f"m7_f32_{mode}", board=BOARD, conversion=driver.Conversion(dtype="float32"))
    finally:
        driver.choose_attention = original  # type: ignore
    t_in = b.graph.t(b.graph.inputs[0])
    xs = [[xi.reshape(t_in.shape).astype(np.float32)] for xi in x[:M7_SAMPLES]]
    fw = cortexm.measure(b.out, b.sources, BOARD, xs, graph=b.graph, per_layer=False)
    ours = np.stack([np.asarray(o[0], np.float32).reshape(-1)
                     for o in validate.split_outputs(fw["outputs"], b.graph, len(xs))])
    ref = ort_logits(path, x[:M7_SAMPLES])
    fused = sum(op.type == "attention" for op in b.graph.ops)
    return dict(mode=mode, fused=fused, choice=b.graph.meta.get("attention"),
                rel=float(np.abs(ours - ref).max() / (ref.max() - ref.min())),
                instructions=int(fw["instructions_per_inference"]), peak_sram=fw["peak_sram_bytes"],
                flash=fw["sizes"].get("flash_bytes") or b.report.get("flash_bytes"), macs=b.report["macs"],
                arena=b.report["arena_bytes"], state=b.report.get("state_bytes"))


def ort_logits(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return np.stack([sess.run(None, {name: xi})[0].reshape(-1) for xi in x])


def refusal(e: EdgecError) -> str:
    """An edgec refusal in one line: its first line and the nodes it names."""
    lines = str(e).splitlines()
    nodes = [ln.strip()[2:].split(":")[0] for ln in lines if ln.strip().startswith("- ")]
    return lines[0] + (f" {len(nodes)} nodes: " + "; ".join(nodes) if nodes else "")


def measure(row: Row, work: Path) -> dict:
    t0 = time.time()
    log(f"{row.name}: train and export")
    p = row.prepare(work)
    calib_npz = work / f"{row.name}_calib.npz"
    np.savez(calib_npz, p.calib)
    r: dict = dict(name=row.name, description=row.description, notes=p.notes, train_seconds=p.train_seconds,
                   test=len(p.y_test), refused={}, boards=[])
    log(f"{row.name}: float (onnxruntime)")
    r["float"] = float(np.mean(ort_top1(p.onnx, p.x_test) == p.y_test))
    if p.torch_top1 is not None:
        log(f"{row.name}: float32 C on the host")
        top1 = float_c(p.onnx, p.x_test, work).argmax(1)
        r["torch"] = float(np.mean(p.torch_top1 == p.y_test))
        r["float_c"] = float(np.mean(top1 == p.y_test))
        r["float_c_vs_torch"] = int(np.sum(top1 != p.torch_top1))
    variants = [("int8", 8, "int8", ()), ("int4 weights", 4, "int8", ()), ("int16 activations", 8, "int16", ())]
    if p.float_ops:
        variants.append(("mixed", 8, "int8", p.float_ops))
    for key, bits, acts, float_ops in variants:
        log(f"{row.name}: {key}{' (--float-ops ' + ','.join(float_ops) + ')' if float_ops else ''}")
        try:
            qr = quantized(p.onnx, calib_npz, p.x_test, work, bits, acts, float_ops)
        except EdgecError as e:  # a refusal (unsupported op, bad combination), recorded as edgec words it
            r["refused"][key] = refusal(e)
            qr = dict(top1=None, lsb=None, int4=[])
        r[key] = None if qr["top1"] is None else float(np.mean(qr["top1"] == p.y_test))
        r[f"{key}_result"] = {k: v for k, v in qr.items() if k != "top1"}
    r["int8_lsb"], r["int8_ref"] = r["int8_result"].get("lsb"), r["int8_result"].get("ref")
    r["mixed_float_ops"] = p.float_ops
    log(f"{row.name}: emulated {BOARD}")
    if "int8" not in r["refused"]:
        r.update(m7(p.onnx, calib_npz, p.x_test, work))
    if p.float_board:
        auto = m7_float(p.onnx, p.x_test, work, "auto")
        r["boards"] = [auto, m7_float(p.onnx, p.x_test, work, "chain" if auto["fused"] else "fused")]
        if "int8" in r["refused"]:
            r.update({k: auto[k] for k in ("instructions", "peak_sram", "flash", "macs", "arena", "state")})
            r["m7_lsb"] = None
    r["seconds"] = time.time() - t0
    return r


def pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f} %"


def markdown(results: list[dict]) -> str:
    lines = ["# Models trained here, end to end", "",
             "Generated by `bench/models.py` (see its docstring for the method); every figure is from the run "
             "below. Accuracy is top-1 on the held-out test set; float is onnxruntime on the exported ONNX; int8, "
             f"int4-weight and int16-activation are edgec's own quantization (minmax, {CALIB} calibration samples) run "
             "as generated C on the host; 'vs TFLM' is the largest difference between that C and TFLite Micro "
             "running edgec's exported .tflite on the same int8 inputs (on the host over the whole test set; on the "
             "M7 over the inferences measured), or LiteRT's reference kernels where TFLM cannot run the model (said "
             f"in the cell). Instructions and peak SRAM: the int8 C on the emulated {BOARD} (Cortex-M7, QEMU with "
             f"instruction counting, mean of {M7_SAMPLES} inferences), and the float32 C where the row measures it "
             "('M7 build'); peak SRAM = arena + recurrent state + stack + statics. Target: int8 within 1 point of "
             "float.", "",
             "| model | float | int8 | int8 - float | int8 vs TFLM (host / M7) | int4 weights | int16 activations | "
             "MACs | M7 build | instructions (M7) | peak SRAM (M7) | arena | state | flash (M7) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|"]

    def m7_label(b: dict | None) -> str:
        if b is None:
            return "int8"
        how = "planner's choice" if b["mode"] == "auto" else "forced"
        return f"float32, attention {'fused (row-wise)' if b['fused'] else 'chains'} ({how})"

    def cell(r: dict, key: str) -> str:
        return "not supported" if key in r["refused"] else pct(r[key])

    for r in results:
        int4_layers = r["int4 weights_result"].get("int4") or []
        named = ", ".join(int4_layers) if len(int4_layers) <= 3 else f"{len(int4_layers)} layers: every conv and FC"
        int4 = cell(r, "int4 weights") + (f" ({named})" if int4_layers and "int4 weights" not in r["refused"] else "")
        delta = "-" if r["int8"] is None else f"{100 * (r['int8'] - r['float']):+.2f} points"
        ref = "" if r.get("int8_ref") in (None, "TFLM") else f" (vs {r['int8_ref']})"
        lsb = "-" if r["int8_lsb"] is None else f"{r['int8_lsb']} / {r['m7_lsb']} LSB{ref}"
        boards: list[dict | None] = ([None] if "int8" not in r["refused"] else []) + list(r["boards"])
        for k, b in enumerate(boards):
            m = b or r
            head = (f"| {r['name']} | {pct(r['float'])} | {cell(r, 'int8')} | {delta} | {lsb} | {int4} | "
                    f"{cell(r, 'int16 activations')} | {r['macs']:,} | "
                    if k == 0 else f"| {r['name']} (same model) | | | | | | | | ")
            lines.append(f"{head}{m7_label(b)} | {m['instructions']:,} | {m['peak_sram']:,} B | "
                         f"{m['arena']:,} B | {m['state'] or 0:,} B | {m['flash']:,} B |")
    lines += [""]
    for r in results:
        lines += [f"- **{r['name']}**: {r['description']}. {r['notes']}; trained in {r['train_seconds']:.0f} s, "
                  f"{r['test']:,} test samples; the whole row took {r['seconds']:.0f} s."]
        if "float_c" in r:
            lines += [f"  - float32 C (`--dtype float32`, host): {pct(r['float_c'])} top-1 against PyTorch's "
                      f"{pct(r['torch'])}; {r['float_c_vs_torch']} of {r['test']:,} predictions differ from "
                      "PyTorch's."]
        if r.get("int8_ref") == "LiteRT":
            lines += ["  - int8 vs reference: TFLite Micro has no GELU kernel (its interpreter refuses the exported "
                      "model), so the C is compared with LiteRT's reference kernels (BUILTIN_REF) on the same "
                      ".tflite; their FULLY_CONNECTED rescales with a single rounding where TFLM rounds twice "
                      "(docs/numerics.md), which alone moves outputs by an LSB or more; every op of this model "
                      "is 0 LSB against TFLM in the one-op and transformer-block tests, and int8 GELU 0 LSB against "
                      "LiteRT (tests/host/test_op_gelu.py, test_transformer_int8.py)."]
        wide = r["int16 activations_result"]
        if wide.get("lsb") is not None:  # every row that built an int16 model says how it compares
            narrow = (f"the ops with no int16 (16x8) kernel in edgec stay int8 between QUANTIZEs: "
                      f"{', '.join(wide['int8_ops'])}" if wide.get("int8_ops") else "every layer int16")
            lines += [f"  - int16 activations: {pct(r['int16 activations'])}; arena {wide['arena']:,} B; {narrow}; "
                      f"vs {wide['ref']}: {wide['lsb']} LSB (of int16)"
                      + ("; NOT bit-exact with TFLM (an open bug: see the commit that produced this file)"
                         if wide["ref"] == "TFLM" and wide["lsb"] else "") + "."]
        if r.get("mixed_float_ops"):
            mixed = r["mixed_result"]
            what = ",".join(r["mixed_float_ops"])
            if "mixed" in r["refused"]:
                lines += [f"  - mixed precision (`--float-ops {what}`): refused: \"{r['refused']['mixed']}\""]
            else:
                lines += [f"  - mixed precision (`--float-ops {what}`: those ops float32 between DEQUANTIZE and "
                          f"QUANTIZE): {pct(r['mixed'])} ({100 * (r['mixed'] - r['float']):+.2f} points), arena "
                          f"{mixed['arena']:,} B against {r['int8_result']['arena']:,} B all int8; vs "
                          f"{mixed['ref']}: {mixed['lsb']} LSB."]
        for b in r["boards"]:
            choice = b["choice"] or {}
            lines += [f"  - M7 {m7_label(b)}: {b['fused']} row-wise attention ops, max error against "
                      f"onnxruntime {b['rel']:.2e} of the logits' range"
                      + (f"; the planner's arenas: {choice['arena_unfused']:,} B as chains, "
                         f"{choice['arena_fused']:,} B fused (it fuses only when that is strictly smaller)"
                         if b["mode"] == "auto" and choice else "") + "."]
        seen: dict[str, str] = {}
        for what, why in r["refused"].items():
            lines += [f"  - {what}: refused by edgec: " + (f"the same message as {seen[why]}" if why in seen
                                                             else f"\"{why}\"")]
            seen.setdefault(why, what)
        if r["int8"] is not None:
            met = abs(r["int8"] - r["float"]) <= 0.01
            lines += [f"  - target (int8 within 1 point of float): {'met' if met else 'NOT met'} "
                      f"({100 * (r['int8'] - r['float']):+.2f} points)."]
        else:
            lines += ["  - target (int8 within 1 point of float): not met: there is no int8 model to measure."]
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
