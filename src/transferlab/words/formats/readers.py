"""The readers: a vectors file in any of :data:`~transferlab.words.formats.base.FORMATS` (or the
built-in space) as plain data, :class:`~transferlab.words.formats.base.RawVectors`.

Problems are reported with line numbers; with ``lenient`` malformed lines are skipped and counted in
the :class:`~transferlab.words.formats.base.LoadSummary` instead.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from transferlab.errors import BadInputError, DataError
from transferlab.io import damage
from transferlab.words.formats.base import BUILTIN, FORMATS, MAX_LISTED, TEXT_FORMATS, LoadSummary, RawVectors
from transferlab.words.formats.builtin import read_builtin
from transferlab.words.formats.detect import HEADER, binary_kind, detect_format, not_text_message, read_head


def read_vectors(source: str | os.PathLike | None = None, fmt: str | None = None,
                 lenient: bool = False) -> RawVectors:
    """The built-in ``glove-6b-50d`` (``source`` None or that name) or a vectors file."""
    if source is None or str(source) == BUILTIN:
        return read_builtin()
    return read_file(Path(source), fmt, lenient)


def read_file(path: Path, fmt: str | None = None, lenient: bool = False) -> RawVectors:
    """A vectors file in ``fmt`` (one of :data:`FORMATS`; None or ``auto``: detected from the content)."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"vectors file not found: {path}")
    if path.is_dir():
        raise BadInputError(f"{path} is a directory, not a vectors file")
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty: no word vectors in it")
    if (why := damage(path)) is not None:
        raise DataError(f"{path} is damaged ({why}): not a usable vectors file; give a complete copy")
    if fmt is None or fmt == "auto":
        fmt = detect_format(path)
    if fmt not in FORMATS:
        raise BadInputError(f"unknown vectors format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt in TEXT_FORMATS:
        what = binary_kind(read_head(path))
        if what is not None:
            raise DataError(not_text_message(path, what))
    summary = LoadSummary(source=str(path), format=fmt)
    if fmt == "npz":
        words, matrix = _read_npz(path)
    elif fmt == "gensim":
        words, matrix = _read_gensim(path)
    elif fmt == "word2vec-bin":
        words, matrix = _read_binary(path, lenient, summary)
    else:
        words, matrix = _read_text(path, header=(fmt != "glove"), lenient=lenient, summary=summary)
    return RawVectors(words, matrix, summary)


def _decode(raw: bytes, lineno: int, summary) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        summary.replaced += 1
        if len(summary.replaced_lines) < MAX_LISTED:
            summary.replaced_lines.append(lineno)
        return raw.decode("utf-8", "replace")


def _bad_line(path, lineno, why, lenient, summary):
    if not lenient:
        raise DataError(f"{path}, line {lineno}: {why} (use --lenient to skip such lines)")
    summary.malformed += 1
    if len(summary.malformed_lines) < MAX_LISTED:
        summary.malformed_lines.append(lineno)


def _read_text(path: Path, header: bool, lenient: bool, summary):
    words: list[str] = []
    rows: list[list[str]] = []
    dim = declared = None
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1 and header:
                m = HEADER.match(raw)
                if not m:
                    raise DataError(f"{path}, line 1: expected a header 'COUNT DIMENSIONS', got {raw[:60]!r}")
                declared, dim = int(m.group(1)), int(m.group(2))
                continue
            line = _decode(raw, lineno, summary).rstrip("\r\n")
            if not line.strip():
                continue
            parts = line.rstrip(" ").split(" ")
            if dim is None:
                if len(parts) < 2:
                    _bad_line(path, lineno, "a word with no values", lenient, summary)
                    continue
                dim = len(parts) - 1
            if len(parts) != dim + 1:
                _bad_line(path, lineno, f"expected a word and {dim} values, found {len(parts) - 1} values",
                          lenient, summary)
                continue
            try:
                rows.append([float(x) for x in parts[1:]])
            except ValueError:
                _bad_line(path, lineno, "a value is not a number", lenient, summary)
                continue
            words.append(parts[0])
    if not words:
        raise DataError(f"{path}: no usable word vectors"
                        + (f" ({summary.malformed} malformed line(s) skipped)" if summary.malformed else ""))
    if declared is not None and declared != len(words) + summary.malformed:
        msg = f"{path}: the header declares {declared} vectors but the file has {len(words) + summary.malformed}"
        if not lenient:
            raise DataError(msg + " (use --lenient to accept)")
    return words, np.asarray(rows, dtype=np.float32)


def _read_binary(path: Path, lenient: bool, summary):
    data = path.read_bytes()
    nl = data.find(b"\n")
    m = HEADER.match(data[:nl] if nl >= 0 else b"")
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
            summary.malformed += 1
            summary.malformed_lines.append(rec)
            break
        words.append(_decode(data[pos:sp], rec, summary))
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


