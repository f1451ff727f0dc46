"""In-place pointwise convolution (1x1, stride 1): the generated C equals TFLite Micro at 0 LSB.

Forced plans (`test_inplace.run_c_and_tflm`: in_place=True, ASan+UBSan) exercise both directions of the kernel
(forward for out_c <= in_c, backward for out_c > in_c), with and without bias; the MLPerf models go through the
default build (`driver.compile_model`), where the in-place plan is kept only when the arena strictly drops.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact
from test_inplace import run_c_and_tflm

from edgec import driver, host, reference, validate
from edgec.codegen import emit_c
from edgec.data import random_inputs

CALL = "edgec_conv2d_s8_pointwise_inplace("
ACT = {"NONE": 0, "RELU": 1, "RELU6": 3}
PAD = {"SAME": 0, "VALID": 1}


def add_conv(b: ModelBuilder, rng, name: str, x: int, shape_in: tuple, cout: int, k: int = 1, stride: int = 1,
             bias: bool = True, act: str = "RELU6", padding: str = "SAME") -> tuple[int, tuple]:
    """One CONV_2D with per-channel int8 weights (and an optional int32 bias): returns (output, its shape)."""
    n, h, w, cin = shape_in
    w_scale = rng.uniform(0.002, 0.02, size=cout).astype(np.float32)
    wt = b.const(f"{name}_w", rng.integers(-127, 128, size=(cout, k, k, cin), dtype=np.int8), scale=w_scale,
                 zero_point=np.zeros(cout, np.int64), axis=0)
    bt = -1
    if bias:
        bt = b.const(f"{name}_b", rng.integers(-3000, 3000, size=cout).astype(np.int32),
                     scale=(0.03 * w_scale).astype(np.float32), zero_point=np.zeros(cout, np.int64))
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-w // stride)
    else:
        oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    shape = (n, oh, ow, cout)
    y = b.activation(name, shape, scale=float(rng.uniform(0.03, 0.08)), zero_point=int(rng.integers(-20, 20)))
    b.op("CONV_2D", [x, wt, bt], [y], "Conv2DOptions", padding=PAD[padding], strideH=stride, strideW=stride,
         dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=ACT[act])
    return y, shape


def pointwise_model(rng, h: int, w: int, cin: int, cout: int, bias: bool, act: str) -> bytes:
    b = ModelBuilder()
    x = b.input("x", (1, h, w, cin), scale=0.03, zero_point=int(rng.integers(-20, 20)))
    y, _ = add_conv(b, rng, "y", x, (1, h, w, cin), cout, bias=bias, act=act)
    b.output(y)
    return b.build()


def emitted(tmp: Path) -> str:
    return (tmp / "out" / "model.c").read_text()


# ---- one op: shrinking, equal and growing channels, with and without bias ----------------------------------------

@pytest.mark.parametrize("h,w,cin,cout,bias,act", [
    (7, 5, 16, 8, True, "RELU6"),    # out_c < in_c: forward
    (6, 6, 8, 8, False, "RELU6"),    # out_c = in_c: forward, no bias
    (5, 7, 8, 20, True, "NONE"),     # out_c > in_c: backward
    (4, 9, 3, 16, False, "RELU"),    # out_c > in_c, odd in_c: backward, no bias
    (9, 4, 24, 5, False, "NONE"),    # out_c < in_c, odd out_c
])
def test_pointwise_in_place_bit_exact(tmp_path, h, w, cin, cout, bias, act):
    rng = np.random.default_rng(h * 1000 + cin * 10 + cout)
    path = tmp_path / "model.tflite"
    path.write_bytes(pointwise_model(rng, h, w, cin, cout, bias, act))
    g, plan, results = run_c_and_tflm(path, tmp_path, samples=4)
    op = g.ops[0]
    assert plan.is_in_place(op.name), "a one-op pointwise conv (its input dies there) must run in place"
    assert plan.owner[op.inputs[0]] == plan.owner[op.outputs[0]]  # type: ignore[index]
    assert emitted(tmp_path).count(CALL) == 1
    # one buffer of the larger tensor plus one input pixel of scratch, never input + output
    assert plan.lower_bound_bytes == h * w * max(cin, cout) + cin
    scratch = next(b for b in plan.buffers if b.name.endswith("#scratch"))
    assert scratch.size == cin
    assert_bit_exact(results)


# ---- a chain: pointwise convs that grow, shrink and keep the channels, then a 3x3 and a strided 1x1 ------------

def chain_model(rng) -> bytes:
    """A record has one size (the largest tensor it holds) for its whole life: the growing conv comes first, so
    its record lives no longer than it would out of place, and the 3x3 conv is narrow, so the shrinking chain's
    large record does not raise the peak there. Elsewhere the planner drops such an in-place op (the larger size
    would reach back to the input's producer, or forward to the chain's end) where the live bytes rise."""
    b = ModelBuilder()
    x = b.input("x", (1, 10, 9, 8), scale=0.03, zero_point=-7)
    t, s = add_conv(b, rng, "pw_grow", x, (1, 10, 9, 8), 24, act="RELU")
    t, s = add_conv(b, rng, "pw_shrink", t, s, 12, bias=False, act="NONE")
    t, s = add_conv(b, rng, "pw_keep", t, s, 12, act="RELU6")
    t, s = add_conv(b, rng, "conv3x3", t, s, 4, k=3, stride=1)                      # not pointwise: out of place
    t, s = add_conv(b, rng, "pw_s2", t, s, 12, stride=2, act="RELU6")               # 1x1 stride 2: out of place
    b.output(t)
    return b.build()


def test_pointwise_chain_bit_exact(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(chain_model(np.random.default_rng(5)))
    g, plan, results = run_c_and_tflm(path, tmp_path, samples=4)
    by_out = {op.outputs[0]: op.name for op in g.ops}
    for name in ("pw_shrink", "pw_keep", "pw_grow"):
        assert plan.is_in_place(by_out[name]), name
    for name in ("conv3x3", "pw_s2"):
        assert not plan.is_in_place(by_out[name]), name
    assert emitted(tmp_path).count(CALL) == 3
    assert_bit_exact(results)


def test_not_pointwise_is_never_in_place(tmp_path):
    """3x3 and 1x1 stride-2 convolutions read other pixels than their own: the kernel must not claim them."""
    from edgec.importers import import_model
    from edgec.ops import REGISTRY
    from edgec.passes import canonicalize
    from edgec.verifier import verify

    path = tmp_path / "model.tflite"
    path.write_bytes(chain_model(np.random.default_rng(6)))
    g = verify(canonicalize(verify(import_model(path))))
    claims = {op.outputs[0]: REGISTRY[op.type].in_place_inputs(op, g) for op in g.ops}
    assert claims == {"pw_grow": (0,), "pw_shrink": (0,), "pw_keep": (0,), "conv3x3": (), "pw_s2": ()}


# ---- the MLPerf Tiny models through the default build: 0 LSB against TFLM ---------------------------------------

MLPERF = {  # model: the default arena measured with the in-place pointwise conv (docs/memory.md)
    "kws_ref_model.tflite": 8_496,
    "vww_96_int8.tflite": 55_296,
    "pretrainedResnet_quant.tflite": 49_152,
    "ad01_int8.tflite": 768,
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MLPERF))
def test_mlperf_default_build_bit_exact(shared_models, tmp_path, name):
    model = shared_models / name
    c = driver.compile_model(model, kernels="portable")  # the portable in-place kernel (host builds pick x86 ones)
    sources = emit_c(c.graph, c.plan, tmp_path / "out")
    xs = random_inputs(c.graph, 3, 4)
    exe = host.build(tmp_path / "out", sources, sanitize=True)
    ours = validate.split_outputs(host.run(exe, xs), c.graph, len(xs))
    tflm, _ = reference.run_tflm(model, xs)
    for a_sample, b_sample in zip(ours, tflm):
        for a, b in zip(a_sample, b_sample):
            assert np.array_equal(np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)), name
    assert c.plan.arena_bytes <= MLPERF[name]
    pointwise_in_place = [op for op in c.graph.ops if op.type == "conv2d" and c.plan.is_in_place(op.name)]
    assert emitted(tmp_path).count(CALL) == len(pointwise_in_place)
    if name == "kws_ref_model.tflite":  # its peak was every 1x1 conv (8,000 B in + 8,000 B out)
        assert len(pointwise_in_place) == 4
