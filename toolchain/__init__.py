"""edgec: int8 neural networks to plain C99 for microcontrollers."""

__version__ = "0.1.0"
