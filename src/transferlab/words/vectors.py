"""A word-embedding space held in memory: load, look up, and query it fast.

``WordVectors`` keeps the vocabulary in file order (for GloVe / word2vec files that is descending
frequency, which is what ``restrict`` relies on), the vectors as given, and a unit-normalised
float32 copy computed once.  All queries are batched matrix products over blocks of that copy with
a running per-query threshold, so many queries cost about as much as one pass over the matrix.
The products are cut into tiles small enough to stay in a core's L2 cache while they are reduced,
and chunks of queries run in one Python thread per BLAS thread (BLAS itself then single-threaded
for the duration, via threadpoolctl), so the reductions run in parallel as well as the products.
"""
from __future__ import annotations

import difflib
import mmap
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from transferlab.errors import BadInputError, DataError

BUILTIN = "glove-6b-50d"
FORMATS = ("glove", "word2vec", "word2vec-bin", "fasttext", "gensim", "npz")

_TILE = 1 << 17          # scores per tile (queries x rows float32: 512 KiB, stays in a core's L2)
_MIN_TILE_ROWS = 256     # ... but at least this many rows (few queries: fewer, larger products)
_QUERY_CHUNK = 128       # top k: queries per task (head scores: 128 x 16384 float32 = 8 MB)
_HEAD_ROWS = 16384       # most frequent rows where the top k is selected exactly
_QUERY_CHUNK_BEST = 512  # k = 1 (analogies): queries per task


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


