"""A fast solver for LinearSVC's own problem: every class at once, by Newton's method, in torch.

``LinearProbe`` minimises, for each class k against the rest (one-vs-rest, as ``LinearSVC``)::

    0.5 * |w_k|^2 + C * sum_i max(0, 1 - y_ik * (w_k . x_i + b_k))^2

with the bias regularised as an extra feature of value 1 (liblinear's ``intercept_scaling=1``).
That is exactly the problem scikit-learn's ``LinearSVC()`` solves (squared hinge, L2), so the
answers agree to the solvers' tolerances; what changes is how it is solved:

- Chapelle's primal Newton method ("Training a support vector machine in the primal", 2007): each
  step jumps to the exact minimiser for the current active set (the samples inside the margin),
  through an exact line search; it ends in a handful of steps where liblinear's coordinate
  descent crawls (classes that are not separable, many classes);
- every class is one column of the same batched computation: with up to ``DUAL_MAX_SAMPLES``
  training samples through the Gram matrix ``X X^T`` (an n-column problem however many features),
  each Newton point solved in the smaller of its two equivalent sizes (active samples or features);
- ``fit_path`` solves a whole grid of C values with warm starts (cross-validation's inner loop).

It runs on any torch device (``device="cuda"`` on a GPU).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from transferlab.errors import BadInputError


class LinearProbe(ClassifierMixin, BaseEstimator):
    """One-vs-rest squared-hinge linear SVM (LinearSVC's objective) solved by batched primal Newton.

    Fitted attributes as ``LinearSVC``: ``classes_``, ``coef_`` (n_classes or 1, n_features),
    ``intercept_``, ``n_iter_`` (Newton iterations), ``converged_``.
    """

    def __init__(self, C: float = 1.0, tol: float = 1e-12, max_iter: int = 100, device: str = "cpu"):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.device = device

    def fit(self, X, y):
        X, y = validate_data(self, X, y, dtype=np.float32)
        self._check_params()
        problem = _Problem(X, y, self.device)
        (coef, intercept, n_iter, converged), = problem.solve_path([float(self.C)], self.tol, self.max_iter)
        self.classes_ = problem.classes
        self.coef_, self.intercept_ = coef, intercept
        self.n_iter_, self.converged_ = n_iter, converged
        return self

    def decision_function(self, X):
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, dtype=np.float32, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _check_params(self) -> None:
        if not self.C > 0:
            raise BadInputError(f"C must be positive, got {self.C}")
        if not self.tol > 0 or int(self.max_iter) < 1:
            raise BadInputError(f"tol must be positive and max_iter at least 1, got {self.tol}, {self.max_iter}")


def fit_path(X: np.ndarray, y: np.ndarray, Cs: list[float], tol: float = 1e-12, max_iter: int = 100,
             device: str = "cpu") -> list[LinearProbe]:
    """One fitted ``LinearProbe`` per value of ``Cs`` (solved in ascending order, each warm-started
    from the last): the Gram matrix is computed once for the whole path."""
    X = np.ascontiguousarray(X, dtype=np.float32)
    problem = _Problem(X, np.asarray(y), device)
    order = np.argsort(Cs)
    solved = problem.solve_path([float(Cs[i]) for i in order], tol, max_iter)
    fitted: list[LinearProbe | None] = [None] * len(Cs)
    for i, (coef, intercept, n_iter, converged) in zip(order, solved):
        est = LinearProbe(C=float(Cs[i]), tol=tol, max_iter=max_iter, device=device)
        est.classes_, est.coef_, est.intercept_ = problem.classes, coef, intercept
        est.n_iter_, est.converged_, est.n_features_in_ = n_iter, converged, X.shape[1]
        fitted[i] = est
    return fitted


DUAL_MAX_SAMPLES = 8192  # above this the n x n Gram matrix (float64) is not worth its memory


class _Problem:
    """The training data in the smaller of two equivalent forms, and the +-1 targets of each column.

    Up to ``DUAL_MAX_SAMPLES`` samples, the "dual" form: the Gram matrix ``K = X X^T + 1`` and
    weights ``w = X^T beta``.  Beyond, the "primal" form: ``X_aug = [X, 1]`` and ``w`` itself.
    Either way the Newton point of an active set A is
    ``w = X_A^T (X_A X_A^T + I/2C)^-1 y_A = (X_A^T X_A + I/2C)^-1 X_A^T y_A``, solved in the
    smaller of its two sizes (|A| or the number of features)."""

    def __init__(self, X: np.ndarray, y: np.ndarray, device: str = "cpu"):
        import torch

        self.classes, codes = np.unique(y, return_inverse=True)
        if len(self.classes) < 2:
            raise BadInputError("the probe needs at least two classes in the training data")
        self.device = torch.device(device)
        self.X = torch.from_numpy(X).to(self.device)
        n, d = X.shape
        cols = [1] if len(self.classes) == 2 else range(len(self.classes))
        codes = torch.from_numpy(codes).to(self.device)
        self.Y = torch.stack([torch.where(codes == k, 1.0, -1.0) for k in cols], dim=1).to(torch.float64)
        self.dual = n <= DUAL_MAX_SAMPLES
        self._Xa = None
        if self.dual:
            self.K = (self.X @ self.X.T).to(torch.float64) + 1.0

    @property
    def Xa(self):
        """``[X, 1]`` in float64 (made when first needed)."""
        import torch

        if self._Xa is None:
            n = self.X.shape[0]
            self._Xa = torch.cat([self.X.to(torch.float64), torch.ones(n, 1, dtype=torch.float64,
                                                                      device=self.device)], dim=1)
        return self._Xa

    def solve_path(self, Cs: list[float], tol: float, max_iter: int) -> list[tuple]:
        """(coef, intercept, n_iter, converged) for each C, each solve warm-started from the previous."""
        params, out = None, []
        for C in Cs:
            params, n_iter, converged = _newton(self, C, tol, max_iter, params)
            if self.dual:
                coef, intercept = (self.X.T @ params.to(self.X.dtype)).T, params.sum(0)
            else:
                coef, intercept = params[:-1].T, params[-1]
            out.append((coef.float().cpu().numpy(), intercept.float().cpu().numpy(), n_iter, converged))
        return out

    # -- what the Newton loop needs -----------------------------------------------------------------
    def zeros(self):
        import torch

        rows = self.Y.shape[0] if self.dual else self.Xa.shape[1]
        return torch.zeros(rows, self.Y.shape[1], dtype=torch.float64, device=self.device)

    def scores(self, P):
        """The change of the decision values for a change ``P`` of the parameters."""
        return self.K @ P if self.dual else self.Xa @ P

    def norm2(self, U, P, FP):
        """w(U) . w(P) per column (``FP`` = scores(P))."""
        return (U * FP).sum(0) if self.dual else (U * P).sum(0)

    def newton_point(self, active, Y, C: float):
        """The parameters minimising the objective with the active set held fixed, per column."""
        import torch

        lam = 0.5 / C
        n = Y.shape[0]
        out = self.zeros()[:, :Y.shape[1]]
        full = active.all(0)
        if bool(full.any()) and self.dual:  # every sample active: one factorisation serves these columns
            L = torch.linalg.cholesky(self.K + lam * torch.eye(n, dtype=self.K.dtype, device=self.device))
            out[:, full] = torch.cholesky_solve(Y[:, full], L)
        for j in range(Y.shape[1]):
            if self.dual and bool(full[j]):
                continue
            idx = active[:, j].nonzero().ravel()
            if len(idx) == 0:
                continue
            y = Y[idx, j:j + 1]
            m, d1 = len(idx), self.X.shape[1] + 1
            small = m <= d1  # |A| x |A| system, else (d + 1) x (d + 1)
            if self.dual and (small or m ** 3 / 3 < m * d1 ** 2 + d1 ** 3 / 3):
                out[idx, j] = _spd_solve(self.K[idx][:, idx], lam, y).ravel()
            elif self.dual:  # Woodbury: (X_A X_A^T + lam I)^-1 y = (y - X_A (X_A^T X_A + lam I)^-1 X_A^T y) / lam
                XA = self.Xa[idx]
                out[idx, j] = ((y - XA @ _spd_solve(XA.T @ XA, lam, XA.T @ y)) / lam).ravel()
            elif small:
                XA = self.Xa[idx]
                out[:, j] = (XA.T @ _spd_solve(XA @ XA.T, lam, y)).ravel()
            else:
                XA = self.Xa[idx]
                out[:, j] = _spd_solve(XA.T @ XA, lam, XA.T @ y).ravel()
        return out


def _spd_solve(A, lam: float, b):
    """(A + lam I)^-1 b for a symmetric positive semi-definite A."""
    import torch

    A = A.clone()
    A.diagonal().add_(lam)
    return torch.cholesky_solve(b, torch.linalg.cholesky(A))


def _newton(problem: _Problem, C: float, tol: float, max_iter: int, params=None):
    """Chapelle's primal Newton ("Training a support vector machine in the primal", 2007) on
    0.5 |w|^2 + C sum max(0, 1 - y (w . x))^2, every column of ``Y`` at once.

    Each step goes to the Newton point of the current active set (margin below 1), through an exact
    line search that keeps it a descent.  A column is done when its active set is the same after a
    full Newton step (the exact optimum), or when an iteration lowers the objective by less than
    ``tol`` (relative)."""
    import torch

    Y = problem.Y
    k = Y.shape[1]
    params = problem.zeros() if params is None else params.clone()
    F = problem.scores(params)
    obj = _objective(problem.norm2(params, params, F), F, Y, C)
    done = torch.zeros(k, dtype=torch.bool, device=Y.device)
    it = 0
    while not bool(done.all()) and it < max_iter:
        it += 1
        todo = (~done).nonzero().ravel()
        U, Ft, Yt = params[:, todo], F[:, todo], Y[:, todo]
        active = Yt * Ft < 1
        D = problem.newton_point(active, Yt, C) - U
        FD = problem.scores(D)
        t = _line_search(problem.norm2(U, D, FD), problem.norm2(D, D, FD), Ft, Yt, FD, C)
        U, Ft = U + D * t, Ft + FD * t
        params[:, todo], F[:, todo] = U, Ft
        new = _objective(problem.norm2(U, U, Ft), Ft, Yt, C)
        same_set = (active == (Yt * Ft < 1)).all(0) & ((t - 1).abs() < 1e-6)
        done[todo] = same_set | (obj[todo] - new <= tol * new.abs())
        obj[todo] = new
    return params, it, bool(done.all())


def _objective(ww, F, Y, C: float):
    return 0.5 * ww + C * ((1 - Y * F).clamp(min=0) ** 2).sum(0)


def _line_search(up, pp, M, Y, ZP, C: float, steps: int = 30):
    """The exact minimiser t of 0.5|u + t p|^2 + C sum max(0, 1 - y (m + t zp))^2 for every column
    (convex and piecewise quadratic in t: safeguarded Newton on its derivative); ``up`` = u.p, ``pp`` = p.p."""
    import torch

    yz = Y * ZP
    ym = Y * M
    lo = torch.zeros_like(up)
    t = torch.ones_like(up)
    hi = torch.full_like(up, float("inf"))
    for _ in range(steps):
        margin = 1 - (ym + t * yz)
        act = margin > 0
        d1 = up + t * pp - 2 * C * torch.where(act, margin * yz, 0.0).sum(0)
        d2 = pp + 2 * C * torch.where(act, yz * yz, 0.0).sum(0)
        lo = torch.where(d1 < 0, t, lo)
        hi = torch.where(d1 >= 0, t, hi)
        new = t - d1 / d2.clamp(min=1e-300)
        bad = (new <= lo) | (new >= hi)
        mid = torch.where(torch.isinf(hi), 2 * t, (lo + hi) / 2)
        new = torch.where(bad, mid, new)
        if bool(((new - t).abs() <= 1e-9 * t.abs().clamp(min=1e-12)).all()):
            return new
        t = new
    return t
