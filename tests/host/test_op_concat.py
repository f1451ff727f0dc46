"""CONCATENATION on int8: ranks 1 to 5, every axis (negative too), 1 to 4 inputs, constant inputs: bit-exact vs
TFLM. TFLM's int8 kernel requires equal quantization on all inputs and the output; edgec refuses the rest."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec import driver
from edgec.errors import UnsupportedError


def concat_model(shapes, axis, scale=0.04, zp=-9, const_input=None, in_quant=None, activation=0):
    rng = np.random.default_rng(len(shapes) * 10 + axis + 7)
    b = ModelBuilder()
    ins = []
    for k, s in enumerate(shapes):
        sc, z = in_quant[k] if in_quant else (scale, zp)
        if const_input == k:
            ins.append(b.const(f"c{k}", rng.integers(-128, 128, size=s, dtype=np.int8), scale=sc, zero_point=z))
        else:
            ins.append(b.input(f"x{k}", s, scale=sc, zero_point=z))
    rank = len(shapes[0])
    ax = axis % rank
    out = list(shapes[0])
    out[ax] = sum(s[ax] for s in shapes)
    y = b.activation("y", tuple(out), scale=scale, zero_point=zp)
    b.op("CONCATENATION", ins, [y], "ConcatenationOptions", axis=axis, fusedActivationFunction=activation)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("shapes,axis", [
    ([(5,), (3,)], 0),
    ([(2, 3), (2, 5), (2, 1)], 1),
    ([(2, 3), (4, 3)], 0),
    ([(1, 4, 4, 3), (1, 4, 4, 5)], 3),
    ([(1, 4, 4, 3), (1, 4, 4, 5)], -1),
    ([(1, 2, 5, 3), (1, 3, 5, 3), (1, 1, 5, 3)], 1),
    ([(1, 4, 2, 3), (1, 4, 6, 3)], -2),
    ([(2, 3, 4), (1, 3, 4), (3, 3, 4), (2, 3, 4)], 0),
    ([(2, 2, 3, 2, 4), (2, 2, 1, 2, 4)], 2),
    ([(1, 3, 3, 2)], 3),  # a single input: a copy
])
def test_concat(tmp_path, shapes, axis):
    assert_bit_exact(run_three_ways(concat_model(shapes, axis), tmp_path, samples=8))


def test_concat_constant_input(tmp_path):
    assert_bit_exact(run_three_ways(concat_model([(1, 3, 4, 2), (1, 3, 4, 3)], 3, const_input=1), tmp_path,
                                    samples=8))


def _refused(tmp_path, model: bytes, rule: str):
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedError, match=rule):
        driver.build(path, tmp_path / "out")


@pytest.mark.parametrize("in_quant", [[(0.04, -9), (0.05, -9)], [(0.04, -9), (0.04, 3)]])
def test_concat_different_quant_refused(tmp_path, in_quant):
    """Different scale or zero point: TFLM's Prepare fails, edgec refuses the model with the rule."""
    model = concat_model([(1, 2, 2, 3), (1, 2, 2, 4)], 3, in_quant=in_quant)
    _refused(tmp_path, model, "every input has the output's scale and zero point")
    from edgec import reference

    path = tmp_path / "m.tflite"
    with pytest.raises(Exception):  # noqa: B017 - TFLM raises its own runtime error type
        reference.run_tflm(path, [[np.zeros((1, 2, 2, 3), np.int8), np.zeros((1, 2, 2, 4), np.int8)]])


def test_concat_fused_activation_refused(tmp_path):
    _refused(tmp_path, concat_model([(2, 3), (2, 3)], 1, activation=1), "fused activation is NONE")
