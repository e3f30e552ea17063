"""Image datasets as (train, test) splits with ONE class list, taken from train.

Sources (``load_dataset``):
- ``fashion-mnist``: built in (``per_class`` for a balanced, seeded subset of train and of test);
- a folder with ``train/`` and ``val/`` or ``test/``, each holding one sub-folder per class;
- a folder of class sub-folders, split with a stratified, seeded ``test_fraction``;
- MIT67-style lists: ``train_list``/``test_list`` files of ``class/file.jpg`` lines under ``images``;
- a CSV of ``path,label`` rows (optional ``split`` column with train/test; otherwise ``test_fraction``).

A class seen in test but not in train is an error; hidden files (``.DS_Store``) are ignored and
listed; files that cannot be decoded are found at load time (``ImageDataset``) and reported.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from transferlab.data import fashion_mnist
from transferlab.data.images import DEFAULT_MAX_PIXELS, BadImage, open_image
from transferlab.errors import BadInputError, DataError

FASHION_MNIST = "fashion-mnist"
SPLIT_NAMES = ("val", "test")


@dataclass
class Split:
    """One split: sample keys (file paths, or ``fashion-mnist:train:123``) and class indices."""

    paths: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index) -> "Split":
        index = np.asarray(index, dtype=np.int64)
        return Split([self.paths[i] for i in index], self.labels[index])


@dataclass
class DataSplits:
    name: str
    classes: list[str]
    train: Split
    test: Split
    source: str  # kind of source, e.g. "folder(train/val)"
    ignored: list[dict] = field(default_factory=list)  # {"path", "reason"} found while listing
    test_split_name: str = "test"
    fingerprint_extra: str = ""

    def loader(self) -> Callable[..., Image.Image]:
        return FashionMnistLoader() if self.source == FASHION_MNIST else open_image

    def fingerprint(self, split: str) -> str:
        """Digest of the exact file list (path, size, mtime) and labels: the cache key's data part."""
        part = getattr(self, split)
        h = hashlib.sha256(f"{self.source}|{self.fingerprint_extra}|{'|'.join(self.classes)}".encode())
        for path, label in zip(part.paths, part.labels.tolist()):
            if self.source == FASHION_MNIST:
                h.update(f"{path}\t{label}\n".encode())
                continue
            try:
                st = os.stat(path)
                h.update(f"{path}\t{label}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{path}\t{label}\tmissing\n".encode())
        return h.hexdigest()

    def summary(self) -> str:
        return (f"{self.name}: {len(self.classes)} classes, {len(self.train)} train / {len(self.test)} "
                f"{self.test_split_name} images ({self.source})")


def load_dataset(data: str | os.PathLike, *, test_fraction: float = 0.2, seed: int = 0, per_class: int | None = None,
                 train_list: str | None = None, test_list: str | None = None, images: str | None = None) -> DataSplits:
    """Open a dataset from any supported source (see the module docstring)."""
    data = os.fspath(data) if data is not None else None
    if train_list or test_list:
        if not (train_list and test_list):
            raise BadInputError("--train-list and --test-list go together")
        splits = _from_lists(train_list, test_list, images or data)
    elif data == FASHION_MNIST:
        splits = _fashion_mnist(per_class, seed)
        per_class = None  # already applied to both splits
    elif data is None:
        raise BadInputError("no dataset given (--data)")
    elif str(data).lower().endswith(".csv"):
        splits = _from_csv(Path(data), test_fraction, seed)
    else:
        splits = _from_folder(Path(data), test_fraction, seed)
    if per_class is not None:
        splits.train = splits.train.subset(fashion_mnist.balanced_indices(splits.train.labels, per_class, seed))
        splits.fingerprint_extra += f"|per_class={per_class},seed={seed}"
    _validate(splits)
    return splits


def _validate(splits: DataSplits) -> None:
    if len(splits.train) == 0:
        raise DataError(f"{splits.name}: no training images found")
    if len(splits.classes) < 2:
        raise DataError(f"{splits.name}: only one class ({splits.classes[0] if splits.classes else 'none'}); "
                        "a classifier needs at least two")
    if len(splits.test) == 0:
        raise DataError(f"{splits.name}: the {splits.test_split_name} split is empty")
    present = set(splits.train.labels.tolist())
    missing = [c for i, c in enumerate(splits.classes) if i not in present]
    if missing:
        raise DataError(f"{splits.name}: classes with no training image: {', '.join(missing)}")


