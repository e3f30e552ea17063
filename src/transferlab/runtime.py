"""Where and how fast things run: the device, worker-process counts and the cache root.

One home for each: every command asks here, so ``--device cuda`` on a machine without CUDA is
the same clear error everywhere, and one environment variable, ``TRANSFERLAB_CACHE``, moves every
cache (extracted features, downloaded datasets, the word-vector vocabulary).
"""
from __future__ import annotations

import os
from pathlib import Path

from transferlab.errors import BadInputError

CACHE_ENV = "TRANSFERLAB_CACHE"
MAX_DEFAULT_WORKERS = 8


def cache_root() -> Path:
    """``$TRANSFERLAB_CACHE``, else ``$XDG_CACHE_HOME/transferlab``, else ``~/.cache/transferlab``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "transferlab"


def cache_dir(kind: str) -> Path:
    """The cache folder of one kind of artefact (``features``, ``words``, ``FashionMNIST`` ...)."""
    return cache_root() / kind


def check_device_name(name: str | None) -> str | None:
    """Syntax check only (no torch import): ``cpu``, ``cuda``, ``cuda:N``, ``mps``; None = automatic."""
    if name is None:
        return None
    text = str(name).strip().lower()
    kind, _, index = text.partition(":")
    if kind not in ("cpu", "cuda", "mps") or (index and not index.isdigit()) or (kind != "cuda" and index):
        raise ValueError("must be cpu, cuda, cuda:N or mps")
    return text


def pick_device(name: str | None = None, local_rank: int | None = None):
    """The torch device to run on: ``name`` if given (checked to exist here), else CUDA when available."""
    import torch

    if name:
        dev = torch.device(check_device_name(name))
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise BadInputError(f"device (--device) {name}: CUDA is not available on this machine; "
                                    "use --device cpu or leave --device out")
            if dev.index is not None and dev.index >= torch.cuda.device_count():
                raise BadInputError(f"device (--device) {name}: this machine has {torch.cuda.device_count()} "
                                    "CUDA device(s)")
            if dev.index is None and local_rank is not None:
                dev = torch.device("cuda", local_rank)
        if dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise BadInputError(f"device (--device) {name}: MPS is not available on this machine")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank if local_rank is not None else torch.cuda.current_device())
    return torch.device("cpu")


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def default_workers(requested: int | None) -> int:
    """DataLoader worker processes: as requested, else one per CPU (at most 8)."""
    if requested is not None:
        return max(0, int(requested))
    return min(cpu_count(), MAX_DEFAULT_WORKERS)


def gpu_count() -> int:
    """CUDA devices this process may use (0 without an NVIDIA driver, without importing torch then)."""
    import shutil

    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    if shutil.which("nvidia-smi") is None and not Path("/proc/driver/nvidia").exists():
        return 0
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def bf16_support(device) -> str | None:
    """None when ``device`` computes in bfloat16 natively, else why not (one phrase). Without AVX-512
    BF16 or AMX PyTorch emulates bf16 on a CPU, slower than fp32; CUDA needs Ampere or later."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
            return None
        return f"{device} does not support bfloat16"
    if device.type != "cpu":
        return f"bfloat16 is not supported on {device.type}"
    cpu = getattr(torch, "cpu", None)
    if any(bool(getattr(cpu, name, lambda: False)()) for name in ("_is_avx512_bf16_supported",
                                                                   "_is_amx_tile_supported")):
        return None
    if {"avx512_bf16", "amx_bf16"} & cpu_flags():
        return None
    return "this CPU has no native bf16 instructions (neither AVX-512 BF16 nor AMX)"


def bf16_supported(device) -> bool:
    """Whether ``device`` computes in bfloat16 natively (see ``bf16_support``)."""
    return bf16_support(device) is None


def check_native_precision(precision: str, device) -> None:
    """``precision`` bf16 on a device without native bfloat16 is a one-line error (exit 2); fp32 always runs."""
    why = bf16_support(device) if precision == "bf16" else None
    if why:
        raise BadInputError(f"precision (--precision) bf16: {why}; use --precision fp32")


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
