"""Train the probe on train features, evaluate on test, write the report; per-layer comparison.

``config`` is any config with the probe options (``transferlab.fne.config.ProbeOptions``: post, C,
solver, thresholds, max_iter, compare, cv_folds, seed); ``C="auto"`` and tap-set candidates go
through ``transferlab.fne.select``.  The fitted probe is saved with skops (a safe format, no pickle)
so that a finished run can predict new images.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np

from transferlab import io as tio
from transferlab.errors import DataError
from transferlab.fne.solver import LinearProbe
from transferlab.fne.store import FeatureSet
from transferlab.fne.transforms import Discretize, Standardize, make_probe
from transferlab.evaluation import write_evaluation
from transferlab.runs import check_recorded


def fit_predict(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, config):
    """Fit the pipeline on train, predict test; convergence warnings are counted, not printed."""
    low, high = config.thresholds
    pipe = make_probe(config.post, config.C, low, high, config.max_iter, config.seed,
                      solver=config.solver, n_train=len(y_train))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.fit(train, y_train)
    converged = not any("converge" in str(w.message).lower() for w in caught)
    return pipe, pipe.predict(test), converged


def run_probe(train: FeatureSet, test: FeatureSet, out_dir: str | Path, config, extra: dict | None = None,
              progress: bool = True, candidates: dict | None = None):
    """The linear-SVM probe on ``train`` -> ``test``; writes predictions.csv, confusion.png
    (cv.png with ``C="auto"`` or ``candidates``; compare.csv/.png with ``config.compare``) into ``out_dir``;
    returns (metrics, fitted probe); the caller writes metrics.json (``runs.write_metrics``).  ``candidates`` (name -> taps): tap sets of ``train`` to choose among
    by cross-validation (``--layers auto``)."""
    out = tio.ensure_writable_dir(out_dir)
    _check_compatible(train, test)
    if len(np.unique(train.labels)) < 2:
        raise DataError("the training features hold a single class; a classifier needs at least two")
    start = time.perf_counter()
    cv = None
    if config.C == "auto" or candidates:
        from transferlab.fne.select import C_GRID, cross_validate

        given = {getattr(config, "layers", None) or "every layer": None}
        cv = cross_validate(train, candidates or given, C_GRID if config.C == "auto" else [config.C], config, progress)
        chosen, C, _ = cv.best
        if candidates:
            train, test = train.select_taps(candidates[chosen]), test.select_taps(candidates[chosen])
        config = config.replace(C=C)
    pipe, pred, converged = fit_predict(train.features, train.labels, test.features, config)
    scores = pipe.decision_function(test.features)
    top = scores.max(axis=1) if scores.ndim == 2 else np.abs(scores)
    seconds = time.perf_counter() - start
    solver = "newton" if isinstance(pipe.steps[-1][1], LinearProbe) else "liblinear"
    extra = {"post": config.post, "C": config.C, "solver": solver, "dim": train.dim, "n_layers": len(train.layers),
             "layers": train.layer_names(), "svm_converged": converged, "fit_seconds": round(seconds, 3),
             **(extra or {})}
    if config.post == "fne":
        extra["thresholds"] = list(config.thresholds)
    if cv is not None:
        extra["cv"] = cv.to_dict()
        if candidates:
            extra["layers_chosen"] = cv.best[0]
    metrics = write_evaluation(out, test.labels, pred, train.classes, test.paths, n_train=len(train),
                               extra=extra, skipped=train.skipped + test.skipped, scores=top,
                               title=f"{train.meta.get('model', '')} {config.post} + linear SVM")
    if cv is not None:
        from transferlab.fne.select import plot_cv

        plot_cv(cv, out / "cv.png", f"{train.meta.get('model', '')}: {config.post} + linear SVM, "
                                    f"{cv.folds}-fold CV on train")
        metrics["files"]["cv_plot"] = str(out / "cv.png")
    if config.compare:
        metrics["compare"] = compare_layers(train, test, out, config, progress, full=metrics["accuracy"])
        metrics["files"].update({"compare": str(out / "compare.csv"), "compare_plot": str(out / "compare.png")})
    return metrics, pipe


def save_probe(pipe, path: str | Path) -> Path:
    """The fitted pipeline in skops' format (no pickle: loading it runs no code), atomically."""
    import skops.io as sio

    path = Path(path)
    with tio.atomic_path(path, suffix=path.suffix) as tmp:
        sio.dump(pipe, tmp)
    return path


