"""Model importers: one module per file format, each returning an `ir.Graph`."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..ir import Graph


def is_tflite(path: Path) -> bool:
    """A TFLite flatbuffer: the file identifier 'TFL3' at bytes 4..8."""
    head = path.read_bytes()[:8] if path.is_file() else b""
    return len(head) >= 8 and head[4:8] == b"TFL3"


def import_model(path: Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Read a model file into the IR, choosing the importer by content (and extension as a hint).
    `input_shapes` fixes dynamic input dimensions of ONNX models ({input name: shape}, `--input-shape`)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    if is_tflite(path):
        if input_shapes:
            raise InputError(f"{path}: --input-shape applies to ONNX models; a .tflite model has static shapes")
        from .tflite import import_tflite

        return import_tflite(path)
    if path.suffix.lower() == ".onnx":
        from .onnx import import_onnx

        return import_onnx(path, input_shapes)
    raise InputError(f"{path}: neither a TFLite flatbuffer (no 'TFL3' identifier) nor an .onnx file; edgec reads "
                     ".tflite and .onnx models")
