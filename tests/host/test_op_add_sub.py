"""ADD and SUB on int8: equal shapes, numpy broadcasting up to 6-D, scale ratios up to 100x, zero points, fused
activations and constant operands, bit-exact vs TFLM for both the numpy reference and the generated C."""

from pathlib import Path

import numpy as np
import pytest
from oneop import assert_bit_exact, binary_model, run_three_ways

from edgec import driver, reference
from edgec.data import random_inputs

CASES = [  # shape1, shape2, (s1, s2, s_out), activation, constant operand
    ((1, 4, 4, 3), (1, 4, 4, 3), (0.05, 0.07, 0.1), "NONE", None),
    ((1, 4, 4, 3), (1, 1, 1, 3), (0.02, 0.03, 0.04), "RELU", None),
    ((1, 4, 1, 3), (1, 1, 5, 3), (0.1, 0.01, 0.08), "RELU6", None),
    ((1, 1, 5, 3), (1, 4, 1, 3), (0.01, 1.0, 0.5), "NONE", None),     # 100x scale ratio, input 2 larger
    ((6, 5), (6, 5), (0.3, 0.003, 0.2), "NONE", None),                # 100x, input 1 larger
    ((6, 5), (5,), (0.02, 0.02, 0.03), "RELU_N1_TO_1", None),
    ((3, 4), (1,), (0.05, 0.2, 0.1), "NONE", None),                   # scalar-like second operand
    ((1,), (3, 4), (0.05, 0.2, 0.1), "RELU", None),                   # scalar-like first operand
    ((2, 1, 3, 1, 2, 4), (3, 1, 4, 1, 4), (0.04, 0.06, 0.05), "NONE", None),  # 6-D, both broadcast
    ((2, 3, 1, 4, 5), (2, 1, 6, 4, 1), (0.07, 0.05, 0.09), "NONE", None),     # 5-D
    ((1, 4, 4, 3), (1, 1, 1, 3), (0.02, 0.01, 0.03), "NONE", 1),      # constant second operand (a bias)
    ((1, 4, 4, 3), (1, 4, 4, 3), (0.02, 0.05, 0.03), "RELU", 0),      # constant first operand
]


@pytest.mark.parametrize("kind", ["ADD", "SUB"])
@pytest.mark.parametrize("shape1,shape2,scales,act,const", CASES)
def test_add_sub(tmp_path, kind, shape1, shape2, scales, act, const):
    model = binary_model(kind, shape1, shape2, scales, act, const, seed=len(shape1) * 7 + len(shape2))
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


@pytest.mark.parametrize("kind", ["ADD", "SUB"])
def test_add_sub_extreme_zero_points(tmp_path, kind):
    model = binary_model(kind, (2, 3, 8), (2, 3, 8), (0.02, 0.03, 0.05), zero_points=[-128, 127, -128])
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


def numpy_vs_tflm(model: bytes, tmp: Path, samples: int = 2, inputs: list[np.ndarray] | None = None) -> None:
    """Only the numpy reference (no C build): cheap enough to sweep many quantization parameters.
    `inputs`: one explicit sample instead of random ones."""
    path = tmp / "model.tflite"
    path.write_bytes(model)
    g = driver.compile_model(path).graph
    xs = [inputs] if inputs is not None else random_inputs(g, samples, 1)
    tflm, _ = reference.run_tflm(path, xs)
    for s, sample in enumerate(xs):
        ours = reference.run_numpy(g, sample)[g.outputs[0]].reshape(-1).astype(np.int64)
        theirs = tflm[s][0].reshape(-1).astype(np.int64)
        assert np.array_equal(ours, theirs), f"max |diff| {np.abs(ours - theirs).max()} LSB, " \
            f"{np.count_nonzero(ours != theirs)} elements"


def all_int8_pairs() -> list[np.ndarray]:
    """Every (x1, x2) int8 pair once: 65536 elements per input."""
    grid = np.arange(-128, 128, dtype=np.int8)
    return [np.repeat(grid, 256), np.tile(grid, 256)]


ROUND_SCALES = [(0.05, 0.07, 0.1), (0.1, 0.01, 0.08), (0.02, 0.03, 0.04), (0.3, 0.003, 0.2), (0.05, 0.2, 0.1)]


@pytest.mark.parametrize("kind", ["ADD", "SUB"])
def test_add_sub_all_pairs(tmp_path, kind):
    """Every input pair under round and random scales. Round scales are where the multipliers' precision shows:
    computing SUB's ratios in float32 (as tflite-micro's sub_common.cc source reads) instead of double puts
    25 to 2442 of the 65536 outputs 1 LSB off the wheel for the first three scale sets; edgec uses double."""
    rng = np.random.default_rng(11)
    random_scales = [tuple(float(v) for v in np.exp(rng.uniform(np.log(0.002), np.log(0.5), size=3))) for _ in range(5)]
    for k, scales in enumerate(ROUND_SCALES + random_scales):
        model = binary_model(kind, (65536,), (65536,), scales, seed=k)
        numpy_vs_tflm(model, tmp_path, inputs=all_int8_pairs())


@pytest.mark.parametrize("kind,shape1,shape2,scales,rule", [
    ("ADD", (4, 4), (4, 4), (0.5, 0.5, 1e-7), "rescale multiplier is below 1"),
    ("SUB", (4, 4), (4, 4), (0.5, 0.5, 1e-7), "rescale multiplier is below 1"),
    ("MUL", (4, 4), (4, 4), (100.0, 100.0, 1e-7), "is below 2^30"),
    ("ADD", (1, 1, 1, 1, 1, 2, 3), (3,), (0.1, 0.1, 0.1), "at most 6 dimensions"),
])
def test_unsupported_cases_fail_at_import(tmp_path, kind, shape1, shape2, scales, rule):
    from edgec.errors import UnsupportedError

    path = tmp_path / "model.tflite"
    path.write_bytes(binary_model(kind, shape1, shape2, scales))
    with pytest.raises(UnsupportedError) as err:
        driver.compile_model(path)
    assert rule in err.value.message
