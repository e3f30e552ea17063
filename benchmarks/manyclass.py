"""A 100-class stand-in dataset for the probe benchmark: Fashion-MNIST's classes split into visual modes.

Each of Fashion-MNIST's 10 classes is split into ``modes`` sub-classes by k-means (seeded) on the raw
pixels of its 60,000-image training set; each sub-class keeps ``train`` training and ``test`` test
images, drawn from Fashion-MNIST's train and test sets respectively (test images are assigned to the
nearest centroid of their class).  The result is a folder dataset (``train/CLASS/*.png``,
``test/CLASS/*.png``) with 100 classes and about 20 training images a class: the shape of Oxford
Flowers or of the FNE paper's benchmarks, with fine-grained, partly overlapping classes.  It is a
stand-in for timing only (its accuracy means nothing beyond "hard").

    python benchmarks/manyclass.py [--out DIR]   # prints the folder
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def default_folder(modes: int, train: int, test: int) -> Path:
    sys.path.insert(0, str(ROOT / "src"))
    from transferlab.runtime import cache_dir

    return cache_dir("bench") / f"fashion-mnist-{10 * modes}-modes-{train}-{test}"


def build(out: Path | None = None, modes: int = 10, train: int = 20, test: int = 20, seed: int = 0) -> Path:
    """The folder dataset (built once; a complete one is reused)."""
    from PIL import Image
    from sklearn.cluster import KMeans

    sys.path.insert(0, str(ROOT / "src"))
    from transferlab.data.fashion_mnist import load_arrays

    out = Path(out) if out else default_folder(modes, train, test)
    done = out.with_name(out.name + ".complete")
    if done.is_file() and out.is_dir():
        return out
    arrays = load_arrays()
    (xtr, ytr), (xte, yte) = arrays["train"], arrays["test"]
    rng = np.random.default_rng(seed)
    tmp = out.with_name(out.name + ".partial")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    for label in range(10):
        pix = xtr[ytr == label].reshape(-1, 28 * 28).astype(np.float32) / 255
        km = KMeans(n_clusters=modes, n_init=3, random_state=seed).fit(pix)
        test_pix = xte[yte == label].reshape(-1, 28 * 28).astype(np.float32) / 255
        for split, images, assign, count in (("train", xtr[ytr == label], km.labels_, train),
                                             ("test", xte[yte == label], km.predict(test_pix), test)):
            for mode in range(modes):
                members = np.flatnonzero(assign == mode)
                if len(members) < count:
                    raise SystemExit(f"class {label} mode {mode} has {len(members)} {split} images (< {count})")
                folder = tmp / split / f"c{label}-m{mode}"
                folder.mkdir(parents=True, exist_ok=True)
                for i in rng.choice(members, count, replace=False):
                    Image.fromarray(images[i]).save(folder / f"{i:05d}.png")
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    done.write_text("ok\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path)
    ap.add_argument("--modes", type=int, default=10)
    ap.add_argument("--train", type=int, default=20)
    ap.add_argument("--test", type=int, default=20)
    args = ap.parse_args()
    print(build(args.out, args.modes, args.train, args.test))


if __name__ == "__main__":
    main()
