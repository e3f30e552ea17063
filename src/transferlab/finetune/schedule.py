"""Optimisation: optimiser (head and backbone learning rates), LR schedule, loss, mixed precision."""
from __future__ import annotations

import contextlib
import math
from typing import Callable

import torch
from torch import nn

from transferlab.finetune.model import Prepared, trainable_groups


def make_optimizer(cfg, prepared: Prepared) -> torch.optim.Optimizer:
    """SGD or AdamW; the backbone at ``lr * backbone_lr_mult``; no weight decay on biases and scales."""
    head, body = trainable_groups(prepared)
    groups = []
    for params, lr in ((head, cfg.lr), (body, cfg.lr * cfg.backbone_lr_mult)):
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]  # biases and normalisation scales
        if decay:
            groups.append({"params": decay, "lr": lr, "weight_decay": cfg.weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def make_schedule(cfg, optimizer, steps_per_epoch: int):
    """Per-step LR factor: linear warm-up, then cosine, step decay or constant."""
    total = cfg.epochs * steps_per_epoch
    warm = int(round(cfg.warmup * steps_per_epoch))
    step_size = (cfg.step_size or max(1, cfg.epochs // 3)) * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        if cfg.schedule == "cosine":
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        if cfg.schedule == "step":
            return cfg.gamma ** ((step - warm) // step_size)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_criterion(cfg) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)


def check_precision(cfg, device: torch.device) -> None:
    """``--precision bf16`` on a device without native bfloat16 is an error (one line, exit 2)."""
    from transferlab import runtime

    runtime.check_native_precision(cfg.precision, device)


def amp_dtype(cfg, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of training and evaluation: bfloat16 with ``--precision bf16`` (CPU or GPU);
    with fp32, mixed precision on a GPU only (``--amp``: bf16, else fp16 with loss scaling); else None."""
    if cfg.precision == "bf16":
        return torch.bfloat16
    if cfg.amp and device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return None


def make_scaler(dtype: torch.dtype | None):
    """A gradient scaler for float16 autocast (None otherwise: bfloat16 has fp32's range)."""
    return torch.amp.GradScaler("cuda") if dtype == torch.float16 else None


def autocast(device: torch.device, dtype: torch.dtype | None, compiled: bool = False):
    """Autocast to ``dtype`` on ``device``; a no-op for None.  bf16 on a CPU also runs depthwise
    convolutions' backward in fp32 (``finetune.depthwise``: oneDNN's bf16 one is slower), except in a
    compiled step, whose graph is the compiler's."""
    if dtype is None:
        return contextlib.nullcontext()
    if dtype == torch.bfloat16 and device.type == "cpu" and not compiled:
        from transferlab.finetune.depthwise import DepthwiseFp32Backward

        stack = contextlib.ExitStack()
        stack.enter_context(torch.autocast(device.type, dtype=dtype))
        stack.enter_context(DepthwiseFp32Backward())
        return stack
    return torch.autocast(device.type, dtype=dtype)
