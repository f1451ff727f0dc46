"""Transformer operators from ONNX, float32 (`--dtype float32`): one-op models built with onnx.helper, and a tiny
ViT exported from PyTorch (opset 13: the layer-norm and erf-GELU chains; 17: LayerNormalization; 20: Gelu),
each run through edgec's generated C (ASan+UBSan) and numpy reference and compared with onnxruntime.

Tolerance (docs/numerics.md, "Float32"): max |diff| <= 1e-5 of the largest |onnxruntime output|; the C and numpy
sum in another order than onnxruntime's MLAS, so float rounding differs by a few ULP per sum."""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from oneop import FLOAT_TOLERANCE, float_errors
from onnx import TensorProto, helper
from onnx_models import const, model, tiny_vit
from run_cli import assert_error, edgec

from edgec import driver, host, reference, validate
from edgec.errors import EXIT_INPUT, EXIT_TOOLCHAIN

F32 = np.float32


def run_onnx(m: onnx.ModelProto, tmp_path, samples: int = 3, seed: int = 0) -> dict:
    """{'ort', 'numpy', 'c'}: per sample, the outputs; inputs drawn N(0, 1) in the ONNX shapes (3-D here, which
    edgec keeps in ONNX order)."""
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    rng = np.random.default_rng(seed)
    xs = [[rng.standard_normal(g.t(n).shape).astype(F32) for n in g.inputs] for _ in range(samples)]
    ort = reference.run_onnxruntime(path, xs, g)
    ours_np = [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
    return dict(ort=ort, numpy=ours_np, c=ours_c, graph=g)


def assert_close_to_ort(r: dict, tolerance: float = FLOAT_TOLERANCE) -> dict:
    errors = {k: float_errors(r[k], r["ort"]) for k in ("c", "numpy")}
    errors["c_vs_numpy"] = float_errors(r["c"], r["numpy"])
    for k, (worst, rel) in errors.items():
        assert rel <= tolerance, f"{k}: max |diff| {worst:.3g} = {rel:.3g} of the output range > {tolerance}"
    return errors


def ops_of(r: dict) -> list[str]:
    return [op.type for op in r["graph"].ops]


def w(rng, *shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(F32)


# ---- MatMul ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", [((2, 3, 5, 8), (2, 3, 8, 6)), ((2, 1, 5, 8), (3, 8, 6)), ((4, 7), (7, 3))])
def test_matmul_of_two_activations(tmp_path, a, b):
    y = list(np.broadcast_shapes(a[:-2], b[:-2])) + [a[-2], b[-1]]
    r = run_onnx(model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": list(a), "b": list(b)}, {"y": y}),
                 tmp_path)
    assert ops_of(r).count("batch_matmul") == 1  # (4-D model inputs are NHWC in the C: a transpose each first)
    assert_close_to_ort(r)


def test_matmul_by_batched_constant(tmp_path):
    rng = np.random.default_rng(0)
    m = model([helper.make_node("MatMul", ["a", "w"], ["y"])], {"a": [2, 5, 8]}, {"y": [2, 5, 4]},
              [const("w", w(rng, 2, 8, 4))])
    r = run_onnx(m, tmp_path)
    assert ops_of(r) == ["batch_matmul"]
    assert_close_to_ort(r)


def test_matmul_by_2d_constant_stays_fully_connected(tmp_path):
    rng = np.random.default_rng(1)
    m = model([helper.make_node("MatMul", ["a", "w"], ["y"])], {"a": [2, 5, 8]}, {"y": [2, 5, 4]},
              [const("w", w(rng, 8, 4))])
    r = run_onnx(m, tmp_path)
    assert ops_of(r) == ["fully_connected"]
    assert_close_to_ort(r)


# ---- normalization, activations, softmax -------------------------------------------------------------------------

@pytest.mark.parametrize("shape,axis,bias", [((1, 9, 16), -1, True), ((2, 4, 6), -2, False), ((3, 10), 1, True)])
def test_layer_normalization(tmp_path, shape, axis, bias):
    rng = np.random.default_rng(len(shape))
    norm = shape[axis % len(shape):]
    inits = [const("g", w(rng, *norm) + 1)] + ([const("b", w(rng, *norm))] if bias else [])
    node = helper.make_node("LayerNormalization", ["x", "g"] + (["b"] if bias else []), ["y"], axis=axis,
                            epsilon=1e-5)
    r = run_onnx(model([node], {"x": list(shape)}, {"y": list(shape)}, inits), tmp_path)
    assert ops_of(r) == ["layer_norm"]
    assert_close_to_ort(r)


def test_layer_normalization_mean_and_inv_std_outputs(tmp_path):
    rng = np.random.default_rng(8)
    node = helper.make_node("LayerNormalization", ["x", "g", "b"], ["y", "mean", "inv"], axis=1, epsilon=1e-3)
    m = model([node], {"x": [3, 4, 5]}, {"y": [3, 4, 5], "mean": [3, 1, 1], "inv": [3, 1, 1]},
              [const("g", w(rng, 4, 5)), const("b", w(rng, 4, 5))])
    r = run_onnx(m, tmp_path)
    assert_close_to_ort(r)


def _decomposed_layer_norm(opset: int) -> onnx.ModelProto:
    """What torch.onnx.export writes for nn.LayerNorm below opset 17."""
    rng = np.random.default_rng(4)
    if opset >= 18:
        rm = [helper.make_node("ReduceMean", ["x", "ax"], ["m"]), helper.make_node("ReduceMean", ["p", "ax"], ["v"])]
    else:
        rm = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[-1]),
              helper.make_node("ReduceMean", ["p"], ["v"], axes=[-1])]
    nodes = [rm[0], helper.make_node("Sub", ["x", "m"], ["d"]), helper.make_node("Pow", ["d", "two"], ["p"]), rm[1],
             helper.make_node("Add", ["v", "eps"], ["ve"]), helper.make_node("Sqrt", ["ve"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["n"]), helper.make_node("Mul", ["n", "g"], ["gn"]),
             helper.make_node("Add", ["gn", "b"], ["y"])]
    inits = [const("two", F32(2)), const("eps", F32(1e-5)), const("g", w(rng, 12) + 1), const("b", w(rng, 12)),
             const("ax", np.array([-1], np.int64))]
    return model(nodes, {"x": [1, 7, 12]}, {"y": [1, 7, 12]}, inits, opset=opset)


@pytest.mark.parametrize("opset", [13, 18])
def test_decomposed_layer_norm_is_fused(tmp_path, opset):
    r = run_onnx(_decomposed_layer_norm(opset), tmp_path)
    assert ops_of(r) == ["layer_norm"]
    assert_close_to_ort(r)


def test_decomposed_layer_norm_read_elsewhere_is_not_fused(tmp_path):
    """The centered value is also a model output: the chain stays, and its Pow and Sqrt are named unsupported."""
    m = _decomposed_layer_norm(13)
    m.graph.output.append(helper.make_tensor_value_info("d", TensorProto.FLOAT, [1, 7, 12]))
    onnx.save(m, tmp_path / "m.onnx")
    res = edgec("build", tmp_path / "m.onnx", "--dtype", "float32", "--out", tmp_path / "out")
    assert_error(res, EXIT_INPUT, "Pow node", "Sqrt node", "operator Pow is not supported")


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(tmp_path, approximate):
    node = helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)
    r = run_onnx(model([node], {"x": [2, 5, 16]}, {"y": [2, 5, 16]}, opset=20), tmp_path)
    assert ops_of(r) == ["gelu"]
    assert_close_to_ort(r)


