"""Reading one image safely: every failure becomes a ``BadImage`` with a reason, never a zero tensor.

Handles zero-byte, truncated, non-image and unreadable files; converts grayscale, 16-bit, CMYK,
palette, RGBA/LA (composited on white) to RGB; applies the EXIF orientation; refuses images
above a pixel limit (decompression-bomb protection) with a clear message.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from transferlab.data.config import DEFAULT_MAX_PIXELS


class BadImage(Exception):
    """An image that cannot be used; ``reason`` says why in a few words."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def open_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS, draft: int | None = None) -> Image.Image:
    """Decode ``path`` to an RGB image or raise ``BadImage``.

    ``draft``: the shorter side the caller will resize to; JPEGs are then decoded directly at the
    smallest DCT scale that is still at least that large (much faster, same final quality).
    """
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise BadImage(path, f"unreadable: {exc.strerror or exc}") from None
    if size == 0:
        raise BadImage(path, "empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            limit = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # we apply our own limit below, before decoding
            try:
                im = Image.open(path)
            finally:
                Image.MAX_IMAGE_PIXELS = limit
    except UnidentifiedImageError:
        raise BadImage(path, "not an image (format not recognised)") from None
    except OSError as exc:
        raise BadImage(path, f"unreadable: {exc.strerror or exc}") from None
    try:
        w, h = im.size
        if w * h > max_pixels:
            raise BadImage(path, f"{w}x{h} pixels ({w * h / 1e6:.0f} Mpx) exceeds the limit of {max_pixels / 1e6:.0f} Mpx "
                                 "(decompression-bomb protection; raise it with --max-pixels if the file is trusted)")
        if draft and im.format == "JPEG" and im.mode in ("RGB", "L"):
            im.draft(im.mode, (draft, draft))
        try:
            im.load()  # also closes the file of a single-frame image
        except (OSError, SyntaxError, ValueError) as exc:
            raise BadImage(path, f"truncated or corrupt image data ({exc})") from None
        ImageOps.exif_transpose(im, in_place=True)  # not a copy of every photo that needs no rotation
        return to_rgb(im)
    except BaseException:
        im.close()
        raise


def probe_image(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be an image, from its header alone (missing, empty, not an image), or None.

    Cheap (no pixel data is decoded), so a command can check a whole training set before it starts;
    files whose pixel data is damaged are only found when decoded (``open_image``)."""
    path = os.fspath(path)
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path):
                pass
    except UnidentifiedImageError:
        return "not an image (format not recognised)"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - a header Pillow chokes on: the decoder would too
        return f"unreadable image header ({exc.__class__.__name__})"
    return None


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB correctly (16-bit scaled, alpha composited on white)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I;16") or mode in ("I", "F"):
        a = np.asarray(im).astype(np.float64)
        if mode == "F":
            top = 1.0 if a.size and np.nanmax(a) <= 1.0 else 255.0
        else:
            top = 65535.0 if mode.startswith("I;16") or (a.size and a.max() > 255) else 255.0
        a = np.clip(np.nan_to_num(a) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(a, "L").convert("RGB")
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
