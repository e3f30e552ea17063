"""Per-epoch outputs of a run: ``metrics.csv`` (one row per epoch) and ``curves.png``."""
from __future__ import annotations

import csv
import io
from pathlib import Path

from transferlab import io as tio

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s",
                  "skipped")


def write_metrics_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    tio.write_text(path, buf.getvalue())


def plot_curves(path: Path, rows: list[dict], title: str) -> None:
    """Loss and accuracy, train and validation, per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot(ep, [r["train_loss"] for r in rows], "o-", label="train")
    a.plot(ep, [r["val_loss"] for r in rows], "o-", label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend(), a.grid(alpha=0.3)
    b.plot(ep, [r["train_acc"] for r in rows], "o-", label="train")
    b.plot(ep, [r["val_acc"] for r in rows], "o-", label="validation")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy"), b.set_ylim(0, 1.02), b.legend(), b.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    tio.save_figure(fig, path)