@pytest.mark.parametrize("order", ["x_first", "half_first", "half_last"])
def test_erf_gelu_chain_is_fused(tmp_path, order):
    """x * 0.5 * (1 + erf(x / sqrt 2)), the three associations torch exporters write (TorchScript: (x * p) * 0.5;
    dynamo: (0.5 * p) * x)."""
    nodes = [helper.make_node("Div", ["x", "r2"], ["s"]), helper.make_node("Erf", ["s"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["p"])]
    if order == "half_first":
        nodes += [helper.make_node("Mul", ["x", "half"], ["h"]), helper.make_node("Mul", ["h", "p"], ["y"])]
    elif order == "half_last":
        nodes += [helper.make_node("Mul", ["half", "p"], ["h"]), helper.make_node("Mul", ["x", "h"], ["y"])]
    else:
        nodes += [helper.make_node("Mul", ["x", "p"], ["h"]), helper.make_node("Mul", ["h", "half"], ["y"])]
    inits = [const("r2", F32(math.sqrt(2))), const("one", F32(1)), const("half", F32(0.5))]
    r = run_onnx(model(nodes, {"x": [1, 6, 20]}, {"y": [1, 6, 20]}, inits), tmp_path)
    assert ops_of(r) == ["gelu"]
    assert_close_to_ort(r)


@pytest.mark.parametrize("shape,axis", [((2, 5, 7), 1), ((1, 2, 9, 9), -1), ((3, 4, 5), 0)])
def test_softmax_any_axis(tmp_path, shape, axis):
    r = run_onnx(model([helper.make_node("Softmax", ["x"], ["y"], axis=axis)], {"x": list(shape)},
                       {"y": list(shape)}), tmp_path)
    assert "softmax" in ops_of(r)
    assert_close_to_ort(r)


@pytest.mark.parametrize("x_shape,c", [([2, 5, 8], np.float32(2.8284271)), ([1, 4, 6, 6], None),
                                       ([3, 7], np.float32(-0.37))])
def test_div_by_a_constant(tmp_path, x_shape, c):
    """x / c as a multiplication by 1/c: a scalar (attention's sqrt(d)), a per-channel [1, C, 1, 1] on an NCHW
    input (held NHWC), a negative scalar."""
    if c is None:
        c = (np.random.default_rng(2).uniform(0.5, 2.0, (1, x_shape[1], 1, 1))).astype(F32)
    r = run_onnx(model([helper.make_node("Div", ["x", "c"], ["y"])], {"x": x_shape}, {"y": x_shape},
                       [const("c", c)]), tmp_path)
    assert ops_of(r) == ["mul"]
    assert_close_to_ort(r, tolerance=1e-6)


def test_div_by_an_activation_is_named(tmp_path):
    m = model([helper.make_node("Div", ["x", "z"], ["y"], name="ratio")], {"x": [2, 3], "z": [2, 3]}, {"y": [2, 3]})
    onnx.save(m, tmp_path / "m.onnx")
    res = edgec("build", tmp_path / "m.onnx", "--dtype", "float32", "--out", tmp_path / "out")
    assert_error(res, EXIT_INPUT, "Div node 'ratio'", "the divisor is not a constant")


# ---- moving data: Split, Slice, Gather, Concat, Transpose ------------------------------------------------------------

def test_split(tmp_path):
    node = helper.make_node("Split", ["x", "sizes"], ["a", "b", "c"], axis=2)
    m = model([node], {"x": [1, 4, 12]}, {"a": [1, 4, 3], "b": [1, 4, 4], "c": [1, 4, 5]},
              [const("sizes", np.array([3, 4, 5], np.int64))], opset=13)
    r = run_onnx(m, tmp_path)
    assert ops_of(r) == ["slice"] * 3
    assert_close_to_ort(r, tolerance=0.0)  # copies: bit for bit


def test_split_num_outputs(tmp_path):
    node = helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)
    r = run_onnx(model([node], {"x": [2, 9, 4]}, {"a": [2, 3, 4], "b": [2, 3, 4], "c": [2, 3, 4]}, opset=18),
                 tmp_path)
    assert_close_to_ort(r, tolerance=0.0)


