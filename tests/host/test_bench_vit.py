"""The vit_mnist row of bench/models.py on a one-epoch model (the row's own code: training, export, the float32 C on
the host, the int8 build): its generated float32 C computes what onnxruntime computes and predicts what PyTorch
predicts, and `--calib` quantizes it whole (5 LayerNorms lowered to int8 chains, 2 int8 GELU tables) into C that
predicts what the float model predicts on nearly every image, compared with LiteRT on the exported .tflite (TFLite
Micro has no GELU kernel: the bench falls back to LiteRT, as bench/results/models.md says)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import models  # noqa: E402

from edgec import driver  # noqa: E402


@pytest.fixture(scope="module")
def vit(tmp_path_factory) -> tuple[Path, models.Prepared]:
    pytest.importorskip("torch")
    if not models.MNIST.exists():
        pytest.fail(f"{models.MNIST} is missing: tests read the shared data from ../shared beside the repository")
    work = tmp_path_factory.mktemp("vit")
    return work, models.vit_mnist(work, epochs=1)


def test_float_c_matches_onnxruntime_and_pytorch(vit):
    work, p = vit
    x = p.x_test[:200]
    ours = models.float_c(p.onnx, x, work)
    ref = models.ort_logits(p.onnx, x)
    assert ours.shape == ref.shape == (200, 10)
    # docs/numerics.md "Float32": within 1e-5 of the largest |output| (a few ULP per sum, other summation order)
    assert np.abs(ours - ref).max() <= 1e-5 * np.abs(ref).max()
    assert np.array_equal(ours.argmax(1), p.torch_top1[:200])
    assert p.torch_top1.shape == p.y_test.shape == (2000,)


def test_int8_build_lowers_layer_norm_and_quantizes_gelu(vit):
    work, p = vit
    calib = work / "calib.npz"
    np.savez(calib, p.calib[:50])
    b = driver.build(p.onnx, work / "q", conversion=driver.Conversion(calib=calib, calib_limit=50))
    g = b.graph
    kinds = [op.type for op in g.ops]
    assert kinds.count("rsqrt") == 5 and kinds.count("gelu") == 2 and "layer_norm" not in kinds
    assert all(g.t(op.outputs[0]).dtype == "int8" for op in g.ops)
    qr = models.quantized(p.onnx, calib, p.x_test[:200], work, 8)
    assert qr["ref"] == "LiteRT"  # TFLite Micro refuses the GELU builtin
    assert qr["lsb"] <= 16, qr["lsb"]  # LiteRT's single-rounding FULLY_CONNECTED, not GELU (docs/numerics.md)
    float_top1 = models.ort_top1(p.onnx, p.x_test[:200])
    assert np.mean(qr["top1"] == float_top1) >= 0.95
