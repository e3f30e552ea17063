"""ImageNet top-k labels for a few images: the user's check that weights and preprocessing are right."""
from __future__ import annotations

import torch

from transferlab.errors import BadInputError
from transferlab.models.config import ClassifyConfig
from transferlab.models.engines import open_engine
from transferlab.models.predict import PROBABILITY, payload, read_batches, top_k
from transferlab.models.registry import create_backbone
from transferlab.models.taps import resolve_layers
from transferlab.runtime import pick_device


def classify(images: list[str] | None = None, config: ClassifyConfig | None = None, **options) -> dict:
    """Top-k ImageNet labels of ``images`` in the shared prediction shape (``transferlab.models.predict``)."""
    if images is not None:
        options["images"] = [str(p) for p in images]
    config = config.replace(**options) if config is not None else ClassifyConfig(**options)
    device = pick_device(config.device)
    backbone = create_backbone(config.model, weights=config.weights)
    if backbone.labels is None:
        raise BadInputError(f"{backbone.name} has no ImageNet head (its classifier has "
                            f"{backbone.classifier.out_features} outputs): classify needs ImageNet weights")
    pre = backbone.preprocessing.with_size(config.image_size)
    # the classifier's output is the one tap, so every extraction engine can classify
    taps = resolve_layers(backbone, backbone.classifier_name, size=pre.input_size)
    engine = open_engine(backbone, taps, pre, backend=config.backend, precision=config.precision, device=device,
                         batch_size=config.batch_size, quiet=config.quiet, n_images=len(config.images))
    paths, tops, skipped = [], [], []
    with engine:
        for ok, batch, bad in read_batches(config.images, pre.transform("none", normalize=False), draft=pre.resize_size,
                                           batch_size=config.batch_size):
            skipped += bad
            if batch is None:
                continue
            probs = torch.from_numpy(engine(batch)).softmax(-1).numpy()
            paths += ok
            tops += top_k(probs, backbone.labels, config.top_k)
    return payload(backbone.name, paths, tops, skipped, PROBABILITY, backend=engine.name, precision=config.precision)