PROBE_HINT = "rerun the fne run into a new --out, or with --overwrite"
# the only types a saved probe may hold besides scikit-learn's own
_OWN_TYPES = {f"{c.__module__}.{c.__qualname__}" for c in (Standardize, Discretize, LinearProbe)}


def load_probe(path: str | Path):
    """A probe saved by ``save_probe``; a file holding any other type is refused."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path} not found: the run has no saved probe (runs made before probes were saved "
                        "cannot predict; run fne again)")
    check_recorded(path, PROBE_HINT)
    try:
        untrusted = sio.get_untrusted_types(file=path)
        foreign = [t for t in untrusted if t not in _OWN_TYPES and not t.startswith("sklearn.")]
        if foreign:
            raise DataError(f"{path} holds types a transferlab probe never has ({', '.join(foreign[:3])}); "
                            "refusing to load it")
        return sio.load(path, trusted=untrusted)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a damaged file: say so
        raise tio.damaged(path, "saved probe (skops file)", exc, PROBE_HINT) from None


def compare_layers(train: FeatureSet, test: FeatureSet, out: Path, config, progress: bool = True,
                   full: float | None = None) -> list[dict]:
    """Accuracy of every tapped layer alone and of the full concatenation (the FNE paper's table;
    ``full``: its accuracy when already measured)."""
    import sys

    from tqdm.auto import tqdm

    rows = []
    names = train.layer_names()
    for name in tqdm(names, desc="per-layer probes", unit="layer", leave=False, disable=not progress,
                     file=sys.stderr):
        _, pred, _ = fit_predict(train.columns(name), train.labels, test.columns(name), config)
        layer = next(lyr for lyr in train.layers if lyr["name"] == name)
        rows.append({"layer": name, "dim": layer["end"] - layer["start"],
                     "accuracy": float(np.mean(pred == test.labels))})
    if full is None:
        _, pred, _ = fit_predict(train.features, train.labels, test.features, config)
        full = float(np.mean(pred == test.labels))
    rows.append({"layer": "full embedding", "dim": train.dim, "accuracy": full})
    lines = ["layer,dim,accuracy"] + [f"{r['layer']},{r['dim']},{r['accuracy']:.4f}" for r in rows]
    tio.write_text(out / "compare.csv", "\n".join(lines) + "\n")
    plot_compare(rows, out / "compare.png", f"{train.meta.get('model', '')}: {config.post} + linear SVM per layer")
    return rows


def plot_compare(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(rows)
    fig, ax = plt.subplots(figsize=(max(6, 0.28 * n + 2), 4.5))
    acc = [r["accuracy"] for r in rows]
    colors = ["#4C72B0"] * (n - 1) + ["#DD8452"]
    ax.bar(range(n), acc, color=colors)
    best_single = max(acc[:-1]) if n > 1 else acc[0]
    ax.axhline(best_single, color="grey", lw=0.8, ls="--", label=f"best single layer {best_single:.3f}")
    ax.axhline(acc[-1], color="#DD8452", lw=0.8, ls=":", label=f"full embedding {acc[-1]:.3f}")
    ax.set_xticks(range(n))
    ax.set_xticklabels([r["layer"] for r in rows], rotation=90, fontsize=7)
    ax.set_ylim(0, 1)  # from 0: bar heights compare honestly
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    tio.save_figure(fig, path)


def compare_table(rows: list[dict]) -> list[str]:
    width = max(len(r["layer"]) for r in rows)
    return [f"  {r['layer']:<{width}}  {r['dim']:>6}  {r['accuracy']:.4f}" for r in rows]


def _check_compatible(train: FeatureSet, test: FeatureSet) -> None:
    if train.classes != test.classes:
        raise DataError("train and test features were made with different class lists: "
                        f"{train.classes} vs {test.classes}")
    if train.layers != test.layers or train.dim != test.dim:
        raise DataError("train and test features come from different layers; extract them together")
    if train.meta.get("model") != test.meta.get("model") or train.meta.get("weights") != test.meta.get("weights"):
        raise DataError("train and test features come from different models or weights")
