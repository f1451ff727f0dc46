"""fp16 gradient storage (edgec train --gradients fp16; docs/training.md, "fp16 gradients"): edgec_train.h's
conversions equal numpy's float32 <-> float16 casts bit for bit, the generated training step with every gradient
stored as half equals the numpy reference (which rounds each gradient once where the C stores it) on every bit
under ASan and UBSan, the planner gives the gradients half the bytes, and the command keeps fp16 only where it
lowers the arena."""

from __future__ import annotations

import json

import numpy as np
import pytest
from run_cli import assert_error, edgec
from small_models import conv_dw_pool_fc, fc_only, patch_stage_net
from test_train import mnist_records, run_c_and_numpy, training_graph

from edgec.memory import check_plan, plan_memory

RUNTIME_HALF = r"""
#include <stdio.h>
#include <stdlib.h>
#include "edgec_train.h"
int main(int argc, char **argv) {
    (void)argc;
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    uint32_t u;
    while (fread(&u, 4, 1, in) == 1) {
        float f;
        memcpy(&f, &u, 4);
        const uint16_t h = edgec_float_to_half(f), back = (uint16_t)u;
        const float g = edgec_half_to_float(back);
        fwrite(&h, 2, 1, out);
        fwrite(&g, 4, 1, out);
    }
    fclose(in);
    fclose(out);
    return 0;
}
"""


def test_half_conversions_equal_numpy(tmp_path):
    """float -> half (round to nearest even, subnormals, overflow, NaN) on 2^20 random float32 bit patterns and
    every boundary region, and half -> float on all 65,536 halves: the same bits as numpy's casts."""
    import subprocess
    from importlib import resources

    runtime = resources.files("edgec.runtime")
    src = tmp_path / "half.c"
    src.write_text(RUNTIME_HALF)
    exe = tmp_path / "half"
    with resources.as_file(runtime / "edgec_train.h") as header:
        subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-fsanitize=address,undefined",
                        "-fno-sanitize-recover=all", f"-I{header.parent}", str(src), "-o", str(exe)], check=True)
    rng = np.random.default_rng(0)
    edges = np.array([0x33000000, 0x33000001, 0x337FFFFF, 0x38800000, 0x387FFFFF, 0x477FE000, 0x477FEFFF, 0x477FF000,
                      0x7F800000, 0x7F800001, 0x7FC00000, 0x7F802000], np.uint32)
    near = (edges[:, None].astype(np.int64) + np.arange(-4096, 4097)[None, :]).reshape(-1) & 0x7FFFFFFF
    bits = np.concatenate([rng.integers(0, 2**32, 1 << 20, dtype=np.uint64).astype(np.uint32),
                           near.astype(np.uint32), near.astype(np.uint32) | 0x80000000,
                           np.arange(65536, dtype=np.uint32)])
    (tmp_path / "in.bin").write_bytes(bits.tobytes())
    subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin")], check=True)
    out = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.dtype([("h", "<u2"), ("f", "<u4")]))
    with np.errstate(over="ignore", invalid="ignore"):
        want_h = bits.view(np.float32).astype(np.float16).view(np.uint16)
    want_f = (bits & 0xFFFF).astype(np.uint16).view(np.float16).astype(np.float32).view(np.uint32)
    assert np.array_equal(out["h"], want_h), np.flatnonzero(out["h"] != want_h)[:5]
    assert np.array_equal(out["f"], want_f), np.flatnonzero(out["f"] != want_f)[:5]


@pytest.mark.parametrize("net, scheme, rounding, momentum", [
    ("patch", "bias", "nearest", 0.0), ("patch", "last:2", "stochastic", 0.0), ("dw", "last:2", "stochastic", 0.9)])
