"""Atomic file output: a file either exists complete or not at all (never half-written).

Files and folders get the modes the user's umask gives (0644 and 0755 under the usual 0022), not
the 0600/0700 of the temporary names they are written under: lab-mates sharing a runs folder can
read each other's results.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from transferlab.errors import BadInputError, TransferlabError


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds."""
    path = Path(path)
    ensure_writable_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text(path: str | Path, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
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
        raise TransferlabError(f"cannot create output directory {path}: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise TransferlabError(f"output directory {path} is not writable")
    return path


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
