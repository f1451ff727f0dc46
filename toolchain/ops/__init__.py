"""Operators: one module each. Importing this package imports every module in it, and each module's
`@register` decorator adds its operator to REGISTRY (so a new op is one new file, nothing else to edit)."""

import importlib
import pkgutil

from .base import REGISTRY, Operator, register  # noqa: F401

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "window"):
        importlib.import_module(f"{__name__}.{_module.name}")
