"""edgec's PTQ of a float SVDF (`--calib`) into TFLite Micro's int8 SVDF (int16 state and weights_time): the
generated C equals TFLite Micro running edgec's exported model_int8.tflite over a stream of invocations (0 LSB,
the state carried in both), and stays close to the float model (TFLM float, the same stream)."""

import numpy as np
import pytest
from test_op_svdf import svdf_model

from edgec import driver, validate

F32 = np.float32


@pytest.mark.parametrize("seed", range(4))
def test_svdf_calib_bit_exact_with_tflm(tmp_path, seed):
    rng = np.random.default_rng(6000 + seed)
    batch, inputs, rank, memory = 1, int(rng.integers(3, 12)), int(rng.integers(1, 3)), int(rng.integers(2, 8))
    filters = rank * int(rng.integers(2, 6))
    path = tmp_path / "svdf.tflite"
    path.write_bytes(svdf_model(batch, inputs, filters, memory, rank, seed, dtype="float32", act=seed % 2))
    frames = np.zeros((100, batch, inputs), F32)  # a stationary, correlated stream of frames (AR(1))
    for t in range(1, len(frames)):
        frames[t] = 0.8 * frames[t - 1] + rng.normal(0, 0.6, (batch, inputs))
    np.savez(tmp_path / "calib.npz", x=frames[:70])
    np.savez(tmp_path / "test.npz", x=frames[70:])
    r = validate.test(path, tmp_path / "out", inputs=tmp_path / "test.npz",
                      conversion=driver.Conversion(calib=tmp_path / "calib.npz"))
    g = r.build.graph
    svdf = next(op for op in g.ops if op.type == "svdf")
    assert [g.t(i).dtype for i in svdf.inputs] == ["int8", "int8", "int16", "int32", "int16"]
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    cosine = r.build.report["test"]["float_model"]["cosine"]
    print(f"seed {seed}: I{inputs} F{filters} M{memory} rank {rank}: cosine vs float {cosine:.5f}, rmse "
          f"{r.rows[1].rmse:.4g}")
    assert cosine >= 0.98, r.build.report["test"]["float_model"]
