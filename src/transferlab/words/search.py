"""The search engine below ``WordVectors``: exact top-k cosine search over a unit-normalised matrix.

All queries are batched matrix products over blocks of the matrix with a running per-query
threshold, so many queries cost about as much as one pass over it.  The products are cut into
tiles small enough to stay in a core's L2 cache while they are reduced, and chunks of queries run
in one Python thread per BLAS thread (BLAS itself then single-threaded for the duration, via
threadpoolctl), so the reductions run in parallel as well as the products.  Tiles split queries and
rows, never the dimensions, so each score is the same dot product whatever the tiling.

Public interface:

- :class:`SearchIndex` (``SearchIndex(normed)``): ``search(queries, k, restrict=None, exclude=None)``
  and ``analogies(rows, k, method="add", restrict=None, exclude=None)``;
- :func:`add_queries` (3CosAdd query vectors), :func:`cosmul` (3CosMul), :func:`analogy_method`.

Rows are expected in frequency order (GloVe / word2vec files are): ``restrict=N`` searches the first
N rows, and on equal scores the lower row (the more frequent word) comes first.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from transferlab.errors import BadInputError
from transferlab.runtime import cpu_count

# The tile sizes were tuned on the analogy benchmark and the 1,000-query top-10 search
# (benchmarks/bench_words.py); they are module constants so that tests can force many small tiles.
_TILE = 1 << 17          # scores per tile (queries x rows float32: 512 KiB, stays in a core's L2)
_MIN_TILE_ROWS = 256     # ... but at least this many rows (few queries: fewer, larger products)
_QUERY_CHUNK = 128       # top k: queries per task (head scores: 128 x 16384 float32 = 8 MB)
_HEAD_ROWS = 16384       # most frequent rows where the top k is selected exactly
_QUERY_CHUNK_BEST = 512  # k = 1 (analogies): queries per task

# analogy method names accepted -> the method
ANALOGY_METHODS = {"add": "add", "3cosadd": "add", "cosmul": "cosmul", "3cosmul": "cosmul"}


def analogy_method(name: str) -> str:
    """``add`` or ``cosmul`` for an accepted spelling of an analogy method; else BadInputError."""
    method = ANALOGY_METHODS.get(str(name).lower()) if isinstance(name, str) else None
    if method is None:
        raise BadInputError(f"unknown analogy method {name!r}: use add (3CosAdd) or cosmul (3CosMul)")
    return method


def add_queries(normed: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """3CosAdd query vectors for analogy rows ``(a, b, c)``: ``b - a + c``, unit length."""
    N = normed
    m = N[rows[:, 1]] + N[rows[:, 2]] - N[rows[:, 0]]
    norm = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norm > 0, norm, 1)


def cosmul(normed: np.ndarray, rows: np.ndarray, k: int, restrict: int | None = None,
           exclude: Sequence[Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """3CosMul (Levy & Goldberg 2014) with cosines shifted to [0, 1], as gensim does: for each
    analogy row ``(a, b, c)`` the top ``k`` rows by ``cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-6)``
    among the first ``restrict``, never a row of ``exclude[q]``.  Returns (indices, scores) as
    :meth:`SearchIndex.search` does."""
    n = len(normed) if not restrict else min(int(restrict), len(normed))
    N = normed[:n]
    idx = np.full((len(rows), k), -1, dtype=np.int64)
    sc = np.full((len(rows), k), -np.inf, dtype=np.float32)
    for q, (a, b, c) in enumerate(rows):
        sims = (1 + N @ normed[[a, b, c]].T) / 2
        score = sims[:, 1] * sims[:, 2] / (sims[:, 0] + 1e-6)
        ex = [e for e in (exclude[q] if exclude is not None else ()) if e < n]
        score[ex] = -np.inf
        kk = min(k, n - len(ex))
        if kk <= 0:
            continue
        top = np.argpartition(-score, kk - 1)[:kk]
        top = top[np.argsort(-score[top], kind="stable")]
        idx[q, :kk], sc[q, :kk] = top, score[top]
    return idx, sc


class SearchIndex:
    """Exact top-k search by cosine over the rows of a unit-normalised float32 matrix.

    >>> index = SearchIndex(wv.normed)               # doctest: +SKIP
    >>> idx, scores = index.search(wv.normed[[3, 7]], k=10, restrict=50_000, exclude=[[3], [7]])  # doctest: +SKIP
    """

    def __init__(self, normed: np.ndarray) -> None:
        normed = np.asarray(normed)
        if normed.ndim != 2 or normed.dtype != np.float32:
            raise ValueError(f"SearchIndex needs a 2-D float32 matrix, got {normed.dtype} {normed.shape}")
        view = normed.view()
        view.flags.writeable = False
        self.normed = view

    def __len__(self) -> int:
        return len(self.normed)

    def search(self, queries: np.ndarray, k: int, restrict: int | None = None,
               exclude: Sequence[Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by cosine for each query vector (rows of ``queries``, unit length).

        Searches the first ``restrict`` rows (all if None or 0), never returning a row listed in
        ``exclude[q]`` for query ``q`` (lists of rows, or a 2-D array padded with -1).  Returns
        (indices, scores), each (n_queries, k), best first (equal scores: the lower row, i.e. the
        more frequent word, first); where fewer than k rows qualify, indices are -1 and scores -inf.
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

    def analogies(self, rows: np.ndarray, k: int, method: str = "add", restrict: int | None = None,
                  exclude: Sequence[Sequence[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` answers to analogy rows ``(a, b, c)`` (a is to b as c is to ?) by 3CosAdd
        (``add``) or 3CosMul (``cosmul``); ``exclude`` as in :meth:`search` (usually the query rows)."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1, 3)
        if analogy_method(method) == "add":
            return self.search(add_queries(self.normed, rows), k, restrict, exclude)
        return cosmul(self.normed, rows, k, restrict, exclude)

    # -- the two kernels ----------------------------------------------------------------------------
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
        N = self.normed
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
                    cq, cv, cs, _, t = _merge(cands, nq, k)
                    np.maximum(thr, t, out=thr)
                    cands, pending = [(cq, cv, cs)], cq.size
        cq, cv, cs, rank, _ = _merge(cands, nq, k)
        idx = np.full((nq, k), -1, dtype=np.int64)
        sc = np.full((nq, k), -np.inf, dtype=np.float32)
        idx[cq, rank] = cv
        sc[cq, rank] = cs
        return idx, sc

    def _search_best(self, Q, n, ex_q, ex_r, scratch):
        """k = 1 (the analogy benchmark's case): per tile of rows, each query's argmax and its score
        (the tile is still in L2); then, per query, the first tile holding its maximum.  Ties go to
        the lower row: argmax takes the first maximum within a tile and across tiles."""
        N = self.normed
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


def _merge(cands, nq: int, k: int):
    """The candidates (query, row, score) of every tile so far, cut to each query's best ``k`` (by
    score, then row): (queries, rows, scores, ranks, each query's k-th score or -inf if fewer)."""
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


# ---------------------------------------------------------------------------- threads
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
    return max(1, min(_blas_threads()[1], cpu_count(), n_tasks))


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
    ``i`` (axis 0) or ``thr[j]`` for column ``j`` (axis 1), by a flat nonzero (faster than a 2-D
    ``np.nonzero`` here: docs/words.md)."""
    flat = np.flatnonzero(S >= (thr[:, None] if axis == 0 else thr[None, :]))
    return flat // S.shape[1], flat % S.shape[1], S.ravel()[flat]
