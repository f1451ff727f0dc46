"""QDQ ONNX models (onnxruntime's quantize_static) imported as they are: edgec's generated C (ASan/UBSan) and its
numpy references agree bit for bit. Conv, depthwise Conv and Gemm rescale like onnxruntime (float32 scale, ties to
even, emulated in integers: docs/onnx.md) and match it bit for bit but for exact ties of the input QuantizeLinear;
GlobalAveragePool keeps TFLite's rounding, within 1 LSB of onnxruntime, and through a five-layer net that 1 LSB
can become 2 at the output, on few outputs."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from onnx_models import one_op, quantize_qdq, small_cnn

from edgec import host, reference, validate
from edgec.codegen import emit_c
from edgec.compare import lsb_keys
from edgec.fixedpoint import float32_parts, onnxruntime_scale, requantize_float32
from edgec.host import find_cc
from edgec.importers import import_model
from edgec.memory import plan_memory
from edgec.passes import canonicalize
from edgec.verifier import verify


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
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
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
    if kind in ("conv", "depthwise", "gemm"):  # onnxruntime's rescale: equal but where an input lands on a tie
        rescaled = [op for op in g.ops if op.type in ("conv2d", "depthwise_conv2d", "fully_connected")]
        assert rescaled and all(op.attrs.get("rounding") == "onnxruntime" for op in rescaled)
        # measured (64 samples): conv and gemm 0 outputs differ; depthwise 1 of 51200, from one input value that
        # is an exact .5 tie of QuantizeLinear (edgec's quantize rounds it away from zero, onnxruntime to even)
        assert np.sum(d > 0) <= 2, f"{kind}: {np.sum(d > 0)} outputs differ from onnxruntime"


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
    # measured (100 samples, int8 and uint8): 0 outputs differ, with onnxruntime's rescale in the convs, the Gemm and
    # the GlobalAveragePool (16.1 % differed, 0.1 % by 2 LSB, with TFLite's); 1 LSB left for exact input ties
    assert d.max() <= 1, f"max {d.max()} LSB from onnxruntime"
    assert np.mean(d > 0) < 0.01, f"{np.mean(d > 0):.2%} of outputs differ"


def test_qdq_softmax_runs_float_between_quantize_and_dequantize(tmp_path):
    """onnxruntime quantizes a softmax output with scale 1/255; TFLite's int8 softmax needs 1/256: edgec keeps that
    softmax float (dequantize -> softmax -> quantize) and the outputs still agree within 1 LSB."""
    path = quantize_qdq(small_cnn(softmax=True), tmp_path / "cnn_sm_qdq.onnx")
    g, ours_c, ours_np, ort = run_both(path, tmp_path, samples=12)
    soft = next(op for op in g.ops if op.type == "softmax")
    assert g.t(soft.outputs[0]).dtype == "float32"
    d = lsb(ours_c, ort, 1.0 / 255)
    assert d.max() <= 2, f"max {d.max()} LSB from onnxruntime"


C_PROGRAM = r"""
#include <stdio.h>
#include <stdint.h>
#include "edgec_fixedpoint.h"

/* stdin: records of int32 (acc, m, e); stdout: int32 edgec_requantize(acc, m, e, 1) */
int main(void) {
    int32_t in[3];
    while (fread(in, sizeof in, 1, stdin) == 1) {
        const int32_t out = edgec_requantize(in[0], in[1], in[2], 1);
        fwrite(&out, sizeof out, 1, stdout);
    }
    return 0;
}
"""


def test_float32_requantization_c_matches_numpy(tmp_path):
    """runtime/edgec_fixedpoint.h's edgec_requantize_f32 (built with -fsanitize=undefined) against the numpy twin
    and numpy's own float32 maths, over the whole int32 range (float32(acc) rounds there) and scales from 2^-40
    to 2^30 (e >= 0 saturates)."""
    (tmp_path / "rq.c").write_text(C_PROGRAM)
    with resources.as_file(resources.files("edgec.runtime") / "edgec_fixedpoint.h") as header:
        include = str(Path(header).parent)
    exe = tmp_path / "rq"
    subprocess.run([find_cc(), "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
                    "-fno-sanitize-recover=all", "-I", include, "-o", str(exe), str(tmp_path / "rq.c")], check=True)
    n = 60_000
    rng = np.random.default_rng(7)
    acc = rng.integers(-2**31, 2**31, n)
    acc[n // 3:] = rng.integers(-5000, 5000, n - n // 3)
    acc[:8] = [-2**31, 2**31 - 1, -1, 0, 1, 2**24 + 1, 2**24 + 3, -(2**25 + 2)]
    scale = np.float32(2.0) ** rng.integers(-40, 31, n).astype(np.float32) * rng.uniform(1, 2, n).astype(np.float32)
    scale[n // 2:] = np.float32(0.5)  # exact ties on every odd accumulator
    m, e = float32_parts(scale)
    payload = np.stack([acc, m, e], axis=1).astype("<i4").tobytes()
    out = np.frombuffer(subprocess.run([str(exe)], input=payload, capture_output=True, check=True).stdout, "<i4")
    want = requantize_float32(acc, m, e)
    with np.errstate(over="ignore"):
        direct = np.clip(np.rint(acc.astype(np.float32) * scale).astype(np.float64), -(1 << 24), 1 << 24)
    assert np.array_equal(out, want), f"C and numpy differ on {np.sum(out != want)} of {n}"
    assert np.array_equal(want, direct), f"integer emulation and float32 differ on {np.sum(want != direct)} of {n}"


def test_float32_requantization_matches_numpy_float32():
    """edgec's integer emulation of onnxruntime's rescale (the C kernels' twin) against numpy's own float32 maths:
    float32(acc), times the float32 scale, rounded half to even; full int32 range and small accumulators, ties."""
    rng = np.random.default_rng(0)
    for _ in range(20):
        scale = onnxruntime_scale(rng.uniform(1e-3, 0.1), rng.uniform(1e-4, 1e-2, 8), rng.uniform(1e-3, 0.2))
        m, e = float32_parts(scale)
        assert np.array_equal(m.astype(np.float64) * 2.0 ** e, scale.astype(np.float64))
        acc = np.concatenate([rng.integers(-2**31, 2**31, 8000), rng.integers(-3000, 3000, 8000)]).reshape(-1, 8)
        expected = np.clip(np.rint(acc.astype(np.float32) * scale), -(1 << 24), 1 << 24)  # rint: ties to even
        assert np.array_equal(requantize_float32(acc, m, e), expected)
    m, e = float32_parts(np.float32(0.5))
    assert requantize_float32(np.arange(-5, 6), m, e).tolist() == [-2, -2, -2, -1, 0, 0, 0, 1, 2, 2, 2]
