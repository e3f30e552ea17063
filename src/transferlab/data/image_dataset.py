"""A split as a torch ``Dataset`` whose unreadable images are dropped from their batch and reported."""
from __future__ import annotations

from typing import Callable

import torch

from transferlab.data.images import DEFAULT_MAX_PIXELS, BadImage, open_image
from transferlab.data.splits import Split
from transferlab.errors import DataError


class ImageDataset(torch.utils.data.Dataset):
    """A split as a torch Dataset of ``(tensor, label, index, "")``; bad files give ``(None, label, index, reason)``.

    Use with ``collate_skipping`` so a bad file is dropped from its batch and reported, never zero-filled.
    With ``strict=True`` iterate through ``SkippingLoader``, which turns the first bad file into ``DataError``.
    """

    def __init__(self, split: Split, transform, loader: Callable = open_image, max_pixels: int = DEFAULT_MAX_PIXELS,
                 draft: int | None = None, strict: bool = False):
        self.split, self.transform, self.loader = split, transform, loader
        self.max_pixels, self.draft, self.strict = max_pixels, draft, strict

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int):
        path, label = self.split.paths[i], int(self.split.labels[i])
        try:
            image = self.loader(path, max_pixels=self.max_pixels, draft=self.draft)
        except BadImage as exc:
            return None, label, i, exc.reason  # strict mode raises in the main process (SkippingLoader)
        return self.transform(image), label, i, ""


def collate_skipping(batch):
    """Stack the good samples; return ``(images or None, labels, indices, [(index, reason), ...])``."""
    good = [b for b in batch if b[0] is not None]
    bad = [(b[2], b[3]) for b in batch if b[0] is None]
    images = torch.stack([b[0] for b in good]) if good else None
    labels = torch.tensor([b[1] for b in good], dtype=torch.long)
    index = torch.tensor([b[2] for b in good], dtype=torch.long)
    return images, labels, index, bad


class SkippingLoader:
    """A DataLoader of ``collate_skipping`` batches; with ``dataset.strict`` the first bad file raises
    ``DataError`` here, in the main process (raised in a worker it would arrive wrapped in a traceback)."""

    def __init__(self, loader: torch.utils.data.DataLoader):
        self.loader = loader

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def __iter__(self):
        dataset = self.loader.dataset
        for batch in self.loader:
            if dataset.strict and batch[3]:
                i, reason = batch[3][0]
                raise DataError(f"bad image (--strict): {dataset.split.paths[i]}: {reason}")
            yield batch
