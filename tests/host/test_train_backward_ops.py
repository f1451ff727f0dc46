"""The backward ops of the int8 weight layers (conv2d_backward, depthwise_conv2d_backward,
fully_connected_backward; docs/training.md):

* the numpy reference (toolchain/ops/<layer>.py) and the C kernel (runtime/<layer>_s8_backward.c, compiled with
  ASan/UBSan and -ffp-contract=off through tests/c_driver.py, exact-size allocations) give the same g_x bits, the
  same updated weights and biases and the same generator state, on random odd shapes: stride 2, SAME (TFLite's
  odd pixel after) and VALID, dilation, channel counts not multiples of 4, groups, depth multiplier 2, partial
  weight_channels, bias trained or not, g_x needed or not, nearest and stochastic rounding, frozen (all-zero)
  channels;
* the reference computes the right gradients: its g_x and weight gradients G equal a plain float64 einsum of the
  spec's formulas (no order), within 1e-5 of the sum of the terms' magnitudes (the float32 sums' error bound);
* the gradient rule (the op's `backward`) against a small fake of the training builder.
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from c_driver import build_sanitized

from edgec.ir import Graph, Op, Quant, Tensor
from edgec.ops import REGISTRY
from edgec.ops.conv2d import padded_windows
from edgec.ops.int8_common import state_inputs
from edgec.ops.window import out_size

# the struct fields (int32, in this order) each kernel's driver fills from the case file
FIELDS = {
    "conv2d": ["batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w", "groups", "stride_h",
               "stride_w", "dilation_h", "dilation_w", "pad_top", "pad_left", "input_offset", "weight_channels",
               "train_bias", "rounding"],
    "depthwise_conv2d": ["batches", "in_h", "in_w", "in_c", "out_h", "out_w", "out_c", "k_h", "k_w",
                         "depth_multiplier", "stride_h", "stride_w", "dilation_h", "dilation_w", "pad_top",
                         "pad_left", "input_offset", "weight_channels", "train_bias", "rounding"],
    "fully_connected": ["batches", "depth", "out_c", "input_offset", "weight_channels", "train_bias", "rounding"],
}
# the arrays of a case file, in this order (a length of -1 is a NULL pointer)
ARRAYS = ["acc_scale", "coef_w", "coef_b", "bias_max", "weights", "input", "grad_out", "mask", "bias", "grad_in",
          "scratch", "rng", "velocity_w", "velocity_b", "shadow"]

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "KERNEL.h"

static void *read_array(FILE *f, int32_t *len) {
    if (fread(len, 4, 1, f) != 1) exit(3);
    if (*len < 0) return NULL;
    void *a = malloc(*len > 0 ? (size_t)*len : 1); /* exact size: ASan catches any access past it */
    if (*len > 0 && fread(a, 1, (size_t)*len, f) != (size_t)*len) exit(4);
    return a;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    FILE *f = fopen(argv[1], "rb");
    if (!f) return 2;
    int32_t n_int, I[64];
    float inv_sx, momentum;
    if (fread(&n_int, 4, 1, f) != 1 || n_int > 64 || fread(I, 4, (size_t)n_int, f) != (size_t)n_int) return 3;
    if (fread(&inv_sx, 4, 1, f) != 1 || fread(&momentum, 4, 1, f) != 1) return 3;
    void *A[NARRAYS];
    int32_t L[NARRAYS];
    for (int k = 0; k < NARRAYS; k++) A[k] = read_array(f, &L[k]);
    fclose(f);
    PARAMS p;
    memset(&p, 0, sizeof p);
SETFIELDS
    p.inv_sx = inv_sx;
    p.acc_scale = A[0], p.coef_w = A[1], p.coef_b = A[2], p.bias_max = A[3], p.weights = A[4];
    p.momentum = momentum, p.velocity_w = A[12], p.velocity_b = A[13], p.shadow = A[14];
    FUNCTION(&p, A[5], A[6], A[7], p.weight_channels > 0 ? (int8_t *)A[4] : NULL, p.train_bias ? A[8] : NULL,
             A[9], A[10], A[11]);
    FILE *o = fopen(argv[2], "wb");
    if (!o) return 2;
    const int outs[] = {9, 4, 8, 11, 12, 13, 14}; /* grad_in, weights, bias, rng, velocity_w, velocity_b, shadow */
    for (int k = 0; k < 7; k++) {
        if (A[outs[k]]) fwrite(A[outs[k]], 1, (size_t)L[outs[k]], o);
    }
    fclose(o);
    for (int k = 0; k < NARRAYS; k++) free(A[k]);
    return 0;
}
"""


def driver_source(layer: str, half: bool = False) -> str:
    """The driver of `layer`'s kernel; `half`: its fp16 variant (g_y and g_x as IEEE half bits)."""
    kernel = f"{layer}_s8_backward"
    fields = "\n".join(f"    p.{name} = I[{k}];" for k, name in enumerate(FIELDS[layer]))
    return (DRIVER.replace("KERNEL", kernel).replace("NARRAYS", str(len(ARRAYS)))
            .replace("PARAMS", f"edgec_{kernel}_params")
            .replace("FUNCTION", f"edgec_{kernel}_f16" if half else f"edgec_{kernel}")
            .replace("SETFIELDS", fields))


@pytest.fixture(scope="module")
def drivers(tmp_path_factory) -> dict[str, Path]:
    """The compiled drivers, built on first use per layer."""
    folder = tmp_path_factory.mktemp("train_backward")

    class Built(dict):
        def __missing__(self, key: str) -> Path:
            # -ffp-contract=off: no fused multiply-add (the kernels' float order is the contract); "<layer>/f16":
            # the fp16 variant
            layer = key.split("/")[0]
            self[key] = build_sanitized(folder, driver_source(layer, key.endswith("/f16")),
                                        [f"{layer}_s8_backward"], name=key.replace("/", "_"),
                                        flags=("-ffp-contract=off",))
            return self[key]

    return Built()


