"""``--compile``: the training step through ``torch.compile``, eager again from a failure on.

Compilation happens at the first call (and again for a new input shape, such as the smaller last
batch), so a failure (no C++ compiler, an operator the compiler cannot handle) shows up there: it
becomes a one-line notice and that step, and every later one, runs eagerly.  Evaluation always
runs eagerly: compiling its graph too would cost another compile for a few hundred images.
"""
from __future__ import annotations

import sys
import time
from typing import Callable

from torch import nn

from transferlab.errors import TransferlabError


class CompiledStep:
    """``run(step)`` calls ``step(net)`` with the compiled network, or with the eager one after a failure."""

    def __init__(self, net: nn.Module, notify: Callable[[str], None] | None = None):
        import torch

        self.eager = net
        self.compiled = torch.compile(net)
        self.failed: str | None = None  # why compilation failed
        self.first_call_s: float | None = None  # the first step: compile time plus one step
        self.notify = notify or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def run(self, step):
        if self.failed is None:
            start = time.perf_counter()
            try:
                out = step(self.compiled)
            except TransferlabError:
                raise
            except Exception as exc:  # noqa: BLE001 - any compiler failure: the eager step below decides
                first = (str(exc).strip().splitlines() or [""])[0][:160]
                self.failed = f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__
                self.notify(f"notice: --compile failed ({self.failed}); training continues without compilation")
            else:
                if self.first_call_s is None:
                    self.first_call_s = time.perf_counter() - start
                return out
        return step(self.eager)

    def note(self) -> str:
        if self.failed:
            return f"failed, eager instead ({self.failed})"
        if self.first_call_s is None:
            return "on (not run yet)"
        return f"on (first training step, compilation included: {self.first_call_s:.1f} s)"
