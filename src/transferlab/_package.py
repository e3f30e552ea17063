"""Packages whose names load lazily, and packages that are also functions.

``import transferlab`` (and ``transferlab --help``) must not load torch, so the public names of the
top-level face and of the capability packages are imported on first use.  ``transferlab.fne`` is
also the one-shot FNE pipeline when called (``tl.fne(data, ...)``): Python binds a sub-package to
its parent's attribute on import, so a plain function named like the package would be replaced by
the package the first time anything imports from it; calling the package forwards to the function.
"""
from __future__ import annotations

import importlib
import sys
import types


def lazy_package(name: str, exports: dict[str, str], call: str | None = None, renamed: dict | None = None) -> None:
    """Give the package ``name`` lazily imported ``exports`` (public name -> module, ``.sub`` relative
    to the package) and, with ``call`` (``"module:function"``), make it callable."""
    module = sys.modules[name]
    renamed = renamed or {}

    def __getattr__(attr: str):
        if attr in exports:
            target = exports[attr]
            target = name + target if target.startswith(".") else target
            imported = importlib.import_module(target)
            # a sub-package exported under its own name is the package itself (tl.fne is transferlab.fne)
            value = imported if target == f"{name}.{attr}" else getattr(imported, renamed.get(attr, attr))
            setattr(module, attr, value)
            return value
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__
    module.__all__ = sorted(set(getattr(module, "__all__", ())) | set(exports))
    module.__dir__ = lambda: sorted(set(vars(module)) | set(module.__all__))
    if call is not None:
        module_name, func_name = call.split(":")

        class CallablePackage(types.ModuleType):
            def __call__(self, *args, **kwargs):
                return getattr(importlib.import_module(module_name), func_name)(*args, **kwargs)

        CallablePackage.__call__.__doc__ = f"Call ``{module_name}.{func_name}``."
        module.__class__ = CallablePackage