def _fashion_mnist(per_class: int | None, seed: int) -> DataSplits:
    arrays = fashion_mnist.load_arrays()
    parts = {}
    for split, (_, labels) in arrays.items():
        idx = fashion_mnist.balanced_indices(labels, per_class, seed)
        parts[split] = Split([f"{FASHION_MNIST}:{split}:{i}" for i in idx], labels[idx])
    extra = f"per_class={per_class},seed={seed}"
    return DataSplits(FASHION_MNIST, list(fashion_mnist.CLASSES), parts["train"], parts["test"], FASHION_MNIST,
                      fingerprint_extra=extra)


class FashionMnistLoader:
    """Picklable loader turning ``fashion-mnist:SPLIT:INDEX`` keys into RGB images."""

    def __call__(self, key: str, max_pixels: int = DEFAULT_MAX_PIXELS, draft: int | None = None) -> Image.Image:
        _, split, idx = key.split(":")
        return Image.fromarray(fashion_mnist.load_arrays()[split][0][int(idx)], "L").convert("RGB")


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in ("Thumbs.db", "desktop.ini")


def _list_class_dirs(root: Path) -> tuple[dict[str, list[str]], list[dict]]:
    """{class name: sorted file paths} of a folder of class sub-folders, plus ignored files."""
    classes: dict[str, list[str]] = {}
    ignored = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _is_hidden(entry.name):
            ignored.append({"path": entry.path, "reason": "hidden file"})
        elif entry.is_dir():
            files = []
            for dirpath, dirnames, filenames in os.walk(entry.path):
                dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
                for f in sorted(filenames):
                    p = os.path.join(dirpath, f)
                    (ignored.append({"path": p, "reason": "hidden file"}) if _is_hidden(f) else files.append(p))
            classes[entry.name] = files
        else:
            ignored.append({"path": entry.path, "reason": "file outside any class folder"})
    return classes, ignored