def run_c(exe: Path, folder: Path, layer: str, op: Op, g: Graph, ints: dict, inputs: list, rng: int,
          half: bool = False):
    """Run the C kernel on one case; returns (g_x or None, weights, bias or None, rng state, {state name: array}).
    `half`: the fp16 variant, g_y passed and g_x read back as IEEE half (returned as float32)."""
    x, g_y, mask, w, bias = inputs[:5]
    gdt = np.float16 if half else np.float32
    if half:
        g_y = g_y.astype(np.float16)
    state = state_inputs(inputs)
    p = op.params
    y_size = g_y.size
    arrays = dict(acc_scale=p["acc_scale"], coef_w=p["coef_w"], coef_b=p["coef_b"], bias_max=p["bias_max"],
                  weights=w, input=x, grad_out=g_y, mask=mask, bias=bias,
                  grad_in=np.full(op.attrs["input_shape"], np.nan, gdt) if op.outputs else None,
                  scratch=np.full(scratch_floats(layer, op, g), np.nan, np.float32),
                  rng=np.array([rng], np.uint32), **state)
    assert mask.size == (y_size + 7) // 8
    blob = bytearray(struct.pack("<i", len(FIELDS[layer])))
    blob += struct.pack(f"<{len(FIELDS[layer])}i", *[int(ints[name]) for name in FIELDS[layer]])
    blob += struct.pack("<ff", float(p["inv_sx"]), float(p["momentum"]))
    for name in ARRAYS:
        a = arrays[name]
        if a is None or (name == "scratch" and a.size == 0):
            blob += struct.pack("<i", -1)
        else:
            data = np.ascontiguousarray(a).tobytes()
            blob += struct.pack("<i", len(data)) + data
    case = folder / "case.bin"
    case.write_bytes(bytes(blob))
    subprocess.run([str(exe), str(case), str(folder / "out.bin")], check=True)
    out = (folder / "out.bin").read_bytes()
    pos = 0
    g_x = None
    if op.outputs:
        n = int(np.prod(op.attrs["input_shape"])) * np.dtype(gdt).itemsize
        g_x = np.frombuffer(out[pos:pos + n], gdt).reshape(op.attrs["input_shape"]).astype(np.float32)
        pos += n
    w_new = np.frombuffer(out[pos:pos + w.size], np.int8).reshape(w.shape)
    pos += w.size
    b_new = None
    if bias is not None:
        b_new = np.frombuffer(out[pos:pos + 4 * bias.size], np.int32)
        pos += 4 * bias.size
    rng_state = int(np.frombuffer(out[pos:pos + 4], np.uint32)[0])
    pos += 4
    new_state = {}
    for name, a in state.items():
        if a is not None:
            new_state[name] = np.frombuffer(out[pos:pos + a.nbytes], np.float32).reshape(a.shape)
            pos += a.nbytes
    assert pos == len(out)
    return g_x, w_new, b_new, rng_state, new_state


def scratch_floats(layer: str, op: Op, g: Graph) -> int:
    """The kernel's scratch as the op asks the planner for it (exact size: ASan catches any access past it)."""
    return REGISTRY[op.type].scratch_bytes(op, g, in_place=False) // 4


# ---- random cases ----------------------------------------------------------------------------------------------

def quant(scale, zp=0, axis=None) -> Quant:
    scale = np.atleast_1d(np.asarray(scale, np.float32))
    return Quant(scale, np.full(scale.size, zp, np.int64), axis)


def random_inputs(rng, y_shape, x_shape, x_zp):
    x = rng.integers(-128, 128, size=x_shape).astype(np.int8)
    g_y = rng.normal(0, 1, size=y_shape).astype(np.float32)
    g_y[rng.random(y_shape) < 0.1] = 0.0
    g_y[rng.random(y_shape) < 0.05] = -0.0
    bits = rng.random(int(np.prod(y_shape))) < 0.7
    mask = np.packbits(bits, bitorder="little")
    return x, g_y, mask


def random_weights(rng, shape, axis, channels):
    w = rng.integers(-127, 128, size=shape).astype(np.int8)
    if channels > 2 and rng.random() < 0.5:  # an all-zero channel: frozen
        np.moveaxis(w, axis, 0)[rng.integers(channels)] = 0
    if rng.random() < 0.2:
        w.reshape(-1)[0] = -128  # a weight outside [-127, 127]: a frozen channel must keep it
    return w


