"""16x8 (int16 activations) SUB, PAD / PADV2 and MEAN: numpy reference and generated C (ASan+UBSan) against
TFLite Micro at 0 LSB on one-op models over odd shapes (SUB with broadcasting and a fused activation, PADV2 with
a constant value, MEAN over several axis sets with and without keep_dims)."""

from __future__ import annotations

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways
from test_op_int16 import binary_s16, checked


@pytest.mark.parametrize("shape1,shape2,scales,act,const", [
    ((1, 5, 7, 3), (1, 5, 7, 3), (0.0003, 0.0005, 0.0007), "NONE", None),
    ((2, 3, 11), (11,), (0.0009, 0.0002, 0.0012), "RELU", None),
    ((1, 4, 4, 6), (1, 1, 1, 6), (0.0004, 0.0004, 0.0009), "RELU6", 1),
    ((7, 1, 5), (1, 3, 1), (0.001, 0.0001, 0.0011), "NONE", None),
    ((3, 13), (3, 13), (0.00031, 0.00047, 0.0008), "NONE", 0),
])
def test_sub_s16(tmp_path, shape1, shape2, scales, act, const):
    model = binary_s16("SUB", "SubOptions", shape1, shape2, scales, act, const, len(shape1) * 7 + len(shape2))
    checked(run_three_ways(model, tmp_path))


@pytest.mark.parametrize("shape,paddings,value", [
    ((1, 5, 7, 3), [[0, 0], [1, 2], [3, 0], [0, 0]], None),
    ((3, 11), [[2, 1], [0, 5]], None),
    ((2, 3, 4, 5, 3), [[1, 0], [0, 1], [2, 2], [1, 3], [0, 2]], None),
    ((1, 6, 6, 4), [[0, 0], [1, 1], [1, 1], [0, 0]], -12345),
])
def test_pad_s16(tmp_path, shape, paddings, value):
    b = ModelBuilder()
    x = b.input("x", shape, np.int16, 0.0004, 0)
    out_shape = tuple(d + lo + hi for d, (lo, hi) in zip(shape, paddings))
    y = b.activation("y", out_shape, np.int16, 0.0004, 0)
    pads = b.const("paddings", np.asarray(paddings, np.int32))
    if value is None:
        b.op("PAD", [x, pads], [y], "PadOptions")
    else:
        b.op("PADV2", [x, pads, b.const("value", np.asarray([value], np.int16), scale=0.0004, zero_point=0)], [y],
             "PadV2Options")
    b.output(y)
    res = run_three_ways(b.build(), tmp_path)
    assert_bit_exact(res)
    if value is not None:
        assert (res["tflm"][0][0] == value).any()


@pytest.mark.parametrize("shape,axes,keep,scales", [
    ((1, 7, 5, 3), [1, 2], True, (0.0004, 0.0003)),
    ((1, 7, 5, 3), [1, 2], False, (0.0004, 0.0001)),
    ((2, 9, 13), [2], False, (0.0003, 0.0007)),
    ((3, 4, 5, 6), [0, 3], True, (0.0005, 0.0002)),
    ((2, 3, 4, 5), [-1, 1], False, (0.0002, 0.0002)),
])
def test_mean_s16(tmp_path, shape, axes, keep, scales):
    b = ModelBuilder()
    x = b.input("x", shape, np.int16, scales[0], 0)
    rank = len(shape)
    resolved = sorted({a % rank for a in axes})
    out_shape = tuple(1 if i in resolved else d for i, d in enumerate(shape)) if keep else tuple(
        d for i, d in enumerate(shape) if i not in resolved)
    y = b.activation("y", out_shape, np.int16, scales[1], 0)
    b.op("MEAN", [x, b.const("axes", np.asarray(axes, np.int32))], [y], "ReducerOptions", keepDims=keep)
    b.output(y)
    checked(run_three_ways(b.build(), tmp_path))


@pytest.mark.parametrize("shape,begin,end,strides,begin_mask,end_mask,shrink", [
    ((5, 2, 3), [0, 0, 0], [0, 0, 0], [-1, 1, 1], 7, 7, 0),  # a time reversal
    ((4, 7, 3), [1, 6, 0], [4, 0, 3], [2, -2, 1], 0, 0, 0),
    ((3, 2, 5), [2, 0, 0], [3, 0, 0], [1, 1, 1], 0b110, 0b110, 1),  # one step, the axis dropped
])
def test_strided_slice_s16(tmp_path, shape, begin, end, strides, begin_mask, end_mask, shrink):
    from edgec.importers import import_model
    from edgec.ops.strided_slice import resolve

    b = ModelBuilder()
    x = b.input("x", shape, np.int16, 0.0004, 0)
    attrs = dict(begin=begin, end=end, strides=strides, begin_mask=begin_mask, end_mask=end_mask,
                 shrink_axis_mask=shrink)
    _, _, sizes, shrunk = resolve(shape, attrs)
    y = b.activation("y", tuple(n for n, s in zip(sizes, shrunk) if not s), np.int16, 0.0004, 0)
    b.op("STRIDED_SLICE", [x, *(b.const(k, np.asarray(attrs[k], np.int32)) for k in ("begin", "end", "strides"))],
         [y], "StridedSliceOptions", beginMask=begin_mask, endMask=end_mask, shrinkAxisMask=shrink)
    b.output(y)
    model = b.build()
    (tmp_path / "m.tflite").write_bytes(model)
    assert import_model(tmp_path / "m.tflite").ops[0].type == "strided_slice"
    assert_bit_exact(run_three_ways(model, tmp_path))
