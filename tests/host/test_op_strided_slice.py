"""STRIDED_SLICE (TFLite) with constant begin/end/strides: int8 at 0 LSB and float32 bit-identical against
TFLite Micro (numpy reference and generated C under ASan+UBSan) over odd shapes, negative indices and strides,
begin/end masks, out-of-range ends (clamped) and shrunk axes; the model exports back to STRIDED_SLICE. Ellipsis
and new-axis masks, `offset` and computed indices are refused, naming the op, node and field."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec.errors import UnsupportedError
from edgec.importers import import_model
from edgec.ops.strided_slice import resolve


def ss_model(shape, begin, end, strides, masks=(0, 0, 0), dtype=np.int8, extra=None, const_indices=True) -> bytes:
    attrs = dict(begin=begin, end=end, strides=strides, begin_mask=masks[0], end_mask=masks[1],
                 shrink_axis_mask=masks[2])
    _, _, sizes, shrunk = resolve(shape, attrs)
    out_shape = tuple(n for n, s in zip(sizes, shrunk) if not s)
    b = ModelBuilder()
    if dtype == np.float32:
        x, y = b.input("x", shape, dtype=np.float32), b.activation("y", out_shape, dtype=np.float32)
    else:
        x = b.input("x", shape, scale=0.05, zero_point=-3)
        y = b.activation("y", out_shape, scale=0.05, zero_point=-3)
    idx = [b.const(n, np.asarray(v, dtype=np.int32)) for n, v in (("begin", begin), ("end", end))]
    if not const_indices:
        idx[0] = b.input("begin_in", (len(begin),), dtype=np.int32)
    st = b.const("strides", np.asarray(strides, dtype=np.int32))
    b.op("STRIDED_SLICE", [x, *idx, st], [y], "StridedSliceOptions", beginMask=masks[0], endMask=masks[1],
         shrinkAxisMask=masks[2], **(extra or {}))
    b.output(y)
    return b.build()


CASES = [  # shape, begin, end, strides, (begin_mask, end_mask, shrink_axis_mask)
    ((1, 7, 9, 5), [0, 1, 2, 1], [1, 6, 9, 4], [1, 2, 3, 1], (0, 0, 0)),   # strided rows and columns
    ((3, 11), [-1, 9], [-4, 0], [-1, -2], (0, 0, 0)),                      # negative indices and strides
    ((5, 7, 3), [1, 0, 2], [4, 100, -100], [1, 1, -1], (0, 0, 0)),          # ends out of range: clamped
    ((5, 7, 3), [3, 2, 1], [0, 5, 2], [1, 2, 1], (0b101, 0b001, 0)),       # begin/end masks
    ((1, 9, 13), [0, 4, 0], [1, 5, 13], [1, 1, 1], (0, 0, 0b011)),         # shrink: [0, 4, :] -> (13,)
    ((2, 9, 13), [0, -1, 3], [0, 0, 12], [1, 1, 4], (0b001, 0b001, 0b010)),  # shrink with a negative index
    ((3, 5, 7, 9), [2, 4, 6, 8], [0, 0, 0, 0], [-1, -2, -3, -4], (0, 0b1111, 0)),  # reverse every axis
    ((17,), [3], [16], [5], (0, 0, 0)),
]


@pytest.mark.parametrize("shape,begin,end,strides,masks", CASES)
def test_strided_slice_int8(tmp_path, shape, begin, end, strides, masks):
    assert_bit_exact(run_three_ways(ss_model(shape, begin, end, strides, masks), tmp_path, samples=4))


@pytest.mark.parametrize("case", [1, 4, 6])
def test_strided_slice_float32(tmp_path, case):
    shape, begin, end, strides, masks = CASES[case]
    assert_bit_exact(run_three_ways(ss_model(shape, begin, end, strides, masks, np.float32), tmp_path,
                                    dtype="float32", samples=3))


def _problems(tmp_path, model: bytes) -> list[str]:
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    with pytest.raises(UnsupportedError) as e:
        import_model(path)
    return e.value.problems


@pytest.mark.parametrize("extra,field", [(dict(ellipsisMask=1), "ellipsis_mask = 1"),
                                         (dict(newAxisMask=2), "new_axis_mask = 2"),
                                         (dict(offset=True), "offset = true")])
def test_strided_slice_unsupported_masks_are_refused(tmp_path, extra, field):
    problems = _problems(tmp_path, ss_model((4, 6), [0, 1], [4, 5], [1, 1], extra=extra))
    assert any(p.startswith(f"#0 STRIDED_SLICE (y): {field} is not supported") for p in problems), problems


def test_strided_slice_computed_begin_is_refused(tmp_path):
    problems = _problems(tmp_path, ss_model((4, 6), [0, 1], [4, 5], [1, 1], const_indices=False))
    assert any(p.startswith("#0 STRIDED_SLICE (y): the begin input (input 1) must be a constant") for p in problems), \
        problems


def test_resolve_matches_python_slicing():
    """masks off, no shrink: TFLite's index rules are Python's slice rules (clamping included)"""
    rng = np.random.default_rng(4)
    for _ in range(500):
        n = int(rng.integers(1, 9))
        b, e = (int(v) for v in rng.integers(-12, 12, size=2))
        s = int(rng.choice([-3, -2, -1, 1, 2, 3]))
        _, _, sizes, _ = resolve((n,), dict(begin=[b], end=[e], strides=[s], begin_mask=0, end_mask=0,
                                            shrink_axis_mask=0))
        assert sizes[0] == len(range(n)[b:e:s]), (n, b, e, s)


def test_strided_slice_empty_result_is_refused(tmp_path):
    b = ModelBuilder()
    x = b.input("x", (4, 6), scale=0.05, zero_point=0)
    y = b.activation("y", (0, 6), scale=0.05, zero_point=0)
    idx = [b.const(n, np.asarray(v, np.int32)) for n, v in (("b", [3, 0]), ("e", [1, 6]), ("s", [1, 1]))]
    b.op("STRIDED_SLICE", [x, *idx], [y], "StridedSliceOptions", beginMask=0, endMask=0, shrinkAxisMask=0)
    b.output(y)
    problems = _problems(tmp_path, b.build())
    assert any("#0 STRIDED_SLICE (y)" in p and "non-empty" in p for p in problems), problems
