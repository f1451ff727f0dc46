"""Small int8 models built with ModelBuilder from fixed seeds, shared by the generated-code and golden tests."""

from __future__ import annotations

import numpy as np

from edgec.modelbuilder import ModelBuilder

SAME, VALID = 0, 1
RELU, RELU6 = 1, 3


def _weights(b: ModelBuilder, rng, name: str, shape: tuple[int, ...], in_scale: float, axis: int):
    cout = shape[axis]
    w_scale = rng.uniform(0.002, 0.02, size=cout).astype(np.float32)
    w = b.const(name, rng.integers(-127, 128, size=shape, dtype=np.int8), scale=w_scale,
                zero_point=np.zeros(cout, np.int64), axis=axis)
    bias = b.const(name + "_bias", rng.integers(-1000, 1000, size=cout).astype(np.int32),
                   scale=(in_scale * w_scale).astype(np.float32), zero_point=np.zeros(cout, np.int64))
    return w, bias


def conv_dw_pool_fc(seed: int = 0) -> bytes:
    """x[1,12,12,3] -> CONV_2D 3x3/2 SAME RELU -> DEPTHWISE_CONV_2D 3x3 SAME RELU6 -> MAX_POOL 2x2/2
    -> AVERAGE_POOL 3x3 -> RESHAPE -> FULLY_CONNECTED -> y[1,5]"""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("input", (1, 12, 12, 3), scale=0.02, zero_point=-4)
    w, bias = _weights(b, rng, "conv_w", (8, 3, 3, 3), 0.02, axis=0)
    c1 = b.activation("conv1", (1, 6, 6, 8), scale=0.05, zero_point=-128)
    b.op("CONV_2D", [x, w, bias], [c1], "Conv2DOptions", padding=SAME, strideH=2, strideW=2, dilationHFactor=1,
         dilationWFactor=1, fusedActivationFunction=RELU)
    w, bias = _weights(b, rng, "dw_w", (1, 3, 3, 8), 0.05, axis=3)
    c2 = b.activation("dw1", (1, 6, 6, 8), scale=0.04, zero_point=-128)
    b.op("DEPTHWISE_CONV_2D", [c1, w, bias], [c2], "DepthwiseConv2DOptions", padding=SAME, strideH=1, strideW=1,
         depthMultiplier=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=RELU6)
    p1 = b.activation("maxpool", (1, 3, 3, 8), scale=0.04, zero_point=-128)
    b.op("MAX_POOL_2D", [c2], [p1], "Pool2DOptions", padding=VALID, strideH=2, strideW=2, filterHeight=2,
         filterWidth=2, fusedActivationFunction=0)
    p2 = b.activation("avgpool", (1, 1, 1, 8), scale=0.04, zero_point=-128)
    b.op("AVERAGE_POOL_2D", [p1], [p2], "Pool2DOptions", padding=VALID, strideH=1, strideW=1, filterHeight=3,
         filterWidth=3, fusedActivationFunction=0)
    shape = b.const("flat_shape", np.asarray([1, 8], np.int32))
    flat = b.activation("flat", (1, 8), scale=0.04, zero_point=-128)
    b.op("RESHAPE", [p2, shape], [flat])
    w, bias = _weights(b, rng, "fc_w", (5, 8), 0.04, axis=0)
    y = b.activation("logits", (1, 5), scale=0.1, zero_point=3)
    b.op("FULLY_CONNECTED", [flat, w, bias], [y], "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    return b.build()


def fc_only(seed: int = 1) -> bytes:
    """x[1,16] -> FULLY_CONNECTED RELU -> FULLY_CONNECTED -> y[1,4] (per-tensor weights in the second layer)"""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("features", (1, 16), scale=0.03, zero_point=7)
    w, bias = _weights(b, rng, "fc1_w", (10, 16), 0.03, axis=0)
    h = b.activation("hidden", (1, 10), scale=0.06, zero_point=-128)
    b.op("FULLY_CONNECTED", [x, w, bias], [h], "FullyConnectedOptions", fusedActivationFunction=RELU)
    w2 = b.const("fc2_w", rng.integers(-127, 128, size=(4, 10), dtype=np.int8), scale=0.01, zero_point=0)
    b2 = b.const("fc2_bias", rng.integers(-300, 300, size=4).astype(np.int32), scale=0.0006, zero_point=0)
    y = b.activation("scores", (1, 4), scale=0.08, zero_point=-2)
    b.op("FULLY_CONNECTED", [h, w2, b2], [y], "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    return b.build()


def patch_stage_net(seed: int = 2) -> bytes:
    """x[1,32,32,3] -> CONV_2D 3x3 SAME RELU (16) -> DEPTHWISE 3x3/2 SAME RELU6 -> CONV_2D 1x1 (24) -> MEAN over H, W
    -> FULLY_CONNECTED -> y[1,4]: the first layers dominate the memory, so `--patch` finds a patch-based stage."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("image", (1, 32, 32, 3), scale=0.02, zero_point=-4)
    w, bias = _weights(b, rng, "stem_w", (16, 3, 3, 3), 0.02, axis=0)
    c1 = b.activation("stem", (1, 32, 32, 16), scale=0.05, zero_point=-128)
    b.op("CONV_2D", [x, w, bias], [c1], "Conv2DOptions", padding=SAME, strideH=1, strideW=1, dilationHFactor=1,
         dilationWFactor=1, fusedActivationFunction=RELU)
    w, bias = _weights(b, rng, "dw_w", (1, 3, 3, 16), 0.05, axis=3)
    c2 = b.activation("dw", (1, 16, 16, 16), scale=0.04, zero_point=-128)
    b.op("DEPTHWISE_CONV_2D", [c1, w, bias], [c2], "DepthwiseConv2DOptions", padding=SAME, strideH=2, strideW=2,
         depthMultiplier=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=RELU6)
    w, bias = _weights(b, rng, "pw_w", (24, 1, 1, 16), 0.04, axis=0)
    c3 = b.activation("project", (1, 16, 16, 24), scale=0.06, zero_point=2)
    b.op("CONV_2D", [c2, w, bias], [c3], "Conv2DOptions", padding=SAME, strideH=1, strideW=1, dilationHFactor=1,
         dilationWFactor=1, fusedActivationFunction=0)
    axes = b.const("axes", np.asarray([1, 2], np.int32))
    m = b.activation("pooled", (1, 24), scale=0.06, zero_point=2)
    b.op("MEAN", [c3, axes], [m], "ReducerOptions", keepDims=False)
    w, bias = _weights(b, rng, "fc_w", (4, 24), 0.06, axis=0)
    y = b.activation("logits", (1, 4), scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [m, w, bias], [y], "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    return b.build()


BUILT = {"conv_dw_pool_fc": conv_dw_pool_fc, "fc_only": fc_only}
#: golden snapshots of builds with `--patch` (the patch loop and its region tables in model.c)
PATCHED = {"patch_stage_net": patch_stage_net}


# ---- models sized against board budgets (tests/board): too big for nucleo_f411re's 512 KB flash / 128 KB SRAM ----

def wide_fc(n_in: int, n_out: int, seed: int = 0) -> bytes:
    """x[1,n_in] -> FULLY_CONNECTED -> y[1,n_out]: n_in * n_out bytes of weights, tiny activations."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("x", (1, n_in), scale=0.05, zero_point=0)
    w = b.const("w", rng.integers(-127, 128, size=(n_out, n_in), dtype=np.int8), scale=0.01, zero_point=0)
    bias = b.const("b", np.zeros(n_out, np.int32), scale=0.0005, zero_point=0)
    y = b.activation("y", (1, n_out), scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [x, w, bias], [y], "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    return b.build()


def big_activation_conv(side: int = 160, channels: int = 8, seed: int = 0) -> bytes:
    """x[1,side,side,channels] -> CONV_2D 1x1 -> y of the same shape: side*side*channels bytes per activation
    (160x160x8: 200 KB each) and 64 bytes of weights."""
    rng = np.random.default_rng(seed)
    mb = ModelBuilder()
    x = mb.input("x", (1, side, side, channels), scale=0.05, zero_point=0)
    w = mb.const("w", rng.integers(-127, 128, size=(channels, 1, 1, channels), dtype=np.int8),
                 scale=np.full(channels, 0.01, np.float32), zero_point=np.zeros(channels, np.int64))
    bias = mb.const("b", np.zeros(channels, np.int32), scale=np.full(channels, 0.0005, np.float32),
                    zero_point=np.zeros(channels, np.int64))
    y = mb.activation("y", (1, side, side, channels), scale=0.1, zero_point=0)
    mb.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", padding=SAME, strideH=1, strideW=1, dilationHFactor=1,
          dilationWFactor=1, fusedActivationFunction=0)
    mb.output(y)
    return mb.build()
