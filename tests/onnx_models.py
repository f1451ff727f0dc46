"""Small ONNX models built with onnx.helper for the ONNX tests (no model files in the repository)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def const(name: str, a) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(a), name)


def model(nodes, inputs: dict[str, list], outputs: dict[str, list], inits=(), opset: int = 17,
          name: str = "m") -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, v) for k, v in outputs.items()], list(inits))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    onnx.checker.check_model(m)
    return m


def small_cnn(seed: int = 0, softmax: bool = True, batchnorm: bool = False, size: int = 16) -> onnx.ModelProto:
    """Conv(3->8, pads 1, stride 2) [-> BatchNorm] -> Relu -> depthwise Conv (group 8) -> Clip(0, 6) -> MaxPool
    -> GlobalAveragePool -> Flatten -> Gemm(8->10) [-> Softmax], input 1x3xSxS."""
    rng = np.random.default_rng(seed)

    def w(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2], name="conv1")]
    inits = [const("w1", w(8, 3, 3, 3)), const("b1", w(8)), const("w2", w(8, 1, 3, 3)), const("b2", w(8)),
             const("lo", np.float32(0)), const("hi", np.float32(6)), const("wf", w(10, 8)), const("bf", w(10))]
    if batchnorm:
        nodes.append(helper.make_node("BatchNormalization", ["c1", "g", "be", "m", "v"], ["bn"], name="bn1"))
        inits += [const("g", np.abs(w(8)) + 0.5), const("be", w(8)), const("m", w(8)), const("v", np.abs(w(8)) + 0.5)]
    nodes += [
        helper.make_node("Relu", ["bn" if batchnorm else "c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=8, name="dw"),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6"),
        helper.make_node("MaxPool", ["r2"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name="pool"),
        helper.make_node("GlobalAveragePool", ["p"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "wf", "bf"], ["logits" if softmax else "y"], transB=1, name="fc"),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], ["y"], name="softmax"))
    return model(nodes, {"x": [1, 3, size, size]}, {"y": [1, 10]}, inits)


def quantize_qdq(f32: onnx.ModelProto, out: Path, activations: str = "int8", seed: int = 1,
                 samples: int = 32) -> Path:
    """onnxruntime's quantize_static (QDQ, per-channel int8 weights) with random calibration data."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    rng = np.random.default_rng(seed)
    shape = [d.dim_value for d in f32.graph.input[0].type.tensor_type.shape.dim]
    name = f32.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter([{name: rng.standard_normal(shape).astype(np.float32)} for _ in range(samples)])

        def get_next(self):
            return next(self.data, None)

    src = out.with_suffix(".f32.onnx")
    onnx.save(f32, src)
    # reduce_range: 7-bit weights. On x86 CPUs without VNNI (AVX2, AVX-512F), onnxruntime's u8s8 GEMM sums pairs of
    # products in int16 (VPMADDUBSW) and saturates where two 8-bit weight products exceed 32,767: onnxruntime itself
    # is then off by up to 16 LSB on some outputs (seen on an AVX2-only AMD EPYC; onnxruntime's quantization docs
    # recommend reduce_range there). With 7-bit weights no pair can saturate, so the reference is exact on any CPU.
    quantize_static(str(src), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8 if activations == "int8" else QuantType.QUInt8,
                    weight_type=QuantType.QInt8, per_channel=True, reduce_range=True)
    return out


def one_op(kind: str, seed: int = 0) -> onnx.ModelProto:
    """A one-layer float model of `kind` (conv, depthwise, gemm, avgpool, add) for per-op QDQ checks."""
    rng = np.random.default_rng(seed)

    def w(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    if kind == "conv":
        return model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2])],
                     {"x": [1, 4, 12, 12]}, {"y": [1, 8, 6, 6]}, [const("w", w(8, 4, 3, 3)), const("b", w(8))])
    if kind == "depthwise":
        return model([helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1], group=8)],
                     {"x": [1, 8, 10, 10]}, {"y": [1, 8, 10, 10]}, [const("w", w(8, 1, 3, 3)), const("b", w(8))])
    if kind == "gemm":
        return model([helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1)], {"x": [1, 32]}, {"y": [1, 10]},
                     [const("w", w(10, 32)), const("b", w(10))])
    if kind == "avgpool":
        return model([helper.make_node("GlobalAveragePool", ["x"], ["y"])], {"x": [1, 8, 6, 6]}, {"y": [1, 8, 1, 1]})
    if kind == "add":
        return model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["x", "r"], ["y"])],
                     {"x": [1, 8, 6, 6]}, {"y": [1, 8, 6, 6]})
    raise ValueError(kind)


