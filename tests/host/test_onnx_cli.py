"""ONNX models through the real command line, the three ways users bring them: float ONNX quantized by
edgec with --calib (checked against TFLM on the exported model_int8.tflite, and against the float model),
float ONNX kept float (--dtype float32, against onnxruntime) and a QDQ model (against onnxruntime, +-1 LSB)."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx_models import quantize_qdq, small_cnn
from run_cli import assert_error, edgec

from edgec.errors import EXIT_INPUT


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    path = folder / "cnn.onnx"
    onnx.save(small_cnn(seed=3, batchnorm=True, size=16), path)
    rng = np.random.default_rng(0)
    # calibration and test data in the ONNX model's own layout (NCHW): edgec transposes them
    np.savez(folder / "calib.npz", x=rng.standard_normal((64, 1, 3, 16, 16)).astype(np.float32))
    np.savez(folder / "test.npz", x=rng.standard_normal((20, 1, 3, 16, 16)).astype(np.float32),
             labels=rng.integers(0, 10, size=20))
    return path


def _run(*args):
    res = edgec(*args, "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.mark.parametrize("method", ["minmax", "mse"])
def test_float_onnx_to_int8(tmp_path, cnn, method):
    r = _run("test", cnn, "--calib", cnn.parent / "calib.npz", "--calib-method", method,
             "--inputs", cnn.parent / "test.npz", "--out", tmp_path / "out")
    t = r["test"]
    assert (tmp_path / "out" / "model_int8.tflite").is_file()
    assert r["calibration"]["method"] == method and r["calibration"]["samples"] == 64
    assert t["reference"].startswith("TFLM") and t["passed"] and t["max_abs_diff_lsb"] == 0  # bit-exact
    float_row = t["rows"][1]
    assert float_row["reference"].startswith("float model (onnxruntime)")
    assert float_row["cosine"] > 0.98, float_row  # int8 close to the float model on the same inputs
    assert t["accuracy"]["labels"] == 20
    assert r["tflm_arena_bytes"]["total"] > 0


def test_float_onnx_as_float32(tmp_path, cnn):
    r = _run("test", cnn, "--dtype", "float32", "--inputs", cnn.parent / "test.npz", "--out", tmp_path / "out")
    t = r["test"]
    assert r["dtype"] == "float32" and t["reference"] == "onnxruntime"
    assert t["passed"] and t["max_rel_error"] < 1e-5, t


def test_qdq_onnx_within_one_lsb(tmp_path, cnn):
    qdq = quantize_qdq(small_cnn(seed=3, softmax=False, size=16), tmp_path / "qdq.onnx")
    r = _run("test", qdq, "--inputs", cnn.parent / "test.npz", "--out", tmp_path / "out")
    t = r["test"]
    assert t["reference"] == "onnxruntime" and t["tolerance_lsb"] == 1
    assert t["passed"] and t["max_abs_diff_lsb"] <= 1, t


def test_float_onnx_without_calibration(tmp_path, cnn):
    assert_error(edgec("build", cnn, "--out", tmp_path / "out"), EXIT_INPUT, "float model", "--calib",
                 "--dtype float32")
    assert not (tmp_path / "out").exists()


def test_calibration_with_nan(tmp_path, cnn):
    bad = tmp_path / "bad.npz"
    x = np.zeros((4, 1, 3, 16, 16), np.float32)
    x[2, 0, 1, 3, 3] = np.nan
    np.savez(bad, x=x)
    assert_error(edgec("build", cnn, "--calib", bad, "--out", tmp_path / "out"), EXIT_INPUT, "NaN")


def test_calibration_of_the_wrong_shape(tmp_path, cnn):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((4, 1, 3, 8, 8), np.float32))
    assert_error(edgec("build", cnn, "--calib", bad, "--out", tmp_path / "out"), EXIT_INPUT, "shape")


def test_dynamic_input_needs_a_shape(tmp_path):
    m = small_cnn(seed=1, size=16)
    m.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "height"
    path = tmp_path / "dyn.onnx"
    onnx.save(m, path)
    assert_error(edgec("build", path, "--dtype", "float32", "--out", tmp_path / "out"), EXIT_INPUT,
                 "--input-shape")
    r = _run("build", path, "--dtype", "float32", "--input-shape", "x=1,3,16,16", "--out", tmp_path / "out")
    assert r["dtype"] == "float32"


def _torch_mobilenet(path, exporter: str = "torchscript"):
    """A MobileNetV2-style PyTorch net (BN, ReLU6, depthwise, residual adds, Hardswish, adaptive pooling, dropout),
    exported the two ways users do: the TorchScript exporter at opset 13 (Hardswish becomes x * HardSigmoid(x))
    and torch.export's exporter (the default since PyTorch 2.9: opset 18, axes as inputs, external weights)."""
    torch = pytest.importorskip("torch")  # a dev dependency; the import guard only names what is missing
    nn = torch.nn
    torch.manual_seed(0)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, t):
            super().__init__()
            mid = cin * t
            self.res = stride == 1 and cin == cout
            self.f = nn.Sequential(
                nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(),
                nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            return x + self.f(x) if self.res else self.f(x)

    net = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6(),
                        Block(16, 16, 1, 1), Block(16, 24, 2, 4), Block(24, 24, 1, 4),
                        nn.Conv2d(24, 48, 1), nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2),
                        nn.Linear(48, 10)).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics, so folding them matters
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
    dynamo = exporter == "dynamo"
    torch.onnx.export(net, torch.randn(1, 3, 32, 32), str(path), input_names=["x"], output_names=["y"],
                      opset_version=18 if dynamo else 13, dynamo=dynamo)
    return path


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_pytorch_mobilenet_export(tmp_path, exporter):
    model = _torch_mobilenet(tmp_path / "mbv2.onnx", exporter)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((32, 1, 3, 32, 32)).astype(np.float32))
    np.savez(tmp_path / "test.npz", x=rng.standard_normal((10, 1, 3, 32, 32)).astype(np.float32))
    r = _run("test", model, "--calib", tmp_path / "calib.npz", "--calib-method", "mse",
             "--inputs", tmp_path / "test.npz", "--out", tmp_path / "int8")
    ops = {layer["op"] for layer in r["layers"]}
    assert "hard_swish" in ops and "hard_sigmoid" not in ops, ops  # x * HardSigmoid(x) fused
    assert r["test"]["max_abs_diff_lsb"] == 0 and r["test"]["passed"]  # bit-exact vs TFLM on the export
    assert r["test"]["rows"][1]["cosine"] > 0.999  # close to the float model
    f = _run("test", model, "--dtype", "float32", "--inputs", tmp_path / "test.npz", "--out", tmp_path / "f32")
    assert f["test"]["passed"] and f["test"]["max_rel_error"] < 1e-5


