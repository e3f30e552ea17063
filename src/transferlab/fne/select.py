"""Model selection for the probe: C and the tap set chosen by stratified k-fold CV on the training split.

``--C auto`` scans ``C_GRID`` (1e-4 ... 1e2, one value a decade); ``--layers auto`` compares the
tap sets of ``transferlab.models.taps.FAMILY`` (all, late, stages, last), sliced from one
extraction of their union.  Every fold post-processes with its own training statistics, so the
held-out fold is as unseen as the test split; the test split is never looked at.  The best mean
fold accuracy wins; ties go to the earlier tap set of the family and to the smaller C.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transferlab import io as tio
from transferlab.errors import DataError

C_GRID = tuple(float(10.0 ** k) for k in range(-4, 3))


@dataclass
class CVResult:
    """The cross-validation table (tap set x C: mean and std of the fold accuracies) and its winner."""

    folds: int
    Cs: list[float]
    candidates: list[str]
    accuracy: np.ndarray  # (candidates, Cs, folds)
    seconds: float

    @property
    def best(self) -> tuple[str, float, float]:
        """(tap set, C, mean CV accuracy) of the winner: the first maximum in family order, then C order."""
        mean = self.accuracy.mean(axis=2)
        i, j = np.unravel_index(int(np.argmax(mean)), mean.shape)
        return self.candidates[i], self.Cs[j], float(mean[i, j])

    def table(self) -> list[dict]:
        mean, std = self.accuracy.mean(axis=2), self.accuracy.std(axis=2)
        return [{"layers": name, "C": C, "accuracy": round(float(mean[i, j]), 4), "std": round(float(std[i, j]), 4)}
                for i, name in enumerate(self.candidates) for j, C in enumerate(self.Cs)]

    def to_dict(self) -> dict:
        layers, C, acc = self.best
        return {"folds": self.folds, "C_grid": list(self.Cs), "candidates": list(self.candidates),
                "chosen": {"layers": layers, "C": C, "accuracy": round(acc, 4)}, "table": self.table(),
                "seconds": round(self.seconds, 2)}


def n_folds(labels: np.ndarray, classes: list[str], wanted: int) -> int:
    """``wanted`` folds, fewer when a class has fewer training images; a class with one is an error."""
    counts = np.bincount(labels, minlength=len(classes))
    present = counts[counts > 0]
    if present.min() < 2:
        lonely = [classes[i] for i in np.flatnonzero(counts == 1)]
        raise DataError(f"class {lonely[0]!r} has a single training image: cross-validation (--C auto, "
                        "--layers auto) needs at least 2 per class; add images or give --C VALUE and --layers SPEC")
    return int(min(wanted, present.min()))


COLUMNWISE = ("fne", "std", "none")  # post-processings that act on each feature alone: slicing commutes


def cross_validate(train, candidates: dict[str, list | None], Cs, config, progress: bool = True) -> CVResult:
    """Fold accuracies of the probe of ``config`` for every tap set of ``candidates`` (name -> taps to
    slice from ``train``, a ``FeatureSet``; None: every column) and every C of ``Cs``."""
    from sklearn.model_selection import StratifiedKFold
    from tqdm.auto import tqdm

    start = time.perf_counter()
    y = train.labels
    n = n_folds(y, train.classes, config.cv_folds)
    folds = list(StratifiedKFold(n, shuffle=True, random_state=config.seed).split(np.zeros(len(y)), y))
    Cs = sorted(float(c) for c in Cs)
    columns = [None if taps is None else train.tap_columns(taps) for taps in candidates.values()]
    once = config.post in COLUMNWISE  # post-process every column once per fold, then slice each tap set
    acc = np.zeros((len(candidates), len(Cs), n))
    bar = tqdm(total=len(candidates) * n, desc="cross-validation", unit="fit", leave=False,
               disable=not progress, file=sys.stderr)
    with bar:
        for f, (tr, va) in enumerate(folds):
            X_tr, X_va = train.features[tr], train.features[va]
            if once:
                X_tr, X_va = post_process(X_tr, y[tr], X_va, config)
            for i, cols in enumerate(columns):
                a, b = (X_tr, X_va) if cols is None else (X_tr[:, cols], X_va[:, cols])
                if not once:
                    a, b = post_process(a, y[tr], b, config)
                acc[i, :, f] = path_accuracies(a, y[tr], b, y[va], Cs, config)
                bar.update()
    return CVResult(n, Cs, list(candidates), acc, time.perf_counter() - start)


def post_process(X_train, y_train, X_val, config):
    """The post-processing of ``config`` fitted on ``X_train``, applied to both."""
    from transferlab.fne.transforms import post_processing

    post = post_processing(config.post, *config.thresholds)
    if post is None:
        return X_train, X_val
    return post.fit_transform(X_train, y_train), post.transform(X_val)


def path_accuracies(X_train, y_train, X_val, y_val, Cs: list[float], config) -> np.ndarray:
    """Held-out accuracy of the SVM for each C: one warm-started path of Newton solves (or one
    LinearSVC per C with ``--solver liblinear``)."""
    import warnings

    from sklearn.base import clone

    from transferlab.fne.solver import LinearProbe, fit_path
    from transferlab.fne.transforms import make_probe

    svm = make_probe("none", 1.0, max_iter=config.max_iter, seed=config.seed, solver=config.solver,
                     n_train=len(y_train)).steps[-1][1]
    if isinstance(svm, LinearProbe):
        fitted = fit_path(X_train, y_train, Cs)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is reported for the final fit, not for every fold
            fitted = [clone(svm).set_params(C=C).fit(X_train, y_train) for C in Cs]
    return np.array([float(np.mean(est.predict(X_val) == y_val)) for est in fitted])


def plot_cv(result: CVResult, path: Path, title: str) -> None:
    """Mean CV accuracy (+- std over folds) against C, one line per tap set; the winner marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean, std = result.accuracy.mean(axis=2), result.accuracy.std(axis=2)
    layers, C, acc = result.best
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if len(result.Cs) > 1:
        for i, name in enumerate(result.candidates):
            line, = ax.plot(result.Cs, mean[i], marker="o", ms=3, label=name)
            ax.fill_between(result.Cs, mean[i] - std[i], mean[i] + std[i], color=line.get_color(), alpha=0.07)
        ax.set_xscale("log")
        ax.set_xlabel("C")
        ax.plot([C], [acc], marker="*", ms=14, color="black", ls="none", label=f"chosen: {layers}, C={C:g}")
    else:
        x = np.arange(len(result.candidates))
        ax.bar(x, mean[:, 0], yerr=std[:, 0], color=["#DD8452" if n == layers else "#4C72B0"
                                                     for n in result.candidates], capsize=4)
        ax.set_xticks(x)
        ax.set_xticklabels(result.candidates)
        ax.set_xlabel(f"tap set (C={C:g}; chosen: {layers})")
    lo = max(0.0, float((mean - std).min()) - 0.02)
    lo = 0.0 if lo < 0.1 else np.floor(lo * 50) / 50
    ax.set_ylim(lo, min(1.0, float((mean + std).max()) + 0.02))
    cut = f" (axis cut at {lo:.2f})" if lo > 0 else ""
    ax.set_ylabel(f"mean accuracy on held-out folds{cut}")
    ax.set_title(title, fontsize=10)
    if len(result.Cs) > 1:
        ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    tio.save_figure(fig, path)
