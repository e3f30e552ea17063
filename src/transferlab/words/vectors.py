"""A word-embedding space held in memory: load, look up, and query it fast.

``WordVectors`` keeps the vocabulary in file order (for GloVe / word2vec files that is descending
frequency, which is what ``restrict`` relies on), the vectors as given, and a unit-normalised
float32 copy computed once.  The queries go to the search engine (:mod:`transferlab.words.search`),
the files to the readers and writers (:mod:`transferlab.words.formats`); this module is the object
a user holds.
"""
from __future__ import annotations

import difflib
import os
import time
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from transferlab.errors import BadInputError, DataError
from transferlab.words import evaluate as benchmarks
from transferlab.words import formats, validate
from transferlab.words.cluster import cluster_words
from transferlab.words.formats import BUILTIN, FORMATS, LoadSummary
from transferlab.words.search import SearchIndex
from transferlab.words.space import DEFAULT_RESTRICT

__all__ = ["BUILTIN", "FORMATS", "LoadSummary", "WordVectors"]


class WordVectors:
    """Vocabulary + vectors, with gensim-``KeyedVectors``-like ergonomics.

    >>> wv = WordVectors.load()                  # built-in GloVe 6B 50d
    >>> wv["king"].shape, "king" in wv, len(wv)
    ((50,), True, 400000)
    >>> [w for w, _ in wv.most_similar("frog", top_k=3)]
    ['snake', 'ape', 'toad']
    >>> wv.analogy("man", "king", "woman")[0][0]     # man is to king as woman is to ?
    'queen'
    >>> wv.odd_one_out(["breakfast", "lunch", "dinner", "car"])[0]
    'car'
    >>> round(wv.evaluate_similarity("wordsim353.tsv")["spearman"], 4)   # doctest: +SKIP
    0.5033
    >>> wv.evaluate_analogies("questions-words.txt")["accuracy"]        # doctest: +SKIP
    0.4637...
    >>> sorted(wv.cluster(["dog", "cat", "car", "truck"], k=2)["clusters"])
    [['car', 'truck'], ['dog', 'cat']]

    ``top_k`` is the number of answers (gensim's ``topn=`` is accepted as well); ``restrict=N``:
    only the N most frequent words answer.
    """

    def __init__(self, words: Sequence[str], vectors: np.ndarray, *, summary: LoadSummary | None = None,
                 _release=None) -> None:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2:
            raise DataError(f"vectors must be a 2-D matrix, got shape {vectors.shape}")
        words = list(words)
        if len(words) != vectors.shape[0]:
            raise DataError(f"{len(words)} words but {vectors.shape[0]} vectors")
        if len(words) == 0:
            raise DataError("no word vectors (empty vocabulary)")
        self.load_summary = summary or LoadSummary(source="<arrays>", format="arrays")
        key_to_index: dict[str, int] = {}
        keep = None
        for i, w in enumerate(words):
            if w in key_to_index:
                if keep is None:
                    keep = np.ones(len(words), dtype=bool)
                keep[i] = False
                self.load_summary.duplicates += 1
                if len(self.load_summary.duplicate_words) < 5:
                    self.load_summary.duplicate_words.append(w)
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
        self.load_summary.n_words, self.load_summary.dim = len(words), int(vectors.shape[1])
        self._norms, self._normed = _normalise(vectors, _release)
        self.search_index = SearchIndex(self._normed)
        self._lower: dict[str, int] | None = None
        self._by_len: dict[int, list[str]] | None = None
        self._mixed_case: bool | None = None
        self._groups: dict[str, list[int]] | None = None
        self._mapping = None                        # keeps a file mapping alive, if any

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, source: str | os.PathLike | None = None, format: str | None = None,
             lenient: bool = False) -> "WordVectors":
        """Load the built-in ``glove-6b-50d`` (default) or a vectors file (format detected if not given)."""
        start = time.perf_counter()
        raw = formats.read_vectors(source, format, lenient)
        wv = cls(raw.words, raw.matrix, summary=raw.summary, _release=raw.release)
        wv._mapping = raw.mapping
        wv.load_summary.seconds = round(time.perf_counter() - start, 3)
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
        return f"WordVectors({len(self)} words x {self.dim} dims, from {self.load_summary.source})"

    @property
    def dim(self) -> int:
        return int(self._normed.shape[1])

    @property
    def normed(self) -> np.ndarray:
        """The unit-normalised float32 matrix (read-only view; zero vectors stay zero)."""
        return self.search_index.normed

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

    def has_case_variants(self) -> bool:
        """Could two words differ only by case?  (False for all-lower-case vocabularies like GloVe's.)"""
        if self._mixed_case is None:
            text = "\n".join(self.index_to_key)     # one C call on all words, not one per word
            self._mixed_case = text != text.lower()
        return self._mixed_case

    def case_groups(self) -> dict[str, list[int]]:
        """Lower-cased word -> the rows of its case variants, for the words that have more than one."""
        if self._groups is None:
            groups: dict[str, list[int]] = {}
            for i, w in enumerate(self.index_to_key):
                groups.setdefault(w.lower(), []).append(i)
            self._groups = {k: v for k, v in groups.items() if len(v) > 1}
        return self._groups

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

    # ------------------------------------------------------------------ queries
    def search(self, queries: np.ndarray, k: int, restrict: int | None = None,
               exclude: Sequence[Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by cosine for unit query vectors: :meth:`SearchIndex.search
        <transferlab.words.search.SearchIndex.search>` over this space."""
        return self.search_index.search(queries, k, restrict, exclude)

    def most_similar(self, word_or_vector: str | np.ndarray, top_k: int = 10, restrict: int | None = None, *,
                     topn: int | None = None) -> list[tuple[str, float]]:
        """The ``top_k`` nearest words by cosine (the query word itself excluded)."""
        return self.neighbours([word_or_vector], top_k, restrict, topn=topn)[0]

    def neighbours(self, items: Sequence[str | np.ndarray], top_k: int = 10, restrict: int | None = None, *,
                   topn: int | None = None) -> list[list[tuple[str, float]]]:
        """Batched ``most_similar`` for many words (or vectors) in one pass over the matrix."""
        top_k = validate.top_k(top_k if topn is None else topn)
        restrict = validate.restrict(restrict)
        items = list(items)
        if not items:
            return []
        words = [x for x in items if isinstance(x, str)]
        if words:
            self.indices(words)  # one error naming every unknown word
        Q = np.stack([self.unit(x) for x in items])
        exclude = [[self.index(x)] if isinstance(x, str) else [] for x in items]
        idx, sc = self.search(Q, top_k, restrict, exclude)
        return [self._pairs(i, s) for i, s in zip(idx, sc)]

    def _pairs(self, idx, sc):
        return [(self.index_to_key[i], float(s)) for i, s in zip(idx, sc) if i >= 0]

    def analogy(self, a: str, b: str, c: str, top_k: int = 1, method: str = "add",
                restrict: int | None = None, *, topn: int | None = None) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ?  (3CosAdd: b - a + c; ``cosmul``: 3CosMul).

        The three query words (and their case variants) never answer.
        """
        return self.analogies([(a, b, c)], top_k, method, restrict, topn=topn)[0]

    def analogies(self, triples: Sequence[tuple[str, str, str]], top_k: int = 1, method: str = "add",
                  restrict: int | None = None, *, topn: int | None = None) -> list[list[tuple[str, float]]]:
        """Batched :meth:`analogy`."""
        top_k = validate.top_k(top_k if topn is None else topn)
        restrict = validate.restrict(restrict)
        triples = [tuple(t) for t in triples]
        if any(len(t) != 3 for t in triples):
            raise BadInputError("each analogy needs exactly three words: A B C (A is to B as C is to ?)")
        self.indices([w for t in triples for w in t])
        rows = np.array([[self.index(w) for w in t] for t in triples], dtype=np.int64).reshape(-1, 3)
        exclude = [self._variants(t) for t in triples]
        idx, sc = self.search_index.analogies(rows, top_k, method, restrict, exclude)
        return [self._pairs(i, s) for i, s in zip(idx, sc)]

    def _variants(self, words: Iterable[str]) -> list[int]:
        """Rows of the words and of every case variant of them."""
        lows = {w.lower() for w in words}
        out = {self.index(w) for w in words}
        if self.has_case_variants():
            for w in lows:
                out.update(self.case_groups().get(w, ()))
        return sorted(out)

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

    # ------------------------------------------------------------------ benchmarks, clusters
    def evaluate_analogies(self, path: str | os.PathLike, restrict: int | None = DEFAULT_RESTRICT,
                           case_insensitive: bool = True, method: str = "add") -> dict:
        """Accuracy on an analogy file (questions-words format), as gensim's ``evaluate_word_analogies``:
        see :func:`transferlab.words.evaluate.evaluate_analogies`."""
        return benchmarks.evaluate_analogies(self, path, restrict, case_insensitive, method)

    def evaluate_similarity(self, path: str | os.PathLike, restrict: int | None = DEFAULT_RESTRICT,
                            case_insensitive: bool = True) -> dict:
        """Pearson and Spearman correlation with human word-pair scores, as gensim's
        ``evaluate_word_pairs``: see :func:`transferlab.words.evaluate.evaluate_similarity`."""
        return benchmarks.evaluate_similarity(self, path, restrict, case_insensitive)

    def cluster(self, words: Sequence[str], k: int | None = None, method: str = "kmeans", projection: str = "pca",
                categories: Sequence[str] | None = None, k_range: tuple[int, int] = (2, 12),
                seed: int = 0) -> dict:
        """Cluster ``words`` (k chosen by silhouette when None): see
        :func:`transferlab.words.cluster.cluster_words`; :func:`~transferlab.words.cluster.plot_clusters`
        draws the result."""
        return cluster_words(self, words, k, method, projection, categories, k_range, seed)

    # ------------------------------------------------------------------ export
    def save_word2vec(self, path: str | os.PathLike, header: bool = True, limit: int | None = None) -> Path:
        """Write word2vec text format (``N D`` header, then ``word v1 ... vD``), atomically."""
        return formats.write_word2vec(path, self.index_to_key, self.vectors, header, limit)

    def save_projector(self, out_dir: str | os.PathLike, limit: int | None = 10000,
                       words: Sequence[str] | None = None, labels: dict[str, str] | None = None) -> tuple[Path, Path]:
        """TensorBoard embedding-projector files: ``vectors.tsv`` and ``metadata.tsv``."""
        if words is not None:
            idx = self.indices(words)
        else:
            idx = list(range(len(self) if not limit else min(int(limit), len(self))))
        return formats.write_projector(out_dir, [self.index_to_key[i] for i in idx], self.vectors[idx], labels)


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