def backward_graph(layer, x_shape, y_shape, w, w_scale, bias, s_x, x_zp, attrs, need_gx, wc, train_bias,
                   rounding, lr):
    ts = {
        "x": Tensor("x", tuple(x_shape), "int8", quant(s_x, x_zp)),
        "g_y": Tensor("g_y", tuple(y_shape), "float32"),
        "mask": Tensor("mask", ((int(np.prod(y_shape)) + 7) // 8,), "uint8"),
        "w": Tensor("w", w.shape, "int8", quant(w_scale, 0, attrs.pop("weight_axis")), w.copy()),
        "g_x": Tensor("g_x", tuple(x_shape), "float32"),
    }
    if bias is not None:
        ts["b"] = Tensor("b", bias.shape, "int32", quant(s_x * w_scale), bias.copy())
    a = dict(attrs, weight_channels=wc, train_bias=train_bias, rounding=rounding, lr=lr,
             input_shape=list(x_shape), input_scale=float(np.float32(s_x)), input_zero_point=x_zp)
    op = Op(f"{layer}_backward", "layer", ["x" if wc > 0 else None, "g_y", "mask", "w", "b" if bias is not None
                                             else None], ["g_x"] if need_gx else [], a)
    g = Graph("t", ts, [op], ["x"], [])
    REGISTRY[op.type].prepare(op, g)
    return op, g


def random_case(rng, layer, optimizer_state: bool = False, depthwise: tuple[int, int] | None = None):
    """(op, g, inputs, struct ints) of one random backward op; with `optimizer_state`, most cases also keep
    momentum velocities or shadow weights (inputs 5-7); `depthwise`: (in_c, depth multiplier) instead of random."""
    x_zp = int(rng.choice([-128, 127, 0, rng.integers(-128, 128)]))
    s_x = float(rng.uniform(0.005, 0.1))
    need_gx = bool(rng.random() < 0.7)
    train_bias = bool(rng.random() < 0.6)
    rounding = str(rng.choice(["nearest", "stochastic"]))
    lr = float(rng.choice([1e-4, 1e-2, 0.5]))
    has_bias = train_bias or rng.random() < 0.5
    if layer == "fully_connected":
        batches, depth, out_c = int(rng.integers(1, 4)), int(rng.integers(1, 40)), int(rng.integers(1, 13))
        lead = [(batches, depth), (batches, 1, depth)][int(rng.integers(2))]
        x_shape, y_shape, w_shape, axis = lead, (batches, out_c), (out_c, depth), 0
        attrs: dict = {"activation": "RELU", "weight_axis": 0}
        in_c = depth
    else:
        n, h, wd = int(rng.integers(1, 3)), int(rng.integers(1, 10)), int(rng.integers(1, 10))
        k_h, k_w = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = int(rng.choice([1, 2, 3]))
        dil = int(rng.choice([1, 1, 2]))
        padding = str(rng.choice(["SAME", "VALID"]))
        while padding == "VALID" and ((k_h - 1) * dil + 1 > h or (k_w - 1) * dil + 1 > wd):
            h, wd = h + 1, wd + 1
        attrs = {"stride_h": stride, "stride_w": int(rng.choice([stride, 1])), "dilation_h": dil,
                 "dilation_w": int(rng.choice([dil, 1])), "padding": padding, "activation": "RELU6"}
        oh = out_size(padding, h, k_h, attrs["stride_h"], attrs["dilation_h"])
        ow = out_size(padding, wd, k_w, attrs["stride_w"], attrs["dilation_w"])
        if layer == "conv2d":
            groups = int(rng.choice([1, 1, 2, 3]))
            icg, ocg = int(rng.integers(1, 6)), int(rng.integers(1, 5))
            in_c, out_c = groups * icg, groups * ocg
            w_shape, axis = (out_c, k_h, k_w, icg), 0
            attrs["weight_axis"] = 0
        else:
            mult = int(rng.choice([1, 2]))
            in_c = int(rng.integers(1, 8))
            if depthwise is not None:
                in_c, mult = depthwise
            out_c = in_c * mult
            w_shape, axis = (1, k_h, k_w, out_c), 3
            attrs.update(depth_multiplier=mult, weight_axis=3)
        x_shape, y_shape = (n, h, wd, in_c), (n, oh, ow, out_c)
    w = random_weights(rng, w_shape, axis, out_c)
    w_scale = rng.uniform(0.002, 0.03, size=out_c if rng.random() < 0.8 else 1).astype(np.float32)
    bias = rng.integers(-5000, 5000, size=out_c).astype(np.int32) if has_bias else None
    limit = w_shape[3] if layer == "conv2d" else in_c
    wc = int(rng.choice([0, limit, int(rng.integers(0, limit + 1)), limit + 2]))
    if not need_gx and wc == 0 and not train_bias:
        need_gx = True
    op, g = backward_graph(layer, x_shape, y_shape, w, w_scale, bias, s_x, x_zp, attrs, need_gx, wc, train_bias,
                           rounding, lr)
    x, g_y, mask = random_inputs(rng, y_shape, x_shape, x_zp)
    inputs = [x if wc > 0 else None, g_y, mask, w, bias]
    if optimizer_state and rng.random() < 0.6:
        inputs += add_state(rng, op, g, rounding)
    ints = {**op.attrs, **op.params, **geometry(layer, op, g)}
    ints["train_bias"] = int(train_bias)
    return op, g, inputs, ints


def add_state(rng, op: Op, g: Graph, rounding: str) -> list:
    """Optimizer state for a random case (docs/training.md): momentum (velocities of the trained weights and bias,
    random values so M * v counts) and/or fp32 shadow weights (the int8 weights plus up to half an LSB, some
    beyond the clamp), laid out as the gradient rule lays them out (update_index); the op's inputs name them."""
    momentum = float(rng.choice([0.0, 0.5, 0.9, 0.99]))
    shadow = rounding == "nearest" and rng.random() < 0.5
    if not momentum and not shadow:
        momentum = 0.9
    op.attrs["momentum"] = momentum
    REGISTRY[op.type].prepare(op, g)
    w = g.t("w").data
    index, _ = REGISTRY[op.type].update_index(op, w.shape)
    trained_w = op.attrs["weight_channels"] > 0 and index.size > 0
    arrays: list = [None, None, None]
    if momentum and trained_w:
        arrays[0] = rng.normal(0, 2, index.shape).astype(np.float32)
    if momentum and op.attrs["train_bias"]:
        arrays[1] = rng.normal(0, 50, g.t("b").shape).astype(np.float32)
    if shadow and trained_w:
        s = w.reshape(-1)[index].astype(np.float32) + rng.uniform(-0.5, 0.5, index.shape).astype(np.float32)
        s[rng.random(index.shape) < 0.05] = 0.5  # exact ties: half away from zero
        arrays[2] = s.astype(np.float32)
    for name, a in zip(("vw", "vb", "sh"), arrays):
        if a is not None:
            g.tensors[name] = Tensor(name, a.shape, "float32", None, a.copy())
            g.tensors[name].mutable = True
    op.inputs[5:] = [n if a is not None else None for n, a in zip(("vw", "vb", "sh"), arrays)]
    return arrays


def geometry(layer, op, g) -> dict:
    if layer == "fully_connected":
        w = g.t("w").shape
        return dict(batches=int(np.prod(op.attrs["input_shape"])) // w[1], depth=w[1], out_c=w[0])
    from edgec.ops.conv2d import backward_geometry
    geo = backward_geometry(op, g)
    geo["groups"] = geo["in_c"] // g.t("w").shape[3]
    return geo


# ---- reference == C, bit for bit ------------------------------------------------------------------------------

CASES = {"conv2d": 250, "fully_connected": 250, "depthwise_conv2d": 250}


@pytest.mark.parametrize("layer", list(CASES))
def test_reference_matches_the_c_kernel(layer, drivers, tmp_path):
    rng = np.random.default_rng({"conv2d": 1, "fully_connected": 2, "depthwise_conv2d": 3}[layer])
    seen = dict(stochastic=0, gx=0, weights_moved=0, bias_moved=0, frozen_kept=0)
    for case in range(CASES[layer]):
        op, g, inputs, ints = random_case(rng, layer)
        state = int(rng.integers(1, 2**32))
        c_gx, c_w, c_b, c_state, _ = run_c(drivers[layer], tmp_path, layer, op, g, ints, inputs, state)
        w0 = inputs[3].copy()
        live = [a.copy() if a is not None else None for a in inputs]
        state_arr = np.array([state], np.uint32)
        out = REGISTRY[op.type].run_reference(op, g, live, rng=state_arr)
        what = f"case {case}: {op.attrs} {ints}"
        assert len(out) == len(op.outputs), what
        if op.outputs:
            assert out[0].dtype == np.float32 and out[0].shape == tuple(op.attrs["input_shape"]), what
            assert np.array_equal(out[0].view(np.uint32), c_gx.view(np.uint32)), what
            seen["gx"] += 1
        assert np.array_equal(live[3], c_w), what
        if inputs[4] is not None:
            assert np.array_equal(live[4], c_b), what
            seen["bias_moved"] += int(not np.array_equal(live[4], inputs[4]))
        if not op.attrs["train_bias"] and inputs[4] is not None:
            assert np.array_equal(live[4], inputs[4]), what
        assert int(state_arr[0]) == c_state, what
        seen["stochastic"] += int(c_state != state)
        seen["weights_moved"] += int(not np.array_equal(live[3], w0))
        frozen = op.params["coef_w"] == 0
        axis = 3 if layer == "depthwise_conv2d" else 0
        if frozen.any():
            assert np.array_equal(np.moveaxis(live[3], axis, 0)[frozen], np.moveaxis(w0, axis, 0)[frozen]), what
            seen["frozen_kept"] += 1
    # the cases exercised every path (counts, so a generator change cannot silently skip one)
    assert min(seen.values()) >= 10, seen


@pytest.mark.parametrize("layer", ["conv2d", "depthwise_conv2d"])
def test_fp16_kernels_match_the_reference(layer, drivers, tmp_path):
    """The fp16 kernels (--gradients fp16: g_y and g_x as IEEE half; the conv's g_x gathered per input pixel, the
    depthwise's through a plane, multiplier 1) on 60 random layers each: g_x equals the float32 reference's rounded
    to half (numpy's cast), the weights, biases and generator equal the reference's from the half g_y, bit for
    bit."""
    from edgec.ops.base import to_half

    rng = np.random.default_rng({"conv2d": 11, "depthwise_conv2d": 13}[layer])
    seen = dict(gx=0, weights_moved=0, rounded=0)
    for case in range(60):
        depthwise = (int(rng.integers(1, 20)), 1) if layer == "depthwise_conv2d" else None
        op, g, inputs, ints = random_case(rng, layer, depthwise=depthwise)
        g.t(op.inputs[1]).dtype = "float16"  # the op's scratch as the fp16 kernel needs it
        if op.outputs:
            g.t(op.outputs[0]).dtype = "float16"
        inputs[1] = to_half(inputs[1])
        state = int(rng.integers(1, 2**32))
        c_gx, c_w, c_b, c_state, _ = run_c(drivers[f"{layer}/f16"], tmp_path, layer, op, g, ints, inputs, state,
                                            half=True)
        w0 = inputs[3].copy()
        live = [a.copy() if a is not None else None for a in inputs]
        state_arr = np.array([state], np.uint32)
        out = REGISTRY[op.type].run_reference(op, g, live, rng=state_arr)
        what = f"case {case}: {op.attrs} {ints}"
        if op.outputs:
            want = to_half(out[0])
            assert np.array_equal(want.view(np.uint32), c_gx.view(np.uint32)), what
            seen["gx"] += 1
            seen["rounded"] += int(not np.array_equal(want, out[0]))
        assert np.array_equal(live[3], c_w), what
        if inputs[4] is not None:
            assert np.array_equal(live[4], c_b), what
        assert int(state_arr[0]) == c_state, what
        seen["weights_moved"] += int(not np.array_equal(live[3], w0))
    assert min(seen.values()) >= 5, seen


def test_depthwise_channel_chunks_match_the_c_kernel(drivers, tmp_path):
    """The depthwise kernel's g_x works in chunks of input channels whose outputs fit its 16-float row (and computes
    g_acc where it is used when one channel's outputs do not): more than 16 channels at multiplier 1, chunks that
    do not divide the channels (multiplier 3), and multipliers 16, 17 and 40; C = reference bit for bit."""
    rng = np.random.default_rng(41)
    shapes = [(17, 1), (40, 1), (7, 3), (11, 5), (2, 16), (2, 17), (3, 40), (1, 33)]
    done = 0
    for case in range(40):
        op, g, inputs, ints = random_case(rng, "depthwise_conv2d", depthwise=shapes[case % len(shapes)])
        state = int(rng.integers(1, 2**32))
        c_gx, c_w, c_b, c_state, _ = run_c(drivers["depthwise_conv2d"], tmp_path, "depthwise_conv2d", op, g, ints,
                                           inputs, state)
        live = [a.copy() if a is not None else None for a in inputs]
        state_arr = np.array([state], np.uint32)
        out = REGISTRY[op.type].run_reference(op, g, live, rng=state_arr)
        what = f"case {case}: {op.attrs}"
        if op.outputs:
            assert np.array_equal(out[0].view(np.uint32), c_gx.view(np.uint32)), what
            done += 1
        assert np.array_equal(live[3], c_w) and int(state_arr[0]) == c_state, what
        if inputs[4] is not None:
            assert np.array_equal(live[4], c_b), what
    assert done >= 20


@pytest.mark.parametrize("layer", list(CASES))
def test_optimizer_state_matches_the_c_kernel(layer, drivers, tmp_path):
    """Momentum velocities and fp32 shadow weights (docs/training.md): the reference and the C kernel give the
    same bits for g_x, weights, bias, generator and every state value, on 150 random layers per op; and the state
    follows its rules: v' = M v + clamp(G coef) for every live trained weight (the reference's own gradients G),
    a live shadow weight is its shadow rounded half away from zero with |shadow| <= 127, frozen channels keep
    their weights and state."""
    from edgec.train.update import clamp_step, rnd

    rng = np.random.default_rng({"conv2d": 31, "fully_connected": 32, "depthwise_conv2d": 33}[layer])
    seen = dict(velocity_w=0, velocity_b=0, shadow=0, shadow_moved=0, momentum_stochastic=0, frozen=0)
    for case in range(150):
        op, g, inputs, ints = random_case(rng, layer, optimizer_state=True)
        state = int(rng.integers(1, 2**32))
        c_gx, c_w, c_b, c_state, c_opt = run_c(drivers[layer], tmp_path, layer, op, g, ints, inputs, state)
        live = [a.copy() if a is not None else None for a in inputs]
        state_arr = np.array([state], np.uint32)
        out = REGISTRY[op.type].run_reference(op, g, live, rng=state_arr)
        what = f"case {case}: {op.attrs}"
        if op.outputs:
            assert np.array_equal(out[0].view(np.uint32), c_gx.view(np.uint32)), what
        assert np.array_equal(live[3], c_w), what
        if inputs[4] is not None:
            assert np.array_equal(live[4], c_b), what
        assert int(state_arr[0]) == c_state, what
        ref_opt = state_inputs(live)
        assert set(c_opt) == {k for k, v in ref_opt.items() if v is not None}, what
        for name, a in c_opt.items():
            assert np.array_equal(ref_opt[name].view(np.uint32), a.view(np.uint32)), f"{name} {what}"
            seen[name] += 1
        if len(inputs) <= 5:
            continue
        seen["momentum_stochastic"] += int("velocity_w" in c_opt and op.params["rounding"] == 1)
        _, grad, _ = REGISTRY[op.type].grads(op, g, inputs)
        index, channel = REGISTRY[op.type].update_index(op, inputs[3].shape)
        frozen = op.params["coef_w"][channel] == 0
        seen["frozen"] += int(frozen.any() and grad is not None)
        old = state_inputs(inputs)
        if "velocity_w" in c_opt:
            step = (grad.reshape(index.shape) * op.params["coef_w"][channel]).astype(np.float32)
            want = (np.float32(op.params["momentum"]) * old["velocity_w"]).astype(np.float32) + clamp_step(step, 255)
            assert np.array_equal(c_opt["velocity_w"][~frozen], want[~frozen]), what
            assert np.array_equal(c_opt["velocity_w"][frozen], old["velocity_w"][frozen]), what
        if "shadow" in c_opt:
            sh = c_opt["shadow"]
            assert np.abs(sh).max() <= 127, what
            w_trained = c_w.reshape(-1)[index]
            assert np.array_equal(w_trained[~frozen], rnd(sh[~frozen]).astype(np.int8)), what
            assert np.array_equal(sh[frozen], old["shadow"][frozen]), what
            assert np.array_equal(w_trained[frozen], inputs[3].reshape(-1)[index][frozen]), what
            seen["shadow_moved"] += int(not np.array_equal(sh, old["shadow"]))
    assert min(seen.values()) >= 8, seen


# ---- the reference's gradients are the right ones: float64 einsums of the spec's formulas ----------------------

def close(got: np.ndarray, want: np.ndarray, magnitude: np.ndarray, what: str) -> None:
    """|got - want| <= 1e-5 * (the sum of the terms' magnitudes), elementwise: a float32 sum of n terms is within
    n * 2^-24 of that, and a cancelling sum can be far below it."""
    bad = np.abs(got.astype(np.float64) - want) > 1e-5 * magnitude + 1e-30
    assert not bad.any(), f"{what}: {np.argwhere(bad)[:5]} got {got[bad][:5]} want {want[bad][:5]}"


def g_acc64(op, g, g_y, mask) -> np.ndarray:
    from edgec.ops.int8_common import mask_bits
    w = g.t(op.inputs[3])
    channels = g_y.shape[-1]
    s_w = np.broadcast_to(w.quant.scale.astype(np.float64), (channels,))
    return np.where(mask_bits(mask, g_y.shape), g_y.astype(np.float64), 0.0) * (op.attrs["input_scale"] * s_w)


def conv_grads64(op, g, x, g_acc, w, groups, depthwise):
    """dL/dx_real and dL/dw_q by the chain rule through y = conv(x, w): g_x scattered back through every tap,
    G = the windows of (x - zp_x) against g_acc; both in float64 with numpy's own summation order. Returns
    (g_x, |terms| of g_x, G, |terms| of G) with G [out_c, k_h, k_w, in-group channels]."""
    geo = geometry("conv2d", op, g)
    n, oh, ow, oc = g_acc.shape
    kh, kw = geo["k_h"], geo["k_w"]
    if depthwise:  # as a grouped conv: out channel o reads input channel o // mult
        wg = np.moveaxis(w[0].astype(np.float64), 2, 0)[..., None]  # [oc, kh, kw, 1]
    else:
        wg = w.astype(np.float64)
    icg = wg.shape[3]
    ocg = oc // groups
    sh, sw, dh, dw = geo["stride_h"], geo["stride_w"], geo["dilation_h"], geo["dilation_w"]
    big = (n, geo["pad_top"] + geo["in_h"] + (kh - 1) * dh + oh * sh, geo["pad_left"] + geo["in_w"]
           + (kw - 1) * dw + ow * sw, geo["in_c"])
    gx, gx_abs = np.zeros(big), np.zeros(big)
    for ky in range(kh):
        for kx in range(kw):
            for grp in range(groups):
                o = slice(grp * ocg, (grp + 1) * ocg)
                c = slice(grp * icg, (grp + 1) * icg)
                ys = slice(ky * dh, ky * dh + (oh - 1) * sh + 1, sh)
                xs = slice(kx * dw, kx * dw + (ow - 1) * sw + 1, sw)
                gx[:, ys, xs, c] += np.einsum("nyxo,oi->nyxi", g_acc[..., o], wg[o, ky, kx])
                gx_abs[:, ys, xs, c] += np.einsum("nyxo,oi->nyxi", np.abs(g_acc[..., o]), np.abs(wg[o, ky, kx]))
    crop = (slice(None), slice(geo["pad_top"], geo["pad_top"] + geo["in_h"]),
            slice(geo["pad_left"], geo["pad_left"] + geo["in_w"]))
    s_x = op.attrs["input_scale"]
    g_x, g_x_abs = gx[crop] / s_x, gx_abs[crop] / s_x
    G = G_abs = None
    if x is not None:
        win = padded_windows(x.astype(np.int64) - op.attrs["input_zero_point"], op, kh, kw, oh, ow, 0)
        win = win.astype(np.float64)
        if depthwise:  # out channel o reads input channel o // mult
            win = np.repeat(win, oc // geo["in_c"], axis=5)
            G = np.einsum("nyxhwo,nyxo->ohw", win, g_acc)[..., None]
            G_abs = np.einsum("nyxhwo,nyxo->ohw", np.abs(win), np.abs(g_acc))[..., None]
        else:
            win = win.reshape(n, oh, ow, kh, kw, groups, -1)
            ga = g_acc.reshape(n, oh, ow, groups, ocg)
            G = np.einsum("nyxhwgi,nyxgo->gohwi", win, ga).reshape(oc, kh, kw, -1)
            G_abs = np.einsum("nyxhwgi,nyxgo->gohwi", np.abs(win), np.abs(ga)).reshape(oc, kh, kw, -1)
    return g_x, g_x_abs, G, G_abs


@pytest.mark.parametrize("layer", ["conv2d", "depthwise_conv2d", "fully_connected"])
def test_gradients_equal_float64_formulas(layer):
    rng = np.random.default_rng({"conv2d": 11, "depthwise_conv2d": 12, "fully_connected": 13}[layer])
    checked = dict(g_x=0, G=0, G_b=0)
    for _ in range(120):
        op, g, inputs, _ = random_case(rng, layer)
        x, g_y, mask, w, _ = inputs
        g_x, G, G_b = REGISTRY[op.type].grads(op, g, inputs)
        ga = g_acc64(op, g, g_y, mask)
        if layer == "fully_connected":
            depth = w.shape[1]
            s_x = op.attrs["input_scale"]
            want_gx = (ga @ w.astype(np.float64)).reshape(op.attrs["input_shape"]) / s_x
            gx_abs = (np.abs(ga) @ np.abs(w.astype(np.float64))).reshape(op.attrs["input_shape"]) / s_x
            want_G = G_abs = None
            if x is not None:
                xr = x.reshape(-1, depth).astype(np.float64) - op.attrs["input_zero_point"]
                want_G, G_abs = ga.T @ xr, np.abs(ga).T @ np.abs(xr)
        else:
            geo = geometry("conv2d" if layer == "conv2d" else layer, op, g)
            depthwise = layer == "depthwise_conv2d"
            groups = geo["in_c"] if depthwise else geo["groups"]
            want_gx, gx_abs, want_G, G_abs = conv_grads64(op, g, x, ga, w, groups, depthwise)
        if g_x is not None:
            close(g_x, want_gx, gx_abs, f"g_x {op.attrs}")
            checked["g_x"] += 1
        if G is not None:
            assert want_G is not None and G_abs is not None
            if layer == "depthwise_conv2d":  # G [trained out channels, k_h, k_w, 1]
                close(G, want_G[:G.shape[0]], G_abs[:G.shape[0]], f"G {op.attrs}")
            else:  # the first weight_channels input channels
                close(G, want_G[..., :G.shape[-1]], G_abs[..., :G.shape[-1]], f"G {op.attrs}")
            checked["G"] += int(G.size > 0)
        if G_b is not None:
            close(G_b, ga.reshape(-1, ga.shape[-1]).sum(0), np.abs(ga).reshape(-1, ga.shape[-1]).sum(0), "G_b")
            checked["G_b"] += 1
    assert min(checked.values()) >= 20, checked


# ---- emit: the generated call and struct compile against the kernel and compute what the reference computes ----

class FakePlan:
    def scratch_offset(self, op_name: str) -> int:
        return 0

    def is_in_place(self, op_name: str) -> bool:
        return False


class FakeCtx:
    """The part of c_emit.EmitContext the backward ops use: tensors are global arrays t_<name>."""

    def __init__(self, g: Graph):
        self.g, self.plan, self.decls, self.structs = g, FakePlan(), [], []

    def ptr(self, name):
        return "NULL" if name is None else f"t_{name}"

    def frozen_ptr(self, name):
        return "NULL"  # whole weight tensors here

    def const_array(self, op, field_name, data, ctype="int32_t"):
        from edgec.codegen import c_array_body
        self.decls.append(f"static const {ctype} c_{field_name}[] = {{{c_array_body(np.asarray(data))}}};")
        return f"c_{field_name}"

    def params_struct(self, op, ctype, fields):
        from edgec.c_emit import designated
        self.structs.append(f"static const {ctype} P = {designated(fields)};")
        return "P"


def c_tensor(name: str, a: np.ndarray | None, ctype: str, size: int | None = None) -> str:
    from edgec.codegen import c_array_body
    if a is None:
        return f"static {ctype} t_{name}[{size}];"
    return f"static {ctype} t_{name}[] = {{{c_array_body(a)}}};"


@pytest.mark.parametrize("optimizer_state", [False, True])
@pytest.mark.parametrize("layer", ["conv2d", "depthwise_conv2d", "fully_connected"])
def test_emitted_call_runs_like_the_reference(layer, optimizer_state, tmp_path):
    rng = np.random.default_rng(21 + optimizer_state)
    with_state = 0
    for case in range(6):
        op, g, inputs, _ = random_case(rng, layer, optimizer_state)
        x, g_y, mask, w, bias = inputs[:5]
        opt = {name: a for name, a in zip(("vw", "vb", "sh"), inputs[5:]) if a is not None}
        ctx = FakeCtx(g)
        call = REGISTRY[op.type].emit(op, g, ctx)
        gx_size = int(np.prod(op.attrs["input_shape"]))
        state = int(rng.integers(1, 2**32))
        source = "\n".join([
            "#include <stdio.h>", "#include <string.h>", f'#include "{layer}_s8_backward.h"',
            "static union { uint8_t bytes[4096]; float align; } edgec_arena;",
            f"static uint32_t edgec_train_rng = {state}u;",
            c_tensor("x", x if x is not None else np.zeros(1, np.int8), "const int8_t"),
            c_tensor("g_y", g_y, "const float"), c_tensor("mask", mask, "const uint8_t"),
            c_tensor("w", w, "int8_t"), c_tensor("b", bias if bias is not None else np.zeros(1, np.int32), "int32_t"),
            c_tensor("g_x", None, "float", gx_size), *[c_tensor(n, a, "float") for n, a in opt.items()],
            *ctx.decls, *ctx.structs,
            "int main(void) {", "    (void)edgec_arena, (void)t_x, (void)t_b;", f"    {call}",
            f"    for (int i = 0; i < {gx_size}; i++) {{ uint32_t u; memcpy(&u, &t_g_x[i], 4); printf(\"%u \", u); }}",
            "    printf(\"\\n\");",
            f"    for (int i = 0; i < {w.size}; i++) printf(\"%d \", t_w[i]);",
            "    printf(\"\\n\");",
            f"    for (int i = 0; i < {bias.size if bias is not None else 1}; i++) printf(\"%d \", (int)t_b[i]);",
            "    printf(\"\\n%u\\n\", edgec_train_rng);",
            *[f"    for (int i = 0; i < {a.size}; i++) {{ uint32_t u; memcpy(&u, &t_{n}[i], 4); printf(\"%u \", u); }}"
              f" printf(\"\\n\");" for n, a in opt.items()],
            "    return 0;", "}"])
        exe = build_sanitized(tmp_path, source, [f"{layer}_s8_backward"], name=f"emit{case}",
                              flags=("-ffp-contract=off",))
        lines = subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n")
        live = [a.copy() if a is not None else None for a in inputs]
        state_arr = np.array([state], np.uint32)
        out = REGISTRY[op.type].reference(op, g, live, rng=state_arr)
        if op.outputs:
            assert np.array_equal(np.array(lines[0].split(), np.uint32), out[0].reshape(-1).view(np.uint32))
        assert np.array_equal(np.array(lines[1].split(), np.int64), live[3].reshape(-1))
        if bias is not None:
            assert np.array_equal(np.array(lines[2].split(), np.int64), live[4])
        assert int(lines[3]) == int(state_arr[0])
        for short, a in zip(("vw", "vb", "sh"), live[5:]):
            if a is not None:
                row = list(opt).index(short)
                assert np.array_equal(np.array(lines[4 + row].split(), np.uint32), a.reshape(-1).view(np.uint32))
        assert bool(opt) == (".velocity_w" in ctx.structs[0] or ".velocity_b" in ctx.structs[0]
                             or ".shadow" in ctx.structs[0])
        with_state += bool(opt)
    assert with_state >= 2 if optimizer_state else with_state == 0


# ---- the gradient rule against a fake of the training builder ---------------------------------------------------

class FakeLayer:
    def __init__(self, weight_channels: int, train_bias: bool):
        self.weight_channels, self.train_bias = weight_channels, train_bias


class FakeBuilder:
    """The GradBuilder interface of docs/training.md, recording what the rule asks for."""

    def __init__(self, g: Graph, layer: FakeLayer, needs: bool, rounding: str = "stochastic"):
        self.g, self._layer, self._needs = g, layer, needs
        self.lr, self.rounding = 0.05, rounding
        self.ops: list[Op] = []
        self.grads: list[tuple[str, str]] = []
        self.params: list[str] = []

    def layer(self, op):
        return self._layer

    def needs_grad(self, tensor):
        return self._needs

    def grad_of(self, tensor):
        name = f"grad_{tensor}"
        self.g.tensors.setdefault(name, Tensor(name, self.g.t(tensor).shape, "float32"))
        return name

    def mask_of(self, tensor):
        name = f"mask_{tensor}"
        self.g.tensors.setdefault(name, Tensor(name, ((self.g.t(tensor).size + 7) // 8,), "uint8"))
        return name

    def new_tensor(self, hint, shape, dtype="float32"):
        name = f"new_{hint}"
        self.g.tensors[name] = Tensor(name, tuple(shape), dtype)
        return name

    def param(self, tensor, channels=0):
        self.params.append(tensor)
        return tensor

    def saved_slice(self, tensor, channels):
        return tensor  # the whole input (the slice is tested on whole training graphs: test_train.py)

    def add_op(self, type_, inputs, outputs, attrs):
        op = Op(type_, "bw", inputs, outputs, attrs)
        REGISTRY[type_].prepare(op, self.g)
        self.ops.append(op)
        return op

    def add_grad(self, tensor, grad):
        self.grads.append((tensor, grad))


def forward_layer(layer: str):
    w_shape = {"conv2d": (4, 3, 3, 6), "depthwise_conv2d": (1, 3, 3, 12), "fully_connected": (4, 6)}[layer]
    x_shape = (1, 5, 5, 6) if layer != "fully_connected" else (1, 6)
    y_shape = {"conv2d": (1, 5, 5, 4), "depthwise_conv2d": (1, 5, 5, 12), "fully_connected": (1, 4)}[layer]
    oc = y_shape[-1]
    rng = np.random.default_rng(5)
    ts = {"x": Tensor("x", x_shape, "int8", quant(0.02, -3)),
          "w": Tensor("w", w_shape, "int8", quant(np.full(oc, 0.01), 0, 3 if layer == "depthwise_conv2d" else 0),
                      rng.integers(-127, 128, size=w_shape).astype(np.int8)),
          "b": Tensor("b", (oc,), "int32", quant(np.full(oc, 2e-4)), np.zeros(oc, np.int32)),
          "y": Tensor("y", y_shape, "int8", quant(0.05, 1))}
    attrs = {"activation": "RELU", "kernel_choice": {"kernel": "x", "function": "f"}, "rounding": "onnxruntime"}
    if layer != "fully_connected":
        attrs.update(stride_h=1, stride_w=1, padding="SAME")
    if layer == "depthwise_conv2d":
        attrs["depth_multiplier"] = 2
    op = Op(layer, "fwd", ["x", "w", "b"], ["y"], attrs)
    return op, Graph("t", ts, [op], ["x"], ["y"])


@pytest.mark.parametrize("layer", ["conv2d", "depthwise_conv2d", "fully_connected"])
def test_gradient_rule(layer):
    # weights and bias trained, g_x needed: one op with every input, the trained tensors made parameters
    op, g = forward_layer(layer)
    b = FakeBuilder(g, FakeLayer(2, True), True)
    REGISTRY[layer].backward(op, g, b)
    (bw,) = b.ops
    assert bw.type == f"{layer}_backward" and bw.inputs == ["x", "grad_y", "mask_y", "w", "b"]
    assert b.params == ["w", "b"] and b.grads == [("x", bw.outputs[0])]
    assert g.t(bw.outputs[0]).shape == g.t("x").shape and g.t(bw.outputs[0]).dtype == "float32"
    assert REGISTRY[bw.type].infer_shape(bw, g) == [g.t("x").shape]
    assert bw.attrs["weight_channels"] == 2 and bw.attrs["train_bias"] and bw.attrs["rounding"] == "stochastic"
    assert "kernel_choice" not in bw.attrs and REGISTRY[bw.type].kernels_for(bw, g) == [f"{layer}_s8_backward"]
    assert bw.params["rounding"] == 1 and bw.params["input_offset"] == 3
    assert np.allclose(bw.params["coef_w"], -0.05 / 0.01**2) and np.allclose(bw.params["acc_scale"], 0.02 * 0.01)
    assert np.allclose(bw.params["coef_b"], -0.05 / (0.02 * 0.01) ** 2)
    assert REGISTRY[bw.type].check(bw, g) == [] and REGISTRY[bw.type].macs(bw, g) > 0
    # weights frozen, bias frozen, g_x needed: x is not kept, nothing is made a parameter
    op, g = forward_layer(layer)
    b = FakeBuilder(g, FakeLayer(0, False), True)
    REGISTRY[layer].backward(op, g, b)
    (bw,) = b.ops
    assert bw.inputs[0] is None and b.params == [] and len(bw.outputs) == 1
    # bias trained only, no g_x: zero outputs
    op, g = forward_layer(layer)
    b = FakeBuilder(g, FakeLayer(0, True), False)
    REGISTRY[layer].backward(op, g, b)
    (bw,) = b.ops
    assert bw.outputs == [] and b.grads == [] and b.params == ["b"] and REGISTRY[bw.type].infer_shape(bw, g) == []
    # nothing trained here or below: no op
    op, g = forward_layer(layer)
    b = FakeBuilder(g, FakeLayer(0, False), False)
    REGISTRY[layer].backward(op, g, b)
    assert b.ops == []


def test_bias_max_keeps_every_later_inference_inside_int32():
    """bias_max + (127 per trained weight, |w| per frozen one) * max|x - zp| <= 2^31 - 1, and never below |b|."""
    op, g = forward_layer("conv2d")
    g.t("b").data = np.array([0, 5, -(2**31 - 100), 2**31 - 1], np.int32)
    b = FakeBuilder(g, FakeLayer(2, True), True)
    REGISTRY["conv2d"].backward(op, g, b)
    bw = b.ops[0]
    w = np.abs(g.t("w").data.astype(np.int64))
    w[..., :2] = 127
    span = max(127 + 3, 128 - 3)
    peaks = w.reshape(4, -1).sum(1) * span
    assert list(bw.params["bias_max"][:2]) == list(2**31 - 1 - peaks[:2])
    assert bw.params["bias_max"][2] == 2**31 - 100 and bw.params["bias_max"][3] == 2**31 - 1
