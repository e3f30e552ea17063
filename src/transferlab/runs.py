"""The run-folder contract, the same for every command that writes a folder.

- A folder that holds another run is refused unless ``overwrite`` (``--overwrite``), which first
  removes the old run's files; a non-empty folder that is not a run is never emptied.
- An exclusive lock (``.transferlab.lock``, ``flock``, removed when the run ends): a second process
  writing to the same folder fails at once with a message naming the first.
- ``metrics.json`` is written by ``write_metrics`` alone, atomically and under the folder's lock.
- A manifest, ``run.json``: the command, its full config, package and library versions, the status
  (``running`` -> ``complete`` or ``failed``), start and end time and the files written.  ``predict``,
  ``probe``, ``report`` and the sweep read it, so a half-written folder is never taken for a
  finished run.

>>> with RunFolder("runs/x", "fne", config) as run:
...     write_outputs(run.path)
...     run.summary = {"accuracy": 0.9}
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from transferlab import io as tio
from transferlab.errors import BadInputError, DamagedFileError, DataError, TransferlabError

MANIFEST = "run.json"
LOCK = ".transferlab.lock"
FORMAT = "transferlab-run/1"
# files by which a folder written before manifests existed is recognised as a run
LEGACY_MARKERS = ("metrics.json", "config.yaml", "embed.json", "features-train.npz", "best.pt", "last.pt",
                  "sweep.json", "results.csv")
LIBRARIES = ("torch", "torchvision", "timm", "scikit-learn", "numpy", "pydantic")
METRICS = "metrics.json"
DAMAGED_HINT = "rerun the command into a new --out, or with --overwrite"
_held: set[Path] = set()  # the run folders whose lock this process holds


class RunBusyError(TransferlabError):
    """Another process holds the folder's lock."""


def versions() -> dict[str, str | None]:
    """transferlab, Python and the main libraries' versions (from package metadata: no imports)."""
    from importlib import metadata

    from transferlab import __version__

    out: dict[str, str | None] = {"transferlab": __version__, "python": sys.version.split()[0]}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The folder's ``run.json``, or None when there is none (or it is unreadable)."""
    try:
        return load_manifest(folder)
    except DataError:
        return None


def load_manifest(folder: str | os.PathLike) -> dict | None:
    """The folder's ``run.json``, or None when there is none; a ``DamagedFileError`` (naming the file and
    what is wrong) when it is there but not a readable transferlab manifest."""
    path = Path(folder) / MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise tio.damaged(path, "run manifest", exc, DAMAGED_HINT) from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise tio.damaged(path, "run manifest", exc, DAMAGED_HINT) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise tio.damaged(path, "run manifest", ValueError(f"not a {FORMAT} manifest"), DAMAGED_HINT)
    return data


def check_recorded(path: str | os.PathLike, hint: str = DAMAGED_HINT) -> None:
    """Refuse a run's file whose size differs from what its folder's ``run.json`` recorded (truncated or
    overwritten since the run ended); nothing when there is no manifest or it does not list the file."""
    path = Path(path)
    m = read_manifest(path.parent)
    entry = next((f for f in (m or {}).get("files") or [] if isinstance(f, dict) and f.get("path") == path.name),
                 None)
    if entry is None or not isinstance(entry.get("bytes"), int):
        return
    try:
        size = path.stat().st_size
    except OSError:
        return
    if size != entry["bytes"]:
        raise DamagedFileError(f"{path} is damaged ({'truncated' if size < entry['bytes'] else 'changed'} since the "
                               f"run wrote it: {size} bytes, its {MANIFEST} recorded {entry['bytes']}); {hint}")


def is_complete(folder: str | os.PathLike) -> bool:
    m = read_manifest(folder)
    return bool(m) and m.get("status") == "complete"


def require_complete(folder: str | os.PathLike, commands: tuple[str, ...], hint: str) -> dict:
    """The manifest of a complete run of one of ``commands``, or a clear error saying what the folder is.

    A folder written before manifests existed (it has e.g. metrics.json but no run.json) is accepted
    as complete, with an empty config.
    """
    folder = Path(folder)
    kinds = " or ".join(commands)
    if not folder.is_dir():
        raise BadInputError(f"run folder not found: {folder}")
    m = load_manifest(folder)
    if m is None:
        if any((folder / n).exists() for n in LEGACY_MARKERS):
            return {"format": FORMAT, "command": None, "status": "complete", "legacy": True, "config": {}}
        raise BadInputError(f"{folder} is not a complete {kinds} run (it has no {MANIFEST}); {hint}")
    if m.get("command") not in commands:
        raise BadInputError(f"{folder} is not a complete {kinds} run (it holds a `transferlab {m.get('command')}` "
                            f"run); {hint}")
    if m.get("status") != "complete":
        why = f": {m['error']}" if m.get("error") else ""
        raise DataError(f"{folder} is not a complete {kinds} run (it is {m.get('status')}{why}; started "
                        f"{m.get('started')}); {hint}")
    return m


