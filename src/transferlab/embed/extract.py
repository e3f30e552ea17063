"""Feature extraction: one forward pass per batch, every tapped layer pooled on the fly.

``extract_split`` streams a split through the network (DataLoader workers decode and resize,
``inference_mode``, channels_last, CUDA + autocast when there is a GPU) and keeps only pooled
vectors, so memory is O(batch).  ``embed`` adds the cache and the run folder around it.
"""
from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from transferlab import io as tio
from transferlab.data.datasets import DataSplits, ImageDataset, SkippingLoader, Split, collate_skipping
from transferlab.data.images import DEFAULT_MAX_PIXELS
from transferlab.embed.store import FeatureSet, cache_dir, cache_key, cache_path, link_or_copy, remove_stale_temporaries
from transferlab.errors import DataError
from transferlab.models.registry import Backbone, Preprocessing, create_backbone
from transferlab.models.taps import Tap, TapRecorder, resolve_layers


@dataclass
class EmbedConfig:
    data: str | None = None
    model: str = "efficientnet_lite0"
    weights: str | None = None
    layers: str = "all"
    image_size: int | None = None
    batch_size: int = 32
    workers: int | None = None
    device: str | None = None
    strict: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    use_cache: bool = True
    progress: bool = True
    dataset_options: dict = field(default_factory=dict)  # test_fraction, seed, per_class, lists, images


def prepare_model(backbone: Backbone, device: torch.device) -> torch.nn.Module:
    """Eval mode on ``device``; channels_last for convnets (faster oneDNN / cuDNN kernels)."""
    model = backbone.model.eval().to(device)
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


def extract_split(backbone: Backbone, taps: list[Tap], split: Split, splits: DataSplits, preprocessing: Preprocessing,
                  *, batch_size: int = 32, workers: int | None = None, device: torch.device | None = None,
                  strict: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = True,
                  desc: str = "extract") -> FeatureSet:
    """Pooled features of every tap for every readable image of ``split``; bad images are reported."""
    (fs,) = extract_splits(backbone, taps, [split], splits, preprocessing, batch_size=batch_size, workers=workers,
                           device=device, strict=strict, max_pixels=max_pixels, progress=progress, desc=desc)
    return fs


def extract_splits(backbone: Backbone, taps: list[Tap], parts: list[Split], splits: DataSplits,
                   preprocessing: Preprocessing, *, batch_size: int = 32, workers: int | None = None,
                   device: torch.device | None = None, strict: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                   progress: bool = True, desc: str = "extract") -> list[FeatureSet]:
    """Several splits in ONE streaming pass (one DataLoader: no second worker start-up or pipeline fill)."""
    from transferlab.options import default_workers

    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    workers = default_workers(workers)
    model = prepare_model(backbone, device)
    combined = Split([p for part in parts for p in part.paths], np.concatenate([part.labels for part in parts]))
    dataset = ImageDataset(combined, preprocessing.transform("none", normalize=False), splits.loader(),
                           max_pixels=max_pixels, draft=preprocessing.resize_size, strict=strict)
    loader = SkippingLoader(torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_skipping,
        pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
        persistent_workers=False, worker_init_fn=_lower_priority if device.type == "cpu" else None))
    recorder = TapRecorder(model, taps)
    n = len(combined)
    feats = np.empty((n, recorder.dim), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    autocast = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else contextlib.nullcontext()
    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress, file=sys.stderr, leave=False)
    with recorder, torch.inference_mode(), autocast:
        for images, _labels, index, bad in loader:
            for i, reason in bad:
                reasons[i] = reason
                print(f"warning: skipped {combined.paths[i]}: {reason}", file=sys.stderr)
            if images is not None:
                model(preprocessing.normalize_batch(images.to(device, non_blocking=True)))
                idx = index.numpy()
                feats[idx] = recorder.pop().cpu().numpy()
                ok[idx] = True
            bar.update(len(index) + len(bad))
    bar.close()
    layers = [dict(t.to_dict(), start=s, end=e) for t, (_, s, e) in zip(taps, recorder.boundaries())]
    out, offset = [], 0
    for part in parts:
        span = np.arange(offset, offset + len(part))
        keep = span[ok[span]]
        if len(keep) == 0:
            raise DataError(f"{desc}: none of the {len(part)} images could be read")
        skipped = [{"path": combined.paths[i], "reason": reasons[i]} for i in span if i in reasons]
        out.append(FeatureSet(feats[keep], combined.labels[keep], [combined.paths[i] for i in keep],
                              list(splits.classes), layers, skipped))
        offset += len(part)
    return out


