"""Feature extraction: one forward pass per batch, every tapped layer pooled on the fly.

``extract_splits`` streams splits through the network (DataLoader workers decode and resize,
an engine of ``transferlab.models.engines`` runs the network: torch eager or an exported graph) and
keeps only pooled vectors, so memory is O(batch).  ``extract_features`` adds the feature cache around it; the run
folder is ``transferlab.fne.pipeline``'s.
"""
from __future__ import annotations

import sys
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from transferlab.data.config import DEFAULT_MAX_PIXELS
from transferlab.data.image_dataset import ImageDataset, SkippingLoader, collate_skipping
from transferlab.data.sources import DataSplits
from transferlab.data.splits import Split
from transferlab.errors import DataError
from transferlab.fne.config import EmbedConfig
from transferlab.fne.results import EmbedResult
from transferlab.fne.store import FeatureSet, cache_dir, cache_key, read_cached, remove_stale_temporaries, save_cached
from transferlab.models.engines import candidate_engines, numerics_key, open_engine
from transferlab.models.preprocess import Preprocessing
from transferlab.models.registry import Backbone, create_backbone
from transferlab.models.taps import Tap, resolve_layers
from transferlab.runtime import check_native_precision, default_workers, pick_device


def extract_split(backbone: Backbone, taps: list[Tap], split: Split, splits: DataSplits, preprocessing: Preprocessing,
                  *, batch_size: int = 32, workers: int | None = None, device: torch.device | None = None,
                  strict: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS, progress: bool = True,
                  desc: str = "extract", engine=None) -> FeatureSet:
    """Pooled features of every tap for every readable image of ``split``; bad images are reported."""
    (fs,) = extract_splits(backbone, taps, [split], splits, preprocessing, batch_size=batch_size, workers=workers,
                           device=device, strict=strict, max_pixels=max_pixels, progress=progress, desc=desc,
                           engine=engine)
    return fs


