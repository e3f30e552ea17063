"""Atomic file output: a file either exists complete or not at all (never half-written).

Files and folders get the modes the user's umask gives (0644 and 0755 under the usual 0022), not
the 0600/0700 of the temporary names they are written under: lab-mates sharing a runs folder can
read each other's results.

A write that fails for a reason the user can fix (full disk, quota, read-only filesystem, no
permission, I/O error) raises ``WriteError``: one line naming the path, the operation and, for a full
disk, the space needed and free.  Every writer goes through here, so no call site handles it.
A file read back that is visibly damaged (empty, zero-filled, a truncated zip) is described by
``damage`` and refused with ``damaged``, one line naming the file and what is wrong.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from transferlab.errors import BadInputError, DamagedFileError, WriteError

# errno -> what it means to the user, for the write failures that are the environment's, not a bug
WRITE_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                errno.EPERM: "operation not permitted", errno.EIO: "input/output error"}
_HINTS = {errno.ENOSPC: "free some space there or choose another folder",
          errno.EDQUOT: "free some of your quota or choose another folder",
          errno.EROFS: "choose a folder on a writable filesystem",
          errno.EACCES: "check the folder's permissions or choose another folder",
          errno.EPERM: "check the folder's permissions or choose another folder",
          errno.EIO: "check the disk, or choose another folder"}


def human_bytes(n: int) -> str:
    """``1.5 MB``, ``812 B``: a size for a message."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"  # pragma: no cover


def free_bytes(path: str | Path) -> int | None:
    """Bytes an unprivileged user may still write on the filesystem holding ``path`` (or its nearest
    existing parent); None when it cannot be asked."""
    p = nearest_existing(Path(path).absolute())
    try:
        st = os.statvfs(p)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def write_error(exc: OSError, path: str | Path, operation: str, needed: int | None = None,
                at_least: bool = False) -> WriteError:
    """The one-line ``WriteError`` for ``exc`` (an errno of ``WRITE_ERRNOS``) while ``operation`` ``path``."""
    code = exc.errno
    amounts = ""
    if code == errno.ENOSPC:
        free = free_bytes(path)
        parts = ([f"needs {'more than ' if at_least else ''}{human_bytes(needed)}"] if needed is not None else []) + \
            ([f"{human_bytes(free)} free"] if free is not None else [])
        amounts = f" ({', '.join(parts)})" if parts else ""
    elif code == errno.EDQUOT and needed is not None:
        amounts = f" (needs {'more than ' if at_least else ''}{human_bytes(needed)})"
    err = WriteError(f"{operation} {path} failed: {WRITE_ERRNOS[code]}{amounts}; {_HINTS[code]}")
    err.errno = code
    return err


@contextlib.contextmanager
def writing(path: str | Path, operation: str = "writing", needed: int | None = None) -> Iterator[None]:
    """Turn a write failure of ``WRITE_ERRNOS`` inside the block into a ``WriteError`` naming ``path``."""
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise write_error(exc, path, operation, needed) from exc


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None, size: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The temporary file never survives; a write failure of ``WRITE_ERRNOS`` in the block becomes a
    ``WriteError`` naming ``path`` (``size``: the bytes the block writes, when the caller knows them)."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    with writing(path, "creating a temporary file for"):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-",
                                   suffix=suffix if suffix is not None else path.suffix, dir=path.parent)
        os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except WriteError:
            raise
        except Exception as exc:
            cause = _write_failure(exc)
            if cause is None:
                raise
            written = file_size(tmp_path)
            _remove(tmp_path)  # before measuring what is free: the partial file's space is given back
            needed = max(size or 0, written) if size is not None or written else None
            raise write_error(cause, path, "writing", needed, at_least=size is None) from exc
        with writing(path, "moving into place"):
            if tmp_path.exists():
                os.chmod(tmp_path, file_mode())
            os.replace(tmp_path, path)
    finally:
        _remove(tmp_path)


