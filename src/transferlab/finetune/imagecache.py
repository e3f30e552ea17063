"""Decoded-image cache for training: decode every training image once, keep it in RAM, downscaled.

On a few CPU cores, decoding a JPEG (even at a reduced DCT scale) costs more than a head-only
training step, so re-decoding every image every epoch dominates ``--freeze all`` runs with
augmentation (figures in docs/finetune.md, "Decoded-image cache").  With this cache the first time an image is needed
(epoch 1) it is decoded once — JPEG draft mode, at the smallest DCT scale whose shorter side is
still >= ``short_side`` — resized so that its shorter side is exactly ``short_side`` (never
upscaled, aspect ratio kept) and stored as uint8 RGB; every later epoch applies the SAME
augmentation transform to the stored image instead of opening the file.

The stored image is used in epoch 1 as well, so a run's results never depend on which epoch or
worker filled an entry (reproducibility per (seed, epoch, image) is unchanged; so is
``--workers`` independence and ``--resume``).  Compared with the uncached pipeline, the augmentation
starts from an image resampled once to ``short_side`` instead of the DCT-scaled decode (whose
shorter side lies between ``short_side`` and 2x it): a small resampling difference, same
distribution of crops.

The training loop asks for the stored image as a uint8 (3, H, W) tensor (``tensors=True``): a view
of the buffer, no copy, and the augmentation (RandomResizedCrop + flip, torchvision v2) runs on that
tensor, cheaper than on a PIL image (torch's antialiased uint8 resize, same filter).

Shared between DataLoader workers: the sizes of all entries are known before training from the
image headers (cheap), so one flat uint8 buffer and a status byte per image are allocated up front
in shared memory (``Tensor.share_memory_``); a worker that decodes an image writes it there and
every process (workers fork or are spawned with the same shared storage) sees it.

Unreadable images are never stored: they are re-opened every epoch and raise ``BadImage`` exactly
as without the cache, so they are skipped and listed the same way.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from transferlab.data.images import BadImage, open_image

_RESAMPLE = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
_SAMPLE = 512  # headers read to estimate the size of a large training set before reading them all


def target_size(w: int, h: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the shorter side ``short_side`` (never larger than the image), aspect kept."""
    short = min(w, h)
    if short <= short_side:
        return w, h
    s = short_side / short
    return (short_side, max(short_side, int(round(h * s)))) if w <= h else (max(short_side, int(round(w * s))), short_side)


def header_size(path: str) -> tuple[int, int]:
    """(width, height) after EXIF orientation, from the header only; (0, 0) if unreadable."""
    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                orientation = im.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block: open_image will decide
                orientation = 1
    except Exception:  # noqa: BLE001 - not an image / unreadable: open_image reports it when used
        return 0, 0
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


@dataclass
class CachePlan:
    sizes: list[tuple[int, int]] | None  # (w, h) of each entry; None when only estimated
    nbytes: int
    estimated: bool = False


def plan(paths: list[str], short_side: int, budget_bytes: float, seed: int = 0) -> CachePlan:
    """Entry sizes and total bytes; for a large set a random sample of headers is read first and the
    full scan is skipped when the estimate is already over ``budget_bytes``."""
    def nbytes(sizes):
        return sum(3 * w * h for w, h in (target_size(w, h, short_side) for w, h in sizes if w and h))

    if len(paths) > 4 * _SAMPLE:
        sample = random.Random(seed).sample(list(paths), _SAMPLE)
        estimate = nbytes([header_size(p) for p in sample]) * len(paths) / _SAMPLE
        if estimate > budget_bytes:
            return CachePlan(None, int(estimate), True)
    sizes = [header_size(p) for p in paths]
    return CachePlan(sizes, nbytes(sizes))


