"""Calibration data for the quantizer: an .npz, an .npy, or a folder of images -> float32 samples in the IR's layout.

Sources:
    .npz     one array per model input, first axis = samples: the arrays named like the inputs, else (or with
             `key`, for a one-input model) the named array, else the arrays in file order; an array called
             `labels` is never an input
    .npy     one array, for a one-input model
    image    one image file, or a folder of image files (png, jpg, jpeg, bmp, gif, pgm, ppm, tif, tiff, webp; read
             with Pillow), in name order, for
             a one-input model with an NHWC image input of 1 (grey) or 3 (RGB) channels; each image is converted to
             that many channels and resized (bilinear) to the input's height and width

The model's preprocessing is declared, not guessed: every value v becomes  x = (v * scale - mean) / std,  where
`scale` is a number (e.g. 1/255 for 8-bit pixels) and `mean` and `std` are numbers or one number per channel
(the last axis of the NHWC input). Without them the data is taken as the model's input as it is.

Layout: an array may be in the user's layout, which is NCHW for a model imported from ONNX with image inputs
(`g.meta["input_layouts"]`, or the `layout` argument); it is transposed to the NHWC the IR uses. A sample may
carry the model's batch dimension of 1 or not: (N, C, H, W) and (N, 1, C, H, W) both fit a 1xCxHxW input.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import InputError
from .ir import Graph

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp"}
LAYOUTS = ("NHWC", "NCHW")

Number = float | Sequence[float]


def load_calibration(path: Path | str, g: Graph, *, mean: Number | None = None, std: Number | None = None,
                     scale: float | None = None, layout: str | None = None, limit: int | None = None,
                     key: str | None = None) -> list[list[np.ndarray]]:
    """Samples for `quantize.quantize_graph`: one list per sample with one float32 array per model input, shaped
    exactly like the (NHWC) input tensor."""
    path = Path(path)
    if layout is not None and layout.upper() not in LAYOUTS:
        raise InputError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    if limit is not None and limit < 1:
        raise InputError(f"the number of calibration samples must be at least 1, not {limit}")
    if is_image_source(path):
        arrays = [load_images(path, g, limit)]
        layouts = ["NHWC"]
    elif path.is_file():
        arrays = _load_arrays(path, g, key)
        layouts = [(layout or g.meta.get("input_layouts", {}).get(n, "NHWC")).upper() for n in g.inputs]
    else:
        raise InputError(f"{path}: no such calibration file or folder")
    per_input = [_conform(path, a, g, n, lay) for a, n, lay in zip(arrays, g.inputs, layouts)]
    per_input = [preprocess(path, a, n, mean, std, scale) for a, n in zip(per_input, g.inputs)]
    n = min(len(a) for a in per_input)
    if limit is not None:
        n = min(n, limit)
    if n == 0:
        raise InputError(f"{path}: no calibration samples")
    return [[a[i] for a in per_input] for i in range(n)]


def _load_arrays(path: Path, g: Graph, key: str | None) -> list[np.ndarray]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:
        raise InputError(f"{path}: not a readable .npz/.npy file or image folder ({e})") from None
    try:
        if isinstance(loaded, np.ndarray):
            if key is not None:
                raise InputError(f"{path}: an .npy file holds one unnamed array; `{key}` names an .npz array")
            arrays = [loaded]
        else:
            files = [k for k in loaded.files if k != "labels"]
            if key is not None:
                if key not in loaded.files:
                    raise InputError(f"{path}: has no array `{key}` (it has {', '.join(loaded.files) or 'none'})")
                arrays = [loaded[key]]
            elif all(n in files for n in g.inputs):
                arrays = [loaded[n] for n in g.inputs]
            else:
                arrays = [loaded[k] for k in files[:len(g.inputs)]]
    except InputError:
        raise
    except Exception as e:  # an object array (allow_pickle=False refuses it only when it is read), a bad zip
        raise InputError(f"{path}: not a readable .npz file ({e})") from None
    if len(arrays) != len(g.inputs):
        raise InputError(f"{path}: holds {len(arrays)} input arrays, the model has {len(g.inputs)} inputs "
                         f"({', '.join(g.inputs)})")
    return arrays


def is_image_source(path: Path) -> bool:
    """A folder of images or one image file (by its suffix): what load_images reads."""
    return path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)


def load_images(folder: Path, g: Graph, limit: int | None) -> np.ndarray:
    """A folder's images (in name order) or one image file as float32 pixels (N, 1, H, W, C) for the model's one
    NHWC image input: converted to its channels (grey or RGB) and resized (bilinear) to its height and width.
    Shared by --calib and `edgec test --inputs`."""
    if len(g.inputs) != 1:
        raise InputError(f"{folder}: images feed one-input models; the model has {len(g.inputs)} "
                         "inputs (use an .npz with one array per input)")
    t = g.t(g.inputs[0])
    if len(t.shape) != 4 or t.shape[3] not in (1, 3):
        raise InputError(f"{folder}: images need a 1xHxWx1 or 1xHxWx3 input, the model's input {t.name} is "
                         f"{t.shape}")
    files = ([folder] if folder.is_file() else
             sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()))
    if not files:
        raise InputError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    try:
        from PIL import Image
    except ImportError:
        raise InputError("reading an image folder needs Pillow (pip install pillow); or pass an .npz") from None
    _, h, w, c = t.shape
    images = []
    for p in files[:limit]:
        try:
            with Image.open(p) as f:
                im = f.convert("L" if c == 1 else "RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.Resampling.BILINEAR)
            images.append(np.asarray(im, dtype=np.float32).reshape(h, w, c))
        except Exception as e:
            raise InputError(f"{p}: not a readable image ({e})") from None
    return np.stack(images)[:, None]  # (N, 1, H, W, C)


def _conform(path: Path, a: np.ndarray, g: Graph, name: str, layout: str) -> np.ndarray:
    """(N, *input shape) float32 in the IR's NHWC layout, from the user's layout; shapes checked."""
    t = g.t(name)
    if a.dtype.kind not in "biuf" or a.ndim == 0:
        raise InputError(f"{path}: calibration data for input {name} must be a numeric array with the samples on "
                         f"the first axis, not {a.dtype} of shape {a.shape}")
    ir_shape = tuple(t.shape)
    nchw = layout == "NCHW" and len(ir_shape) == 4
    user_shape = (ir_shape[0], ir_shape[3], ir_shape[1], ir_shape[2]) if nchw else ir_shape
    if a.shape[1:] == user_shape:
        a = a.reshape((a.shape[0], *user_shape))
    elif a.shape[1:] == user_shape[1:] and user_shape[:1] == (1,):
        a = a.reshape((a.shape[0], *user_shape))
    elif a.shape == user_shape[1:] and user_shape[:1] == (1,):  # one sample without the sample axis
        a = a.reshape((1, *user_shape))
    else:
        raise InputError(f"{path}: calibration samples of shape {a.shape[1:]} do not fit input {name}, which takes "
                         f"{user_shape} ({layout}{'; the IR holds it as ' + str(ir_shape) + ' NHWC' if nchw else ''})"
                         f"; the array is {a.shape} with the samples on the first axis")
    if nchw:
        a = a.transpose(0, 1, 3, 4, 2)  # (N, 1, C, H, W) -> (N, 1, H, W, C)
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = int(np.argmax(~np.isfinite(a.reshape(len(a), -1)).all(axis=1)))
        raise InputError(f"{path}: calibration data for input {name} contains NaN or Inf (first in sample {bad})")
    return a.astype(np.float32)


def _per_channel(path: Path, what: str, v: Number, channels: int) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(v, dtype=np.float64))
    if arr.ndim != 1 or arr.size not in (1, channels) or not np.all(np.isfinite(arr)):
        raise InputError(f"{path}: --{what} must be one number or one per channel ({channels}), not {v!r}")
    return arr


def preprocess(path: Path, a: np.ndarray, name: str, mean: Number | None, std: Number | None,
               scale: float | None) -> np.ndarray:
    """x = (v * scale - mean) / std over the last (channel) axis, as float32; unchanged without them."""
    if mean is None and std is None and scale is None:
        return a
    channels = a.shape[-1]
    x = a.astype(np.float64)
    if scale is not None:
        if not np.isfinite(scale) or scale == 0:
            raise InputError(f"{path}: --scale must be a finite non-zero number, not {scale}")
        x = x * scale
    if mean is not None:
        x = x - _per_channel(path, "mean", mean, channels)
    if std is not None:
        s = _per_channel(path, "std", std, channels)
        if np.any(s == 0):
            raise InputError(f"{path}: --std must not be 0")
        x = x / s
    x = x.astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise InputError(f"{path}: preprocessing made input {name} overflow float32 (NaN or Inf)")
    return x


def missing_calibration_message(model: Path | str) -> str:
    """The error for a float model built without --calib (exit 2)."""
    return (f"{model}: a float model is quantized to int8 on calibration data, and none was given. Pass "
            "--calib DATA (an .npz/.npy of typical inputs, first axis = samples, or a folder of images; declare the "
            "model's preprocessing with --mean/--std/--scale), or build it in float with --dtype float32")