def kws_1d(seed: int = 0, coefficients: int = 10, frames: int = 49) -> onnx.ModelProto:
    """A keyword-spotting-style 1-D net on MFCC features [1, coefficients, frames] (NCW): Conv1d(k 3, pads 1)
    -> BatchNorm -> Relu -> depthwise Conv1d (k 3, stride 2) -> Clip(0, 6) -> pointwise Conv1d -> Relu
    -> AveragePool1d(2, ceil_mode: the last window holds one frame) -> MaxPool1d(2) -> GlobalAveragePool -> Flatten
    -> Gemm(24 -> 12) -> Softmax."""
    rng = np.random.default_rng(seed)

    def w(*shape, scale=0.3):
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1], name="conv1"),
             helper.make_node("BatchNormalization", ["c1", "g", "be", "m", "v"], ["bn"], name="bn1"),
             helper.make_node("Relu", ["bn"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1], strides=[2], group=16, name="dw"),
             helper.make_node("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6"),
             helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="pw"),
             helper.make_node("Relu", ["c3"], ["r3"], name="relu3"),
             helper.make_node("AveragePool", ["r3"], ["a"], kernel_shape=[2], strides=[2], ceil_mode=1, name="avg"),
             helper.make_node("MaxPool", ["a"], ["p"], kernel_shape=[2], strides=[2], name="pool"),
             helper.make_node("GlobalAveragePool", ["p"], ["gap"], name="gap"),
             helper.make_node("Flatten", ["gap"], ["f"], name="flatten"),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["logits"], transB=1, name="fc"),
             helper.make_node("Softmax", ["logits"], ["y"], name="softmax")]
    inits = [const("w1", w(16, coefficients, 3)), const("b1", w(16)), const("g", np.abs(w(16)) + 0.5),
             const("be", w(16)), const("m", w(16)), const("v", np.abs(w(16)) + 0.5), const("w2", w(16, 1, 3)),
             const("b2", w(16)), const("lo", np.float32(0)), const("hi", np.float32(6)), const("w3", w(24, 16, 1)),
             const("b3", w(24)), const("wf", w(12, 24)), const("bf", w(12))]
    return model(nodes, {"x": [1, coefficients, frames]}, {"y": [1, 12]}, inits)


def tiny_vit(path: Path, opset: int, dynamo: bool = False, img: int = 16, random_norms: bool = True) -> Path:
    """Patch-embedding Conv (4x4 patches of a 3x16x16 image: 16 tokens of 32), a class token, positional
    embeddings, 2 pre-norm transformer blocks (2 heads, MLP 64 with GELU), final LayerNorm, a linear head on the
    class token; torch.onnx.export at `opset` (TorchScript exporter, or with dynamo the torch.export one).
    random_norms: the layer norms' scales and shifts drawn from U(0.5, 1.5) and U(-0.3, 0.3) instead of torch's
    1 and 0, so that the affine part is exercised (the tests); bench/attention.py keeps torch's."""
    import torch
    from torch import nn

    class Attention(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.h, self.qkv, self.proj, self.scale = h, nn.Linear(d, 3 * d), nn.Linear(d, d), (d // h) ** -0.5

        def forward(self, x):
            b, n, c = x.shape
            qkv = self.qkv(x).reshape(b, n, 3, self.h, c // self.h).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            a = ((q @ k.transpose(-2, -1)) * self.scale).softmax(-1)
            return self.proj((a @ v).transpose(1, 2).reshape(b, n, c))

    class Block(nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.n1, self.attn, self.n2 = nn.LayerNorm(d), Attention(d, h), nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

        def forward(self, x):
            x = x + self.attn(self.n1(x))
            return x + self.mlp(self.n2(x))

    class ViT(nn.Module):
        def __init__(self, d=32, heads=2, patch=4, img=16, classes=10):
            super().__init__()
            self.embed = nn.Conv2d(3, d, patch, patch)
            self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.1)
            self.pos = nn.Parameter(torch.randn(1, (img // patch) ** 2 + 1, d) * 0.1)
            self.blocks = nn.Sequential(Block(d, heads), Block(d, heads))
            self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, classes)

        def forward(self, x):
            x = self.embed(x).flatten(2).transpose(1, 2)
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], 1) + self.pos
            return self.head(self.norm(self.blocks(x))[:, 0])

    torch.manual_seed(0)
    net = ViT(img=img).eval()
    for mod in net.modules():  # non-trivial affine parameters in the layer norms
        if random_norms and isinstance(mod, nn.LayerNorm):
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.3, 0.3)
    torch.onnx.export(net, torch.randn(1, 3, img, img), str(path), input_names=["x"], output_names=["y"],
                      opset_version=opset, dynamo=dynamo)
    return path
