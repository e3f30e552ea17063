"""Feature store: features + labels + paths + layer boundaries + metadata in one atomic ``.npz``.

A ``FeatureSet`` is one split.  ``cache_path(key)`` is where a split's features live in the
shared cache (``transferlab.runtime.cache_dir("features")``: ``$TRANSFERLAB_CACHE/features``, default
``~/.cache/transferlab/features``); ``read_cached``/``save_cached`` go through
``transferlab.cache.entries``, which validates each entry and computes a damaged one again.  The
key digests the model, weights, layers, preprocessing and the exact file list, so any change
misses the cache and a rerun of the same thing is instant.  Files are written to a temporary
name and renamed, so a killed run leaves nothing a later run would trust.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from transferlab import io as tio
from transferlab.errors import DataError

FORMAT_VERSION = 1
PIPELINE_VERSION = 2  # bump when decoding / resizing changes the pixels the network sees: new cache keys


@dataclass
class FeatureSet:
    features: np.ndarray  # (N, D) float32
    labels: np.ndarray  # (N,) int64 indices into classes
    paths: list[str]
    classes: list[str]
    layers: list[dict]  # {"name", "start", "end", ...} column ranges, in order
    skipped: list[dict] = field(default_factory=list)  # {"path", "reason"}
    meta: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])

    def __len__(self) -> int:
        return len(self.labels)

    def layer_names(self) -> list[str]:
        return [layer["name"] for layer in self.layers]

    def columns(self, names: list[str] | str) -> np.ndarray:
        """The feature columns of one or several layers."""
        names = [names] if isinstance(names, str) else names
        by_name = {layer["name"]: layer for layer in self.layers}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DataError(f"layers not in this feature set: {unknown}; it has {self.layer_names()}")
        return np.concatenate([self.features[:, by_name[n]["start"]:by_name[n]["end"]] for n in names], axis=1)

    def select(self, names: list[str]) -> "FeatureSet":
        """The feature set restricted to the named layers, in the order given."""
        by_name = {layer["name"]: layer for layer in self.layers}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise DataError(f"layers not in this feature set: {', '.join(unknown)}; it has "
                            f"{', '.join(self.layer_names()[:12])}{' ...' if len(self.layers) > 12 else ''}")
        return self._take([by_name[n] for n in names], None)

    def select_taps(self, taps: list) -> "FeatureSet":
        """The columns of ``taps`` (``Tap`` objects or dicts, matched by module, call and port) from a
        feature set holding a superset of them, labelled as those taps."""
        return self._take(self._layers_of(taps), [t if isinstance(t, dict) else t.to_dict() for t in taps])

    def tap_columns(self, taps: list) -> np.ndarray:
        """The column indices of ``taps`` (as ``select_taps``, without copying the features)."""
        return np.concatenate([np.arange(layer["start"], layer["end"]) for layer in self._layers_of(taps)])

    def _layers_of(self, taps: list) -> list[dict]:
        from transferlab.models.taps import tap_id  # torch: only where taps are matched

        by_id = {tap_id(layer): layer for layer in self.layers}
        missing = [t for t in taps if tap_id(t) not in by_id]
        if missing:
            raise DataError(f"layers not in this feature set: {[tap_id(t) for t in missing][:5]}")
        return [by_id[tap_id(t)] for t in taps]

    def _take(self, chosen: list[dict], relabel: list[dict] | None) -> "FeatureSet":
        blocks, layers, start = [], [], 0
        for i, layer in enumerate(chosen):
            width = layer["end"] - layer["start"]
            blocks.append(self.features[:, layer["start"]:layer["end"]])
            base = {k: v for k, v in (relabel[i] if relabel else layer).items() if k not in ("start", "end")}
            layers.append(dict(base, start=start, end=start + width))
            start += width
        features = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
        return FeatureSet(features, self.labels, self.paths, self.classes, layers, self.skipped, dict(self.meta))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        meta = dict(self.meta, format_version=FORMAT_VERSION, classes=self.classes, layers=self.layers,
                    skipped=self.skipped)
        with tio.atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, features=self.features, labels=self.labels,
                         paths=np.asarray(self.paths, dtype=str), meta=np.asarray(json.dumps(meta)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSet":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                features, labels, paths = z["features"], z["labels"], z["paths"].tolist()
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f"cannot read feature file {path}: {exc}") from exc
        if meta.get("format_version") != FORMAT_VERSION:
            raise DataError(f"{path}: feature format {meta.get('format_version')} is not {FORMAT_VERSION}; re-extract")
        return cls(features, labels, paths, meta.pop("classes"), meta.pop("layers"), meta.pop("skipped"), meta)


CACHE_KIND = "features"


def cache_dir() -> Path:
    from transferlab.runtime import cache_dir as runtime_cache_dir

    return runtime_cache_dir(CACHE_KIND)


def cache_key(**parts) -> str:
    """A digest of everything that determines the features."""
    blob = json.dumps(dict(parts, format_version=FORMAT_VERSION, pipeline_version=PIPELINE_VERSION),
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def cache_name(key: str) -> str:
    return f"{key}.npz"


def cache_path(key: str) -> Path:
    return cache_dir() / cache_name(key)


def read_cached(key: str) -> FeatureSet | None:
    """The features cached under ``key``, validated; None when absent or damaged (deleted, with a notice)."""
    from transferlab.cache import entries

    return entries.read(CACHE_KIND, cache_name(key), "features", load=FeatureSet.load)


def save_cached(fs: FeatureSet, key: str) -> Path | None:
    """Cache ``fs`` under ``key`` (None when the cache cannot be written: a notice says so)."""
    from transferlab.cache import entries

    return entries.store(CACHE_KIND, cache_name(key), "features", fs.save)


def remove_stale_temporaries(folder: Path, older_than_s: float = 3600) -> int:
    """Delete temporary files that killed runs left behind (never read: their names start with '.')."""
    import time

    removed = 0
    if not folder.is_dir():
        return 0
    for p in folder.glob(".*.tmp-*"):
        try:
            if time.time() - p.stat().st_mtime > older_than_s:
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def link_or_copy(src: Path, dst: Path) -> None:
    """Put ``src`` at ``dst`` (hard link when possible, else an atomic copy)."""
    import shutil

    with tio.atomic_path(dst, suffix=dst.suffix, size=src.stat().st_size) as tmp:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