def test_fp16_gradients_c_equals_numpy(tmp_path, net, scheme, rounding, momentum):
    """conv -> depthwise (stride 2, and stride 1 in place) -> pointwise -> mean -> head with every gradient below
    the logits stored as half: C (ASan/UBSan) = numpy on every loss, logit and parameter; the fp16 kernels are
    the ones emitted; gradients take 2 bytes per element in the plan, which its checker accepts."""
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net() if net == "patch" else conv_dw_pool_fc())
    side = 32 if net == "patch" else 12
    _, tg = training_graph(model, scheme, lr=0.05, rounding=rounding, seed=5, classes=3, momentum=momentum,
                           gradients="fp16")
    _, tg32 = training_graph(model, scheme, lr=0.05, rounding=rounding, seed=5, classes=3, momentum=momentum)
    half = [n for n, t in tg.tensors.items() if t.dtype == "float16"]
    assert half and all(tg.t(n).nbytes == 2 * tg.t(n).size for n in half)
    assert tg.t(tg.ops[tg.meta["training"]["forward_ops"]].outputs[1]).dtype == "float32"  # the logits' gradient
    plan, plan32 = plan_memory(tg), plan_memory(tg32)
    check_plan(plan.buffers, plan.arena_bytes)  # the planner's independent checker, on the half-size buffers
    sizes = {b.name: b.size for b in plan.buffers}
    assert all(sizes[plan.owner[n]] >= tg.t(n).nbytes for n in half if n in plan.owner)
    assert any(sizes[plan.owner[n]] < 4 * tg.t(n).size for n in half if n in plan.owner)
    assert max(plan.live_bytes[tg.meta["training"]["forward_ops"]:]) < max(
        plan32.live_bytes[tg32.meta["training"]["forward_ops"]:])
    rng = np.random.default_rng(3)
    records = [[rng.integers(-128, 128, (1, side, side, 3)).astype(np.int8), np.array([k % 3], np.int32)]
               for k in range(4)] + [[rng.integers(-128, 128, (1, side, side, 3)).astype(np.int8),
                                      np.array([-1], np.int32)]]
    run_c_and_numpy(tmp_path, tg, records, plan)
    model_c = (tmp_path / "c" / "model.c").read_text()
    assert "edgec_conv2d_s8_backward_f16(" in model_c and "edgec_depthwise_conv2d_s8_backward_f16(" in model_c
    assert "edgec_conv2d_s8_backward(" not in model_c and "edgec_mean_backward_f32(" not in model_c


def test_fp16_gradients_resnet8_bias_c_equals_numpy(tmp_path, shared_models):
    """ResNet-8 under `bias` (the gradient runs through every layer, the residual adds' two contributions summed
    by grad_add, ReLU masks, strided 3x3 and 1x1 convs) with fp16 gradients: C (ASan/UBSan) = numpy on every bit,
    and the arena is lower than with float32 gradients (the backward pass is this step's peak)."""
    _, tg = training_graph(shared_models / "pretrainedResnet_quant.tflite", "bias", lr=0.03, classes=10,
                           gradients="fp16")
    types = {op.type for op in tg.ops}
    assert {"grad_add", "apply_mask", "conv2d_backward", "mean_backward"} <= types
    _, tg32 = training_graph(shared_models / "pretrainedResnet_quant.tflite", "bias", lr=0.03, classes=10)
    plan = plan_memory(tg)
    assert plan.arena_bytes < plan_memory(tg32).arena_bytes
    run_c_and_numpy(tmp_path, tg, mnist_records(tg, 3, eval_n=1), plan)
    assert "edgec_grad_add_f16(" in (tmp_path / "c" / "model.c").read_text()


def test_fp16_gradients_refused_without_an_fp16_kernel(tmp_path):
    """An int8 fully connected layer below the head has no fp16 backward kernel: --gradients fp16 exits 2 naming
    the op and the option (nothing is emitted); --gradients float32 trains it."""
    model = tmp_path / "fc.tflite"
    model.write_bytes(fc_only())
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.uniform(-1, 1, (3, 1, 16)).astype(np.float32), labels=np.arange(3) % 4)
    res = edgec("train", model, "--data", tmp_path / "d.npz", "--scheme", "last:1", "--gradients", "fp16",
                "--out", tmp_path / "o")
    assert_error(res, 2, "--gradients fp16", "fully_connected_backward", "no fp16 kernel")
    res = edgec("train", model, "--data", tmp_path / "d.npz", "--scheme", "last:1", "--out", tmp_path / "f",
                "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["training"]["gradients"] == "float32"
