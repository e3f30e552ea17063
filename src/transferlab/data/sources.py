"""Image datasets as (train, test) splits with ONE class list, taken from train: ``load_dataset``.

Sources:
- ``fashion-mnist``: built in (``per_class`` for a balanced, seeded subset of train and of test);
- a folder with ``train/`` and ``val/`` or ``test/``, each holding one sub-folder per class;
- a folder of class sub-folders, split with a stratified, seeded ``test_fraction``;
- MIT67-style lists: ``train_list``/``test_list`` files of ``class/file.jpg`` lines under ``images``;
- a CSV with path and label columns (read by ``data.csv_lists``; optional ``split`` column with
  train/val/test, otherwise ``test_fraction``).

``per_class``: a balanced, seeded subset of train (``data.splits``). A class seen in test but not in
train is an error; hidden files (``.DS_Store``) and files whose extension is not an image's
(``NOT_IMAGE_EXTENSIONS``) are ignored and listed; files that cannot be decoded are found at load time
(``data.image_dataset``) and reported; ``data.checks`` is the per-class check of what was read.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from transferlab.data import fashion_mnist
from transferlab.data.config import FASHION_MNIST
from transferlab.data.csv_lists import read_csv_list
from transferlab.data.images import DEFAULT_MAX_PIXELS, open_image
from transferlab.data.splits import Split, balanced_subset, stratified_split
from transferlab.errors import BadInputError, DataError

SPLIT_NAMES = ("val", "test")
HIDDEN_FILE = "hidden file"
NOT_AN_IMAGE = "not an image (by extension)"
# Extensions that are never images: such files in a class folder are ignored (and listed), never decoded.
# Anything else, including no extension or an unknown one, is tried and reported if it cannot be read.
NOT_IMAGE_EXTENSIONS = frozenset(
    ".txt .text .csv .tsv .json .jsonl .ndjson .md .markdown .rst .xml .yaml .yml .toml .ini .cfg .conf .log "
    ".py .pyc .ipynb .sh .bat .js .css .html .htm .pdf .doc .docx .odt .rtf .xls .xlsx .ods .ppt .pptx "
    ".zip .tar .gz .tgz .bz2 .xz .zst .7z .rar "
    ".npy .npz .pkl .pickle .pt .pth .ckpt .h5 .hdf5 .mat .parquet .db .sqlite .lst "
    ".mp3 .wav .flac .ogg .mp4 .avi .mov .mkv .webm".split())


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
    options: dict = field(default_factory=dict)  # the load_dataset options it was opened with

    def loader(self) -> Callable[..., Image.Image]:
        return FashionMnistLoader() if self.source == FASHION_MNIST else open_image

    def fingerprint(self, split: str) -> str:
        """Digest of the exact file list (path, size, mtime) and labels: the cache key's data part."""
        part = getattr(self, split)
        h = hashlib.sha256(os.fsencode(f"{self.source}|{self.fingerprint_extra}|{'|'.join(self.classes)}"))
        for path, label in zip(part.paths, part.labels.tolist()):
            if self.source == FASHION_MNIST:
                h.update(os.fsencode(f"{path}\t{label}\n"))
                continue
            try:
                st = os.stat(path)
                h.update(os.fsencode(f"{path}\t{label}\t{st.st_size}\t{st.st_mtime_ns}\n"))
            except OSError:
                h.update(os.fsencode(f"{path}\t{label}\tmissing\n"))
        return h.hexdigest()

    def summary(self) -> str:
        text = (f"{self.name}: {len(self.classes)} classes, {len(self.train)} train / {len(self.test)} "
                f"{self.test_split_name} images ({self.source})")
        if self.ignored:
            reasons = Counter(i["reason"] for i in self.ignored)
            n = len(self.ignored)
            text += (f"; {n} file{'s' if n != 1 else ''} ignored ("
                     + ", ".join(f"{k}: {reason}" for reason, k in reasons.most_common()) + ")")
        return text


