"""Model importers: one module per file format, each returning an `ir.Graph`."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..ir import Graph


def import_model(path: Path) -> Graph:
    """Read a model file into the IR, choosing the importer by content (and extension as a hint)."""
    if not path.is_file():
        raise InputError(f"{path}: no such model file")
    head = path.read_bytes()[:8]
    if len(head) >= 8 and head[4:8] == b"TFL3":
        from .tflite import import_tflite

        return import_tflite(path)
    if path.suffix.lower() == ".onnx":
        raise InputError(f"{path}: ONNX import is not available yet (it arrives with the converter); "
                         "use an int8 .tflite model")
    raise InputError(f"{path}: not a TFLite flatbuffer (no 'TFL3' identifier); edgec reads int8 .tflite models")
