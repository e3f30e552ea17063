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


def part(out_dir: Path, quick: bool, say=print) -> dict:
    from transferlab.words import WordVectors, plot_clusters

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wv = WordVectors.load()
    say(f"{len(wv)} words x {wv.dim} dims loaded in {wv.load_summary.seconds:.2f} s")
    for a, b in [("cat", "dog"), ("cat", "car"), ("coffee", "tea"), ("king", "queen")]:
        say(f"  similarity({a}, {b}) = {wv.similarity(a, b):.3f}")
    say("  man is to king as woman is to: "
        + ", ".join(f"{w} ({s:.3f})" for w, s in wv.analogy("man", "king", "woman", top_k=5)))
    say("  paris is to france as tokyo is to: " + wv.analogy("paris", "france", "tokyo")[0][0])
    say("  odd one out of breakfast lunch dinner car: " + wv.odd_one_out(["breakfast", "lunch", "dinner", "car"])[0])
    words = [w for ws in DEMO_WORDS.values() for w in ws]
    cats = [c for c, ws in DEMO_WORDS.items() for _ in ws]
    res = wv.cluster(words, k=None if not quick else len(DEMO_WORDS), categories=cats)
    png = plot_clusters(res, out_dir / "word-clusters.png", title="GloVe 6B 50d: 40 words, 5 categories")
    say(f"  k-means on 40 words: k={res['k']}, purity {res['purity']:.2f}, adjusted Rand {res['adjusted_rand']:.2f}")
    say(f"  cluster map: {png}")
    return {"analogy_man_king_woman": wv.analogy("man", "king", "woman")[0][0], "clusters": res["k"],
            "purity": res["purity"], "adjusted_rand": res["adjusted_rand"], "reports": {"word cluster map": png}}
