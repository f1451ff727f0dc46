"""Post-training quantization end to end: float model -> edgec's int8 graph -> int8 .tflite; TFLite Micro runs the
written file and edgec's generated C (ASan+UBSan) must equal it to the bit; the int8 model must also still do the
float model's job (accuracy on real held-out digits, cosine on the MLPerf Tiny ResNet)."""

from pathlib import Path

import numpy as np
import pytest

from edgec import host, reference
from edgec.calib import load_calibration
from edgec.codegen import emit_c
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.ir import Graph
from edgec.memory import plan_memory
from edgec.modelbuilder import ModelBuilder
from edgec.passes import canonicalize
from edgec.quantizer import quantize_graph
from edgec.validate import split_outputs


def quantize_inputs(q: Graph, xs: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Float samples -> the int8 inputs of the quantized graph, with the quantization it records."""
    out = []
    for sample in xs:
        row = []
        for name, x in zip(q.inputs, sample):
            t = q.t(name)
            row.append(np.clip(np.round(x / t.scale) + t.zero_point, -128, 127).astype(np.int8))
        out.append(row)
    return out


def dequantize(q: Graph, ys: list[list[np.ndarray]]) -> np.ndarray:
    t = q.t(q.outputs[0])
    return np.stack([(np.asarray(s[0], np.float64).reshape(-1) - t.zero_point) * t.scale for s in ys])


def run_c(q: Graph, out: Path, xs: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """edgec's C for the quantized graph itself (what `edgec build` emits after quantizing), under ASan+UBSan."""
    g = canonicalize(q)
    sources = emit_c(g, plan_memory(g), out)
    exe = host.build(out, sources, sanitize=True)
    return split_outputs(host.run(exe, xs), g, len(xs))


def float_outputs(path: Path, xs: list[list[np.ndarray]]) -> np.ndarray:
    """The float model as LiteRT runs it, else (LiteRT is optional) as TFLM runs it."""
    ys = reference.run_litert(path, xs) if reference.litert_available() else reference.run_tflm(path, xs)[0]
    return np.stack([np.asarray(s[0], np.float64).reshape(-1) for s in ys])


def check_bit_exact(q: Graph, tmp: Path, xq: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    tfl = write_tflite(q, tmp / "model_int8.tflite")
    ours = run_c(q, tmp / "out", xq)
    theirs, _ = reference.run_tflm(tfl, xq)
    for s, (a, b) in enumerate(zip(ours, theirs)):
        d = np.abs(a[0].astype(np.int32).reshape(-1) - np.asarray(b[0]).astype(np.int32).reshape(-1))
        assert d.max() == 0, f"sample {s}: edgec's C differs from TFLM on edgec's own int8 model by {d.max()} LSB"
    return ours


# ---- a small model trained on real data: sklearn's 8x8 digits ---------------------------------------------------

def digits_mlp_tflite(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train a 64-32-10 MLP (sklearn) on 80 % of the digits and write it as a float .tflite:
    image 1x8x8x1 -> RESHAPE 1x64 -> FULLY_CONNECTED(RELU) 32 -> FULLY_CONNECTED 10 -> SOFTMAX."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, d.target, test_size=0.25, random_state=0, stratify=d.target)
    mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=400, random_state=0).fit(x_tr.reshape(-1, 64), y_tr)
    b = ModelBuilder(description="test: sklearn digits MLP, float32")
    img = b.input("image", (1, 8, 8, 1), dtype=np.float32)
    flat = b.activation("flat", (1, 64), dtype=np.float32)
    b.op("RESHAPE", [img, b.const("shape", np.array([1, 64], np.int32))], [flat], "ReshapeOptions",
         newShape=np.array([1, 64], np.int32))
    hidden = b.activation("hidden", (1, 32), dtype=np.float32)
    b.op("FULLY_CONNECTED", [flat, b.const("w1", mlp.coefs_[0].T.astype(np.float32)),
                             b.const("b1", mlp.intercepts_[0].astype(np.float32))], [hidden],
         "FullyConnectedOptions", fusedActivationFunction=1)
    logits = b.activation("logits", (1, 10), dtype=np.float32)
    b.op("FULLY_CONNECTED", [hidden, b.const("w2", mlp.coefs_[1].T.astype(np.float32)),
                             b.const("b2", mlp.intercepts_[1].astype(np.float32))], [logits],
         "FullyConnectedOptions", fusedActivationFunction=0)
    probs = b.activation("probs", (1, 10), dtype=np.float32)
    b.op("SOFTMAX", [logits], [probs], "SoftmaxOptions", beta=1.0)
    b.output(probs)
    path.write_bytes(b.build())
    return x_tr, y_tr, x_te, y_te


@pytest.mark.parametrize("method", ["minmax", "percentile", "mse", "kl"])
def test_digits_mlp_int8_is_bit_exact_with_tflm_and_keeps_its_accuracy(tmp_path, method):
    model = tmp_path / "digits_mlp.tflite"
    x_tr, _, x_te, y_te = digits_mlp_tflite(model)
    g = import_model(model)
    np.save(tmp_path / "calib.npy", x_tr[:300, :, :, None] * 16.0)  # raw pixels 0..16, preprocessing declared
    calib = load_calibration(tmp_path / "calib.npy", g, scale=1 / 16)
    q = quantize_graph(g, calib, method=method)
    xs = [[x[None, :, :, None]] for x in x_te]
    ours = check_bit_exact(q, tmp_path, quantize_inputs(q, xs))
    acc_float = np.mean(float_outputs(model, xs).argmax(1) == y_te)
    acc_int8 = np.mean(dequantize(q, ours).argmax(1) == y_te)
    assert acc_float > 0.93
    assert acc_int8 >= acc_float - 0.015, f"{method}: int8 {acc_int8:.4f} vs float {acc_float:.4f}"


# ---- a real MLPerf Tiny float model ----------------------------------------------------------------------------

def smooth_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Image-like inputs in 0..255: low-frequency noise (a random 4x4 grid upsampled) plus fine grain."""
    rng = np.random.default_rng(seed)
    _, h, w, c = shape
    coarse = rng.uniform(0, 255, size=(n, 4, 4, c))
    img = coarse.repeat(h // 4, axis=1).repeat(w // 4, axis=2) + rng.normal(0, 12, size=(n, h, w, c))
    return np.clip(img, 0, 255).astype(np.float32)


@pytest.mark.slow
def test_mlperf_resnet_float_quantized_by_edgec_is_bit_exact_and_close_to_float(shared_models, tmp_path):
    model = shared_models / "pretrainedResnet.tflite"
    g = import_model(model)
    shape = g.t(g.inputs[0]).shape
    np.save(tmp_path / "calib.npy", smooth_images(24, shape, seed=0))
    q = quantize_graph(g, load_calibration(tmp_path / "calib.npy", g), method="minmax")
    xs = [[x[None]] for x in smooth_images(6, shape, seed=1)]
    ours = check_bit_exact(q, tmp_path, quantize_inputs(q, xs))
    ref = float_outputs(model, xs)
    deq = dequantize(q, ours)
    cosine = np.sum(ref * deq, axis=1) / (np.linalg.norm(ref, axis=1) * np.linalg.norm(deq, axis=1))
    assert cosine.min() > 0.97, cosine
