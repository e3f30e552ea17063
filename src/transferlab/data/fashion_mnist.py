"""The built-in ``fashion-mnist`` dataset, read from the standard idx files.

Looked up in ``$TRANSFERLAB_FASHION_MNIST``, Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``) and transferlab's cache, where torchvision's
``FashionMNIST(download=True)`` puts it (``python -m transferlab.data.fashion_mnist --ensure``):
``transferlab.runtime.cache_dir("FashionMNIST")``, which ``$TRANSFERLAB_CACHE`` moves.
"""
from __future__ import annotations

import argparse
import gzip
import os
from functools import lru_cache
from pathlib import Path

import numpy as np

from transferlab.data import splits
from transferlab.errors import DataError
from transferlab.runtime import cache_dir

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
         "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


CACHE_KIND = "FashionMNIST"  # torchvision's FashionMNIST(root) keeps its files in root/FashionMNIST/raw


def cache_folder() -> Path:
    """Where ``--ensure`` downloads to: ``transferlab.runtime.cache_dir("FashionMNIST")`` (``$TRANSFERLAB_CACHE``)."""
    return cache_dir(CACHE_KIND)


def candidate_dirs() -> list[Path]:
    dirs = []
    if os.environ.get("TRANSFERLAB_FASHION_MNIST"):
        dirs.append(Path(os.environ["TRANSFERLAB_FASHION_MNIST"]))
    dirs += [Path("/usr/share/datasets/fashion-mnist"), cache_folder() / "raw"]
    return dirs


def _find(stem: str, folder: Path) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def locate() -> Path:
    """The folder holding the four idx files, or a clear error saying how to get them."""
    for folder in candidate_dirs():
        if all(_find(stem, folder) for pair in FILES.values() for stem in pair):
            return folder
    raise DataError("Fashion-MNIST not found (looked in " + ", ".join(map(str, candidate_dirs())) + "). "
                    "Install it: `apt-get install dataset-fashion-mnist`, or with internet "
                    "`python -m transferlab.data.fashion_mnist --ensure` (torchvision's download).")


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally gzipped): big-endian header, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path} is not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise DataError(f"{path} is truncated: {data.size} bytes of data for shape {shape}")
    return data.reshape(shape)


@lru_cache(maxsize=1)
def load_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train": (images N x 28 x 28 uint8, labels N), "test": (...)}."""
    folder = locate()
    return {split: (read_idx(_find(img, folder)), read_idx(_find(lab, folder)).astype(np.int64))
            for split, (img, lab) in FILES.items()}


def balanced_indices(labels: np.ndarray, per_class: int | None, seed: int, *, what: str = "training") -> np.ndarray:
    """``per_class`` random indices of every class (all indices when None), sorted; see ``data.splits``."""
    return splits.balanced_indices(labels, per_class, seed, CLASSES, what=what)


def ensure() -> Path:
    """Find the data, or download it with torchvision into transferlab's cache."""
    try:
        return locate()
    except DataError:
        pass
    from torchvision.datasets import FashionMNIST

    root = cache_folder().parent  # torchvision appends the class name, FashionMNIST
    print(f"downloading Fashion-MNIST with torchvision into {cache_folder()} ...")
    FashionMNIST(str(root), train=True, download=True)
    FashionMNIST(str(root), train=False, download=True)
    return locate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ensure", action="store_true", help="download with torchvision if not found")
    args = parser.parse_args()
    print(f"fashion-mnist: {ensure() if args.ensure else locate()}")


if __name__ == "__main__":
    main()
