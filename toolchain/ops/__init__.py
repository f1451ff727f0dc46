"""Operators: one module each. Importing this package imports every module in it, and each module's
`@register` decorator adds its operator to REGISTRY (a new op is one new file here; _template.py shows it whole,
and docs/architecture.md lists what else it touches: its kernel, the importer mappings, its test). The helpers'
modules (base, window, float_common) and the template register nothing."""

import importlib
import pkgutil

from .base import REGISTRY, Operator, register  # noqa: F401

for _module in pkgutil.iter_modules(__path__):
    if _module.name not in ("base", "window", "_template"):
        importlib.import_module(f"{__name__}.{_module.name}")
