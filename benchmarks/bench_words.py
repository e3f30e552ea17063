"""Word-embedding benchmark: transferlab.words side by side with gensim on the built-in GloVe 6B 50d.

    python benchmarks/bench_words.py [--json] [--queries 1000]

Our side runs in a child process first (so its peak RSS is not polluted by gensim), then gensim
runs on the same vectors in this process.  Reported: analogy accuracy (total and per section) on
gensim's questions-words.txt, Spearman on wordsim353.tsv and simlex999.txt, 1,000 top-10
``most_similar`` queries (identical lists?), timings, speedups and our peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _data_dir() -> Path:
    import importlib.util

    # locate gensim's files without importing it: our side's memory is measured without gensim loaded
    return Path(importlib.util.find_spec("gensim").submodule_search_locations[0]) / "test" / "test_data"


def _query_words(words: list[str], n: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(0)
    return [words[i] for i in sorted(rng.choice(100_000, size=n, replace=False))]


def ours(n_queries: int) -> dict:
    from transferlab.words import WordVectors, evaluate_analogies, evaluate_similarity

    data = _data_dir()
    t = time.perf_counter()
    wv = WordVectors.load()
    load_s = time.perf_counter() - t
    rss_after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    ana = evaluate_analogies(wv, data / "questions-words.txt")
    ana_s = time.perf_counter() - t
    ws = evaluate_similarity(wv, data / "wordsim353.tsv")
    sl = evaluate_similarity(wv, data / "simlex999.txt")
    queries = _query_words(wv.index_to_key, n_queries)
    t = time.perf_counter()
    lists = wv.neighbours(queries, topn=10)
    sim_s = time.perf_counter() - t
    return {
        "load_seconds": load_s, "rss_after_load_mb": rss_after_load,
        "analogy": {k: ana[k] for k in ("accuracy", "n_questions", "n_correct", "n_skipped", "sections")},
        "analogy_seconds": ana_s,
        "ws353": ws, "simlex": sl,
        "queries": queries, "similar_lists": [[w for w, _ in lst] for lst in lists],
        "similar_scores": [[s for _, s in lst] for lst in lists],
        "similar_seconds": sim_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def theirs(mine: dict, skip_analogies: bool) -> dict:
    import logging

    import numpy as np
    from gensim.models import KeyedVectors

    from transferlab.words import WordVectors

    logging.disable(logging.WARNING)
    np.seterr(all="ignore")  # GloVe 6B holds one all-zero vector: gensim divides 0 by 0 for it
    data = _data_dir()
    wv = WordVectors.load()
    kv = KeyedVectors(wv.dim)
    kv.add_vectors(wv.index_to_key, np.ascontiguousarray(wv.vectors, dtype=np.float32))
    out: dict = {}
    if not skip_analogies:
        t = time.perf_counter()
        score, sections = kv.evaluate_word_analogies(str(data / "questions-words.txt"))
        out["analogy_seconds"] = time.perf_counter() - t
        out["analogy_accuracy"] = score
        out["n_questions"] = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
        out["sections"] = {s["section"]: (len(s["correct"]) / (len(s["correct"]) + len(s["incorrect"]))
                                          if s["correct"] or s["incorrect"] else None) for s in sections[:-1]}
    for key, name in (("ws353", "wordsim353.tsv"), ("simlex", "simlex999.txt")):
        pearson, spearman, oov = kv.evaluate_word_pairs(str(data / name))
        out[key] = {"spearman": float(spearman[0]), "pearson": float(pearson[0]), "oov_ratio": oov / 100}
    t = time.perf_counter()
    lists = [kv.most_similar(w, topn=10) for w in mine["queries"]]
    out["similar_seconds"] = time.perf_counter() - t
    out["similar_lists"] = [[w for w, _ in lst] for lst in lists]
    out["similar_scores"] = [[s for _, s in lst] for lst in lists]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--queries", type=int, default=1000, help="number of most_similar queries (default 1000)")
    p.add_argument("--skip-gensim-analogies", action="store_true",
                   help="skip gensim's ~100 s analogy run (parity/speedup for analogies then null)")
    p.add_argument("--_ours", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a._ours:
        print(json.dumps(ours(a.queries)))
        return 0
    child = subprocess.run([sys.executable, __file__, "--_ours", "--queries", str(a.queries)],
                           capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if child.returncode != 0:
        print(child.stderr, file=sys.stderr)
        return 1
    mine = json.loads(child.stdout)
    ref = theirs(mine, a.skip_gensim_analogies)

    import numpy as np

    same_lists = sum(x == y for x, y in zip(mine["similar_lists"], ref["similar_lists"]))
    max_score_diff = max(float(np.max(np.abs(np.array(x) - np.array(y))))
                         for x, y in zip(mine["similar_scores"], ref["similar_scores"]) if len(x) == len(y))
    res = {
        "vectors": "glove-6b-50d (400000 x 50)",
        "load_seconds": round(mine["load_seconds"], 3),
        "analogy_accuracy": mine["analogy"]["accuracy"],
        "analogy_n_questions": mine["analogy"]["n_questions"],
        "analogy_n_skipped": mine["analogy"]["n_skipped"],
        "gensim_analogy_accuracy": ref.get("analogy_accuracy"),
        "gensim_analogy_n_questions": ref.get("n_questions"),
        "analogy_sections_identical": (mine["analogy"]["sections"] == ref["sections"]) if "sections" in ref else None,
        "analogy_seconds": round(mine["analogy_seconds"], 3),
        "gensim_analogy_seconds": round(ref["analogy_seconds"], 3) if "analogy_seconds" in ref else None,
        "analogy_speedup": (round(ref["analogy_seconds"] / mine["analogy_seconds"], 1)
                            if "analogy_seconds" in ref else None),
        "ws353_spearman": mine["ws353"]["spearman"],
        "gensim_ws353_spearman": ref["ws353"]["spearman"],
        "ws353_pearson": mine["ws353"]["pearson"],
        "gensim_ws353_pearson": ref["ws353"]["pearson"],
        "ws353_oov_ratio": mine["ws353"]["oov_ratio"],
        "simlex_spearman": mine["simlex"]["spearman"],
        "gensim_simlex_spearman": ref["simlex"]["spearman"],
        "similar_queries": a.queries,
        "similar_identical_lists": same_lists,
        "similar_max_score_diff": max_score_diff,
        "similar_seconds": round(mine["similar_seconds"], 3),
        "gensim_similar_seconds": round(ref["similar_seconds"], 3),
        "similar_speedup": round(ref["similar_seconds"] / mine["similar_seconds"], 1),
        "peak_rss_mb": round(mine["peak_rss_mb"], 1),
        "rss_after_load_mb": round(mine["rss_after_load_mb"], 1),
    }
    if a.json:
        print(json.dumps(res))
    else:
        for k, v in res.items():
            print(f"{k:32s} {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
