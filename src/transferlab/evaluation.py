"""The evaluation shared by every classifier (FNE probe, fine-tuning).

``write_evaluation`` writes, atomically, into a run folder ``predictions.csv`` and ``confusion.png``
and returns the metrics (accuracy, mean per-class accuracy, per-class precision/recall/F1/support,
n_train, n_test, skipped files...); the caller completes them and writes ``metrics.json`` once, with
``runs.write_metrics``.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from transferlab import io as tio


def classification_metrics(y_true, y_pred, classes: list[str]) -> dict:
    """Accuracy, mean per-class accuracy (balanced accuracy over the classes present in y_true)
    and per-class precision/recall/F1/support, from scikit-learn."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = np.arange(len(classes))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    present = s > 0
    per_class = {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
                 for i, c in enumerate(classes)}
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "mean_class_accuracy": float(r[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f[present].mean()) if present.any() else 0.0,
        "per_class": per_class,
        "classes_absent_from_test": [c for i, c in enumerate(classes) if not present[i]],
    }


def write_evaluation(out_dir: str | Path, y_true, y_pred, classes: list[str], paths: list[str], *,
                     n_train: int, extra: dict | None = None, skipped: list[dict] | None = None,
                     scores: np.ndarray | None = None, title: str = "") -> dict:
    """Write predictions.csv and confusion.png into ``out_dir``; return the metrics (``files`` names
    metrics.json too, which the caller writes once its own entries are in)."""
    out = tio.ensure_writable_dir(out_dir)
    metrics = classification_metrics(y_true, y_pred, classes)
    metrics.update({"n_train": int(n_train), "n_test": int(len(y_true)), "n_classes": len(classes),
                    "skipped": list(skipped or [])})
    metrics.update(extra or {})
    metrics["files"] = {"metrics": str(out / "metrics.json"), "predictions": str(out / "predictions.csv"),
                        "confusion": str(out / "confusion.png")}
    write_predictions(out / "predictions.csv", paths, y_true, y_pred, classes, scores)
    plot_confusion(out / "confusion.png", y_true, y_pred, classes, title or f"accuracy {metrics['accuracy']:.3f}")
    return metrics


def write_predictions(path: Path, paths, y_true, y_pred, classes, scores=None) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["path", "true", "predicted", "correct"] + (["score"] if scores is not None else []))
    for i, (p, t, y) in enumerate(zip(paths, y_true, y_pred)):
        row = [p, classes[int(t)], classes[int(y)], int(t == y)]
        if scores is not None:
            row.append(f"{float(scores[i]):.4f}")
        w.writerow(row)
    tio.write_text(path, buf.getvalue())


def plot_confusion(path: Path, y_true, y_pred, classes: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    n = len(classes)
    size = min(4 + 0.45 * n, 22)
    fig, ax = plt.subplots(figsize=(size, size * 0.9))
    ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, labels=np.arange(n), display_labels=classes, normalize="true", values_format=".2f",
        include_values=n <= 25, xticks_rotation="vertical", ax=ax, colorbar=False, cmap="Blues")
    ax.set_title(f"{title}\n(rows normalised: recall per true class)")
    tio.save_figure(fig, path)


def summary_lines(metrics: dict, classes: list[str], max_classes: int = 30) -> list[str]:
    """A readable summary for stdout."""
    lines = [f"accuracy {metrics['accuracy']:.4f}   mean per-class accuracy {metrics['mean_class_accuracy']:.4f}   "
             f"(train {metrics['n_train']}, test {metrics['n_test']})"]
    per = metrics["per_class"]
    shown = classes[:max_classes]
    width = max(len(c) for c in shown) if shown else 5
    lines.append(f"  {'class':<{width}}  precision  recall     f1  support")
    for c in shown:
        m = per[c]
        lines.append(f"  {c:<{width}}  {m['precision']:9.3f}  {m['recall']:6.3f}  {m['f1']:5.3f}  {m['support']:7d}")
    if len(classes) > max_classes:
        lines.append(f"  ... {len(classes) - max_classes} more classes in metrics.json")
    if metrics.get("skipped"):
        lines.append(f"skipped {len(metrics['skipped'])} unreadable file(s):")
        lines += [f"  {s['path']}: {s['reason']}" for s in metrics["skipped"][:10]]
    return lines
