"""Top-k predictions for image files, in the one JSON shape every command uses.

``classify`` (ImageNet labels), ``predict`` on a fine-tuning run and on an FNE run all answer::

    {"model": ..., "score": "probability" | "svm decision value",
     "predictions": [{"path": ..., "top": [{"label": ..., "index": ..., "score": ...}, ...]}, ...],
     "skipped": [{"path": ..., "reason": ...}, ...]}

Unreadable images are skipped and listed, never guessed at; no readable image at all is an error.
"""
from __future__ import annotations

import os
from typing import Callable, Iterator

import numpy as np

from transferlab.errors import BadInputError

PROBABILITY = "probability"
SVM_DECISION = "svm decision value"


def read_batches(paths: list[str | os.PathLike], transform: Callable, draft: int | None = None,
                 batch_size: int = 32, max_pixels: int | None = None) -> Iterator[tuple[list[str], object, list[dict]]]:
    """(readable paths, stacked tensor batch, skipped files) per batch of ``paths``."""
    import torch

    from transferlab.data.images import BadImage, open_image

    kw = {} if max_pixels is None else {"max_pixels": max_pixels}
    for s in range(0, len(paths), batch_size):
        ok, tensors, skipped = [], [], []
        for path in paths[s:s + batch_size]:
            try:
                image = open_image(path, draft=draft, **kw)
            except BadImage as exc:
                skipped.append({"path": str(path), "reason": exc.reason})
                continue
            ok.append(str(path))
            tensors.append(transform(image))
        yield ok, (torch.stack(tensors) if tensors else None), skipped


def top_k(scores: np.ndarray, labels: list[str], k: int) -> list[list[dict]]:
    """The ``k`` best (label, index, score) of each row of ``scores``, best first."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:  # a binary decision function: one score, for the second class
        scores = np.stack([-scores, scores], axis=1)
    k = max(1, min(int(k), scores.shape[1]))
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [[{"label": labels[int(i)], "index": int(i), "score": round(float(row[i]), 6)} for i in idx]
            for row, idx in zip(scores, order)]


def payload(model: str, paths: list[str], tops: list[list[dict]], skipped: list[dict], score: str,
            **extra) -> dict:
    """The shared JSON shape; an error when not one image could be read."""
    if not paths:
        if not skipped:
            raise BadInputError("no image given")
        raise BadInputError("no readable image: " + "; ".join(f"{s['path']}: {s['reason']}" for s in skipped[:10]))
    return {"model": model, "score": score, **extra,
            "predictions": [{"path": p, "top": t} for p, t in zip(paths, tops)], "skipped": skipped}


def text_lines(result: dict) -> list[str]:
    """The human-readable form: one line per image."""
    prob = result.get("score") == PROBABILITY
    lines = []
    for p in result["predictions"]:
        tops = "  ".join(f"{t['label']} {t['score']:.1%}" if prob else f"{t['label']} {t['score']:+.3f}"
                         for t in p["top"])
        lines.append(f"{p['path']}: {tops}")
    return lines
