"""Inference engines: one door, ``open_engine``, from a backbone and its taps to pooled features.

Feature extraction (``transferlab.fne``) and ``classify`` both sit above it.  ``torch`` is the eager
forward with hooks (the reference); ``onnxruntime`` and ``openvino`` run the tapped network exported
once to ONNX with every tap pooled inside the graph (``export``).  ``auto`` takes the fastest engine
measured for the device (``benchmarks/bench_extract.py``; docs/fne.md) and falls back to torch, with a
one-line notice naming the reason, when the export or the runtime fails.  Every engine maps a uint8
(N, 3, H, W) batch to float32 (N, sum of tap channels) features.

- ``backends``: the engine classes (``TorchEngine``, ``OnnxRuntimeEngine``, ``OpenVinoEngine``);
- ``export``: the tapped network as one cached ONNX graph.
"""
from __future__ import annotations

import sys
from typing import get_args

from transferlab.errors import BadInputError
from transferlab.models.config import Precision
from transferlab.runtime import check_native_precision

PRECISIONS = get_args(Precision)
# fastest first on CPU (benchmarks/bench_extract.py; figures in docs/fne.md)
CPU_PREFERENCE = {"fp32": ("openvino", "onnxruntime", "torch"), "bf16": ("openvino", "torch")}
BF16_ENGINES = ("torch", "openvino")  # ONNX Runtime's CPU provider has no bf16 convolutions
# auto exports only for jobs big enough to repay the one-off export and compile (docs/fne.md): below
# this much work (images x input size squared) an export that is not cached yet costs more than it saves
AUTO_EXPORT_MIN_WORK = 500 * 224 * 224

__all__ = ["PRECISIONS", "open_engine", "candidate_engines", "numerics_key"]


def numerics_key(engine_name: str, precision: str) -> str | None:
    """What the feature cache key must add: nothing for fp32 (every engine matches torch within 1e-4),
    the engine for bf16 (each rounds differently)."""
    return None if precision == "fp32" else f"{precision}:{engine_name}"


def candidate_engines(backend: str, precision: str, device) -> tuple[str, ...]:
    """The engines ``open_engine`` may pick for these options, in its order, without opening any: what a
    cache lookup of bf16 features (whose key names the engine) tries before an engine is compiled."""
    if backend != "auto":
        return (backend,)
    if device.type != "cpu":
        return ("torch",)
    return CPU_PREFERENCE[precision]


def open_engine(backbone, taps, preprocessing, *, backend: str = "auto", precision: str = "fp32", device=None,
                batch_size: int = 32, quiet: bool = False, n_images: int | None = None):
    """The engine that extracts ``taps`` (a context manager; call it on uint8 batches).

    ``n_images``: how many images it will see; with ``auto``, a job too small to repay an export that is
    not cached yet stays on torch.
    """
    from transferlab.models.engines.backends import TorchEngine
    from transferlab.runtime import pick_device

    device = device or pick_device(None)
    check_native_precision(precision, device)
    if backend == "torch":
        return TorchEngine(backbone, taps, preprocessing, device, precision)
    if backend != "auto":
        if device.type != "cpu":
            raise BadInputError(f"backend (--backend) {backend} runs on the CPU here; use --backend torch or auto "
                                f"on {device}")
        if precision not in _precisions(backend):
            raise BadInputError(f"backend (--backend) {backend} has no {precision}; use --backend "
                                f"{' or '.join(e for e in BF16_ENGINES)} for bf16")
        try:
            return _runtime_engine(backend, backbone, taps, preprocessing, precision, batch_size)
        except _Unavailable as exc:
            raise BadInputError(f"backend (--backend) {backend}: {exc}") from None
    if device.type != "cpu" or (n_images is not None and _too_small_to_export(backbone, taps, preprocessing, n_images)):
        return TorchEngine(backbone, taps, preprocessing, device, precision)
    reasons = []
    for name in CPU_PREFERENCE[precision]:
        if name == "torch":
            break
        try:
            return _runtime_engine(name, backbone, taps, preprocessing, precision, batch_size)
        except _Unavailable as exc:
            reasons.append(f"{name}: {exc}")
    if reasons and not quiet:
        print(f"notice: --backend auto uses torch ({'; '.join(reasons)})", file=sys.stderr, flush=True)
    return TorchEngine(backbone, taps, preprocessing, device, precision)


def _too_small_to_export(backbone, taps, preprocessing, n_images: int) -> bool:
    if n_images * preprocessing.input_size ** 2 >= AUTO_EXPORT_MIN_WORK:
        return False
    from transferlab.models.engines.export import export_path

    try:
        return not export_path(backbone, taps, preprocessing).is_file()
    except ImportError:
        return True


def _precisions(backend: str) -> tuple[str, ...]:
    return PRECISIONS if backend in BF16_ENGINES else ("fp32",)


class _Unavailable(Exception):
    """An engine that cannot run here (runtime not installed, model does not export); the reason."""


def _runtime_engine(name, backbone, taps, preprocessing, precision, batch_size):
    from transferlab.models.engines import backends
    from transferlab.models.engines.export import ExportError, exported_graph

    cls = {"onnxruntime": backends.OnnxRuntimeEngine, "openvino": backends.OpenVinoEngine}[name]
    try:
        cls.check_installed()
    except ImportError as exc:
        raise _Unavailable(f"{cls.package} is not installed ({exc}); pip install {cls.package}") from None
    try:
        path = exported_graph(backbone, taps, preprocessing)
    except ExportError as exc:
        raise _Unavailable(str(exc)) from None
    try:
        return cls(path, taps, precision, batch_size, name=backbone.name)
    except Exception as exc:  # a runtime that refuses the graph: say which and why, then fall back
        raise _Unavailable(f"{cls.package} cannot load the exported {backbone.name}: "
                           f"{type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