def _write_failure(exc: BaseException) -> OSError | None:
    """The ``OSError`` of ``WRITE_ERRNOS`` that ``exc`` is or was raised while handling: a writer that
    cleans up after a failed write (torch's zip writer) may raise its own error on top of it."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError):  # an OSError of another kind is its own story, whatever it followed
            return exc if exc.errno in WRITE_ERRNOS else None
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def file_size(path: Path) -> int:
    """The size of ``path`` in bytes; 0 when it cannot be read (gone, or never written)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def read_only_fs(path: Path) -> bool:
    """Whether ``path`` is on a filesystem mounted read-only (False when that cannot be asked)."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def nearest_existing(path: Path) -> Path:
    """``path`` itself, or its nearest parent that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    data = text.encode("utf-8", "surrogateescape")  # file names that are not UTF-8 keep their bytes
    with atomic_path(path, size=len(data)) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:  # keep the extension: matplotlib infers the format
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def read_yaml(path: str | Path, what: str):
    """The YAML document of a text file; one clear error when it is unreadable, not text, or not YAML.

    ``what`` names the file in messages (``sweep spec``, ``config``)."""
    import yaml

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInputError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        if raw.count(0) == len(raw):
            raise DamagedFileError(f"{path} is damaged ({damage(path)}): not a usable {what}")
        raise BadInputError(f"{path} is not a text file (a {what} is YAML text); is it the right file?")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path} is not valid YAML: {' '.join(str(exc).split())}") from None


def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it: put it straight back
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new file gets under the current umask (0644 under 0022)."""
    return 0o666 & ~_umask()


def ensure_writable_dir(path: str | Path) -> Path:
    """Create ``path`` if needed; raise a clear error if it cannot be written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        err = WriteError(f"cannot create output directory {path}: {exc.strerror or exc}")
        err.errno = exc.errno
        raise err from exc
    if not os.access(path, os.W_OK | os.X_OK):
        read_only = read_only_fs(path)
        err = WriteError(f"output directory {path} is not writable"
                         + (" (read-only file system)" if read_only else ""))
        err.errno = errno.EROFS if read_only else errno.EACCES
        raise err
    return path


def damage(path: str | Path) -> str | None:
    """What is visibly wrong with a file's bytes: ``empty: 0 bytes``, ``zero-filled: ...``, ``truncated: ...``
    (a zip archive, as torch, numpy and skops write, without its end record); None when none of these."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size == 0:
            return "empty: 0 bytes"
        with open(path, "rb") as f:
            head = f.read(4)
            f.seek(0)
            while chunk := f.read(1 << 20):
                if chunk.count(0) != len(chunk):
                    break
            else:
                return f"zero-filled: {human_bytes(size)} of zero bytes"
            if head == b"PK\x03\x04":
                f.seek(max(0, size - 65536 - 22))
                if b"PK\x05\x06" not in f.read():
                    return f"truncated: {human_bytes(size)}, a zip archive without its end record"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    return None


def damaged(path: str | Path, what: str, exc: BaseException | None = None, hint: str = "") -> DamagedFileError:
    """The one-line error for a damaged ``path`` that should hold ``what`` (``a torch checkpoint``):
    what is wrong with it (from its bytes, else from ``exc``'s first line) and what to do."""
    return DamagedFileError(f"{path} is damaged ({damage_reason(path, exc)}): not a usable {what}"
                            + (f"; {hint}" if hint else ""))


def damage_reason(path: str | Path, exc: BaseException | None = None) -> str:
    """What is wrong with ``path``, in a few words on one line: from its bytes (``damage``) when they
    show it, else the first line of the error that reading it raised."""
    why = damage(path)
    if why is not None:
        return why
    if exc is None:
        return "unreadable"
    first = " ".join(str(exc).strip().splitlines()[0].split())[:160] if str(exc).strip() else ""
    return f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def absolute_path(path: str | os.PathLike, base: str | os.PathLike | None = None) -> str:
    """``path`` made absolute against ``base`` (the current folder when None), symlinks resolved: a config
    that names it runs the same from any folder."""
    return str((Path(base) / path if base is not None else Path(path)).resolve())
