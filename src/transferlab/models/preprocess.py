"""How images are prepared for a model: resize, center crop and normalise, plus training augmentation.

A ``Preprocessing`` comes from the model's own configuration (``transferlab.models.registry``) and turns
PIL images into tensors: normalised floats, or uint8 tensors that ``normalize_batch`` normalises a
whole batch at a time.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from transferlab.errors import BadInputError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocessing:
    """How images must be prepared for a model: resize, center crop, normalise."""

    input_size: int
    resize_size: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def with_size(self, size: int | None) -> "Preprocessing":
        """The same recipe at another input size (the resize/crop ratio is kept)."""
        if size is None or size == self.input_size:
            return self
        if size < 16:
            raise BadInputError(f"--image-size {size} is too small (minimum 16)")
        return replace(self, input_size=int(size),
                       resize_size=int(round(size * self.resize_size / self.input_size)))

    def to_dict(self) -> dict:
        return {"input_size": self.input_size, "resize_size": self.resize_size,
                "interpolation": self.interpolation, "mean": list(self.mean), "std": list(self.std)}

    def transform(self, augment: str = "none", normalize: bool = True):
        """A torchvision-v2 transform from an RGB PIL image to a normalised float tensor.

        ``normalize=False`` stops at a uint8 tensor: cheaper to ship from DataLoader workers;
        then call ``normalize_batch`` on the whole batch.
        """
        from torchvision.transforms import v2

        interp = getattr(v2.InterpolationMode, self.interpolation.upper())
        if normalize:
            tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)]
        else:
            tail = [v2.PILToTensor()]
        head = _geometry(augment, self.input_size, self.resize_size, interp)
        if augment == "strong" and normalize:
            tail = tail + [v2.RandomErasing(p=0.25)]
        return v2.Compose(head + tail)

    def normalize_batch(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) images to normalised float, channels_last (one fused pass per batch)."""
        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1) * 255
        inv_std = 1.0 / (torch.tensor(self.std, device=images.device).view(1, 3, 1, 1) * 255)
        x = images.contiguous(memory_format=torch.channels_last).float()
        return x.sub_(mean).mul_(inv_std)


def _geometry(augment: str, input_size: int, resize_size: int, interp) -> list:
    """The steps that size an image: resize + center crop (``none``), or a random crop and flips
    (``light``; ``strong`` adds TrivialAugment)."""
    from torchvision.transforms import v2

    if augment == "none":
        # on a uint8 tensor: torch's antialiased resize is cheaper than PIL's (docs/fne.md), which counts
        # where decoding workers share the cores with the forward pass
        return [v2.PILToTensor(), v2.Resize(resize_size, interpolation=interp, antialias=True),
                v2.CenterCrop(input_size)]  # pads when the image is smaller
    if augment == "light":
        return [v2.RandomResizedCrop(input_size, scale=(0.5, 1.0), interpolation=interp, antialias=True),
                v2.RandomHorizontalFlip()]
    if augment == "strong":
        return [v2.RandomResizedCrop(input_size, scale=(0.25, 1.0), interpolation=interp, antialias=True),
                v2.RandomHorizontalFlip(), v2.TrivialAugmentWide(interpolation=interp)]
    raise BadInputError(f"unknown augmentation {augment!r}; choose none, light or strong")
