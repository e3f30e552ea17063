"""The one reader and writer of cache entries: every file under the cache root goes through here.

An entry is a file ``<root>/<kind>/<name>`` (the names the callers always used, so existing caches
stay valid) with a small manifest ``<root>/.manifests/<kind>/<name>.json``: its size and a SHA-256
digest.  The manifests live in their own tree so each kind's folder holds only its entries.  A read
checks the manifest first, then runs the caller's loader; whatever fails (truncated, zero-filled,
missing file, wrong digest, a loader that raises) makes the entry *damaged*: it is deleted with one
notice line on stderr and the caller computes it again.  An entry without a manifest (written before
manifests existed, or by a run killed between the two renames) is kept if it loads, and its manifest
is written then.  A cache that cannot be written (read-only filesystem, another user's folder) is
read, never written: one notice, and new entries are computed for this run only.

SHA-256 rather than BLAKE2: hashlib's SHA-256 runs on the CPU's SHA instructions where they exist and
is the faster of the two there.  Files over ``FULL_DIGEST_MAX`` are digested from evenly spaced
blocks (head and tail included) plus their size, so a multi-gigabyte feature file is not read twice;
the loaders still catch damage between the blocks (a zip member's CRC, for features).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, TypeVar

from transferlab import io as tio
from transferlab.runtime import cache_dir, cache_root

T = TypeVar("T")

MANIFESTS = ".manifests"  # under the cache root; a folder no kind is named after
MANIFEST_VERSION = 1
FULL_DIGEST_MAX = 256 << 20
SAMPLE_BLOCK = 1 << 20
SAMPLE_BLOCKS = 64
POINTER = "see `transferlab cache info`"
_READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)

_noticed: set[str] = set()  # read-only roots already announced in this process
_scratch: list[Path] = []  # read-only cache: this run's own copies, removed at exit


def entry_path(kind: str, name: str) -> Path:
    """Where the entry ``name`` of ``kind`` lives (``$TRANSFERLAB_CACHE/<kind>/<name>``)."""
    return cache_dir(kind) / name


def manifest_path(kind: str, name: str) -> Path:
    return cache_root() / MANIFESTS / kind / f"{name}.json"


def notice(text: str) -> None:
    print(f"transferlab: {text}", file=sys.stderr, flush=True)


def digest(path: Path, size: int | None = None) -> str:
    """``sha256:HEX`` of the file, or ``sha256-sampled:HEX`` of its size and sampled blocks when large."""
    size = path.stat().st_size if size is None else size
    h = hashlib.sha256()
    with open(path, "rb") as f:
        if size <= FULL_DIGEST_MAX:
            for block in iter(lambda: f.read(SAMPLE_BLOCK), b""):
                h.update(block)
            return f"sha256:{h.hexdigest()}"
        h.update(str(size).encode())
        step = (size - SAMPLE_BLOCK) / (SAMPLE_BLOCKS - 1)
        for i in range(SAMPLE_BLOCKS):
            f.seek(int(i * step))
            h.update(f.read(SAMPLE_BLOCK))
    return f"sha256-sampled:{h.hexdigest()}"


def read(kind: str, name: str, what: str, load: Callable[[Path], T] | None = None,
         check: Callable[[Path], object] | None = None) -> T | Path | None:
    """The entry, validated: ``load(path)`` (the path itself without ``load``), or None when it is absent
    or was damaged (then deleted, with one notice).  ``check`` vets an entry that has no manifest yet
    (``load`` does when it is None); what passes gets its manifest."""
    path, side = entry_path(kind, name), manifest_path(kind, name)
    if not path.exists() and not side.exists():
        return None
    expected = read_manifest(side)
    problem = _problem(path, expected)
    if problem is None:
        try:
            if expected is None and check is not None:
                check(path)
            value = load(path) if load is not None else path
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever a loader raises on a damaged file
            problem = _unreadable(exc)
        else:
            if expected is None and _writable(side.parent, announce=False):
                _write_manifest(path, side)
            return value
    discard(kind, name, what, problem)
    return None


def store(kind: str, name: str, what: str, write: Callable[[Path], object]) -> Path | None:
    """Write the entry with ``write(temporary path)``, atomically, then its manifest; None (one notice)
    when the cache cannot be written.  Other write failures (a full disk) are the caller's error."""
    path, side = entry_path(kind, name), manifest_path(kind, name)
    if not (_writable(path.parent) and _writable(side.parent)):
        return None
    try:
        side.unlink(missing_ok=True)  # a killed run then leaves an entry without manifest: vetted on read
        with tio.atomic_path(path) as tmp:
            write(tmp)
        _write_manifest(path, side)
    except OSError as exc:
        if exc.errno not in _READ_ONLY_ERRNOS:
            raise
        _announce_read_only(exc.strerror or str(exc))
        return None
    return path


