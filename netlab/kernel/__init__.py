"""Models of the kernel's networking code. Each module's docstring names the kernel source files it models."""
from __future__ import annotations

import importlib
import pkgutil


def import_all() -> list[str]:
    """Import every model module, so every ``kernel_function`` is registered; returns the module names."""
    names = [m.name for m in pkgutil.iter_modules(__path__, __name__ + ".")]
    for name in names:
        importlib.import_module(name)
    return names
