"""Test vectors: seeded random inputs over the full integer range, or a user's .npz / .npy file, image or folder
of images (what --calib takes, with the same --scale/--mean/--std preprocessing; calib.load_images).

An .npz holds one array per model input (matched by input name, else in file order), first axis = samples.
Samples are in the source model's layout: for an ONNX model whose NCHW input edgec runs as NHWC
(g.meta["input_layouts"]), NCHW samples are transposed here, so users feed what their framework feeds.
Float arrays are quantized with the input's scale and zero point (round half away from zero, saturated);
integer arrays are taken as already quantized and must fit the input's integer type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .ir import DTYPES, Graph, Tensor


def random_inputs(g: Graph, samples: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        sample = []
        for name in g.inputs:
            t = g.t(name)
            if t.dtype == "float32":
                sample.append(_random_floats(g, name, rng))
                continue
            info = np.iinfo(DTYPES[t.dtype])
            sample.append(rng.integers(info.min, info.max, size=t.shape, endpoint=True, dtype=DTYPES[t.dtype]))
        out.append(sample)
    return out


def _random_floats(g: Graph, name: str, rng: np.random.Generator) -> np.ndarray:
    """A float32 input (read by QUANTIZE ops): uniform over the range the first QUANTIZE's output can represent,
    widened by 10 % each side to exercise saturation; a quarter of the values sit exactly half a step between
    two quantized values (exact ties when the scale is a power of two) to exercise the rounding rule."""
    t = g.t(name)
    q = next((g.t(op.outputs[0]) for op in g.ops if name in op.inputs and g.t(op.outputs[0]).quant is not None), None)
    if q is None:
        return rng.uniform(-1.0, 1.0, size=t.shape).astype(np.float32)
    info = np.iinfo(DTYPES[q.dtype])
    lo, hi = (info.min - q.zero_point) * q.scale, (info.max - q.zero_point) * q.scale
    margin = 0.1 * (hi - lo)
    x = rng.uniform(lo - margin, hi + margin, size=t.shape)
    ties = (rng.integers(info.min, info.max, size=t.shape, endpoint=True) - q.zero_point + 0.5) * q.scale
    return np.where(rng.random(size=t.shape) < 0.25, ties, x).astype(np.float32)


@dataclass
class TestData:
    """`edgec test --inputs` data, read and checked against the imported model before anything is built.

    samples: per sample, one array per model input shaped like the input tensor (the IR's layout): float32 reals
    (float arrays and images, after --scale/--mean/--std) or integers taken as already quantized.
    labels: the `labels` array of an .npz (whole numbers, one per sample), else None."""

    path: Path
    samples: list[list[np.ndarray]]
    labels: np.ndarray | None = None

    @property
    def real(self) -> bool:
        """Real values (what the float model takes), not quantized integers."""
        return all(a.dtype.kind == "f" for a in self.samples[0])


def load_test_data(path: Path, g: Graph, limit: int | None = None, *, mean=None, std=None,
                   scale: float | None = None) -> TestData:
    """What --calib takes: an .npz / .npy (one array per input, first axis = samples, in the model's own layout),
    one image file or a folder of images (a one-input image model: resized to the input, see calib.load_images).
    Float data and images get the declared preprocessing (x * scale - mean) / std; integer arrays are taken as
    already quantized and get none. `g` is the imported model: only input names and shapes are read."""
    from .calib import is_image_source, load_images, preprocess

    if is_image_source(path):
        images = preprocess(path, load_images(path, g, limit), g.inputs[0], mean, std, scale)
        return TestData(path, [[x.reshape(g.t(g.inputs[0]).shape)] for x in images])
    if not path.is_file():
        raise InputError(f"{path}: no such data file or image folder")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(f"{path}: not a readable .npz/.npy file or image ({e})") from None
    if isinstance(loaded, np.ndarray):
        arrays = [loaded]
    else:
        keys = [k for k in loaded.files if k != "labels"]
        by_name = [k for k in g.inputs if k in keys]
        try:
            arrays = [loaded[k] for k in (by_name if len(by_name) == len(g.inputs) else keys)]
        except Exception as e:  # e.g. an object array, which allow_pickle=False refuses only when it is read
            raise InputError(f"{path}: not a readable .npz file ({e})") from None
    if len(arrays) != len(g.inputs):
        raise InputError(f"{path}: holds {len(arrays)} arrays, the model has {len(g.inputs)} inputs "
                         f"({', '.join(g.inputs)})")
    per_input = [_conform(path, a, g, name) for a, name in zip(arrays, g.inputs)]
    per_input = [preprocess(path, a, name, mean, std, scale) if a.dtype.kind == "f" else a
                 for a, name in zip(per_input, g.inputs)]
    n = min(len(a) for a in per_input)
    if limit is not None:
        n = min(n, limit)
    if n == 0:
        raise InputError(f"{path}: no samples")
    return TestData(path, [[a[i] for a in per_input] for i in range(n)], load_labels(path, n))


def model_inputs(data: TestData, g: Graph) -> list[list[np.ndarray]]:
    """The test samples as the built model's inputs take them: reals quantized with each int8 input's scale and
    zero point (round half away from zero, saturated), integers checked against the input's type."""
    out = []
    for k, name in enumerate(g.inputs):
        t = g.t(name)
        a = np.stack([sample[k] for sample in data.samples]).reshape((len(data.samples), *t.shape))
        if t.dtype == "float32":  # a float interface input (read by QUANTIZE, or a float32 model): taken as is
            out.append(a.astype(np.float32))
        elif a.dtype.kind == "f":
            out.append(quantize(a, t))
        else:
            info = np.iinfo(DTYPES[t.dtype])
            if a.min(initial=0) < info.min or a.max(initial=0) > info.max:
                raise InputError(f"{data.path}: input {name} has values outside {t.dtype} "
                                 f"({int(a.min())}..{int(a.max())}); integer arrays are taken as already quantized, "
                                 "give real values as a float array")
            out.append(a.astype(DTYPES[t.dtype]))
    return [[a[i] for a in out] for i in range(len(data.samples))]


def load_inputs(path: Path, g: Graph, limit: int | None = None) -> list[list[np.ndarray]]:
    """Test vectors for the model `g` (load_test_data, then model_inputs)."""
    return model_inputs(load_test_data(path, g, limit), g)


def _conform(path: Path, a: np.ndarray, g: Graph, name: str) -> np.ndarray:
    """(N, *input shape) in the IR's layout; floats as float32 (checked finite), integers as they are."""
    t = g.t(name)
    shape = tuple(t.shape)
    if a.ndim == 0 or a.dtype.kind not in "biuf":
        raise InputError(f"{path}: input {name} must be a numeric array with the samples on the first axis, "
                         f"not {a.dtype} of shape {a.shape}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        raise InputError(f"{path}: input {name} contains NaN or Inf")
    a = to_edgec_layout(a, g, name)
    if a.shape[1:] != shape and a.shape[1:] != shape[1:] and int(np.prod(a.shape[1:])) != t.size:
        raise InputError(f"{path}: samples of shape {a.shape[1:]} do not fit input {name} of shape {shape}")
    a = a.reshape((a.shape[0], *shape))
    return a.astype(np.float32) if a.dtype.kind == "f" else a.astype(np.int64)


def to_edgec_layout(a: np.ndarray, g: Graph, name: str) -> np.ndarray:
    """Samples (first axis) of an input the importer turned from NCHW into NHWC: NCHW samples -> NHWC."""
    if g.meta.get("input_layouts", {}).get(name) != "NCHW" or len(g.t(name).shape) != 4:
        return a
    n, h, w, c = g.t(name).shape
    if a.shape[1:] == (n, c, h, w):
        return a.transpose(0, 1, 3, 4, 2)
    if a.shape[1:] == (c, h, w):
        return a.transpose(0, 2, 3, 1)
    return a


def quantize(a: np.ndarray, t: Tensor) -> np.ndarray:
    """Real values onto a quantized tensor's integer grid: round half away from zero, saturated to its dtype."""
    info = np.iinfo(DTYPES[t.dtype])
    q = np.floor(np.abs(a / t.scale) + 0.5) * np.sign(a) + t.zero_point
    return np.clip(q, info.min, info.max).astype(DTYPES[t.dtype])


def dequantize(x: np.ndarray, t: Tensor) -> np.ndarray:
    """A tensor's values as float32 reals (float tensors, or values already float, unchanged)."""
    x = np.asarray(x)
    if t.quant is None or x.dtype.kind == "f":
        return x.astype(np.float32)
    return ((x.astype(np.float32) - t.zero_point) * t.scale).astype(np.float32)


def load_labels(path: Path, n: int) -> np.ndarray | None:
    """The `labels` array of an .npz (first n), or None when the file has none. Class indices: integers, or floats
    that are whole numbers (3.0 is class 3; 3.5 is refused)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception:
        return None
    if isinstance(loaded, np.ndarray) or "labels" not in loaded.files:
        return None
    try:
        labels = np.asarray(loaded["labels"]).reshape(-1)
    except Exception as e:
        raise InputError(f"{path}: `labels` is not a readable array ({e})") from None
    if labels.dtype.kind == "f" and labels.size and np.all(np.isfinite(labels)) and np.all(labels == np.rint(labels)):
        labels = labels.astype(np.int64)
    if labels.dtype.kind not in "iu" or labels.size < n:
        bad = next((v for v in labels.reshape(-1)[:n] if labels.dtype.kind == "f" and v != np.rint(v)), None)
        raise InputError(f"{path}: `labels` must be whole-number class indices, one per sample ({labels.size} "
                         f"of dtype {labels.dtype} for {n} samples" + (f"; {bad} is not a whole number" if bad is not
                                                                      None else "") + ")")
    if labels[:n].min(initial=0) < 0:
        raise InputError(f"{path}: `labels` must be class indices >= 0, not {int(labels[:n].min())}")
    return labels[:n].astype(np.int64)
