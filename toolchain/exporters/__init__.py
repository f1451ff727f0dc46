"""Model exporters: IR graph -> a model file another runtime reads (the inverse of `importers`)."""

from .tflite import write_tflite

__all__ = ["write_tflite"]
