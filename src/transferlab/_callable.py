"""Packages that are also functions: ``tl.fne(...)``, ``tl.finetune(...)``, ``tl.sweep(...)``.

``transferlab.fne`` is both the FNE package and, called, the one-shot pipeline: Python binds a
sub-package to its parent's attribute on import, so a plain function named like the package would
be replaced by the package the first time anything imports from it.  Calling the package instead
forwards to its function, which is imported only then.
"""
from __future__ import annotations

import importlib
import sys
import types


def callable_package(name: str, target: str) -> None:
    """Make the (already imported) package ``name`` callable: ``package(*a, **kw)`` = ``target(*a, **kw)``."""
    module_name, func_name = target.split(":")

    class CallablePackage(types.ModuleType):
        def __call__(self, *args, **kwargs):
            return getattr(importlib.import_module(module_name), func_name)(*args, **kwargs)

    CallablePackage.__call__.__doc__ = f"Call ``{module_name}.{func_name}``."
    sys.modules[name].__class__ = CallablePackage
