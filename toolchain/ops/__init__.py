"""Operators: one module each, registered by importing it here."""

from .base import REGISTRY, Operator, register  # noqa: F401

# Each import registers one operator (see base.py for what a module provides).
from . import conv2d, depthwise_conv2d, fully_connected, pool2d, reshape  # noqa: E402,F401