def extract_splits(backbone: Backbone, taps: list[Tap], parts: list[Split], splits: DataSplits,
                   preprocessing: Preprocessing, *, batch_size: int = 32, workers: int | None = None,
                   device: torch.device | None = None, strict: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                   progress: bool = True, desc: str = "extract", engine=None) -> list[FeatureSet]:
    """Several splits in ONE streaming pass (one DataLoader: no second worker start-up or pipeline fill).

    ``engine`` (``transferlab.models.engines.open_engine``) runs the network; default: torch eager, fp32.
    """
    device = device or pick_device(None)
    workers = default_workers(workers)
    if engine is None:
        from transferlab.models.engines.backends import TorchEngine

        engine = TorchEngine(backbone, taps, preprocessing, device)
    combined = Split([p for part in parts for p in part.paths], np.concatenate([part.labels for part in parts]))
    dataset = ImageDataset(combined, preprocessing.transform("none", normalize=False), splits.loader(),
                           max_pixels=max_pixels, draft=preprocessing.resize_size, strict=strict)
    loader = SkippingLoader(torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=workers, collate_fn=collate_skipping,
        pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
        persistent_workers=False, worker_init_fn=_lower_priority if device.type == "cpu" else None))
    n = len(combined)
    feats = np.empty((n, sum(t.channels for t in taps)), dtype=np.float32)
    ok = np.zeros(n, dtype=bool)
    reasons: dict[int, str] = {}
    bar = tqdm(total=n, desc=desc, unit="img", disable=not progress, file=sys.stderr, leave=False)
    with engine:
        for images, _labels, index, bad in loader:
            for i, reason in bad:
                reasons[i] = reason
                print(f"warning: skipped {combined.paths[i]}: {reason}", file=sys.stderr)
            if images is not None:
                idx = index.numpy()
                feats[idx] = engine(images)
                ok[idx] = True
            bar.update(len(index) + len(bad))
    bar.close()
    layers, start = [], 0
    for t in taps:
        layers.append(dict(t.to_dict(), start=start, end=start + t.channels))
        start += t.channels
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
    (docs/fne.md); elsewhere nice 10."""
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


def extract_features(config: EmbedConfig, splits: DataSplits, backbone: Backbone | None = None,
                     taps: list[Tap] | None = None) -> EmbedResult:
    """Train and test features of ``config``'s layers: read from the cache, or extracted (and cached)."""
    start = time.perf_counter()
    backbone = backbone or create_backbone(config.model, weights=config.weights)
    preprocessing = backbone.preprocessing.with_size(config.image_size)
    taps = taps or resolve_layers(backbone, config.layers, size=preprocessing.input_size)
    device = pick_device(config.device)
    check_native_precision(config.precision, device)
    remove_stale_temporaries(cache_dir())

    def keys_for(numerics: str | None) -> dict[str, str]:
        return {name: cache_key(
            model=backbone.name, weights=backbone.weights_id, taps=[t.to_dict() for t in taps],
            preprocessing=preprocessing.to_dict(), data=splits.fingerprint(name), classes=splits.classes,
            max_pixels=config.max_pixels, **({"numerics": numerics} if numerics else {}))
            for name in ("train", "test")}

    # fp32 features share one key whatever the engine; bf16 keys name the engine, so a bf16 lookup tries
    # each engine the options may pick before opening (compiling) one
    candidates = [None] if config.precision == "fp32" else [
        numerics_key(name, config.precision) for name in candidate_engines(config.backend, config.precision, device)]
    result, keys = {}, keys_for(candidates[0])
    for numerics in candidates if config.use_cache else []:
        found = _read_cached(keys_for(numerics))
        if len(found) > len(result):
            result, keys = found, keys_for(numerics)
        if len(result) == 2:
            break
    cached = {name: name in result for name in ("train", "test")}
    engine = None
    missing = [name for name in ("train", "test") if name not in result]
    if missing:
        engine = open_engine(backbone, taps, preprocessing, backend=config.backend, precision=config.precision,
                             device=device, batch_size=config.batch_size, quiet=config.quiet,
                             n_images=sum(len(getattr(splits, name)) for name in missing))
        fresh = keys_for(numerics_key(engine.name, config.precision))
        if fresh != keys:  # bf16 from another engine than the cached half: extract both with this one
            missing, result, keys = ["train", "test"], {}, fresh
            cached = {"train": False, "test": False}
        extracted = extract_splits(backbone, taps, [getattr(splits, name) for name in missing], splits, preprocessing,
                                   batch_size=config.batch_size, workers=config.workers, device=device,
                                   strict=config.strict, max_pixels=config.max_pixels, progress=not config.quiet,
                                   desc=" + ".join(missing) + " features", engine=engine)
        for name, fs in zip(missing, extracted):
            fs.meta = {"model": backbone.name, "weights": backbone.weights_id, "preprocessing": preprocessing.to_dict(),
                       "split": name, "dataset": splits.name, "cache_key": keys[name], "layers_spec": config.layers,
                       "backend": engine.name, "precision": config.precision}
            if config.use_cache:
                save_cached(fs, keys[name])
            result[name] = fs
    for split_name in ("train", "test"):
        fs = result[split_name]
        if config.strict and fs.skipped:
            s = fs.skipped[0]
            raise DataError(f"bad image (--strict): {s['path']}: {s['reason']}")
    return EmbedResult(train=result["train"], test=result["test"], splits=splits, config=config, cached=cached,
                       seconds=time.perf_counter() - start, cache_keys=keys, taps=taps, preprocessing=preprocessing,
                       backbone=backbone)


def _read_cached(keys: dict[str, str]) -> dict[str, FeatureSet]:
    """The splits whose features are in the cache under ``keys`` (a damaged entry counts as missing: it is
    extracted again and replaced)."""
    found = {name: read_cached(key) for name, key in keys.items()}
    return {name: fs for name, fs in found.items() if fs is not None}