def default_run_dir(kind: str, *parts: Any, root: str | os.PathLike = "runs") -> Path:
    """``runs/KIND-PART-PART-YYYYmmdd-HHMMSS``: a new folder for a run given no ``--out`` (never an old run's)."""
    import re

    words = [kind] + [Path(str(p)).name if os.sep in str(p) else str(p) for p in parts if p]
    slug = re.sub(r"[^A-Za-z0-9_.=,+-]+", "-", "-".join(words)).strip("-")[:60].rstrip("-")
    base = Path(root) / f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


@contextlib.contextmanager
def locked(folder: str | os.PathLike, command: str):
    """Hold a run folder's lock without touching its manifest (``report`` writing into a sweep folder)."""
    rf = RunFolder(folder, command)
    rf._acquire()
    try:
        yield rf
    finally:
        rf._release()


def update_manifest(folder: str | os.PathLike, **changes) -> None:
    """Merge ``changes`` into an existing manifest (and refresh its file list); nothing when there is none."""
    folder = Path(folder)
    m = read_manifest(folder)
    if m is None:
        return
    m.update(changes)
    m["files"] = RunFolder(folder, m.get("command", "")).files()
    tio.write_json(folder / MANIFEST, m)


def write_metrics(folder: str | os.PathLike, metrics: dict) -> Path:
    """Write ``folder/metrics.json`` atomically while holding the folder's lock.

    Inside ``with RunFolder(folder, ...)`` (or ``locked``) in this process it just writes: the manifest
    lists the file when the run ends.  Otherwise it takes the lock for the write (``RunBusyError`` when
    another process holds it) and refreshes the manifest's file list.
    """
    folder = Path(folder)
    if folder.resolve() in _held:
        return tio.write_json(folder / METRICS, metrics)
    m = read_manifest(folder)
    with locked(folder, str((m or {}).get("command") or "metrics")):
        path = tio.write_json(folder / METRICS, metrics)
        update_manifest(folder)
    return path


def _describe(folder: Path) -> str:
    m = read_manifest(folder)
    if m:
        return f"a `transferlab {m.get('command')}` run ({m.get('status')}, started {m.get('started')})"
    if (folder / MANIFEST).exists():
        return f"a transferlab run whose {MANIFEST} is damaged"
    if any((folder / n).exists() for n in LEGACY_MARKERS):
        return "a transferlab run"
    return ""