class WordVectors:
    """Vocabulary + vectors, with gensim-``KeyedVectors``-like ergonomics.

    >>> wv = WordVectors.load()                  # built-in GloVe 6B 50d
    >>> wv["king"].shape, "king" in wv, len(wv)
    >>> wv.most_similar("frog", topn=5)
    >>> wv.analogy("man", "king", "woman")      # man is to king as woman is to ?  -> queen
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, *, report: LoadReport | None = None,
                 _release=None) -> None:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise DataError(f"vectors must be a 2-D matrix, got shape {vectors.shape}")
        words = list(words)
        if len(words) != vectors.shape[0]:
            raise DataError(f"{len(words)} words but {vectors.shape[0]} vectors")
        if len(words) == 0:
            raise DataError("no word vectors (empty vocabulary)")
        self.report = report or LoadReport(source="<arrays>", format="arrays")
        key_to_index: dict[str, int] = {}
        keep = None
        for i, w in enumerate(words):
            if w in key_to_index:
                if keep is None:
                    keep = np.ones(len(words), dtype=bool)
                keep[i] = False
                self.report.duplicates += 1
                if len(self.report.duplicate_words) < 5:
                    self.report.duplicate_words.append(w)
            else:
                key_to_index[w] = len(key_to_index)
        if keep is not None:
            words = [w for w, k in zip(words, keep) if k]
            vectors = vectors[keep]
        if not np.issubdtype(vectors.dtype, np.floating):
            raise DataError(f"vectors must be floating point, got {vectors.dtype}")
        self.index_to_key: list[str] = words
        self.key_to_index: dict[str, int] = key_to_index
        self.vectors = vectors                      # as given (may be a read-only file mapping)
        self.report.n_words, self.report.dim = len(words), int(vectors.shape[1])
        self._norms, self._normed = _normalise(vectors, _release)
        self._lower: dict[str, int] | None = None
        self._by_len: dict[int, list[str]] | None = None
        self._mapping = None                        # keeps a file mapping alive, if any

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, source: str | os.PathLike | None = None, format: str | None = None,
             lenient: bool = False) -> "WordVectors":
        """Load the built-in ``glove-6b-50d`` (default) or a vectors file (format detected if not given)."""
        from transferlab.words import formats

        start = time.perf_counter()
        if source is None or str(source) == BUILTIN:
            wv = formats.load_builtin(cls)
        else:
            wv = formats.load_file(cls, Path(source), format, lenient)
        wv.report.seconds = round(time.perf_counter() - start, 3)
        return wv

    @classmethod
    def from_arrays(cls, words: Sequence[str], vectors: np.ndarray) -> "WordVectors":
        return cls(words, np.asarray(vectors, dtype=np.float32))

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.index_to_key)

    def __contains__(self, word: object) -> bool:
        return word in self.key_to_index

    def __getitem__(self, word: str | Sequence[str]) -> np.ndarray:
        if isinstance(word, str):
            return np.array(self.vectors[self.index(word)], dtype=np.float32)
        return np.stack([self[w] for w in word])

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words x {self.dim} dims, from {self.report.source})"

    @property
    def dim(self) -> int:
        return int(self._normed.shape[1])

    @property
    def normed(self) -> np.ndarray:
        """The unit-normalised float32 matrix (read-only view; zero vectors stay zero)."""
        view = self._normed.view()
        view.flags.writeable = False
        return view

    @property
    def norms(self) -> np.ndarray:
        return self._norms

    def index(self, word: str) -> int:
        """Row of ``word``: exact match first, else its most frequent case variant; else BadInputError."""
        i = self.key_to_index.get(word)
        if i is None:
            i = self._lower_map().get(word.lower())
        if i is None:
            raise BadInputError(self.unknown_message([word]))
        return i

    def indices(self, words: Iterable[str]) -> list[int]:
        """Rows of all ``words``; one error naming every unknown word (with close spellings)."""
        words = list(words)
        out, missing = [], []
        for w in words:
            try:
                out.append(self.index(w))
            except BadInputError:
                missing.append(w)
        if missing:
            raise BadInputError(self.unknown_message(missing))
        return out

    def _lower_map(self) -> dict[str, int]:
        if self._lower is None:
            lower: dict[str, int] = {}
            for i, w in enumerate(self.index_to_key):
                lower.setdefault(w.lower(), i)
            self._lower = lower
        return self._lower

    def suggest(self, word: str, n: int = 3, pool: int = 50_000) -> list[str]:
        """Close spellings of ``word`` among the ``pool`` most frequent words of length +-1 (cheap)."""
        low = word.lower()
        if self._by_len is None:
            by_len: dict[int, list[str]] = {}
            for w in self.index_to_key[:pool]:
                by_len.setdefault(len(w), []).append(w)
            self._by_len = by_len
        cands = [w for d in (0, -1, 1) for w in self._by_len.get(len(low) + d, ())]
        return difflib.get_close_matches(low, cands, n=n, cutoff=0.75)

    def unknown_message(self, words: Sequence[str]) -> str:
        parts = []
        for w in list(dict.fromkeys(words))[:10]:
            near = self.suggest(w)
            parts.append(f"{w!r}" + (f" (did you mean: {', '.join(near)}?)" if near else ""))
        more = f" and {len(set(words)) - 10} more" if len(set(words)) > 10 else ""
        noun = "word" if len(set(words)) == 1 else "words"
        return f"unknown {noun} (not in the {len(self)}-word vocabulary): {', '.join(parts)}{more}"

    def unit(self, word_or_vector: str | np.ndarray) -> np.ndarray:
        if isinstance(word_or_vector, str):
            return self._normed[self.index(word_or_vector)]
        v = np.asarray(word_or_vector, dtype=np.float32).ravel()
        if v.shape[0] != self.dim:
            raise BadInputError(f"vector has {v.shape[0]} values, the space has {self.dim} dimensions")
        n = np.linalg.norm(v)
        return v / n if n > 0 else v

    # ------------------------------------------------------------------ pairwise
    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        i, j = self.indices([a, b])
        return float(np.dot(self._normed[i], self._normed[j]))

    def distances(self, words: Sequence[str], metric: str = "cosine") -> np.ndarray:
        """Pairwise distance matrix among ``words`` (``cosine`` = 1 - cosine similarity, or ``euclidean``)."""
        idx = self.indices(words)
        if metric == "cosine":
            u = self._normed[idx].astype(np.float64)
            d = 1.0 - u @ u.T
            np.fill_diagonal(d, 0.0)
            return np.clip(d, 0.0, 2.0)
        if metric == "euclidean":
            x = np.asarray(self.vectors[idx], dtype=np.float64)
            sq = (x * x).sum(1)
            d2 = sq[:, None] + sq[None, :] - 2 * x @ x.T
            np.fill_diagonal(d2, 0.0)
            return np.sqrt(np.maximum(d2, 0.0))
        raise BadInputError(f"unknown metric {metric!r}: use cosine or euclidean")

    def nearest_within(self, words: Sequence[str], metric: str = "cosine") -> list[tuple[str, str, float]]:
        """For each word, its nearest other word in the list: (word, nearest, distance)."""
        words = list(words)
        if len(words) < 2:
            raise BadInputError("need at least two words to find nearest neighbours within a list")
        d = self.distances(words, metric).copy()
        np.fill_diagonal(d, np.inf)
        j = d.argmin(1)
        return [(w, words[k], float(d[i, k])) for i, (w, k) in enumerate(zip(words, j))]

    # ------------------------------------------------------------------ search engine
    def search(self, queries: np.ndarray, k: int, restrict: int | None = None,
               exclude: Sequence[Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by cosine for each query vector (rows of ``queries``, unit length).

        Searches the first ``restrict`` rows (all if None), never returning a row listed in
        ``exclude[q]`` for query ``q``.  Returns (indices, scores), each (n_queries, k), best first
        (equal scores: the lower row, i.e. the more frequent word, first); where fewer than k rows
        qualify, indices are -1 and scores -inf.
        """
        Q = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        n = len(self) if not restrict else max(1, min(int(restrict), len(self)))
        nq = Q.shape[0]
        idx_out = np.full((nq, k), -1, dtype=np.int64)
        sc_out = np.full((nq, k), -np.inf, dtype=np.float32)
        if nq == 0 or k <= 0:
            return idx_out, sc_out
        # exclusions as (query, row) pairs, sorted by query (a 2-D array: one row of rows per query)
        if isinstance(exclude, np.ndarray) and exclude.ndim == 2:
            ex_q = np.repeat(np.arange(min(nq, len(exclude))), exclude.shape[1])
            ex_r = np.asarray(exclude[:nq], dtype=np.int64).ravel()
        elif exclude is not None and len(exclude):
            ex_q = np.repeat(np.arange(min(nq, len(exclude))), [len(e) for e in exclude[:nq]])
            ex_r = np.fromiter((r for e in exclude[:nq] for r in e), dtype=np.int64, count=ex_q.size)
        else:
            ex_q = ex_r = np.zeros(0, dtype=np.int64)
        keep = (ex_r >= 0) & (ex_r < n)
        ex_q, ex_r = ex_q[keep], ex_r[keep]
        chunk = min(nq, _QUERY_CHUNK_BEST if k == 1 else _QUERY_CHUNK)
        bounds = list(range(0, nq, chunk)) + [nq]
        cuts = np.searchsorted(ex_q, bounds)
        workers = _workers(len(bounds) - 1)
        # each worker's buffers, sized for the largest need of a full and of the last chunk and
        # allocated here, in this thread: large blocks freed in worker threads would linger in
        # their malloc arenas
        sizes_q = {chunk, nq - bounds[-2]}
        tile = max(q * max(_MIN_TILE_ROWS, _TILE // q) for q in sizes_q)
        per_tile = max(q * -(-n // max(_MIN_TILE_ROWS, _TILE // q)) for q in sizes_q)
        head = min(n, max(_HEAD_ROWS, 4 * k))
        sizes = ({"tile": (tile, np.float32), "arg": (per_tile, np.intp), "val": (per_tile, np.float32)}
                 if k == 1 else
                 {"tile": (tile, np.float32), "mask": (tile, bool),
                  "head": (chunk * head, np.float32), "part": (chunk * head, np.float32)})
        scratch = [{key: np.empty(size, dtype) for key, (size, dtype) in sizes.items()}
                   for _ in range(workers)]

        def task(w):
            for j in range(w, len(bounds) - 1, workers):
                s, e = bounds[j], bounds[j + 1]
                qs, rs = ex_q[cuts[j]:cuts[j + 1]] - s, ex_r[cuts[j]:cuts[j + 1]]
                order = np.argsort(rs, kind="stable")    # by row: each tile takes a slice
                qs, rs = qs[order], rs[order]
                if k == 1:
                    idx_out[s:e, 0], sc_out[s:e, 0] = self._search_best(Q[s:e], n, qs, rs, scratch[w])
                else:
                    idx_out[s:e], sc_out[s:e] = self._search_chunk(Q[s:e], k, n, qs, rs, scratch[w])

        _run_parallel(task, workers)
        return idx_out, sc_out

    def _tiles(self, nq, n, ex_r, start=0):
        """Row tiles [start, stop) of about ``_TILE`` scores each (a core's L2), with the slice of the
        row-sorted exclusions that falls in each."""
        rows = max(_MIN_TILE_ROWS, _TILE // nq)
        starts = list(range(start, n, rows))
        cuts = np.searchsorted(ex_r, starts + [n]).tolist()
        return [(a, min(n, a + rows), cuts[t], cuts[t + 1]) for t, a in enumerate(starts)]

    def _search_chunk(self, Q, k, n, ex_q, ex_r, scratch):
        """Top k: exact selection in the first (most frequent) rows sets each query's threshold (its
        k-th best score); later tiles only contribute entries at or above it (one compare and a
        flat nonzero per tile, no selection), merged now and then, which raises the thresholds."""
        N = self._normed
        nq = Q.shape[0]
        head = min(n, max(_HEAD_ROWS, 4 * k))
        S = scratch["head"][:nq * head].reshape(nq, head)
        np.matmul(Q, N[:head].T, out=S)
        m = ex_r < head
        S[ex_q[m], ex_r[m]] = -np.inf
        kk = min(k, head)
        if kk < head:
            P = scratch["part"][:nq * head].reshape(nq, head)
            np.copyto(P, S)
            P.partition(head - kk, axis=1)
            thr = P[:, head - kk].copy()
        else:
            thr = S.min(axis=1)
        cq, cv, cs = _at_least(S, thr)                  # ties at the threshold included
        cands = [(cq, cv, cs)]
        pending = cq.size

        def merge(cands):
            cq = np.concatenate([c[0] for c in cands])
            cv = np.concatenate([c[1] for c in cands])
            cs = np.concatenate([c[2] for c in cands])
            ok = np.isfinite(cs)
            cq, cv, cs = cq[ok], cv[ok], cs[ok]
            order = np.lexsort((cv, -cs, cq))
            cq, cv, cs = cq[order], cv[order], cs[order]
            rank = np.arange(cq.size) - np.searchsorted(cq, cq, side="left")
            keep = rank < k
            full = keep & (rank == k - 1)
            t = np.full(nq, -np.inf, dtype=np.float32)
            t[cq[full]] = cs[full]
            return cq[keep], cv[keep], cs[keep], rank[keep], t

        tiles = self._tiles(nq, n, ex_r, head)
        buf, mask = scratch["tile"], scratch["mask"]
        for start, stop, lo, hi in tiles:
            w = stop - start
            S = buf[:nq * w].reshape(nq, w)
            np.matmul(Q, N[start:stop].T, out=S)        # (queries, rows): stays in L2 for the compare
            if hi > lo:
                S[ex_q[lo:hi], ex_r[lo:hi] - start] = -np.inf
            M = mask[:nq * w].reshape(nq, w)
            np.greater_equal(S, thr[:, None], out=M)
            flat = np.flatnonzero(M)
            if flat.size:
                cands.append((flat // w, flat % w + start, S.ravel()[flat]))
                pending += flat.size
                if pending > 8 * k * nq:
                    cq, cv, cs, _, t = merge(cands)
                    np.maximum(thr, t, out=thr)
                    cands, pending = [(cq, cv, cs)], cq.size
        cq, cv, cs, rank, _ = merge(cands)
        idx = np.full((nq, k), -1, dtype=np.int64)
        sc = np.full((nq, k), -np.inf, dtype=np.float32)
        idx[cq, rank] = cv
        sc[cq, rank] = cs
        return idx, sc

    def _search_best(self, Q, n, ex_q, ex_r, scratch):
        """k = 1 (the analogy benchmark's case): per tile of rows, each query's argmax and its score
        (the tile is still in L2); then, per query, the first tile holding its maximum.  Ties go to
        the lower row: argmax takes the first maximum within a tile and across tiles."""
        N = self._normed
        nq = Q.shape[0]
        tiles = self._tiles(nq, n, ex_r)
        buf = scratch["tile"]
        A = scratch["arg"][:len(tiles) * nq].reshape(len(tiles), nq)   # argmax within each tile
        V = scratch["val"][:len(tiles) * nq].reshape(len(tiles), nq)   # ... and its score
        pos = np.empty(nq, dtype=np.intp)
        for t, (start, stop, lo, hi) in enumerate(tiles):
            w = stop - start
            S = buf[:nq * w].reshape(nq, w)
            np.matmul(Q, N[start:stop].T, out=S)
            if hi > lo:
                S[ex_q[lo:hi], ex_r[lo:hi] - start] = -np.inf
            S.argmax(axis=1, out=A[t])
            np.add(A[t], np.arange(0, nq * w, w), out=pos)
            np.take(buf, pos, out=V[t])
        bt = V.argmax(axis=0)                             # first tile holding the maximum
        cols = np.arange(nq)
        best = V[bt, cols]
        starts = np.array([t[0] for t in tiles], dtype=np.int64)
        arg = np.where(best > -np.inf, A[bt, cols] + starts[bt], -1)
        return arg, best

    # ------------------------------------------------------------------ queries
    def most_similar(self, word_or_vector: str | np.ndarray, topn: int = 10,
                     restrict: int | None = None) -> list[tuple[str, float]]:
        """The ``topn`` nearest words by cosine (the query word itself excluded)."""
        return self.neighbours([word_or_vector], topn, restrict)[0]

    similar = most_similar

    def neighbours(self, items: Sequence[str | np.ndarray], topn: int = 10,
                   restrict: int | None = None) -> list[list[tuple[str, float]]]:
        """Batched ``most_similar`` for many words (or vectors) in one pass over the matrix."""
        items = list(items)
        if not items:
            return []
        words = [x for x in items if isinstance(x, str)]
        if words:
            self.indices(words)  # one error naming every unknown word
        Q = np.stack([self.unit(x) for x in items])
        exclude = [[self.index(x)] if isinstance(x, str) else [] for x in items]
        idx, sc = self.search(Q, topn, restrict, exclude)
        return [self._pairs(i, s) for i, s in zip(idx, sc)]

    def _pairs(self, idx, sc):
        return [(self.index_to_key[i], float(s)) for i, s in zip(idx, sc) if i >= 0]

    def analogy(self, a: str, b: str, c: str, topn: int = 1, method: str = "add",
                restrict: int | None = None) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ?  (3CosAdd: b - a + c; ``cosmul``: 3CosMul).

        The three query words (and their case variants) never answer.
        """
        return self.analogies([(a, b, c)], topn, method, restrict)[0]

    def analogies(self, triples: Sequence[tuple[str, str, str]], topn: int = 1, method: str = "add",
                  restrict: int | None = None) -> list[list[tuple[str, float]]]:
        """Batched :meth:`analogy`."""
        triples = [tuple(t) for t in triples]
        if any(len(t) != 3 for t in triples):
            raise BadInputError("each analogy needs exactly three words: A B C (A is to B as C is to ?)")
        self.indices([w for t in triples for w in t])
        rows = np.array([[self.index(w) for w in t] for t in triples], dtype=np.int64).reshape(-1, 3)
        exclude = [self._variants(t, restrict) for t in triples]
        if method in ("add", "3cosadd"):
            idx, sc = self.search(self._add_queries(rows), topn, restrict, exclude)
        elif method in ("cosmul", "3cosmul"):
            idx, sc = self._cosmul(rows, topn, restrict, exclude)
        else:
            raise BadInputError(f"unknown analogy method {method!r}: use add (3CosAdd) or cosmul (3CosMul)")
        return [self._pairs(i, s) for i, s in zip(idx, sc)]

    def _variants(self, words: Iterable[str], restrict: int | None) -> list[int]:
        """Rows of the words and of every case variant of them (within ``restrict``)."""
        lows = {w.lower() for w in words}
        out = {self.index(w) for w in words}
        if self._has_case_variants():
            for w in lows:
                out.update(self._case_groups().get(w, ()))
        return sorted(out)

    def _has_case_variants(self) -> bool:
        """Could two words differ only by case?  (False for all-lower-case vocabularies like GloVe's.)"""
        if not hasattr(self, "_mixed_case"):
            text = "\n".join(self.index_to_key)     # one C call on all words, not one per word
            self._mixed_case = text != text.lower()
        return self._mixed_case

    def _case_groups(self) -> dict[str, list[int]]:
        if not hasattr(self, "_groups"):
            groups: dict[str, list[int]] = {}
            for i, w in enumerate(self.index_to_key):
                groups.setdefault(w.lower(), []).append(i)
            self._groups = {k: v for k, v in groups.items() if len(v) > 1}
        return self._groups

    def _add_queries(self, rows: np.ndarray) -> np.ndarray:
        N = self._normed
        m = N[rows[:, 1]] + N[rows[:, 2]] - N[rows[:, 0]]
        norm = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norm > 0, norm, 1)

    def _cosmul(self, rows, topn, restrict, exclude):
        """3CosMul (Levy & Goldberg 2014) with cosines shifted to [0, 1], as gensim does."""
        n = len(self) if not restrict else min(int(restrict), len(self))
        N = self._normed[:n]
        idx = np.full((len(rows), topn), -1, dtype=np.int64)
        sc = np.full((len(rows), topn), -np.inf, dtype=np.float32)
        for q, (a, b, c) in enumerate(rows):
            sims = (1 + N @ self._normed[[a, b, c]].T) / 2
            score = sims[:, 1] * sims[:, 2] / (sims[:, 0] + 1e-6)
            ex = [e for e in exclude[q] if e < n]
            score[ex] = -np.inf
            kk = min(topn, n - len(ex))
            if kk <= 0:
                continue
            top = np.argpartition(-score, kk - 1)[:kk]
            top = top[np.argsort(-score[top], kind="stable")]
            idx[q, :kk], sc[q, :kk] = top, score[top]
        return idx, sc

    def odd_one_out(self, words: Sequence[str]) -> tuple[str, list[tuple[str, float]]]:
        """The word least similar to the mean of the (unit) vectors; also every word's similarity to it."""
        words = list(words)
        if len(words) < 3:
            raise BadInputError("odd-one-out needs at least three words")
        u = self._normed[self.indices(words)].astype(np.float64)
        mean = u.mean(0)
        mean /= np.linalg.norm(mean) or 1.0
        sims = u @ mean
        ranked = sorted(zip(words, sims.tolist()), key=lambda t: -t[1])
        return ranked[-1][0], ranked

    # ------------------------------------------------------------------ export
    def save_word2vec(self, path: str | os.PathLike, header: bool = True, limit: int | None = None) -> Path:
        """Write word2vec text format (``N D`` header, then ``word v1 ... vD``), atomically."""
        from transferlab.io import atomic_path

        n = len(self) if not limit else min(int(limit), len(self))
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
            if header:
                f.write(f"{n} {self.dim}\n")
            for s in range(0, n, 20000):
                block = np.asarray(self.vectors[s:min(n, s + 20000)], dtype=np.float32)
                for w, row in zip(self.index_to_key[s:s + len(block)], block):
                    f.write(w + " " + " ".join(map(str, row)) + "\n")  # shortest float32 round-trip
        return Path(path)

    def save_projector(self, out_dir: str | os.PathLike, limit: int | None = 10000,
                       words: Sequence[str] | None = None, labels: dict[str, str] | None = None) -> tuple[Path, Path]:
        """TensorBoard embedding-projector files: ``vectors.tsv`` and ``metadata.tsv``."""
        from transferlab.io import ensure_writable_dir, write_text

        out = ensure_writable_dir(out_dir)
        if words is not None:
            idx = self.indices(words)
        else:
            idx = list(range(len(self) if not limit else min(int(limit), len(self))))
        X = np.asarray(self.vectors[idx], dtype=np.float32)
        vec_lines = ["\t".join(map(str, row)) for row in X]
        if labels:
            meta = "word\tcategory\n" + "".join(f"{_tsv(self.index_to_key[i])}\t{_tsv(labels.get(self.index_to_key[i], ''))}\n"
                                               for i in idx)
        else:  # single column: no header line (projector convention)
            meta = "".join(_tsv(self.index_to_key[i]) + "\n" for i in idx)
        v = write_text(out / "vectors.tsv", "\n".join(vec_lines) + "\n")
        m = write_text(out / "metadata.tsv", meta)
        return v, m


_controller = None


def _blas_threads() -> tuple[object, int]:
    """(threadpoolctl controller or None, the number of threads BLAS is set to use)."""
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
            _controller = ThreadpoolController()
        except Exception:  # threadpoolctl missing or failing: BLAS keeps its own threads
            _controller = False
    if not _controller:
        return None, 1
    blas = _controller.select(user_api="blas")
    return blas, max((lib["num_threads"] for lib in blas.info()), default=1)


def _workers(n_tasks: int) -> int:
    """Python threads for ``n_tasks`` chunks: as many as BLAS may use (and CPUs this process has)."""
    if n_tasks <= 1:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(_blas_threads()[1], cpus, n_tasks))


def _run_parallel(task, workers: int) -> None:
    """Run ``task(0..workers-1)`` in that many Python threads, each matrix product then
    single-threaded: numpy releases the GIL, so the reductions after each product run in parallel
    too, on the tile that product just wrote to the core's own cache."""
    if workers <= 1:
        task(0)
        return
    from concurrent.futures import ThreadPoolExecutor

    with _blas_threads()[0].limit(limits=1), ThreadPoolExecutor(workers) as pool:
        list(pool.map(task, range(workers)))


def _at_least(S: np.ndarray, thr: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, value) of the entries of ``S`` at or above their threshold: ``thr[i]`` for row
    ``i`` (axis 0) or ``thr[j]`` for column ``j`` (axis 1).  A flat nonzero (about 10x faster than a
    2-D ``np.nonzero`` here)."""
    flat = np.flatnonzero(S >= (thr[:, None] if axis == 0 else thr[None, :]))
    return flat // S.shape[1], flat % S.shape[1], S.ravel()[flat]


def _tsv(s: str) -> str:
    return s.replace("\t", " ").replace("\n", " ")


def _normalise(vectors: np.ndarray, release=None) -> tuple[np.ndarray, np.ndarray]:
    """Norms and the unit-normalised float32 copy, computed in row chunks (little extra memory)."""
    n, d = vectors.shape
    norms = np.empty(n, dtype=np.float32)
    normed = np.empty((n, d), dtype=np.float32)
    step = 32768
    for s in range(0, n, step):
        chunk = np.ascontiguousarray(vectors[s:s + step], dtype=np.float32)
        if not np.isfinite(chunk).all():
            bad = s + int(np.nonzero(~np.isfinite(chunk).all(1))[0][0])
            raise DataError(f"vector {bad} has a non-finite value (nan or inf)")
        nr = np.linalg.norm(chunk, axis=1)
        norms[s:s + len(chunk)] = nr
        np.divide(chunk, np.where(nr > 0, nr, 1)[:, None], out=normed[s:s + len(chunk)])
        if release is not None:  # a file mapping: drop the pages just read from resident memory
            release()
    return norms, normed
