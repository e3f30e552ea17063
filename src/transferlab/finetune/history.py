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


def curves_figure(rows: list[dict], *, title: str | None = None, best: int | None = None, compact: bool = False):
    """Loss and accuracy, train and validation, per epoch: the one drawing of a run's learning curves.

    ``title``: a heading above both plots; ``best``: the chosen epoch, marked; ``compact``: the report
    page's smaller picture (small legends, accuracy axis fitted to the data instead of 0..1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2) if compact else (10, 3.8))
    for ax, what in zip(axes, ("loss", "acc")):
        ax.plot(ep, [r[f"train_{what}"] for r in rows], "o-", label="train")
        ax.plot(ep, [r[f"val_{what}"] for r in rows], "o-", label="validation")
        if best:
            ax.axvline(best, color="#888", ls="--", label=f"chosen epoch {best}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if what == "acc" else "loss")
        if what == "acc" and not compact:
            ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8 if compact else None)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_curves(path: Path, rows: list[dict], title: str) -> None:
    """``curves.png`` of a run's rows."""
    tio.save_figure(curves_figure(rows, title=title), path)


def curves_png(rows: list[dict], best: int | None) -> bytes:
    """The report page's picture of the curves (PNG bytes), the chosen epoch marked."""
    import io as _io

    import matplotlib.pyplot as plt

    fig = curves_figure(rows, best=best, compact=True)
    fig.tight_layout()
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()