class RunFolder:
    """A run folder held for writing: lock, refusal/overwrite of an old run, the manifest.

    ``reuse=True``: a folder holding a run of the same command keeps its files (a sweep folder that is
    being completed, a fine-tuning run being resumed); ``overwrite=True``: any old run is removed first;
    ``replace_failed=True``: a run that failed (or was killed) is replaced without ``overwrite`` (a
    retry), with a note on stderr.
    """

    def __init__(self, path: str | os.PathLike, command: str, config: Any = None, *, overwrite: bool = False,
                 reuse: bool = False, replace_failed: bool = True, extra: dict | None = None) -> None:
        self.path = Path(path)
        self.command = command
        self.config = config
        self.overwrite = overwrite
        self.reuse = reuse
        self.replace_failed = replace_failed
        self.extra = dict(extra or {})
        self.summary: dict = {}
        self.error: str | None = None  # set to end the run as failed without raising
        self._lock = None
        self._start = 0.0
        self.manifest: dict = {}

    # -- the lock -----------------------------------------------------------------------------------
    def _acquire(self) -> None:
        tio.ensure_writable_dir(self.path)
        lock_path = self.path / LOCK
        for _ in range(10):
            with tio.writing(lock_path, "creating the lock file"):
                f = open(lock_path, "a+", encoding="utf-8")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.seek(0)
                holder = f.read().strip() or "another process"
                f.close()
                raise RunBusyError(f"{self.path} is being written by {holder}; wait for it to finish or use another "
                                   "--out") from None
            try:  # the lock file is removed on release: make sure we locked the one that is there now
                same = os.fstat(f.fileno()).st_ino == os.stat(lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            f.close()
        else:  # pragma: no cover - ten releases in a row between open and flock
            raise RunBusyError(f"{self.path}: could not lock it (other processes keep taking it); try again")
        try:
            with tio.writing(lock_path, "writing the lock file"):
                f.seek(0)
                f.truncate()
                f.write(f"pid {os.getpid()} on {socket.gethostname()} (`transferlab {self.command}`, since {_now()})")
                f.flush()
        except BaseException:
            self._lock = f
            self._release()
            raise
        with contextlib.suppress(OSError):
            os.chmod(lock_path, tio.file_mode())
        self._lock = f
        _held.add(self.path.resolve())

    def _release(self) -> None:
        if self._lock is not None:
            _held.discard(self.path.resolve())
            with contextlib.suppress(OSError):
                os.unlink(self.path / LOCK)  # while still holding it: a waiting process re-checks the inode
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    # -- what is already there ---------------------------------------------------------------------
    def _entries(self) -> list[Path]:
        return sorted(p for p in self.path.iterdir() if p.name != LOCK)

    def _decide(self) -> tuple[str, dict | None]:
        """What to do with what the folder holds: ("empty" | "reuse" | "replace", old manifest); raises
        when the folder must not be used."""
        if not self.path.is_dir():
            return "empty", None
        entries = self._entries()
        if not entries:
            return "empty", None
        old = read_manifest(self.path)
        what = _describe(self.path)
        if self.reuse and (old.get("command") == self.command if old else bool(what)):
            return "reuse", old or {}
        if not what:
            raise BadInputError(f"{self.path} is not empty and holds no transferlab run ({len(entries)} entries, "
                                f"e.g. {entries[0].name}); choose an empty or new --out")
        retry = self.replace_failed and old is not None and old.get("status") != "complete"
        if not retry and not self.overwrite:
            hint = (f"use --resume {self.path} to continue it, " if self.command == "finetune" and
                    (old is None or old.get("command") == "finetune") else "")
            raise BadInputError(f"{self.path} already holds {what}; {hint}use --overwrite to replace it, or another "
                                "--out")
        return "replace", old

    def preflight(self) -> None:
        """The refusals of entering, checked without writing anything (before a run's expensive setup)."""
        self._decide()
        lock_path = self.path / LOCK
        if lock_path.exists():
            with open(lock_path, encoding="utf-8") as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(f, fcntl.LOCK_UN)
                except OSError:
                    raise RunBusyError(f"{self.path} is being written by {f.read().strip() or 'another process'}; "
                                       "wait for it to finish or use another --out") from None

    def _prepare(self) -> dict | None:
        action, old = self._decide()
        if action == "reuse":
            return old
        if action == "replace":
            if self.replace_failed and old is not None and old.get("status") != "complete" and not self.overwrite:
                print(f"transferlab: replacing the {old.get('status')} `transferlab {old.get('command')}` run in "
                      f"{self.path}", file=sys.stderr)
            with tio.writing(self.path, "removing the old run's files from"):
                for p in self._entries():
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p)
                    else:
                        p.unlink()
        return None

    # -- the manifest -------------------------------------------------------------------------------
    def _config_dict(self) -> dict:
        cfg = self.config
        if cfg is None:
            return {}
        return cfg.to_dict() if hasattr(cfg, "to_dict") else dict(cfg)

    def files(self) -> list[dict]:
        out = []
        for p in sorted(self.path.rglob("*")):
            rel = p.relative_to(self.path)
            if p.is_file() and rel.name not in (LOCK, MANIFEST) and not rel.name.startswith(".") and \
                    not any(part.startswith(".") for part in rel.parts):
                out.append({"path": rel.as_posix(), "bytes": p.stat().st_size})
        return out

    def write_manifest(self, status: str, error: str | None = None) -> None:
        m = self.manifest
        m.update({"format": FORMAT, "command": self.command, "status": status, "config": self._config_dict(),
                  "versions": versions(), "argv": sys.argv[1:] if sys.argv and "transferlab" in sys.argv[0] else None,
                  "started": m.get("started") or _now(), "ended": None if status == "running" else _now(),
                  "seconds": None if status == "running" else round(time.perf_counter() - self._start, 3),
                  "error": error, **self.extra})
        if self.summary:
            m["summary"] = self.summary
        m["files"] = [] if status == "running" else self.files()
        tio.write_json(self.path / MANIFEST, m)

    def __enter__(self) -> "RunFolder":
        self._acquire()
        try:
            old = self._prepare()
            self.manifest = {"previous": {k: old.get(k) for k in ("status", "started", "ended")}} if old else {}
            self.reused = old is not None
            if old:
                self.manifest["started"] = old.get("started")
            self._start = time.perf_counter()
            self.write_manifest("running")
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, typ, exc, tb) -> bool:
        try:
            if exc is None:
                self.write_manifest("complete" if self.error is None else "failed", error=self.error)
            else:
                why = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{typ.__name__}: {exc}"
                try:
                    self.write_manifest("failed", error=" ".join(why.split())[:500])
                except Exception as again:  # noqa: BLE001 - the run's own error is the one to report
                    if isinstance(exc, TransferlabError):  # one line for the user: say run.json is stale
                        reason = str(again) if isinstance(again, TransferlabError) else \
                            f"{again.__class__.__name__}: {again}"
                        exc.args = (f"{exc}; {self.path / MANIFEST} could not be marked failed either "
                                    f"({' '.join(reason.split())[:200]}): it still says 'running', and a "
                                    "rerun into the same --out replaces it",)
        finally:
            self._release()
        return False
