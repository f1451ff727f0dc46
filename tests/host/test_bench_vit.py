"""The vit_mnist row of bench/models.py on a one-epoch model (the row's own code: training, export, the float32 C on
the host, the refusals recorded): its generated float32 C computes what onnxruntime computes and predicts what
PyTorch predicts, and `--calib` refuses the model naming every LayerNorm and GELU node (5 and 2), which is what
bench/results/models.md quotes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import models  # noqa: E402

from edgec import driver  # noqa: E402
from edgec.errors import UnsupportedError  # noqa: E402


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


def test_int8_refusal_names_layer_norm_and_gelu(vit):
    work, p = vit
    calib = work / "calib.npz"
    np.savez(calib, p.calib[:20])
    with pytest.raises(UnsupportedError) as e:
        driver.build(p.onnx, work / "q", conversion=driver.Conversion(calib=calib, calib_limit=20))
    line = models.refusal(e.value)
    assert "7 nodes" in line and "\n" not in line
    assert line.count("LayerNormalization node") == 5 and line.count("Gelu node") == 2
    assert "no int8 kernel" in str(e.value)