class ImageCache:
    """Decoded training images, downscaled to ``short_side``; a ``loader`` for ``ImageDataset``."""

    def __init__(self, paths: list[str], sizes: list[tuple[int, int]], short_side: int, interpolation: str,
                 shared: bool, tensors: bool = False):
        self.short_side = int(short_side)
        self.tensors = bool(tensors)  # return uint8 (3, H, W) tensors instead of PIL images
        self.resample = _RESAMPLE.get(interpolation, Image.BILINEAR)
        self.slot = {p: i for i, p in enumerate(paths)}
        dims = [target_size(w, h, self.short_side) if w and h else (0, 0) for w, h in sizes]
        self.dims = np.array(dims, dtype=np.int64).reshape(-1, 2)  # (w, h) of each entry
        nb = 3 * self.dims[:, 0] * self.dims[:, 1]
        self.offsets = np.concatenate([[0], np.cumsum(nb)]).astype(np.int64)
        self.buffer = torch.zeros(int(self.offsets[-1]), dtype=torch.uint8)
        self.status = torch.zeros(len(paths), dtype=torch.uint8)  # 1 = stored
        if shared:
            self.buffer.share_memory_()
            self.status.share_memory_()
        self._views: tuple[int, np.ndarray, np.ndarray] | None = None

    @property
    def nbytes(self) -> int:
        return int(self.offsets[-1])

    def filled(self) -> int:
        return int(self.status.sum())

    def _arrays(self) -> tuple[np.ndarray, np.ndarray]:
        pid = os.getpid()
        if self._views is None or self._views[0] != pid:
            self._views = (pid, self.buffer.numpy(), self.status.numpy())
        return self._views[1], self._views[2]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_views"] = None
        return state

    def _fit(self, image: Image.Image, k: int | None) -> tuple[Image.Image, bool]:
        """``image`` resized to entry ``k``'s size; (image, storable)."""
        w, h = image.size
        tw, th = (int(self.dims[k][0]), int(self.dims[k][1])) if k is not None else (0, 0)
        own = target_size(w, h, self.short_side)
        # the header-derived size must agree with the decoded image (DCT scaling rounds up by < 1 px per
        # 8, so the aspect ratio may differ by a pixel); otherwise use the decoded image's own target
        ok = tw > 0 and w >= tw and h >= th and abs(own[0] - tw) <= 1 and abs(own[1] - th) <= 1
        size = (tw, th) if ok else own
        if size != (w, h):
            image = image.resize(size, self.resample)
        return image, ok

    def __call__(self, path, max_pixels: int | None = None, draft: int | None = None) -> Image.Image | torch.Tensor:
        """The loader: the stored image of ``path``, or decode, store and return it (``draft`` is
        ignored: the cache decodes at its own ``short_side``, which is at least the pipeline's draft).

        With ``tensors=True`` the image comes as a uint8 (3, H, W) tensor: for a stored entry a
        read-only-by-convention view of the buffer (no copy; the transforms never write in place),
        in the same (H, W, 3) memory layout whether just decoded or read back, so the transform
        computes exactly the same output either way."""
        k = self.slot.get(os.fspath(path))
        buf, status = self._arrays()
        if k is not None and status[k] == 1:
            tw, th = int(self.dims[k][0]), int(self.dims[k][1])
            a, b = int(self.offsets[k]), int(self.offsets[k + 1])
            if self.tensors:
                return torch.from_numpy(buf[a:b]).view(th, tw, 3).permute(2, 0, 1)
            return Image.fromarray(buf[a:b].reshape(th, tw, 3).copy(), "RGB")
        kw = {} if max_pixels is None else {"max_pixels": max_pixels}
        image = open_image(path, draft=self.short_side, **kw)  # BadImage propagates: reported as without cache
        image, storable = self._fit(image, k)
        if storable and image.mode == "RGB":
            a, b = int(self.offsets[k]), int(self.offsets[k + 1])
            buf[a:b] = np.asarray(image, dtype=np.uint8).reshape(-1)
            status[k] = 1  # after the pixels: a reader never sees a half-written entry
        if self.tensors:
            return torch.from_numpy(np.array(image.convert("RGB"), dtype=np.uint8)).permute(2, 0, 1)
        return image


__all__ = ["ImageCache", "CachePlan", "plan", "target_size", "header_size", "BadImage"]