def _torch_kws_1d(path):
    """A keyword-spotting net on MFCC frames as PyTorch users write it: Conv1d + BatchNorm1d + ReLU, a depthwise
    Conv1d with stride, AvgPool1d with ceil_mode (its last window holds one frame), MaxPool1d,
    AdaptiveAvgPool1d(1), Linear; input [1, 10 coefficients, 49 frames] (NCW), TorchScript exporter, opset 13."""
    torch = pytest.importorskip("torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv1d(10, 24, 3, padding=1, bias=False), nn.BatchNorm1d(24), nn.ReLU(),
                        nn.Conv1d(24, 24, 3, stride=2, padding=1, groups=24), nn.ReLU6(),
                        nn.Conv1d(24, 32, 1), nn.ReLU(), nn.AvgPool1d(2, ceil_mode=True), nn.MaxPool1d(2),
                        nn.AdaptiveAvgPool1d(1), nn.Flatten(), nn.Linear(32, 12)).eval()
    bn = net[1]
    bn.running_mean.uniform_(-0.5, 0.5)
    bn.running_var.uniform_(0.5, 2)
    torch.onnx.export(net, torch.randn(1, 10, 49), str(path), input_names=["x"], output_names=["y"],
                      opset_version=13, dynamo=False)
    return path


def test_pytorch_conv1d_kws(tmp_path):
    """1-D convolution and pooling run as the 2-D ops with H = 1; the C takes the input as PyTorch does (NCW)."""
    model = _torch_kws_1d(tmp_path / "kws.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", x=rng.standard_normal((32, 1, 10, 49)).astype(np.float32))
    np.savez(tmp_path / "test.npz", x=rng.standard_normal((10, 1, 10, 49)).astype(np.float32))
    f = _run("test", model, "--dtype", "float32", "--inputs", tmp_path / "test.npz", "--out", tmp_path / "f32")
    assert f["test"]["reference"] == "onnxruntime" and f["test"]["passed"] and f["test"]["max_rel_error"] < 1e-5
    ops = [layer["op"] for layer in f["layers"]]
    assert ops.count("conv2d") == 2 and ops.count("depthwise_conv2d") == 1 and "max_pool2d" in ops, ops
    r = _run("test", model, "--calib", tmp_path / "calib.npz", "--inputs", tmp_path / "test.npz",
             "--out", tmp_path / "int8")
    t = r["test"]
    assert t["reference"].startswith("TFLM") and t["passed"] and t["max_abs_diff_lsb"] == 0  # bit-exact
    assert t["rows"][1]["cosine"] > 0.99, t["rows"][1]  # int8 close to the float model


def test_qdq_conv1d_within_one_lsb(tmp_path):
    """The same 1-D ops from a QDQ model (onnxruntime's quantize_static): int8 with the model's own scales."""
    from onnx_models import kws_1d

    m = kws_1d(seed=2)
    for node in m.graph.node:  # ceil_mode's short last window has no int8 form (docs/onnx.md)
        if node.op_type == "AveragePool":
            next(a for a in node.attribute if a.name == "ceil_mode").i = 0
    qdq = quantize_qdq(m, tmp_path / "qdq.onnx")
    np.savez(tmp_path / "test.npz", x=np.random.default_rng(1).standard_normal((10, 1, 10, 49)).astype(np.float32))
    r = _run("test", qdq, "--inputs", tmp_path / "test.npz", "--out", tmp_path / "out")
    assert r["test"]["reference"] == "onnxruntime" and r["test"]["passed"] and r["test"]["max_abs_diff_lsb"] <= 1
    assert {"conv2d", "depthwise_conv2d", "avg_pool2d", "max_pool2d"} <= {layer["op"] for layer in r["layers"]}


@pytest.mark.parametrize("args,needle", [
    (["--input-shape", "x=1,a"], "--input-shape"),
    (["--input-shape", "1,3,16,16"], "NAME=1,3,32,32"),
    (["--input-shape", "x=1,0,16,16"], "positive"),
    (["--mean", "a,b"], "--mean"),
    (["--std", "0.2;0.3"], "--std"),
])
def test_bad_conversion_flags_are_usage_errors(tmp_path, cnn, args, needle):
    """Malformed flag values stop before anything runs: click's usage error, exit 2, no traceback."""
    res = edgec("build", cnn, *args, "--dtype", "float32", "--out", tmp_path / "out")
    assert res.returncode == EXIT_INPUT, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr and "internal error" not in res.stderr
    assert not (tmp_path / "out").exists()
