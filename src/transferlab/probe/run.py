"""Train the probe on train features, evaluate on test, write the report; per-layer comparison."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferlab import io as tio
from transferlab.embed.store import FeatureSet
from transferlab.errors import DataError
from transferlab.probe.fne import make_probe
from transferlab.report import evaluation_report


@dataclass
class ProbeConfig:
    post: str = "fne"
    C: float = 1.0
    low: float = -0.25
    high: float = 0.15
    max_iter: int = 5000
    compare: bool = False
    seed: int = 0
    extra: dict = field(default_factory=dict)  # recorded in metrics.json


def fit_predict(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, config: ProbeConfig):
    """Fit the pipeline on train, predict test; convergence warnings are counted, not printed."""
    pipe = make_probe(config.post, config.C, config.low, config.high, config.max_iter, config.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipe.fit(train, y_train)
    converged = not any("converge" in str(w.message).lower() for w in caught)
    return pipe, pipe.predict(test), converged


def run_probe(train: FeatureSet, test: FeatureSet, out_dir: str | Path, config: ProbeConfig | None = None) -> dict:
    """The linear-SVM probe on ``train`` -> ``test``; writes metrics.json, predictions.csv, confusion.png."""
    config = config or ProbeConfig()
    out = tio.ensure_writable_dir(out_dir)
    _check_compatible(train, test)
    if len(np.unique(train.labels)) < 2:
        raise DataError("the training features hold a single class; a classifier needs at least two")
    start = time.perf_counter()
    pipe, pred, converged = fit_predict(train.features, train.labels, test.features, config)
    scores = pipe.decision_function(test.features)
    top = scores.max(axis=1) if scores.ndim == 2 else np.abs(scores)
    seconds = time.perf_counter() - start
    extra = {"post": config.post, "C": config.C, "dim": train.dim, "n_layers": len(train.layers),
             "layers": train.layer_names(), "svm_converged": converged, "fit_seconds": round(seconds, 3),
             **config.extra}
    if config.post == "fne":
        extra["thresholds"] = [config.low, config.high]
    metrics = evaluation_report(out, test.labels, pred, train.classes, test.paths, n_train=len(train),
                                extra=extra, skipped=train.skipped + test.skipped, scores=top,
                                title=f"{train.meta.get('model', '')} {config.post} + linear SVM")
    if config.compare:
        metrics["compare"] = compare_layers(train, test, out, config)
        tio.write_json(out / "metrics.json", metrics)
    return metrics


def compare_layers(train: FeatureSet, test: FeatureSet, out: Path, config: ProbeConfig) -> list[dict]:
    """Accuracy of every tapped layer alone and of the full concatenation (the FNE paper's table)."""
    from tqdm.auto import tqdm

    rows = []
    names = train.layer_names()
    for name in tqdm(names, desc="per-layer probes", unit="layer", leave=False):
        _, pred, _ = fit_predict(train.columns(name), train.labels, test.columns(name), config)
        layer = next(lyr for lyr in train.layers if lyr["name"] == name)
        rows.append({"layer": name, "dim": layer["end"] - layer["start"],
                     "accuracy": float(np.mean(pred == test.labels))})
    _, pred, _ = fit_predict(train.features, train.labels, test.features, config)
    rows.append({"layer": "full embedding", "dim": train.dim, "accuracy": float(np.mean(pred == test.labels))})
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
    lo = max(0.0, min(acc) - 0.05)
    ax.set_ylim(lo, min(1.0, max(acc) + 0.03))
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
