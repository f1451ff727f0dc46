"""Quantized transformer parts (docs/quantization.md, "Layer norm" and "Mixed precision"): a float LayerNormalization
lowered by the quantizer to TFLite's MEAN / SUB / SQUARED_DIFFERENCE / MEAN / ADD / RSQRT / MUL / MUL / ADD chain,
all int8, or kept float32 between DEQUANTIZE and QUANTIZE (`--float-ops`), and a small pre-norm transformer block
exported from PyTorch (LayerNorm, 2-head attention, LayerNorm, MLP), quantized end to end: the generated C
(ASan+UBSan) at 0 LSB against TFLite Micro running edgec's exported model_int8.tflite, and close to the float
model. The block's MLP uses ReLU: TFLite Micro has no GELU kernel (int8 GELU is checked against LiteRT in
test_op_gelu.py). Bad input: unknown --float-ops / --float-layers, and an int16 GELU asked for by name."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from run_cli import assert_error, edgec

from edgec import driver, host, reference, validate
from edgec.errors import EXIT_INPUT, InputError

F32 = np.float32
LN_CHAIN = [  # in the order lowering writes them (the memory schedule may reorder independent ones)
    "mean", "sub", "squared_difference", "mean", "add", "rsqrt", "mul", "mul", "add"]


def layer_norm_onnx(path, shape=(1, 5, 24), beta=True) -> None:
    rng = np.random.default_rng(0)
    n = shape[-1]
    inits = [numpy_helper.from_array(rng.normal(1, 0.3, n).astype(F32), "g")]
    if beta:
        inits.append(numpy_helper.from_array(rng.normal(0, 0.3, n).astype(F32), "b"))
    node = helper.make_node("LayerNormalization", ["x", "g", "b"] if beta else ["x", "g"], ["y"], axis=-1,
                            epsilon=1e-5)
    graph = helper.make_graph([node], "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, path)


def calib_file(path, shape, samples=48, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, (samples, *shape)) + rng.normal(0, 1, (samples, *shape[:-1], 1))  # rows with own means
    np.savez(path, x=x.astype(F32))
    return x.astype(F32)


def c_vs_tflm(b, samples: list[np.ndarray]) -> tuple[int, list]:
    """(max |C - TFLM| in LSB over the samples, the C outputs): float samples quantized at the model input."""
    g = b.graph
    t = g.t(g.inputs[0])
    xq = [[np.clip(np.round(x.reshape(t.shape) / t.scale) + t.zero_point, -128, 127).astype(np.int8)]
          for x in samples]
    ours = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xq), g, len(xq))
    tflm, _ = reference.run_tflm(b.out / "model_int8.tflite", xq)
    lsb = max(int(np.abs(a[0].astype(np.int32) - np.asarray(r[0]).astype(np.int32).reshape(a[0].shape)).max())
              for a, r in zip(ours, tflm))
    return lsb, ours


def dequantized(b, outs) -> np.ndarray:
    t = b.graph.t(b.graph.outputs[0])
    return np.stack([(o[0].astype(np.float64) - t.zero_point) * t.scale for o in outs])


def ln_numpy(x, gamma, beta):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + 1e-5) * gamma + beta


@pytest.fixture(scope="module")
def ln_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ln8")
    layer_norm_onnx(folder / "ln.onnx")
    x = calib_file(folder / "calib.npz", (1, 5, 24))
    return folder, x


@pytest.mark.parametrize("float_ops", [(), ("layer_norm",)])
def test_layer_norm_quantized_vs_tflm(tmp_path, ln_model, float_ops):
    folder, x = ln_model
    b = driver.build(folder / "ln.onnx", tmp_path / "o", conversion=driver.Conversion(
        calib=folder / "calib.npz", float_ops=float_ops))
    g = b.graph
    kinds = [op.type for op in g.ops]
    if float_ops:
        assert kinds[0] == "dequantize" and kinds[-1] == "quantize" and sorted(kinds[1:-1]) == sorted(LN_CHAIN)
        assert all(g.t(op.outputs[0]).dtype == "float32" for op in g.ops[:-1])
        assert b.report["calibration"]["float_layers"]
    else:
        assert sorted(kinds) == sorted(LN_CHAIN) and all(g.t(op.outputs[0]).dtype == "int8" for op in g.ops), kinds
    lsb, ours = c_vs_tflm(b, list(x[:12]))
    assert lsb == 0
    m = onnx.load(folder / "ln.onnx")
    gamma, beta = (numpy_helper.to_array(t) for t in m.graph.initializer)
    ref = ln_numpy(x[:12].astype(np.float64), gamma, beta)
    got = dequantized(b, ours).reshape(ref.shape)
    cos = float(np.sum(got * ref) / np.linalg.norm(got) / np.linalg.norm(ref))
    # measured: 0.9999+ with the float island, about 0.99 all int8 (the variance and 1/sqrt on 256 levels each)
    assert cos > (0.9999 if float_ops else 0.98), cos


def test_layer_norm_without_beta_and_its_export(tmp_path):
    layer_norm_onnx(tmp_path / "ln.onnx", shape=(1, 3, 16), beta=False)
    x = calib_file(tmp_path / "calib.npz", (1, 3, 16))
    b = driver.build(tmp_path / "ln.onnx", tmp_path / "o", conversion=driver.Conversion(calib=tmp_path / "calib.npz"))
    assert sorted(op.type for op in b.graph.ops) == sorted(LN_CHAIN[:-1])  # the memory schedule may reorder
    assert c_vs_tflm(b, list(x[:6]))[0] == 0


def block_onnx(path, act: str = "relu", dim: int = 16, heads: int = 2, tokens: int = 6) -> np.ndarray:
    """A pre-norm transformer block (the ViT block of bench/models.py at a smaller size), exported at opset 17;
    returns calibration inputs [N, 1, tokens, dim]."""
    torch = pytest.importorskip("torch")
    from torch import nn

    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.n1, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
            self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.ReLU() if act == "relu" else nn.GELU(),
                                     nn.Linear(2 * dim, dim))

        def forward(self, t):
            b, n, c = t.shape
            qkv = self.qkv(self.n1(t)).reshape(b, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
            a = ((qkv[0] @ qkv[1].transpose(-2, -1)) * (c // heads) ** -0.5).softmax(-1)
            t = t + self.proj((a @ qkv[2]).transpose(1, 2).reshape(b, n, c))
            return t + self.mlp(self.n2(t))

    net = Block().eval()
    torch.onnx.export(net, (torch.zeros(1, tokens, dim),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    rng = np.random.default_rng(2)
    return rng.normal(0, 1, (40, 1, tokens, dim)).astype(F32)


def test_transformer_block_int8_vs_tflm(tmp_path):
    x = block_onnx(tmp_path / "block.onnx")
    np.savez(tmp_path / "calib.npz", x=x[:32])
    b = driver.build(tmp_path / "block.onnx", tmp_path / "o", conversion=driver.Conversion(
        calib=tmp_path / "calib.npz"))
    g = b.graph
    kinds = [op.type for op in g.ops]
    assert kinds.count("rsqrt") == 2 and "batch_matmul" in kinds and "softmax" in kinds, kinds
    assert all(g.t(op.outputs[0]).dtype == "int8" for op in g.ops)
    lsb, ours = c_vs_tflm(b, list(x[32:]))
    assert lsb == 0
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tmp_path / "block.onnx"), providers=["CPUExecutionProvider"])
    ref = np.stack([sess.run(None, {"x": xi.reshape(1, 6, 16)})[0] for xi in x[32:]]).reshape(8, -1)
    got = dequantized(b, ours).reshape(8, -1)
    cos = float(np.sum(got * ref) / np.linalg.norm(got) / np.linalg.norm(ref))
    assert cos > 0.99, cos


def test_float_ops_unknown_type_and_layer(tmp_path, ln_model):
    folder, _ = ln_model
    with pytest.raises(InputError, match="--float-ops: the model has no softmax op; its op types:"):
        driver.build(folder / "ln.onnx", tmp_path / "o", conversion=driver.Conversion(
            calib=folder / "calib.npz", float_ops=("softmax",)))
    with pytest.raises(InputError, match="--float-layers: nope is no layer of the model"):
        driver.build(folder / "ln.onnx", tmp_path / "o2", conversion=driver.Conversion(
            calib=folder / "calib.npz", float_layers=("nope",)))


def test_float_ops_without_calib_is_exit_2(tmp_path, ln_model):
    folder, _ = ln_model
    r = edgec("build", folder / "ln.onnx", "--float-ops", "layer_norm", "--out", tmp_path / "o")
    assert_error(r, EXIT_INPUT, "--float-ops and --float-layers choose which ops edgec's quantizer keeps float")


def test_int16_gelu_is_refused_by_name(tmp_path):
    """TFLite has no 16-bit GELU: asking for one by name says so (an --activations int16 build keeps it int8)."""
    rng = np.random.default_rng(0)
    node = helper.make_node("Gelu", ["x"], ["y"], name="the_gelu")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    m.ir_version = 9
    onnx.save(m, tmp_path / "g.onnx")
    np.savez(tmp_path / "c.npz", x=rng.normal(0, 2, (8, 1, 4, 8)).astype(F32))
    b = driver.build(tmp_path / "g.onnx", tmp_path / "o8", conversion=driver.Conversion(calib=tmp_path / "c.npz"))
    assert [op.type for op in b.graph.ops] == ["gelu"]
    name = b.graph.ops[0].name
    with pytest.raises(InputError, match="has no int16 kernel in edgec"):
        driver.build(tmp_path / "g.onnx", tmp_path / "o16", conversion=driver.Conversion(
            calib=tmp_path / "c.npz", int16_layers=(name,)))


def test_one_float_layer_inside_the_int8_chain(tmp_path, ln_model):
    """--float-layers on one op of the lowered chain (its RSQRT): a DEQUANTIZE before it, a QUANTIZE after, the rest
    int8; 0 LSB against TFLM, which runs the float RSQRT between them."""
    folder, x = ln_model
    b = driver.build(folder / "ln.onnx", tmp_path / "o", conversion=driver.Conversion(calib=folder / "calib.npz"))
    rsqrt = next(op.name for op in b.graph.ops if op.type == "rsqrt")
    b = driver.build(folder / "ln.onnx", tmp_path / "f", conversion=driver.Conversion(
        calib=folder / "calib.npz", float_layers=(rsqrt,)))
    g = b.graph
    dtypes = {op.type: g.t(op.outputs[0]).dtype for op in g.ops}
    assert dtypes["rsqrt"] == dtypes["dequantize"] == "float32" and dtypes["quantize"] == "int8"
    assert sum(g.t(op.outputs[0]).dtype == "float32" for op in g.ops) == 2  # the DEQUANTIZE and the RSQRT
    assert b.report["calibration"]["float_layers"] == [rsqrt]
    assert c_vs_tflm(b, list(x[:8]))[0] == 0
