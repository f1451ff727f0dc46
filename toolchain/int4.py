"""TFLite's packed int4 (TensorType INT4): the layout of 4-bit weights in a .tflite file and in edgec's weights.c.

Two values per byte in row-major flat order: element 2k in the LOW nibble of byte k, element 2k+1 in the HIGH
nibble; an odd count leaves the last element in the low nibble of the last byte (the high nibble is 0). A nibble
v in 0..15 is the two's-complement value (v ^ 8) - 8 in [-8, 7] (the same as sign-extending it: low
(int8)(byte << 4) >> 4, high (int8)byte >> 4).

In the IR an int4 tensor keeps its values unpacked in an int8 numpy array (dtype "int4", ir.py): only the file
(importer, exporter, model builder) and the generated C (weights.c) see the packed bytes, through these two
functions.
"""

from __future__ import annotations

import numpy as np

INT4_MIN, INT4_MAX = -8, 7


def packed_size(count: int) -> int:
    """Bytes that hold `count` packed int4 values."""
    return (count + 1) // 2


def pack_int4(values: np.ndarray) -> np.ndarray:
    """int values in [-8, 7] (any shape, flattened row-major) -> uint8 bytes, two per byte, low nibble first."""
    flat = np.asarray(values).reshape(-1).astype(np.int64)
    if flat.size and (flat.min() < INT4_MIN or flat.max() > INT4_MAX):
        raise ValueError(f"int4 values must be in [{INT4_MIN}, {INT4_MAX}], found {flat.min()}..{flat.max()}")
    nibbles = (flat & 0xF).astype(np.uint8)
    if nibbles.size % 2:
        nibbles = np.append(nibbles, np.uint8(0))
    return (nibbles[0::2] | (nibbles[1::2] << 4)).astype(np.uint8)


def unpack_int4(packed: np.ndarray, count: int) -> np.ndarray:
    """uint8 bytes -> `count` int8 values in [-8, 7] (the first count nibbles, low nibble of each byte first)."""
    raw = np.asarray(packed, dtype=np.uint8).reshape(-1)
    if raw.size != packed_size(count):
        raise ValueError(f"{count} int4 values take {packed_size(count)} bytes, not {raw.size}")
    nibbles = np.empty(raw.size * 2, dtype=np.int16)
    nibbles[0::2] = raw & 0xF
    nibbles[1::2] = raw >> 4
    return ((nibbles[:count] ^ 8) - 8).astype(np.int8)
