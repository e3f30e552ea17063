"""Small embedded thumbnails: each image decoded once (JPEGs at a reduced DCT scale), shrunk to fit
``SIZE`` px and stored as a JPEG ``data:`` URI, so a report opens from disk with no image files beside it."""
from __future__ import annotations

import base64
import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SIZE = 96
QUALITY = 70


def _open(path: str, base: Path | None):
    from transferlab.data.images import open_image

    if path.startswith("fashion-mnist:"):
        from transferlab.data.sources import FashionMnistLoader

        return FashionMnistLoader()(path)
    p = Path(path)
    if not p.is_absolute() and not p.exists() and base is not None and (base / p).exists():
        p = base / p
    return open_image(p, draft=SIZE)


def thumbnail(path: str, base: Path | None = None, size: int = SIZE) -> str:
    """The image at ``path`` as a ``data:image/jpeg`` URI at most ``size`` px a side; "" when unreadable."""
    try:
        im = _open(path, base)
    except Exception:  # noqa: BLE001 - an unreadable image gets no thumbnail, the page still shows its name
        return ""
    im.thumbnail((size, size))
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=QUALITY, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


class Thumbs:
    """The page's thumbnails: ``add(path)`` gives the number an ``<img data-t>`` refers to; ``build()`` makes
    them (in threads: decoding releases the GIL)."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base
        self.index: dict[str, int] = {}

    def add(self, path: str) -> int:
        return self.index.setdefault(path, len(self.index))

    def __len__(self) -> int:
        return len(self.index)

    def build(self, workers: int | None = None) -> list[str]:
        paths = list(self.index)
        workers = workers or min(4, os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda p: thumbnail(p, self.base), paths))
