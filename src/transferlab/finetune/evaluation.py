"""Evaluation: forward passes without gradients, loss and accuracy over all ranks, the final evaluation's files."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from transferlab.errors import DataError
from transferlab.finetune.distributed import Dist
from transferlab.finetune.schedule import autocast


@torch.no_grad()
def predict(forward: nn.Module, batches, prepare, device: torch.device, dtype: torch.dtype | None = None):
    """(logits, labels, split indices, skipped) of ``batches`` (from ``collate_skipping``), on the CPU;
    ``prepare(x)`` moves a batch to ``device`` ready for ``forward``; ``dtype``: autocast."""
    logits_all, labels_all, index_all, skipped = [], [], [], []
    for x, y, idx, bad in batches:
        skipped += [(int(i), r) for i, r in bad]
        if x is None:
            continue
        x = prepare(x)
        with autocast(device, dtype):
            out = forward(x)
        logits_all.append(out.float().cpu())
        labels_all.append(y)
        index_all.append(idx)
    if logits_all:
        return torch.cat(logits_all), torch.cat(labels_all), torch.cat(index_all), skipped
    return torch.empty(0, 1), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), skipped


def loss_accuracy(logits: torch.Tensor, labels: torch.Tensor, d: Dist, device, n_files: int) -> tuple[float, float]:
    """Mean cross-entropy and accuracy over the rows of all ranks of ``d``."""
    loss_sum = float(nn.functional.cross_entropy(logits, labels, reduction="sum")) if len(labels) else 0.0
    correct = float((logits.argmax(1) == labels).sum()) if len(labels) else 0.0
    loss_sum, correct, n = d.sum([loss_sum, correct, float(len(labels))], device)
    if n == 0:
        raise DataError(f"no readable image in the validation/evaluation split ({n_files} files)")
    return loss_sum / n, correct / n


def write_final_evaluation(out: Path, predictions, split, classes: list[str], *, n_train: int, extra: dict,
                           title: str) -> dict:
    """metrics.json, predictions.csv and confusion.png of ``predictions`` (``predict``'s, sorted skips) on ``split``."""
    from transferlab.evaluation import write_evaluation
    from transferlab.runs import write_metrics

    logits, labels, index, skipped = predictions
    probs = torch.softmax(logits, 1)
    pred = probs.argmax(1).numpy()
    paths = [split.paths[i] for i in index.tolist()]
    skipped_list = [{"path": split.paths[i], "reason": r} for i, r in skipped]
    result = write_evaluation(out, labels.numpy(), pred, classes, paths, n_train=n_train, extra=extra,
                              skipped=skipped_list, scores=probs.max(1).values.numpy(), title=title)
    result["files"].update({"config": str(out / "config.yaml"), "metrics_csv": str(out / "metrics.csv"),
                            "curves": str(out / "curves.png"), "best": str(out / "best.pt"),
                            "last": str(out / "last.pt")})
    write_metrics(out, result)
    return result

