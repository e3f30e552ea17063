"""Frozen-prefix cache: the outputs of the frozen first K blocks, computed once per split.

Valid only when nothing before the cut changes between epochs: the blocks are frozen (and kept in
eval mode, so BatchNorm uses fixed statistics) and the input pipeline is deterministic
(``--augment none``).  ``transferlab.finetune.model.make_cut`` checks that the cut model gives
the full model's logits before a cache is used.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from transferlab.finetune.model import CutModel, Prepared, make_cut


@dataclass
class PrefixActivations:
    """The frozen prefix's outputs of one data split's readable images, in memory."""

    feats: torch.Tensor  # (N, ...) prefix outputs of the readable images, float32, CPU
    labels: torch.Tensor  # (N,)
    index: torch.Tensor  # (N,) position of each row in its Split
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (index in the split, reason)
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def nbytes(self) -> int:
        return self.feats.element_size() * self.feats.numel()


@torch.no_grad()
def build_cache(cut: CutModel, loader, prepare) -> PrefixActivations:
    """Run the frozen prefix once over ``loader`` (batches from ``collate_skipping``);
    ``prepare(images)`` moves a batch to the device and normalises it."""
    import time

    start = time.perf_counter()
    was = cut.model.training
    cut.model.eval()
    feats, labels, index, skipped = [], [], [], []
    try:
        for images, y, idx, bad in loader:
            skipped += [(int(i), r) for i, r in bad]
            if images is None:
                continue
            h = cut.prefix(prepare(images))
            feats.append(h.float().cpu().contiguous())
            labels.append(y)
            index.append(idx)
    finally:
        cut.model.train(was)
    if not feats:
        empty = torch.empty(0)
        return PrefixActivations(empty, empty.long(), empty.long(), skipped, time.perf_counter() - start)
    return PrefixActivations(torch.cat(feats), torch.cat(labels), torch.cat(index), skipped, time.perf_counter() - start)


def prefix_shape(cut: CutModel, image_size: int, device: torch.device) -> tuple[int, ...]:
    """Shape of one image's prefix output (for the memory estimate)."""
    was = cut.model.training
    cut.model.eval()
    try:
        with torch.no_grad():
            return tuple(cut.prefix(torch.zeros(1, 3, image_size, image_size, device=device)).shape[1:])
    finally:
        cut.model.train(was)


def plan_cache(cfg, prepared: Prepared, image_size: int, device: torch.device, n_images: int,
               warnings: list[str]) -> tuple[CutModel | None, str]:
    """(the cut model or None, note for the results): whether the frozen prefix of ``n_images`` is cached."""
    if not cfg.cache_frozen:
        return None, "off: --no-cache-frozen"
    if prepared.freeze <= 0:
        return None, "off"
    if cfg.augment != "none":
        return None, f"off: --augment {cfg.augment} changes the frozen blocks' inputs every epoch (use --augment none)"
    cut, why = make_cut(prepared, image_size)
    if cut is None:
        warnings.append(f"frozen-prefix cache not used: {why}")
        return None, f"off: {why}"
    shape = prefix_shape(cut, image_size, device)
    need = 4 * int(np.prod(shape)) * n_images
    if need > cfg.cache_max_gb * 2 ** 30:
        note = (f"off: it would need {need / 2 ** 30:.1f} GiB (> --cache-max-gb {cfg.cache_max_gb:g}); "
                "freeze more blocks or use a smaller --image-size")
        warnings.append(f"frozen-prefix cache not used: {note[5:]}")
        return None, note
    return cut, f"on: {why}, {tuple(shape)} per image"