@pytest.mark.parametrize("starts,ends,axes,steps,out", [
    ([1], [4], [1], [1], [2, 3, 10]),
    ([0, 9], [2, 0], [0, 2], [1, -2], [2, 6, 5]),  # a negative step
    ([2, -3], [6, 100], [1, 2], [2, 1], [2, 2, 3]),  # an end past the dim and a negative start
])
def test_slice(tmp_path, starts, ends, axes, steps, out):
    inits = [const(n, np.array(v, np.int64)) for n, v in (("s", starts), ("e", ends), ("a", axes), ("t", steps))]
    node = helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])
    r = run_onnx(model([node], {"x": [2, 6, 10]}, {"y": out}, inits), tmp_path)
    assert_close_to_ort(r, tolerance=0.0)


@pytest.mark.parametrize("index,axis,out", [
    (np.int64(1), 0, [2, 4]), (np.array([0, 2], np.int64), 2, [3, 2, 2]), (np.int64(-1), 1, [3, 4]),
    (np.array([3, 1], np.int64), 2, [3, 2, 2]),
    (np.array([3, 0, 1, -1], np.int64), 2, [3, 2, 4]),  # no progression: 3 slices and a concat
    (np.array([[0, 2], [1, 1]], np.int64), 0, [2, 2, 2, 4]),  # 2-D indices
])
def test_gather_by_constant_indices(tmp_path, index, axis, out):
    node = helper.make_node("Gather", ["x", "i"], ["y"], axis=axis)
    r = run_onnx(model([node], {"x": [3, 2, 4]}, {"y": out}, [const("i", index)]), tmp_path)
    assert_close_to_ort(r, tolerance=0.0)


