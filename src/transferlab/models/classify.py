"""Top-k ImageNet labels for a few images: the user's check that weights and preprocessing are right."""
from __future__ import annotations

import torch

from transferlab.data.images import BadImage, open_image
from transferlab.errors import BadInputError
from transferlab.models.registry import create_backbone


def classify(paths: list[str], model: str = "efficientnet_lite0", weights: str | None = None, top: int = 5,
             device: str | None = None) -> list[dict]:
    """[{"path", "top": [{"label", "index", "probability"}, ...]}] or {"path", "error"} for unreadable files."""
    from transferlab.options import pick_device

    backbone = create_backbone(model, weights=weights)
    if backbone.labels is None:
        raise BadInputError(f"{backbone.name} has no ImageNet head (its classifier has "
                            f"{backbone.classifier.out_features} outputs): classify needs ImageNet weights")
    dev = pick_device(device)
    net = backbone.model.eval().to(dev)
    transform = backbone.preprocessing.transform("none")
    results = []
    for path in paths:
        try:
            image = open_image(path)
        except BadImage as exc:
            results.append({"path": str(path), "error": exc.reason})
            continue
        with torch.inference_mode():
            probs = net(transform(image).unsqueeze(0).to(dev)).softmax(-1)[0].float().cpu()
        values, index = probs.topk(min(top, len(probs)))
        results.append({"path": str(path), "top": [
            {"label": backbone.labels[i], "index": int(i), "probability": round(float(v), 4)}
            for v, i in zip(values.tolist(), index.tolist())]})
    return results
