"""Clustering words in the embedding space (the lab's to-do): k-means or agglomerative on unit
vectors (cosine geometry), k chosen by silhouette if not given, a 2-D map (PCA or t-SNE) with word
labels, and purity / adjusted Rand index when the words come with categories."""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np

from transferlab.errors import BadInputError, DataError
from transferlab.words import validate
from transferlab.words.space import VectorSpace


def read_word_list(path: str | Path) -> tuple[list[str], list[str] | None]:
    """Words from a file: one ``word`` or ``word,category`` per line (tab also accepted); ``#`` comments."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"word list not found: {path}")
    words, cats = [], []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in (line.split("\t") if "\t" in line else line.split(","))]
        if len(parts) > 2 or not parts[0]:
            raise DataError(f"{path}, line {lineno}: expected 'word' or 'word,category', got {line!r}")
        words.append(parts[0])
        cats.append(parts[1] if len(parts) == 2 else None)
    if not words:
        raise DataError(f"{path}: no words in it")
    given = [c is not None for c in cats]
    if any(given) and not all(given):
        raise DataError(f"{path}: either every line has a category or none does")
    return words, (cats if all(given) else None)


def cluster_words(wv: VectorSpace, words: Sequence[str], k: int | None = None, method: str = "kmeans",
                  projection: str = "pca", categories: Sequence[str] | None = None,
                  k_range: tuple[int, int] = (2, 12), seed: int = 0) -> dict:
    """Cluster ``words``; returns labels, clusters, silhouette, 2-D coordinates and (with categories)
    purity and adjusted Rand index."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.metrics import adjusted_rand_score, silhouette_score

    k = validate.clusters(k)
    words = list(dict.fromkeys(words))
    if categories is not None and len(categories) != len(words):
        raise BadInputError("categories must match the (de-duplicated) words one to one")
    if len(words) < 3:
        raise BadInputError(f"need at least 3 distinct words to cluster, got {len(words)}")
    X = wv.normed[wv.indices(words)].astype(np.float64)
    n = len(words)

    def fit(kk: int) -> np.ndarray:
        if method == "kmeans":
            return KMeans(n_clusters=kk, n_init=10, random_state=seed).fit_predict(X)
        if method == "agglomerative":
            return AgglomerativeClustering(n_clusters=kk, metric="cosine", linkage="average").fit_predict(X)
        raise BadInputError(f"unknown clustering method {method!r}: use kmeans or agglomerative")

    by_k: dict[int, float] = {}
    if k is None:
        lo, hi = k_range[0], min(k_range[1], n - 1)
        if lo > hi:
            raise BadInputError(f"too few words ({n}) to choose k in {k_range}")
        best = None
        for kk in range(lo, hi + 1):
            lab = fit(kk)
            s = float(silhouette_score(X, lab, metric="cosine")) if len(set(lab)) > 1 else -1.0
            by_k[kk] = s
            if best is None or s > best[0]:
                best = (s, kk, lab)
        sil, k, labels = best
    else:
        if not 1 <= k <= n:
            raise BadInputError(f"k must be between 1 and the number of words ({n}), got {k}")
        labels = fit(k)
        sil = float(silhouette_score(X, labels, metric="cosine")) if 1 < len(set(labels)) < n else None
    coords = project(X, projection, seed)
    clusters = [[w for w, lab in zip(words, labels) if lab == c] for c in range(k)]
    out = {
        "method": method, "k": int(k), "projection": projection, "silhouette": sil,
        "silhouette_by_k": by_k or None, "words": words, "labels": [int(x) for x in labels],
        "clusters": clusters, "coords": coords.tolist(), "categories": list(categories) if categories else None,
    }
    if categories is not None:
        out["purity"] = purity(labels, categories)
        out["adjusted_rand"] = float(adjusted_rand_score(categories, labels))
    return out


def purity(labels: Sequence[int], categories: Sequence[str]) -> float:
    """Share of words whose cluster's majority category is their own."""
    total = 0
    for c in set(labels):
        members = [cat for lab, cat in zip(labels, categories) if lab == c]
        total += Counter(members).most_common(1)[0][1]
    return total / len(labels)


def project(X: np.ndarray, projection: str = "pca", seed: int = 0) -> np.ndarray:
    """2-D coordinates of the rows of X (PCA, or t-SNE with cosine distances)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if projection == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(X)
    if projection == "tsne":
        perplexity = max(2.0, min(30.0, (len(X) - 1) / 3))
        return TSNE(n_components=2, metric="cosine", init="pca", perplexity=perplexity,
                    random_state=seed).fit_transform(X)
    raise BadInputError(f"unknown projection {projection!r}: use pca or tsne")


def plot_clusters(result: dict, path: str | Path, title: str | None = None) -> Path:
    """The 2-D map as a PNG: one colour per cluster, every word labelled (atomic write)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from transferlab.io import save_figure

    xy = np.asarray(result["coords"])
    labels = result["labels"]
    n = len(xy)
    fig, ax = plt.subplots(figsize=(9, 7) if n <= 150 else (14, 11))
    cmap = plt.get_cmap("tab20" if result["k"] > 10 else "tab10")
    for c in range(result["k"]):
        m = np.array(labels) == c
        ax.scatter(xy[m, 0], xy[m, 1], s=18, color=cmap(c % cmap.N), label=f"cluster {c + 1}")
    fontsize = 8 if n <= 100 else 6 if n <= 300 else 4
    for (x, y), w in zip(xy, result["words"]):
        ax.annotate(w, (x, y), fontsize=fontsize, xytext=(2, 2), textcoords="offset points")
    sub = f"{result['method']}, k={result['k']}, {result['projection'].upper()} map"
    if result.get("silhouette") is not None:
        sub += f", silhouette {result['silhouette']:.3f}"
    if result.get("adjusted_rand") is not None:
        sub += f", ARI {result['adjusted_rand']:.3f}, purity {result['purity']:.3f}"
    ax.set_title((title + "\n" if title else "") + sub, fontsize=10)
    if result["k"] <= 20:
        ax.legend(fontsize=7, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    return save_figure(fig, path)
