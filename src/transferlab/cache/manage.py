"""What the cache holds (``cache_info``) and emptying it (``clear_cache``): ``transferlab cache info|clear``."""
from __future__ import annotations

import os
import time
from pathlib import Path

from transferlab.cache.config import KINDS, CacheClearConfig, kinds_present
from transferlab.cache.entries import MANIFESTS, entry_path, manifest_path, read_manifest
from transferlab.io import file_size, nearest_existing
from transferlab.runtime import CACHE_ENV, cache_root

STALE_TEMPORARY_S = 3600

def cache_info() -> dict:
    """Where the cache is and, per kind, its size, number of entries and the entries already damaged
    (a size that does not match the manifest: cheap to spot; digests are checked when read)."""
    root = cache_root()
    kinds = {}
    for kind in kinds_present():
        folder = root / kind
        files = _files(folder)
        damaged = [str(p) for p in files if p.parent == folder and _damaged(kind, p)]
        kinds[kind] = {"path": str(folder), "entries": len(files), "bytes": sum(file_size(p) for p in files),
                       "damaged": damaged, "holds": KINDS.get(kind, "")}
    return {"root": str(root), "variable": CACHE_ENV, "set_by_variable": bool(os.environ.get(CACHE_ENV)),
            "writable": os.access(nearest_existing(root), os.W_OK | os.X_OK),
            "bytes": sum(k["bytes"] for k in kinds.values()), "kinds": kinds}


def clear_cache(kind: list[str] | str | None = None, older_than: float | None = None) -> dict:
    """Delete the entries of ``kind`` (every kind when None) last written more than ``older_than`` days
    ago (all when None), with their manifests; the paths removed, and those that could not be.  The
    values are checked by ``CacheClearConfig``, as ``transferlab cache clear`` checks them."""
    cfg = CacheClearConfig(kind=[kind] if isinstance(kind, str) else kind, older_than=older_than)
    kinds = cfg.kind or kinds_present()
    cutoff = None if cfg.older_than is None else time.time() - cfg.older_than * 86400
    removed, kept = [], []
    me = os.getuid() if hasattr(os, "getuid") else None
    for k in kinds:
        folder = cache_root() / k
        for p in _files(folder):
            try:
                st = p.stat()
                if cutoff is not None and st.st_mtime > cutoff:
                    continue
                p.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                kept.append({"path": str(p), "reason": exc.strerror or str(exc)})
                continue
            entry = {"path": str(p), "kind": k, "bytes": st.st_size}
            if me is not None and st.st_uid != me:
                entry["owner_uid"] = st.st_uid
            removed.append(entry)
            if p.parent == folder:
                manifest_path(k, p.name).unlink(missing_ok=True)
        if cutoff is None:
            manifests = cache_root() / MANIFESTS / k
            for p in _files(manifests):  # orphans, killed runs' temporaries
                _unlink(p)
            for sub in (folder, manifests):  # the empty folders left behind
                for d in sorted((d for d in sub.rglob("*") if d.is_dir()), reverse=True) if sub.is_dir() else []:
                    _rmdir(d)
    return {"root": str(cache_root()), "removed": removed, "kept": kept,
            "bytes": sum(e["bytes"] for e in removed)}


def _files(folder: Path) -> list[Path]:
    """The entries under ``folder``, and the temporaries of runs killed over an hour ago (a younger one
    may be a running extraction's)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and (
        not p.name.startswith(".") or ".tmp-" in p.name and time.time() - _mtime(p) > STALE_TEMPORARY_S))


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


def _damaged(kind: str, path: Path) -> bool:
    expected = read_manifest(manifest_path(kind, path.name))
    return expected is not None and file_size(entry_path(kind, path.name)) != expected["size"]




def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _rmdir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


__all__ = ["KINDS", "cache_info", "clear_cache", "human_bytes"]
