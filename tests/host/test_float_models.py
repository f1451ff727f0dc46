"""The MLPerf Tiny float32 models built as float C (`--dtype float32`), run under ASan+UBSan, against TFLite
Micro's float kernels, LiteRT's reference kernels and edgec's numpy reference (float64 sums).

Measured with these seeds (docs/numerics.md, "Float32"): the C equals TFLM to the bit on all three models (same
summation order, same libm), and is within 7e-7 of the output range of the float64-summed reference. The
assertions use the documented tolerance, max |diff| <= 1e-5 x max |output|, which other compilers and libms
(expf, tanhf) must also meet. kws_ref_model_float32 is a hybrid model (int8 conv weights, float activations):
refused with one clear error.
"""

import numpy as np
import pytest
from oneop import FLOAT_TOLERANCE, float_errors

from edgec import driver, host, reference, validate
from edgec.data import random_inputs
from edgec.errors import InputError

MODELS = ["ad01_fp32.tflite", "pretrainedResnet.tflite", "vww_96_float.tflite"]


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_float_model_matches_tflm(shared_models, tmp_path, name):
    path = shared_models / name
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    assert all(g.t(t).dtype == "float32" for t in [*g.inputs, *g.outputs])
    xs = random_inputs(g, 10, seed=1)
    ours = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), g, len(xs))
    refs = {"TFLM": reference.run_tflm(path, xs)[0],
            "numpy": [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]}
    if reference.litert_available():
        refs["LiteRT"] = reference.run_litert(path, xs)
    report = []
    for ref_name, theirs in refs.items():
        worst, rel = float_errors(ours, theirs)
        report.append(f"{ref_name}: max |diff| {worst:.3g} ({rel:.3g} of the output range)")
        assert rel <= FLOAT_TOLERANCE, f"{name} vs {ref_name}: " + "; ".join(report)
    top1 = np.mean([np.argmax(a[0]) == np.argmax(np.asarray(t[0])) for a, t in zip(ours, refs["TFLM"])])
    assert top1 == 1.0, f"{name}: top-1 agreement with TFLM {top1}"
    print(f"{name}: " + "; ".join(report))


def test_hybrid_mlperf_model_is_refused(shared_models):
    with pytest.raises(InputError, match="hybrid .*CONV_2D"):
        driver.compile_model(shared_models / "kws_ref_model_float32.tflite",
                             conversion=driver.Conversion(dtype="float32"))


def test_float_onnx_net_vs_onnxruntime(tmp_path):
    """A float PyTorch net exported to ONNX (18 IR ops: conv, depthwise, Clip, max/avg pool, sigmoid, tanh, mul,
    add, concat, pad, mean, Linear, sub, softmax), built as float C, against onnxruntime."""
    torch = pytest.importorskip("torch")
    import onnxruntime as ort
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.dw = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
            self.c2, self.fc = nn.Conv2d(16, 12, 1), nn.Linear(12, 5)

        def forward(self, x):
            a = torch.relu(self.c1(x))
            b = torch.clamp(self.dw(a), -0.5, 3.0)
            p = nn.functional.max_pool2d(a, 2)
            c = nn.functional.pad(torch.cat([b, torch.sigmoid(p) * torch.tanh(p) + p], 1), (1, 1, 1, 1))
            d = nn.functional.avg_pool2d(self.c2(c), 3, stride=2).mean(dim=(2, 3))
            return torch.softmax(self.fc(d) - 0.5, dim=1)

    torch.manual_seed(0)
    path = tmp_path / "net.onnx"
    torch.onnx.export(Net().eval(), (torch.randn(1, 3, 16, 16),), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    assert g.meta["input_layouts"] == {"x": "NCHW"}  # the C takes NHWC
    rng = np.random.default_rng(0)
    nchw = [rng.normal(size=(1, 3, 16, 16)).astype(np.float32) for _ in range(8)]
    xs = [[a.transpose(0, 2, 3, 1).copy()] for a in nchw]
    ours = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), g, len(xs))
    sess = ort.InferenceSession(str(path))
    theirs = [[sess.run(None, {"x": a})[0]] for a in nchw]
    for name, result in (("C", ours), ("numpy", [[reference.run_numpy(g, s)[g.outputs[0]]] for s in xs])):
        worst, rel = float_errors(result, theirs)
        assert rel <= FLOAT_TOLERANCE, f"{name} vs onnxruntime: max |diff| {worst:.3g} ({rel:.3g} of the range)"
