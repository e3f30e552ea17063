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


def use_amp(cfg, device: torch.device) -> bool:
    """Mixed precision is only ever used on a GPU."""
    return cfg.amp and device.type == "cuda"


def make_scaler(amp: bool):
    """A gradient scaler for float16 autocast (None without AMP; disabled where bfloat16 is used)."""
    return torch.amp.GradScaler("cuda", enabled=amp and not torch.cuda.is_bf16_supported()) if amp else None


def autocast(device: torch.device, enabled: bool):
    """bfloat16 (else float16) autocast on CUDA; a no-op elsewhere."""
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()
