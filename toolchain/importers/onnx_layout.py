"""Layouts: how the ONNX importer holds an ONNX value in an IR tensor, and the algebra of moving between them.

ONNX images are NCHW; the IR and the C kernels are NHWC. Each ONNX value is held in the IR in a layout
`perm`: the IR tensor is `onnx_value.transpose(perm)`. 4-D values of spatial ops live in NHWC, perm (0,2,3,1);
the rest in ONNX order, perm identity. 3-D values of 1-D window ops (Conv1d, pool1d: [N, C, W]) live in NW1C,
perm (0, UNIT, 2, 1): the IR tensor [N, 1, W, C], so the 2-D ops run them with H = 1 (a UNIT entry is a new axis
of size 1; ops that do not handle it see the same bytes as [N, W, C]). An op that needs another layout gets a
`transpose` (or, when only size-1 dimensions move, a `reshape`, which moves no data); an ONNX Transpose is folded
into the layout where it can be (no op at all). A per-channel quantization axis moves with the layout.
"""

from __future__ import annotations

import numpy as np

from ..ir import Quant

#: 4-D values of spatial ops: ONNX NCHW held as NHWC
NHWC = (0, 2, 3, 1)
#: a layout entry that is no ONNX dimension but a new axis of size 1 in the IR tensor
UNIT = -1
#: 1-D spatial values: ONNX [N, C, W] held as the IR tensor [N, 1, W, C] (the 2-D ops' NHWC with H = 1)
NW1C = (0, UNIT, 2, 1)


def identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def same_order(perm: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """onnx_value.transpose(perm) holds its elements in ONNX order: only size-1 dimensions move."""
    moved = held_order(perm, shape)
    return moved == sorted(moved)


def held_order(perm: tuple[int, ...], shape: tuple[int, ...]) -> list[int]:
    """The ONNX dimensions of size > 1 in the order the IR tensor of layout perm holds them: two layouts with the
    same order hold the same bytes (a `reshape` converts, no data moves)."""
    return [p for p in perm if p != UNIT and shape[p] != 1]


def without_unit(perm: tuple[int, ...]) -> tuple[int, ...]:
    """The layout without its UNIT axes: a permutation of the ONNX dimensions, with the same element order."""
    return tuple(p for p in perm if p != UNIT)


def held_shape(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if p == UNIT else int(shape[p]) for p in perm)


def hold(a: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    """An ONNX-order array in layout perm (a UNIT entry inserts an axis of size 1)."""
    return a.transpose(without_unit(perm)).reshape(held_shape(a.shape, perm))


def relative_perm(src: tuple[int, ...], dst: tuple[int, ...]) -> tuple[int, ...]:
    """The perm R with v.transpose(src).transpose(R) == v.transpose(dst) (UNIT axes: in both or in neither)."""
    return tuple(src.index(d) for d in dst)


def moved_axis(quant: Quant | None, perm: tuple[int, ...]) -> Quant | None:
    """The quantization of an ONNX value held in layout perm, with its axis named in IR dimensions."""
    if quant is None or quant.axis is None:
        return quant
    return Quant(scale=quant.scale, zero_point=quant.zero_point, axis=perm.index(quant.axis))


def onnx_axis(quant: Quant | None, perm: tuple[int, ...]) -> Quant | None:
    """The quantization of an IR tensor held in layout perm, with its axis named in ONNX dimensions."""
    if quant is None or quant.axis is None:
        return quant
    return Quant(scale=quant.scale, zero_point=quant.zero_point, axis=perm[quant.axis])

