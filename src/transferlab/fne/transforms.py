"""Full-network-embedding post-processing as scikit-learn transformers, and the linear-SVM probe.

FNE (Garcia-Gasulla et al. 2018): standardise every feature with the TRAINING statistics
(population std; zero-std features become 0, on test too), then discretise to {-1, 0, 1}
(> 0.15 -> 1, < -0.25 -> -1, else 0), then a linear SVM.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted, validate_data

from transferlab.errors import BadInputError
from transferlab.fne.config import FNE_THRESHOLDS, POSTS


class Standardize(TransformerMixin, BaseEstimator):
    """Per-feature standardisation with the fit data's mean and population std; zero-std features -> 0."""

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)  # ddof=0: the population std, as in the paper
        return self

    def transform(self, X):
        check_is_fitted(self, "mean_")
        X = validate_data(self, X, dtype=np.float32, reset=False, copy=True)
        constant = self.scale_ == 0
        X -= self.mean_.astype(np.float32)
        X /= np.where(constant, 1.0, self.scale_).astype(np.float32)
        X[:, constant] = 0.0
        return X


class Discretize(TransformerMixin, BaseEstimator):
    """Map values to {-1, 0, 1}: ``> high`` -> 1, ``< low`` -> -1, otherwise 0 (the thresholds give 0)."""

    def __init__(self, low: float = FNE_THRESHOLDS[0], high: float = FNE_THRESHOLDS[1]):
        self.low = low
        self.high = high

    def fit(self, X, y=None):
        if not self.low <= self.high:
            raise BadInputError(f"discretisation thresholds must satisfy low <= high, got {self.low}, {self.high}")
        validate_data(self, X)
        return self

    def transform(self, X):
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, reset=False)
        dtype = X.dtype.type  # compare in the data's precision: float32(0.15) is exactly "0.15" there
        mask = np.greater(X, dtype(self.high))
        out = mask.astype(np.float32)  # (x > high) - (x < low), without boolean-index scatter
        return np.subtract(out, np.less(X, dtype(self.low), out=mask), out=out)


def make_probe(post: str = "fne", C: float = 1.0, low: float = FNE_THRESHOLDS[0], high: float = FNE_THRESHOLDS[1],
               max_iter: int = 5000, seed: int = 0, solver: str = "auto", n_train: int | None = None) -> Pipeline:
    """The post-processing + linear SVM pipeline: ``fne`` (standardise + discretise), ``std``, ``l2`` or
    ``none``, then ``LinearSVC`` (``solver="liblinear"``) or ``LinearProbe`` (``"newton"``; ``"auto"``:
    newton up to ``DUAL_MAX_SAMPLES`` training images)."""
    steps = _post_steps(post, low, high)
    if isinstance(C, str) or not C > 0:  # "auto" is the pipelines' choice (fne.select), not a fitted C
        raise BadInputError(f"--C must be a positive number here, got {C!r}")
    from transferlab.fne.solver import DUAL_MAX_SAMPLES, LinearProbe

    if solver not in ("auto", "newton", "liblinear"):
        raise BadInputError(f"unknown solver {solver!r}; choose auto, newton or liblinear")
    if solver == "auto":
        solver = "newton" if n_train is None or n_train <= DUAL_MAX_SAMPLES else "liblinear"
    svm = LinearProbe(C=C) if solver == "newton" else LinearSVC(C=C, max_iter=max_iter, random_state=seed)
    return Pipeline(steps + [("svm", svm)])


def post_processing(post: str = "fne", low: float = FNE_THRESHOLDS[0],
                    high: float = FNE_THRESHOLDS[1]) -> Pipeline | None:
    """The probe without its classifier: the (unfitted) post-processing steps of ``make_probe``, or None
    for ``none``."""
    steps = _post_steps(post, low, high)
    return Pipeline(steps) if steps else None


def _post_steps(post: str, low: float, high: float) -> list[tuple[str, BaseEstimator]]:
    steps = {
        "fne": [("standardize", Standardize()), ("discretize", Discretize(low, high))],
        "std": [("standardize", Standardize())],
        "l2": [("l2", Normalizer(norm="l2"))],
        "none": [],
    }
    if post not in steps:
        raise BadInputError(f"unknown post-processing {post!r}; choose one of {', '.join(POSTS)}")
    return steps[post]