def fetch(kind: str, name: str, what: str, make: Callable[[Path], object], load: Callable[[Path], T] | None = None,
          check: Callable[[Path], object] | None = None) -> T | Path:
    """The entry, read (``read``) or made with ``make(path)`` and stored; in a read-only cache it is made
    in a temporary folder that lasts as long as this process."""
    found = read(kind, name, what, load, check)
    if found is not None:
        return found
    path = store(kind, name, what, make)
    if path is None:
        path = _scratch_dir() / name
        make(path)
    return load(path) if load is not None else path


def writable(kind: str) -> bool:
    """Whether new entries of ``kind`` can be saved (False after one notice when not)."""
    return _writable(cache_dir(kind)) and _writable(cache_root() / MANIFESTS / kind)


def folder(kind: str, sub: str) -> Path | None:
    """A folder of ``kind`` that a library fills itself; None when read-only.  OpenVINO, which fills
    ``engines/openvino``, checks its compiled blobs itself and compiles again over a damaged one."""
    path = cache_dir(kind) / sub
    return path if _writable(path) else None


def discard(kind: str, name: str, what: str, problem: str) -> None:
    """Delete a damaged entry and its manifest, saying so in one line (whose file it was, if not ours)."""
    path, side = entry_path(kind, name), manifest_path(kind, name)
    owner = _foreign_owner(path)
    kept = ""
    for p in (path, side):
        try:
            p.unlink(missing_ok=True)
        except OSError as exc:
            kept = f"; it could not be deleted ({exc.strerror or exc}), so this run does without it"
    whose = f", a file of user {owner}" if owner else ""
    notice(f"the cached {what} {path}{whose} was damaged ({problem}); computing it again{kept} ({POINTER})")


def read_manifest(side: Path) -> dict | None:
    """The manifest, or None when there is none or it is unreadable (the entry is then vetted by loading)."""
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != MANIFEST_VERSION:
        return None
    if not isinstance(data.get("size"), int) or not isinstance(data.get("digest"), str):
        return None
    return data


def _problem(path: Path, expected: dict | None) -> str | None:
    """Why the entry cannot be trusted, in a few words; None when it matches its manifest (or has none)."""
    try:
        size = path.stat().st_size
    except OSError:
        return "missing: its manifest remains"
    if expected is None:
        return None
    want = expected["size"]
    if size < want:
        return f"truncated: {size:,} of {want:,} bytes"
    if size > want:
        return f"wrong size: {size:,} bytes, {want:,} expected"
    try:
        if digest(path, size) == expected["digest"]:
            return None
        return "zero-filled" if _zero_head(path) else "checksum mismatch"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"


def _zero_head(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096)
    return bool(head) and not head.strip(b"\0")


def _unreadable(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"unreadable: {type(exc).__name__}" + (f": {lines[0][:200]}" if lines else "")


def _write_manifest(path: Path, side: Path) -> None:
    size = path.stat().st_size
    tio.write_json(side, {"version": MANIFEST_VERSION, "size": size, "digest": digest(path, size),
                          "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def _writable(folder: Path, announce: bool = True) -> bool:
    """Whether ``folder`` (created if missing) can take new files; one notice per cache when not."""
    probe = tio.nearest_existing(folder)
    if os.access(probe, os.W_OK | os.X_OK):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return True
        except OSError as exc:
            why = exc.strerror or str(exc)
    else:
        why = "a read-only filesystem" if tio.read_only_fs(probe) else f"{probe} is not writable"
    if announce:
        _announce_read_only(why)
    return False


def _announce_read_only(why: str) -> None:
    root = str(cache_root())
    if root not in _noticed:
        _noticed.add(root)
        notice(f"the cache {root} cannot be written ({why}); reading what it holds and computing the rest "
               f"for this run only ({POINTER})")


def _foreign_owner(path: Path) -> str | None:
    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    if not hasattr(os, "getuid") or uid == os.getuid():
        return None
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _scratch_dir() -> Path:
    if not _scratch:
        import atexit
        import shutil
        import tempfile

        _scratch.append(Path(tempfile.mkdtemp(prefix="transferlab-cache-")))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return _scratch[0]