def _lower_priority(_worker_id: int) -> None:
    """On a CPU-only machine decoding workers yield to the forward pass: they fill its idle cycles
    (thread barriers, Python between layers, its waits for a batch) instead of stealing its cores.
    Linux's SCHED_IDLE does that better than nice 10, which still preempts a compute thread now and then
    (embed faster in 9 of 10 alternating rounds, by 4% in the median); elsewhere nice 10."""
    import os

    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):
        pass
    try:
        os.nice(10)
    except OSError:
        pass


@dataclass
class EmbedResult:
    train: FeatureSet
    test: FeatureSet
    splits: DataSplits
    run_dir: Path | None
    cached: dict  # split -> bool (True when read from the cache)
    seconds: float

    @property
    def skipped(self) -> list[dict]:
        return self.train.skipped + self.test.skipped


def embed(config: EmbedConfig, out_dir: str | Path | None = None, splits: DataSplits | None = None,
          backbone: Backbone | None = None) -> EmbedResult:
    """Extract (or read from the cache) train and test features; write them into ``out_dir``."""
    from transferlab.data.datasets import load_dataset
    from transferlab.options import pick_device

    start = time.perf_counter()
    if out_dir is not None:
        out_dir = tio.ensure_writable_dir(out_dir)
    if splits is None:
        splits = load_dataset(config.data, **config.dataset_options)
    backbone = backbone or create_backbone(config.model, weights=config.weights)
    preprocessing = backbone.preprocessing.with_size(config.image_size)
    taps = resolve_layers(backbone, config.layers, size=preprocessing.input_size)
    device = pick_device(config.device)
    remove_stale_temporaries(cache_dir())
    result, cached, keys = {}, {}, {}
    for split_name in ("train", "test"):
        keys[split_name] = cache_key(
            model=backbone.name, weights=backbone.weights_id, taps=[t.to_dict() for t in taps],
            preprocessing=preprocessing.to_dict(), data=splits.fingerprint(split_name), classes=splits.classes,
            max_pixels=config.max_pixels)
        path = cache_path(keys[split_name])
        if config.use_cache and path.is_file():
            try:
                result[split_name] = FeatureSet.load(path)
            except DataError:
                pass  # unreadable cache entry: extract again, it will be replaced
        cached[split_name] = split_name in result
    missing = [name for name in ("train", "test") if name not in result]
    if missing:
        extracted = extract_splits(backbone, taps, [getattr(splits, name) for name in missing], splits, preprocessing,
                                   batch_size=config.batch_size, workers=config.workers, device=device,
                                   strict=config.strict, max_pixels=config.max_pixels, progress=config.progress,
                                   desc=" + ".join(missing) + " features")
        for name, fs in zip(missing, extracted):
            fs.meta = {"model": backbone.name, "weights": backbone.weights_id, "preprocessing": preprocessing.to_dict(),
                       "split": name, "dataset": splits.name, "cache_key": keys[name], "layers_spec": config.layers}
            if config.use_cache:
                fs.save(cache_path(keys[name]))
            result[name] = fs
    for split_name in ("train", "test"):
        fs = result[split_name]
        if config.strict and fs.skipped:
            s = fs.skipped[0]
            raise DataError(f"bad image (--strict): {s['path']}: {s['reason']}")
        if out_dir is not None:
            target = Path(out_dir) / f"features-{split_name}.npz"
            link_or_copy(cache_path(keys[split_name]), target) if config.use_cache else fs.save(target)
    seconds = time.perf_counter() - start
    res = EmbedResult(result["train"], result["test"], splits, Path(out_dir) if out_dir else None, cached, seconds)
    if out_dir is not None:
        tio.write_json(Path(out_dir) / "embed.json", {
            "model": backbone.name, "weights": backbone.weights_id, "layers": config.layers,
            "n_layers": len(taps), "dim": res.train.dim, "preprocessing": preprocessing.to_dict(),
            "dataset": splits.summary(), "classes": splits.classes, "n_train": len(res.train),
            "n_test": len(res.test), "skipped": res.skipped, "ignored": splits.ignored,
            "cached": cached, "seconds": round(seconds, 3)})
    return res
