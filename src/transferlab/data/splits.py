"""Splitting a dataset: the one home of stratified held-out splits and balanced per-class subsets.

Every command uses these, so the same inputs give the same split everywhere and a split that cannot
be made is the same clear error naming the option and the classes that are too small:

- ``stratified_split``: a seeded, stratified ``(kept, held_out)`` split of a ``Split``: the test split
  of a dataset without one (``--test-fraction``) and fine-tuning's validation split (``--val-fraction``);
- ``balanced_subset`` / ``balanced_indices``: ``per_class`` seeded random images of every class
  (``--per-class``), with messages that use the dataset's own class names.

Numpy and scikit-learn only (scikit-learn imported when a split is made).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from transferlab.errors import BadInputError, DataError

__all__ = ["Split", "stratified_split", "balanced_indices", "balanced_subset", "check_per_class", "option_label"]


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


def option_label(option: str) -> str:
    """``"--val-fraction"`` -> ``"val_fraction (--val-fraction)"``: how the schema's messages name an option."""
    if not option.startswith("--"):
        return option
    return f"{option[2:].replace('-', '_')} ({option})"


def _class_name(classes: Sequence[str] | None, c: int) -> str:
    if classes is not None and 0 <= c < len(classes):
        return repr(classes[c])
    return f"#{c}"


def stratified_split(split: Split, classes: Sequence[str], fraction: float, seed: int,
                     option: str = "--test-fraction") -> tuple[Split, Split]:
    """Seeded, stratified ``(kept, held_out)``: ``fraction`` of ``split`` held out, every class in proportion.

    Both parts keep the order of ``split``. Identical to scikit-learn's ``train_test_split(arange(n),
    test_size=fraction, random_state=seed, stratify=labels)`` with both index lists sorted, which is what
    ``--test-fraction`` and fine-tuning's ``--val-fraction`` have always done. A class with a single image
    cannot be in both parts: an error naming ``option`` and those classes (classes with no image at all
    are not in ``split`` and do not count).
    """
    label = option_label(option)
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction < 1:
        raise BadInputError(f"{label} must be between 0 and 1 (exclusive), got {fraction!r}")
    labels = np.asarray(split.labels, dtype=np.int64)
    n = len(labels)
    if n == 0:
        raise DataError(f"{label}: there are no images to split")
    counts = np.bincount(labels, minlength=len(classes))
    small = [f"{_class_name(classes, i)} ({k})" for i, k in enumerate(counts) if 0 < k < 2]
    if small:
        raise DataError(f"{label} {fraction:g}: a stratified split needs at least 2 images of every class (one to "
                        f"keep, one to hold out); too small: {', '.join(small)}")
    present = int((counts > 0).sum())
    n_held = math.ceil(fraction * n)  # scikit-learn's rounding
    n_kept = n - n_held
    if n_held < present or n_kept < present:
        which, count, advice = (("holds out", n_held, "raise") if n_held < present else ("keeps", n_kept, "lower"))
        raise DataError(f"{label} {fraction:g} {which} {count} of the {n} images, fewer than the {present} "
                        f"classes: a stratified split needs one image of every class on each side; {advice} it "
                        "(or add images)")
    from sklearn.model_selection import train_test_split

    try:
        kept, held = train_test_split(np.arange(n), test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise DataError(f"cannot make a stratified split with {label} {fraction:g}: {exc}") from exc
    return split.subset(np.sort(kept)), split.subset(np.sort(held))


def check_per_class(per_class, option: str = "--per-class") -> None:
    """A clear ``BadInputError`` unless ``per_class`` is None or a whole number >= 1."""
    if per_class is None:
        return
    if isinstance(per_class, bool) or not isinstance(per_class, numbers.Integral):
        raise BadInputError(f"{option_label(option)} must be a whole number of images, got {per_class!r}")
    if per_class < 1:
        raise BadInputError(f"{option_label(option)} must be at least 1, got {per_class}")


def balanced_indices(labels, per_class: int | None, seed: int, classes: Sequence[str] | None = None, *,
                     what: str = "training", option: str = "--per-class") -> np.ndarray:
    """``per_class`` seeded random indices of every class present in ``labels`` (all indices when None), sorted.

    ``classes`` names the class indices in the messages; ``what`` names the images (``training``, ``test``).
    """
    labels = np.asarray(labels, dtype=np.int64)
    if per_class is None:
        return np.arange(len(labels))
    check_per_class(per_class, option)
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        if per_class > len(idx):
            raise DataError(f"{option_label(option)} {per_class} is more than the {len(idx)} {what} image"
                            f"{'s' if len(idx) != 1 else ''} of class {_class_name(classes, int(c))}")
        chosen.append(rng.choice(idx, size=per_class, replace=False))
    if not chosen:
        return np.arange(0)
    return np.sort(np.concatenate(chosen))


def balanced_subset(split: Split, classes: Sequence[str], per_class: int | None, seed: int, *,
                    what: str = "training", option: str = "--per-class") -> Split:
    """The ``per_class`` subset of ``split`` (see ``balanced_indices``); ``split`` itself when None."""
    if per_class is None:
        return split
    return split.subset(balanced_indices(split.labels, per_class, seed, classes, what=what, option=option))