def _from_folder(root: Path, test_fraction: float, seed: int) -> DataSplits:
    root = Path(os.path.abspath(root))
    if not root.exists():
        raise BadInputError(f"dataset folder not found: {root}")
    if not root.is_dir():
        raise BadInputError(f"{root} is neither a folder nor a .csv file")
    test_dir = next((root / n for n in SPLIT_NAMES if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        train, ignored = _list_class_dirs(root / "train")
        test, ignored_test = _list_class_dirs(test_dir)
        classes = _classes_from_train(train, root / "train")
        unseen = sorted(set(test) - set(classes))
        if unseen:
            raise DataError(f"{test_dir}: class folder(s) {', '.join(unseen)} do not exist in {root / 'train'}; "
                            f"train classes are: {', '.join(classes)}")
        return DataSplits(root.name, classes, _split(train, classes), _split(test, classes),
                          f"folder(train/{test_dir.name})", ignored + ignored_test, test_dir.name)
    if (root / "train").is_dir():
        raise DataError(f"{root} has train/ but no val/ or test/ folder")
    by_class, ignored = _list_class_dirs(root)
    if not by_class:
        raise DataError(f"{root}: no class sub-folders (expected {root}/CLASS/IMAGE files, or train/ and val/)")
    classes = _classes_from_train(by_class, root)
    full = _split(by_class, classes)
    train, test = _stratified(full, classes, test_fraction, seed)
    splits = DataSplits(root.name, classes, train, test, f"folder(test_fraction={test_fraction})", ignored)
    splits.fingerprint_extra = f"test_fraction={test_fraction},seed={seed}"
    return splits


def _classes_from_train(by_class: dict[str, list[str]], where: Path) -> list[str]:
    if not by_class:
        raise DataError(f"{where}: no class sub-folders")
    empty = [c for c, files in by_class.items() if not files]
    if empty and len(empty) == len(by_class):
        raise DataError(f"{where}: no images found (class folders {', '.join(empty)} are empty)")
    if empty:
        raise DataError(f"{where}: class folder(s) without any file: {', '.join(empty)}")
    return sorted(by_class)


def _split(by_class: dict[str, list[str]], classes: list[str]) -> Split:
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for c, files in by_class.items():
        paths += files
        labels += [index[c]] * len(files)
    return Split(paths, np.asarray(labels, dtype=np.int64))


def _stratified(full: Split, classes: list[str], test_fraction: float, seed: int) -> tuple[Split, Split]:
    from sklearn.model_selection import train_test_split

    if not 0 < test_fraction < 1:
        raise BadInputError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
    counts = np.bincount(full.labels, minlength=len(classes))
    small = [f"{classes[i]} ({n})" for i, n in enumerate(counts) if n < 2]
    if small:
        raise DataError(f"cannot split classes with fewer than 2 images into train and test: {', '.join(small)}")
    try:
        tr, te = train_test_split(np.arange(len(full)), test_size=test_fraction, random_state=seed,
                                  stratify=full.labels)
    except ValueError as exc:
        raise DataError(f"cannot make a stratified split with --test-fraction {test_fraction}: {exc}") from exc
    return full.subset(np.sort(tr)), full.subset(np.sort(te))


def _from_lists(train_list: str, test_list: str, images: str | None) -> DataSplits:
    if not images:
        raise BadInputError("--train-list/--test-list need --images DIR (the folder the listed paths are relative to)")
    root = Path(os.path.abspath(images))
    if not root.is_dir():
        raise BadInputError(f"--images folder not found: {root}")
    parts, ignored = {}, []
    for split, list_file in (("train", train_list), ("test", test_list)):
        try:
            lines = Path(list_file).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as exc:
            raise BadInputError(f"cannot read {list_file}: {exc.strerror or exc}") from exc
        entries = []
        for n, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            rel = line.replace("\\", "/")
            if "/" not in rel:
                raise DataError(f"{list_file}:{n}: expected CLASS/FILE, got {line!r}")
            entries.append((rel.split("/", 1)[0], str(root / rel)))
        parts[split] = entries
    classes = sorted({c for c, _ in parts["train"]})
    unseen = sorted({c for c, _ in parts["test"]} - set(classes))
    if unseen:
        raise DataError(f"{test_list}: classes {', '.join(unseen)} do not appear in {train_list}")
    index = {c: i for i, c in enumerate(classes)}
    splits = {}
    for split, entries in parts.items():
        splits[split] = Split([p for _, p in entries], np.asarray([index[c] for c, _ in entries], dtype=np.int64))
    return DataSplits(Path(train_list).stem, classes, splits["train"], splits["test"], "lists", ignored)


def _from_csv(path: Path, test_fraction: float, seed: int) -> DataSplits:
    if not path.is_file():
        raise BadInputError(f"CSV file not found: {path}")
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if r and any(x.strip() for x in r)]
    header = [x.strip().lower() for x in rows[0]] if rows else []
    if header[:2] == ["path", "label"]:
        rows = rows[1:]
    else:
        header = ["path", "label", "split"][: len(rows[0])] if rows else []
    if not rows:
        raise DataError(f"{path}: no rows")
    has_split = "split" in header
    entries = []
    for n, r in enumerate(rows, 2 if header else 1):
        if len(r) < 2 or not r[0].strip() or not r[1].strip():
            raise DataError(f"{path}:{n}: expected path,label[,split], got {','.join(r)!r}")
        p = Path(r[0].strip())
        p = p if p.is_absolute() else Path(os.path.abspath(path.parent / p))
        split = r[header.index("split")].strip().lower() if has_split and len(r) > header.index("split") else ""
        if has_split and split not in ("train", "test", "val"):
            raise DataError(f"{path}:{n}: split must be train, val or test, got {split!r}")
        entries.append((str(p), r[1].strip(), "test" if split == "val" else split))
    if has_split:
        train = [(p, c) for p, c, s in entries if s == "train"]
        test = [(p, c) for p, c, s in entries if s == "test"]
        classes = sorted({c for _, c in train})
        unseen = sorted({c for _, c in test} - set(classes))
        if unseen:
            raise DataError(f"{path}: test classes {', '.join(unseen)} have no train row")
        index = {c: i for i, c in enumerate(classes)}
        mk = lambda items: Split([p for p, _ in items], np.asarray([index[c] for _, c in items], dtype=np.int64))  # noqa: E731
        return DataSplits(path.stem, classes, mk(train), mk(test), "csv(split column)")
    classes = sorted({c for _, c, _ in entries})
    index = {c: i for i, c in enumerate(classes)}
    full = Split([p for p, _, _ in entries], np.asarray([index[c] for _, c, _ in entries], dtype=np.int64))
    if len(classes) < 2:
        raise DataError(f"{path}: only one class ({classes[0]}); a classifier needs at least two")
    train, test = _stratified(full, classes, test_fraction, seed)
    splits = DataSplits(path.stem, classes, train, test, f"csv(test_fraction={test_fraction})")
    splits.fingerprint_extra = f"test_fraction={test_fraction},seed={seed}"
    return splits


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
