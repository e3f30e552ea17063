"""Checks of the images a command could actually read, per class: one place for every command.

Listing a dataset (``load_dataset``) only sees files; a class can still end up with no usable image
once they are decoded (every file truncated, not an image...). ``check_split`` looks at what was READ:

- training split: a class left with no readable image is a ``DataError`` naming the class and (the
  first few of) its skipped files with their reasons; fewer than ``MIN_TRAIN_PER_CLASS`` is a warning;
- validation/test split (``kind="val"`` or ``"test"``): a class with no readable image is a warning
  (the evaluation cannot measure it), fewer than ``MIN_EVAL_PER_CLASS`` is a warning.

Warnings are returned (``SplitCheck.warnings``), never printed: callers put them into their metrics.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from transferlab.errors import DataError

__all__ = ["MIN_TRAIN_PER_CLASS", "MIN_EVAL_PER_CLASS", "LISTED_FILES", "SplitCheck", "check_split",
           "split_role"]

# Fewer training images than this per class: a classifier's view of that class is a handful of points.
MIN_TRAIN_PER_CLASS = 5
# Fewer validation/test images than this per class: a single image measures the class as 0% or 100%.
MIN_EVAL_PER_CLASS = 2
# How many skipped files of one class an error message lists (then "and N more").
LISTED_FILES = 3

_ROLES = {"train": "training", "training": "training", "val": "validation", "validation": "validation",
          "test": "test", "eval": "test"}


def split_role(kind: str) -> str:
    """``train`` -> ``training``, ``val`` -> ``validation``, ``test`` -> ``test`` (what the messages say)."""
    try:
        return _ROLES[kind]
    except KeyError:
        raise ValueError(f"split kind must be one of {', '.join(sorted(_ROLES))}, got {kind!r}") from None


@dataclass
class SplitCheck:
    """What ``check_split`` found: readable and skipped images per class, and the warnings."""

    kind: str                                   # training, validation or test
    counts: dict[str, int]                      # readable images per class, every class of the list
    skipped: dict[str, int]                     # skipped files per class (those whose class is known)
    warnings: list[str] = field(default_factory=list)
    minimum: int = 0                            # the per-class minimum that was applied
    unattributed: int = 0                       # skipped files whose class could not be told

    @property
    def empty_classes(self) -> list[str]:
        return [c for c, n in self.counts.items() if n == 0]

    @property
    def small_classes(self) -> list[str]:
        return [c for c, n in self.counts.items() if 0 < n < self.minimum]

    def as_dict(self) -> dict:
        """For ``metrics.json``: ``{"split", "minimum", "readable_per_class", "skipped_per_class", "warnings"}``."""
        return {"split": self.kind, "minimum": self.minimum, "readable_per_class": dict(self.counts),
                "skipped_per_class": dict(self.skipped), "warnings": list(self.warnings)}


def _short(path: str, cls: str) -> str:
    """``.../hymenoptera/train/bees/a.jpg`` -> ``bees/a.jpg`` when a folder is named after the class."""
    parts = os.path.normpath(str(path)).split(os.sep)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == cls:
            return "/".join(parts[i:])
    return str(path)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _normalise_skipped(skipped, classes: Sequence[str], paths: list[str] | None, labels: np.ndarray | None
                       ) -> tuple[dict[int, list[tuple[str, str]]], int, set[int]]:
    """({class index: [(path, reason), ...]}, how many had no known class, their indices in the split)."""
    index_of = {c: i for i, c in enumerate(classes)}
    positions: dict[str, list[int]] = {}
    for i, p in enumerate(paths or ()):
        positions.setdefault(str(p), []).append(i)
    out: dict[int, list[tuple[str, str]]] = {}
    unknown, where = 0, set()
    for item in skipped or ():
        label = None
        if isinstance(item, dict):
            path, reason = str(item.get("path", "")), str(item.get("reason", "unreadable"))
            label = item.get("label")
            if isinstance(label, str):
                label = index_of.get(label)
            at = positions.get(path, [])
        else:  # (index in the split, reason) or (path, reason)
            key, reason = item[0], str(item[1])
            if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
                if paths is None or not 0 <= int(key) < len(paths):
                    raise ValueError("skipped (index, reason) pairs need split= (the split the indices refer to)")
                path, at = str(paths[int(key)]), [int(key)]
            else:
                path = str(key)
                at = positions.get(path, [])
        where.update(at)
        if label is None and at and labels is not None:
            label = int(labels[at[0]])
        if label is None or not 0 <= int(label) < len(classes):
            unknown += 1
            continue
        out.setdefault(int(label), []).append((path, reason))
    return out, unknown, where


def _listing(files: list[tuple[str, str]], cls: str) -> str:
    shown = "; ".join(f"{_short(p, cls)}: {r}" for p, r in files[:LISTED_FILES])
    return shown + (f"; and {len(files) - LISTED_FILES} more" if len(files) > LISTED_FILES else "")


def check_split(classes: Sequence[str], read_labels: Iterable[int] | None = None, skipped: Iterable = (), *,
                split=None, kind: str = "train", minimum: int | None = None) -> SplitCheck:
    """Check one split's readable images per class; raise for a training class with none.

    ``classes``: the dataset's class list (``DataSplits.classes``). ``read_labels``: the class indices of
    the images that were actually read (e.g. ``FeatureSet.labels``); None: every image of ``split`` that
    is not in ``skipped``. ``skipped``: the files that could not be read, each ``{"path", "reason"}``
    (optionally ``"label"``: index or class name), ``(index in split, reason)`` or ``(path, reason)``;
    their class comes from ``split`` (a ``Split``: paths and labels) when not given. ``kind``: ``train``,
    ``val`` or ``test``. ``minimum``: per-class minimum of readable images before a warning (default
    ``MIN_TRAIN_PER_CLASS`` for train, ``MIN_EVAL_PER_CLASS`` otherwise).

    Returns a ``SplitCheck`` (warnings, per-class counts); raises ``DataError`` when a class has no
    readable training image (``kind="train"``), naming it and listing its skipped files with reasons.
    """
    role = split_role(kind)
    classes = list(classes)
    minimum = (MIN_TRAIN_PER_CLASS if role == "training" else MIN_EVAL_PER_CLASS) if minimum is None else minimum
    paths = [str(p) for p in split.paths] if split is not None else None
    labels = np.asarray(split.labels, dtype=np.int64) if split is not None else None
    bad, unknown, bad_index = _normalise_skipped(skipped, classes, paths, labels)
    if read_labels is None:
        if split is None:
            raise ValueError("check_split needs read_labels or split")
        keep = np.ones(len(labels), dtype=bool)
        keep[sorted(bad_index)] = False
        read = labels[keep]
    else:
        if not hasattr(read_labels, "__len__"):
            read_labels = list(read_labels)
        read = np.asarray(read_labels, dtype=np.int64).reshape(-1)  # also a CPU torch tensor
    read = read[(read >= 0) & (read < len(classes))]
    counts = np.bincount(read, minlength=len(classes))
    result = SplitCheck(role, {c: int(counts[i]) for i, c in enumerate(classes)},
                        {classes[i]: len(files) for i, files in sorted(bad.items())}, [], minimum, unknown)

    errors, with_files = [], 0
    for i, c in enumerate(classes):
        n, files = int(counts[i]), bad.get(i, [])
        if n == 0:
            if files:
                with_files += 1
                what = (f"class {c!r} has no readable {role} image: "
                        + (f"all {len(files)} of its files were skipped" if len(files) > 1
                           else "its only file was skipped") + f" ({_listing(files, c)})")
            else:
                what = f"class {c!r} has no {role} image"
            if role == "training":
                errors.append(what)
            else:
                result.warnings.append(f"{what}: the evaluation cannot measure it")
        elif n < minimum:
            note = f"; {_plural(len(files), 'file')} skipped" if files else ""
            effect = "what is learnt about it is unreliable" if role == "training" else "its accuracy is unreliable"
            result.warnings.append(f"class {c!r} has only {_plural(n, 'readable ' + role + ' image')} (fewer than "
                                   f"{minimum}{note}): {effect}")
    if errors:
        if with_files:
            advice = ("fix or remove them, or remove the class folder" if len(errors) == 1
                      else "fix or remove the skipped files, or remove those class folders")
            advice += " (or the class's rows in a CSV or list file)"
        else:
            advice = "add images or remove the class"
        head = "" if len(errors) == 1 else f"{len(errors)} classes have no readable {role} image: "
        raise DataError(head + "; ".join(errors) + f"; {advice}")
    return result