def test_gather_unsupported_variants_are_named(tmp_path):
    nodes = [helper.make_node("Gather", ["x", "i"], ["y"], axis=2, name="pick"),  # 12 runs: more than concat takes
             helper.make_node("Gather", ["table", "ids"], ["e"], axis=0, name="embed")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2, 4]),
                                           helper.make_tensor_value_info("ids", TensorProto.INT64, [5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2, 12]),
                               helper.make_tensor_value_info("e", TensorProto.FLOAT, [5, 4])],
                              [const("i", np.array([0, 2, 1, 3] * 3, np.int64)), const("table", np.ones((10, 4), F32))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8),
              tmp_path / "m.onnx")
    res = edgec("build", tmp_path / "m.onnx", "--dtype", "float32", "--out", tmp_path / "out")
    assert_error(res, EXIT_INPUT, "Gather node 'pick'", "12 runs of consecutive indices", "Gather node 'embed'",
                 "embedding lookup")


def test_concat_with_a_constant_on_the_token_axis(tmp_path):
    """ViT's class token: a constant [1, 1, D] before the patch tokens [1, N, D]."""
    rng = np.random.default_rng(2)
    node = helper.make_node("Concat", ["cls", "x"], ["y"], axis=1)
    r = run_onnx(model([node], {"x": [1, 6, 8]}, {"y": [1, 7, 8]}, [const("cls", w(rng, 1, 1, 8))]), tmp_path)
    assert ops_of(r) == ["concat"]
    assert_close_to_ort(r, tolerance=0.0)


def test_transpose_rank5(tmp_path):
    """The qkv permute of attention: [B, N, 3, H, D] -> [3, B, H, N, D]."""
    node = helper.make_node("Transpose", ["x"], ["y"], perm=[2, 0, 3, 1, 4])
    r = run_onnx(model([node], {"x": [1, 5, 3, 2, 4]}, {"y": [3, 1, 2, 5, 4]}), tmp_path)
    assert_close_to_ort(r, tolerance=0.0)


def test_attention_with_a_constant_mask(tmp_path):
    """softmax(Q K^T * scale + mask) V with a causal mask (-1e9 above the diagonal) given as a constant."""
    n, d = 6, 4
    mask = np.triu(np.full((n, n), -1e9, F32), 1).reshape(1, 1, n, n)
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2]),
             helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Mul", ["s", "scale"], ["ss"]),
             helper.make_node("Add", ["ss", "mask"], ["sm"]), helper.make_node("Softmax", ["sm"], ["a"], axis=-1),
             helper.make_node("MatMul", ["a", "v"], ["y"])]
    m = model(nodes, {"q": [1, 2, n, d], "k": [1, 2, n, d], "v": [1, 2, n, d]}, {"y": [1, 2, n, d]},
              [const("scale", F32(d ** -0.5)), const("mask", mask)])
    r = run_onnx(m, tmp_path)
    # the chain became one row-wise attention op: its arena is smaller here (tests/host/test_attention.py)
    assert ops_of(r).count("attention") == 1 and r["graph"].meta["attention"]["fused"]
    assert_close_to_ort(r)


