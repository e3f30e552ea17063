"""The writers: word2vec text and the TensorBoard projector's TSV files, from words and a matrix."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np


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
