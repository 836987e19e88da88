"""Fakes of the built-in providers, one module each (``STRATEGY`` + ``make_fake``), found at
import time so that adding a provider's fake touches no shared file."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

_HELPERS = frozenset({"base"})


def discover_fakes() -> dict[str, Any]:
    fakes: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _HELPERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        fakes[module.STRATEGY] = module.make_fake
    return fakes