# ---- a tiny ViT from PyTorch (tests/onnx_models.tiny_vit) -------------------------------------------------------

@pytest.mark.parametrize("opset,dynamo", [(13, False), (17, False), (20, False), (18, True)])
def test_tiny_vit_matches_onnxruntime(tmp_path, opset, dynamo):
    path = tiny_vit(tmp_path / "vit.onnx", opset, dynamo)
    rng = np.random.default_rng(opset)
    np.savez(tmp_path / "test.npz", x=rng.standard_normal((20, 1, 3, 16, 16)).astype(F32))
    res = edgec("test", path, "--dtype", "float32", "--inputs", tmp_path / "test.npz", "--out", tmp_path / "out",
                "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    t = r["test"]
    assert t["reference"] == "onnxruntime" and t["passed"] and t["max_rel_error"] < 1e-5, t
    ops = [layer["op"] for layer in r["layers"]]
    assert ops.count("layer_norm") == 5 and ops.count("gelu") == 2 and ops.count("batch_matmul") == 4, ops
    assert ops.count("softmax") == 2 and ops.count("conv2d") == 1


@pytest.mark.parametrize("opset", [13, 17])
def test_quantizing_a_transformer(tmp_path, opset):
    """--calib on the ViT, from the layer-norm and erf-GELU chains of opset 13 and the LayerNormalization of 17: every
    layer norm lowered to TFLite's int8 chain (5 RSQRTs), both GELUs int8 tables (the erf chain recognized), every
    op int8; `edgec test` says why TFLite Micro cannot be the reference (it has no GELU kernel), exit 4."""
    path = tiny_vit(tmp_path / "vit.onnx", opset)
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(0).standard_normal((8, 1, 3, 16, 16)).astype(F32))
    res = edgec("build", path, "--calib", tmp_path / "calib.npz", "--out", tmp_path / "out", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    layers = json.loads(res.stdout)["layers"]
    ops = [layer["op"] for layer in layers]
    assert ops.count("rsqrt") == 5 and ops.count("gelu") == 2 and "layer_norm" not in ops, ops
    res = edgec("test", path, "--calib", tmp_path / "calib.npz", "--samples", "2", "--out", tmp_path / "t",
                timeout=600)
    assert_error(res, EXIT_TOOLCHAIN, "TFLite Micro has no GELU kernel")


def test_attention_quantized_by_edgec_is_bit_exact_with_tflm(tmp_path):
    """softmax(Q K^T * scale) V from float ONNX, quantized with --calib: int8 BATCH_MATMUL and SOFTMAX in the
    exported model_int8.tflite; the C equals TFLM on it at 0 LSB and stays close to the float model."""
    n, d = 6, 8
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Mul", ["s", "scale"], ["ss"]),
             helper.make_node("Softmax", ["ss"], ["a"], axis=-1), helper.make_node("MatMul", ["a", "v"], ["y"])]
    onnx.save(model(nodes, {"q": [2, n, d], "kt": [2, d, n], "v": [2, n, d]}, {"y": [2, n, d]},
                    [const("scale", F32(d ** -0.5))]), tmp_path / "att.onnx")
    rng = np.random.default_rng(0)
    for name, count in (("calib", 32), ("test", 10)):
        np.savez(tmp_path / f"{name}.npz", q=rng.standard_normal((count, 2, n, d)).astype(F32),
                 kt=rng.standard_normal((count, 2, d, n)).astype(F32),
                 v=rng.standard_normal((count, 2, n, d)).astype(F32))
    res = edgec("test", tmp_path / "att.onnx", "--calib", tmp_path / "calib.npz", "--inputs", tmp_path / "test.npz",
                "--out", tmp_path / "out", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    t = r["test"]
    assert t["reference"].startswith("TFLM") and t["passed"] and t["max_abs_diff_lsb"] == 0
    assert t["rows"][1]["cosine"] > 0.99, t["rows"][1]
    assert [layer["op"] for layer in r["layers"]].count("batch_matmul") == 2
