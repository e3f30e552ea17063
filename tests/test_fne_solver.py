"""The Newton probe solves LinearSVC's own problem: same objective (or lower), same predictions."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from transferlab.fne.solver import LinearProbe, fit_path


def _objective(coef, intercept, X, y, classes, C):
    """LinearSVC's one-vs-rest primal objective, summed over classes (bias regularised, as liblinear)."""
    coef, intercept = np.atleast_2d(coef).astype(np.float64), np.atleast_1d(intercept).astype(np.float64)
    cols = [classes[1]] if len(classes) == 2 else classes
    Y = np.stack([np.where(y == c, 1.0, -1.0) for c in cols], axis=1)
    margins = 1 - Y * (X.astype(np.float64) @ coef.T + intercept)
    return float(0.5 * ((coef ** 2).sum() + (intercept ** 2).sum()) + C * (np.clip(margins, 0, None) ** 2).sum())


@pytest.fixture(scope="module")
def pixels():
    """Real Fashion-MNIST images (600 train, 300 test, 10 classes), standardised pixels."""
    from transferlab.data.fashion_mnist import balanced_indices, load_arrays

    arrays = load_arrays()
    out = []
    for split, n in (("train", 60), ("test", 30)):
        x, y = arrays[split]
        idx = balanced_indices(y, n, seed=0)
        out.append((x[idx].reshape(len(idx), -1).astype(np.float32) / 255, y[idx]))
    (xtr, ytr), (xte, yte) = out
    mean, std = xtr.mean(0), xtr.std(0) + 1e-3
    return (xtr - mean) / std, ytr, (xte - mean) / std, yte


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_newton_reaches_liblinears_optimum_on_real_images(pixels, C):
    xtr, ytr, xte, yte = pixels
    ours = LinearProbe(C=C).fit(xtr, ytr)
    ref = LinearSVC(C=C, max_iter=20000, tol=1e-6).fit(xtr, ytr)
    assert ours.converged_ and ours.coef_.shape == ref.coef_.shape
    f_ours = _objective(ours.coef_, ours.intercept_, xtr, ytr, ours.classes_, C)
    f_ref = _objective(ref.coef_, ref.intercept_, xtr, ytr, ref.classes_, C)
    assert f_ours <= f_ref * (1 + 1e-4)
    agree = np.mean(ours.predict(xte) == ref.predict(xte))
    assert agree >= 0.97
    assert abs(ours.score(xte, yte) - ref.score(xte, yte)) <= 0.02


def test_binary_problem_has_linearsvcs_shapes(pixels):
    xtr, ytr, xte, _ = pixels
    keep = np.isin(ytr, [0, 6])  # t-shirt vs shirt: not separable in pixels
    ours = LinearProbe().fit(xtr[keep], ytr[keep])
    ref = LinearSVC(max_iter=20000, tol=1e-6).fit(xtr[keep], ytr[keep])
    assert ours.coef_.shape == ref.coef_.shape == (1, xtr.shape[1])
    assert ours.decision_function(xte).shape == (len(xte),)
    assert set(ours.predict(xte)) <= {0, 6}
    f_ours = _objective(ours.coef_, ours.intercept_, xtr[keep], ytr[keep], ours.classes_, 1.0)
    f_ref = _objective(ref.coef_, ref.intercept_, xtr[keep], ytr[keep], ref.classes_, 1.0)
    assert f_ours <= f_ref * (1 + 1e-4)


def test_warm_started_path_equals_separate_fits(pixels):
    xtr, ytr, xte, _ = pixels
    Cs = [1.0, 1e-3, 0.1]  # any order: solved ascending, returned in the order given
    path = fit_path(xtr, ytr, Cs)
    for C, est in zip(Cs, path):
        alone = LinearProbe(C=C).fit(xtr, ytr)
        assert est.C == C
        np.testing.assert_allclose(est.decision_function(xte), alone.decision_function(xte), atol=1e-3, rtol=1e-3)


def test_bad_parameters_and_single_class_are_clear_errors(pixels):
    from transferlab.errors import BadInputError

    xtr, ytr, _, _ = pixels
    with pytest.raises(BadInputError, match="C must be positive"):
        LinearProbe(C=0).fit(xtr, ytr)
    with pytest.raises(BadInputError, match="two classes"):
        LinearProbe().fit(xtr[:5], np.zeros(5, dtype=int))