def load_dataset(data: str | os.PathLike | None = None, *, test_fraction: float = 0.2, seed: int = 0,
                 per_class: int | None = None, train_list: str | None = None, test_list: str | None = None,
                 images: str | None = None) -> DataSplits:
    """Open a dataset from any supported source (see the module docstring).

    ``per_class``: a balanced, seeded subset of the training images (also of the test images for
    fashion-mnist).  The options are validated by ``DataOptions`` (the same messages as the command
    line) and recorded in ``DataSplits.options``, so a run given this dataset can say how it was loaded.
    """
    from transferlab.data.config import DataOptions

    opts = DataOptions(data=data, test_fraction=test_fraction, seed=seed, per_class=per_class,
                       train_list=train_list, test_list=test_list, images=images)
    data = opts.data
    options = {k: getattr(opts, k) for k in ("data", "test_fraction", "seed", "per_class", "train_list",
                                             "test_list", "images")}
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
        splits.train = balanced_subset(splits.train, splits.classes, per_class, seed, what="training")
        splits.fingerprint_extra += f"|per_class={per_class},seed={seed}"
    _validate(splits)
    splits.options = options
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
        idx = fashion_mnist.balanced_indices(labels, per_class, seed, what="training" if split == "train" else split)
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


def _not_an_image(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in NOT_IMAGE_EXTENSIONS


def _list_class_dirs(root: Path) -> tuple[dict[str, list[str]], list[dict]]:
    """{class name: sorted file paths} of a folder of class sub-folders, plus ignored files.

    Ignored (and listed with the reason): hidden files and folders, files next to the class folders, and
    files in class folders whose extension says they are not images (``NOT_IMAGE_EXTENSIONS``)."""
    classes: dict[str, list[str]] = {}
    ignored = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _is_hidden(entry.name):
            ignored.append({"path": entry.path, "reason": HIDDEN_FILE})
        elif entry.is_dir():
            files = []
            for dirpath, dirnames, filenames in os.walk(entry.path):
                dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
                for f in sorted(filenames):
                    p = os.path.join(dirpath, f)
                    if _is_hidden(f):
                        ignored.append({"path": p, "reason": HIDDEN_FILE})
                    elif _not_an_image(f):
                        ignored.append({"path": p, "reason": NOT_AN_IMAGE})
                    else:
                        files.append(p)
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
        classes = _classes_from_train(train, root / "train", ignored)
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
    classes = _classes_from_train(by_class, root, ignored)
    full = _split(by_class, classes)
    train, test = stratified_split(full, classes, test_fraction, seed, option="--test-fraction")
    splits = DataSplits(root.name, classes, train, test, f"folder(test_fraction={test_fraction})", ignored)
    splits.fingerprint_extra = f"test_fraction={test_fraction},seed={seed}"
    return splits


def _classes_from_train(by_class: dict[str, list[str]], where: Path, ignored: list[dict] = ()) -> list[str]:
    if not by_class:
        raise DataError(f"{where}: no class sub-folders")
    empty = [c for c, files in by_class.items() if not files]

    def described(c: str) -> str:
        folder = os.path.join(where, c) + os.sep
        n = sum(1 for i in ignored if i["path"].startswith(folder) and i["reason"] == NOT_AN_IMAGE)
        return f"{c} ({n} file{'s' if n != 1 else ''} ignored: {NOT_AN_IMAGE})" if n else c

    if empty and len(empty) == len(by_class):
        raise DataError(f"{where}: no images found (class folders {', '.join(map(described, empty))} are empty)")
    if empty:
        raise DataError(f"{where}: class folder(s) without any image file: {', '.join(map(described, empty))}")
    return sorted(by_class)


def _split(by_class: dict[str, list[str]], classes: list[str]) -> Split:
    index = {c: i for i, c in enumerate(classes)}
    paths, labels = [], []
    for c, files in by_class.items():
        paths += files
        labels += [index[c]] * len(files)
    return Split(paths, np.asarray(labels, dtype=np.int64))


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
    rows, has_split, _ = read_csv_list(path)
    entries = []
    for _, p, label, split in rows:
        p = Path(p)
        p = p if p.is_absolute() else Path(os.path.abspath(path.parent / p))
        entries.append((str(p), label, split))
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
    train, test = stratified_split(full, classes, test_fraction, seed, option="--test-fraction")
    splits = DataSplits(path.stem, classes, train, test, f"csv(test_fraction={test_fraction})")
    splits.fingerprint_extra = f"test_fraction={test_fraction},seed={seed}"
    return splits
