"""In-place operators and memory-aware op order, on generated C: still bit-exact with TFLite Micro.

The pipeline is spelled out here (import, canonicalize, reorder_for_memory, plan_memory with in-place ops, emit,
gcc with ASan+UBSan) so the test pins exactly what it claims: the plan really is in place (asserted on the plan
and on the emitted call), and the C equals TFLM at 0 LSB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact
from test_op_conv import conv_model

from edgec import host, reference, validate
from edgec.codegen import emit_c
from edgec.data import random_inputs
from edgec.importers import import_model
from edgec.memory import plan_memory
from edgec.passes import canonicalize
from edgec.schedule import reorder_for_memory
from edgec.verifier import verify


def compile_in_place(model: Path, out: Path):
    g = verify(canonicalize(verify(import_model(model))))
    g = verify(reorder_for_memory(g, in_place=True))
    plan = plan_memory(g, in_place=True)  # forced on, so every in-place kernel is exercised
    sources = emit_c(g, plan, out)
    return g, plan, sources


def run_c_and_tflm(model: Path, tmp: Path, samples: int, seed: int = 0):
    g, plan, sources = compile_in_place(model, tmp / "out")
    xs = random_inputs(g, samples, seed)
    exe = host.build(tmp / "out", sources, sanitize=True)
    ours = validate.split_outputs(host.run(exe, xs), g, len(xs))
    tflm, _ = reference.run_tflm(model, xs)
    return g, plan, dict(c=ours, tflm=tflm, numpy=[[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs])


# ---- one-op in-place depthwise: every geometry the kernel claims -------------------------------------------------

@pytest.mark.parametrize("h,w,c,k,stride,padding", [
    (9, 7, 8, (3, 3), 1, "SAME"),
    (10, 10, 8, (3, 3), 2, "SAME"),
    (11, 9, 16, (5, 5), 1, "VALID"),
    (12, 11, 16, (5, 5), 2, "VALID"),  # in place only pays when the output outweighs a channel plane
    (13, 13, 8, (7, 7), 1, "SAME"),
    (14, 12, 12, (7, 7), 2, "SAME"),
    (8, 9, 8, (3, 3), 2, "VALID"),
])
def test_depthwise_in_place_bit_exact(tmp_path, h, w, c, k, stride, padding):
    rng = np.random.default_rng(h * 100 + k[0] * 10 + stride)
    path = tmp_path / "model.tflite"
    path.write_bytes(conv_model(rng, h, w, c, 0, k, stride, 1, padding, "RELU6", depthwise=True))
    g, plan, results = run_c_and_tflm(path, tmp_path, samples=4)
    op = g.ops[0]
    assert plan.is_in_place(op.name), "the one-op depthwise (input dies there) must run in place"
    assert plan.owner[op.inputs[0]] == plan.owner[op.outputs[0]]  # type: ignore[index]
    assert plan.scratch_offset(op.name) >= 0
    assert "edgec_depthwise_conv2d_s8_inplace(" in (tmp_path / "out" / "model.c").read_text()
    # one buffer of the input's size plus one channel plane, never input + output
    x = g.t(op.inputs[0])
    assert plan.lower_bound_bytes == x.nbytes + h * w
    assert_bit_exact(results)


def test_depthwise_multiplier_2_is_not_in_place(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "model.tflite"
    path.write_bytes(conv_model(rng, 8, 8, 4, 0, (3, 3), 1, 1, "SAME", "NONE", depthwise=True, mult=2))
    g, plan, results = run_c_and_tflm(path, tmp_path, samples=2)
    assert not plan.in_place
    assert "edgec_depthwise_conv2d_s8_inplace(" not in (tmp_path / "out" / "model.c").read_text()
    assert_bit_exact(results)


# ---- elementwise chains: relu -> add (broadcast second input) -> logistic, all in one buffer --------------------

def elementwise_model(rng) -> bytes:
    b = ModelBuilder()
    x = b.input("x", (1, 6, 5, 8), scale=0.05, zero_point=3)
    r = b.activation("r", (1, 6, 5, 8), scale=0.05, zero_point=-128)
    b.op("RELU", [x], [r])
    bias = b.const("bias", rng.integers(-128, 128, size=(1, 1, 1, 8), dtype=np.int8), scale=0.04, zero_point=1)
    a = b.activation("a", (1, 6, 5, 8), scale=0.08, zero_point=-5)
    b.op("ADD", [bias, r], [a], "AddOptions", fusedActivationFunction=0)
    m = b.activation("m", (1, 6, 5, 8), scale=0.1, zero_point=2)
    b.op("MUL", [a, bias], [m], "MulOptions", fusedActivationFunction=0)
    y = b.activation("y", (1, 6, 5, 8), scale=1.0 / 256, zero_point=-128)
    b.op("LOGISTIC", [m], [y])
    b.output(y)
    return b.build()


def test_elementwise_chain_in_one_buffer(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(elementwise_model(np.random.default_rng(0)))
    g, plan, results = run_c_and_tflm(path, tmp_path, samples=4)
    # RELU, ADD (over its unbroadcast input 1), MUL (input 0) and LOGISTIC all overwrite their input
    assert plan.in_place == {g.ops[0].name: 0, g.ops[1].name: 1, g.ops[2].name: 0, g.ops[3].name: 0}
    assert len({plan.owner[t] for t in ("x", "r", "a", "m", "y")}) == 1
    assert plan.arena_bytes == 6 * 5 * 8
    assert_bit_exact(results)


# ---- the four MLPerf Tiny models, in place and reordered: 0 LSB against TFLM ------------------------------------

MLPERF = ["kws_ref_model.tflite", "vww_96_int8.tflite", "pretrainedResnet_quant.tflite", "ad01_int8.tflite"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_in_place_bit_exact(shared_models, tmp_path, name):
    model = shared_models / name
    g, plan, results = run_c_and_tflm(model, tmp_path, samples=3, seed=2)
    plain = plan_memory(g, in_place=False)
    assert plan.arena_bytes <= plain.arena_bytes
    assert plan.arena_bytes >= plan.lower_bound_bytes
    if any(op.type == "depthwise_conv2d" for op in g.ops):
        assert "edgec_depthwise_conv2d_s8_inplace(" in (tmp_path / "out" / "model.c").read_text()
    for ours, theirs in zip(results["c"], results["tflm"]):
        for a, b in zip(ours, theirs):
            assert np.array_equal(np.asarray(a).reshape(-1), np.asarray(b).reshape(-1)), name
