"""The words part of ``transferlab demo``: similarities, the king/man/woman analogy, a cluster map."""
from __future__ import annotations

from pathlib import Path

DEMO_WORDS = {
    "animal": ["dog", "cat", "horse", "cow", "lion", "tiger", "rabbit", "sheep"],
    "vehicle": ["car", "truck", "bus", "train", "bicycle", "airplane", "boat", "motorcycle"],
    "food": ["bread", "cheese", "rice", "pasta", "apple", "banana", "soup", "meat"],
    "country": ["france", "germany", "italy", "spain", "japan", "china", "brazil", "canada"],
    "profession": ["doctor", "teacher", "lawyer", "engineer", "nurse", "farmer", "pilot", "chef"],
}


def part(out_dir: Path, quick: bool) -> None:
    from transferlab.words import WordVectors, cluster_words, plot_clusters

    out_dir = Path(out_dir)
    wv = WordVectors.load()
    print(f"{len(wv)} words x {wv.dim} dims loaded in {wv.report.seconds:.2f} s")
    for a, b in [("cat", "dog"), ("cat", "car"), ("coffee", "tea"), ("king", "queen")]:
        print(f"  similarity({a}, {b}) = {wv.similarity(a, b):.3f}")
    print("  man is to king as woman is to: "
          + ", ".join(f"{w} ({s:.3f})" for w, s in wv.analogy("man", "king", "woman", top_k=5)))
    print("  paris is to france as tokyo is to: " + wv.analogy("paris", "france", "tokyo")[0][0])
    print("  odd one out of breakfast lunch dinner car: " + wv.odd_one_out(["breakfast", "lunch", "dinner", "car"])[0])
    words = [w for ws in DEMO_WORDS.values() for w in ws]
    cats = [c for c, ws in DEMO_WORDS.items() for _ in ws]
    res = cluster_words(wv, words, k=None if not quick else len(DEMO_WORDS), categories=cats)
    png = plot_clusters(res, out_dir / "word-clusters.png", title="GloVe 6B 50d: 40 words, 5 categories")
    print(f"  k-means on 40 words: k={res['k']}, purity {res['purity']:.2f}, adjusted Rand {res['adjusted_rand']:.2f}")
    print(f"  cluster map: {png}")
