"""The one IR of edgec: tensors, ops and a graph (verifier.py checks its invariants).

Tensors are named; ops refer to tensors by name (None for an absent optional input such as a missing bias).
Shapes are static and NHWC for 4-D activations. A tensor with `data` is a constant (it goes to flash).
int4 weights (4-bit, TFLite's TensorType INT4) are a tensor of dtype "int4" whose `data` is an int8 numpy array of
values in [-8, 7]: one value per element, unpacked. Every reference, rule and pass reads them like int8 weights
(the maths is the same: TFLM too unpacks them to int8 and runs its int8 kernel); only the file and the generated C
hold them packed two per byte (toolchain/int4.py), so `nbytes` is the packed size and the C type is uint8_t (the
bytes). A distinct dtype, not an int8 tensor with a flag: whatever does not know int4 (an op without int4
support, a DSP kernel, the patch stage) then refuses it instead of reading packed bytes as int8 or emitting
unpacked bytes as if they were the flash cost.

 (strides, padding, fused activation ...); `Op.params` hold what the
compiler derives from them in `prepare` (fixed-point multipliers, shifts, clamps): the C kernels only read params.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: the numpy dtype of a tensor's values (int4: unpacked, one int8 per value) and its C element type (int4: the
#: packed bytes)
DTYPES = {"int4": np.int8, "int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32,
          "int64": np.int64, "float32": np.float32, "float16": np.float16, "bool": np.bool_}
C_TYPES = {"int4": "uint8_t", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t",
           "int64": "int64_t", "float32": "float", "float16": "uint16_t", "bool": "uint8_t"}


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per tensor (axis None) or per channel along `axis`."""

    scale: np.ndarray  # float32, one per channel (or one)
    zero_point: np.ndarray  # int64, same length as scale
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None and self.scale.size > 1


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # constants only
    #: a trained parameter of a training graph (toolchain/train/graph.py): `data` holds its initial values, the
    #: C keeps it in SRAM (a non-const array in weights.c) and the training step's backward ops update it
    mutable: bool = False
    #: of a mutable tensor: 0 when all of it is SRAM, else only its first `mutable_channels` entries along the last
    #: axis (the trained input channels of a partially trained conv) are SRAM and the rest stays const in flash
    #: (c_emit.EmitContext.frozen_ptr; docs/training.md, "Only the trained slice in SRAM")
    mutable_channels: int = 0
    #: a state tensor (TFLite's variable tensor: SVDF's activation history, LSTM's h and c): no `data`, not in the
    #: arena; its op reads and updates it in place on every invocation, so it persists between invocations in its
    #: own SRAM array (model.c), which `<prefix>_reset()` (and `_init()`) sets to the zero point (docs/memory.md)
    state: bool = False

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        if self.dtype == "int4":
            return (self.size + 1) // 2  # packed two per byte (int4.packed_size)
        return self.size * np.dtype(DTYPES[self.dtype]).itemsize

    @property
    def sram_nbytes(self) -> int:
        """The bytes of a mutable tensor's SRAM part (its trained slice when mutable_channels is set)."""
        if self.mutable_channels:
            return self.nbytes // self.shape[-1] * self.mutable_channels
        return self.nbytes

    @property
    def scale(self) -> float:
        assert self.quant is not None, f"tensor {self.name} is not quantized"
        return float(self.quant.scale[0])

    @property
    def zero_point(self) -> int:
        return int(self.quant.zero_point[0]) if self.quant is not None else 0


@dataclass
class Op:
    type: str  # IR op type, a key of ops.REGISTRY
    name: str  # the node name from the model file (for messages)
    inputs: list[str | None]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor]
    ops: list[Op]
    inputs: list[str]
    outputs: list[str]
    #: facts about the source model the tools need later, e.g. {"format": "onnx",
    #: "input_layouts": {name: "NCHW"}} when the importer turned NCHW inputs into the NHWC the C uses
    meta: dict[str, Any] = field(default_factory=dict)

    def t(self, name: str | None) -> Tensor:
        assert name is not None
        return self.tensors[name]

    def producers(self) -> dict[str, Op]:
        return {o: op for op in self.ops for o in op.outputs}

    def consumers(self) -> dict[str, list[Op]]:
        users: dict[str, list[Op]] = {}
        for op in self.ops:
            for i in op.inputs:
                if i is not None:
                    users.setdefault(i, []).append(op)
        return users
