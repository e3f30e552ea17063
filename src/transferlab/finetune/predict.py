"""``transferlab predict RUN IMAGE...``: top-k classes for new images with a run's best checkpoint."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from transferlab.data.images import BadImage, open_image
from transferlab.errors import BadInputError, DataError
from transferlab.finetune.config import FinetuneConfig
from transferlab.finetune.model import prepare_model
from transferlab.models.registry import Preprocessing


@dataclass
class LoadedRun:
    model: torch.nn.Module
    classes: list[str]
    preprocessing: Preprocessing
    config: FinetuneConfig
    epoch: int


def load_run(run: str | Path, checkpoint: str = "best.pt", device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild a fine-tuned model from ``RUN/best.pt`` (no pretrained weights needed)."""
    from transferlab.finetune.train import load_checkpoint

    run = Path(run)
    if not run.is_dir():
        raise BadInputError(f"run folder not found: {run}")
    path = run / checkpoint
    if not path.is_file():
        raise BadInputError(f"{run} has no {checkpoint} (is it a fine-tuning run that finished an epoch?)")
    ck = load_checkpoint(path)
    cfg = FinetuneConfig.from_dict(ck["config"], str(path))
    classes = list(ck["classes"])
    prepared = prepare_model(cfg, len(classes), pretrained=False)
    try:
        prepared.model.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise DataError(f"{path} does not fit {cfg.model}: {str(exc).splitlines()[0][:200]}") from None
    model = prepared.model.to(device).eval()
    p = ck["preprocessing"]
    pre = Preprocessing(p["input_size"], p["resize_size"], p["interpolation"], tuple(p["mean"]), tuple(p["std"]))
    return LoadedRun(model, classes, pre, cfg, int(ck.get("epoch", 0)))


@torch.no_grad()
def predict_images(run: LoadedRun, images: list[str], top_k: int = 3, batch_size: int = 32) -> dict:
    """``{"predictions": [{"path", "top": [{"class", "probability"}]}], "skipped": [{"path", "reason"}]}``."""
    if not images:
        raise BadInputError("no image given")
    tf = run.preprocessing.transform("none")
    k = max(1, min(top_k, len(run.classes)))
    device = next(run.model.parameters()).device
    preds, skipped = [], []
    for s in range(0, len(images), batch_size):
        chunk, tensors = [], []
        for path in images[s:s + batch_size]:
            try:
                im = open_image(path, draft=run.preprocessing.resize_size)
            except BadImage as exc:
                skipped.append({"path": str(path), "reason": exc.reason})
                continue
            chunk.append(str(path))
            tensors.append(tf(im))
        if not tensors:
            continue
        probs = torch.softmax(run.model(torch.stack(tensors).to(device)).float(), 1).cpu()
        values, idx = probs.topk(k, dim=1)
        for path, v, i in zip(chunk, values.tolist(), idx.tolist()):
            preds.append({"path": path, "top": [{"class": run.classes[c], "probability": p} for c, p in zip(i, v)]})
    return {"predictions": preds, "skipped": skipped}
