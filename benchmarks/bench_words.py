"""Word-embedding benchmark: transferlab.words side by side with gensim on the built-in GloVe 6B 50d.

    python benchmarks/bench_words.py [--json] [--queries 1000] [--rounds 2]

Results and memory: our side runs alone in a child process first (load, analogies, similarity
benchmarks, queries), so its peak RSS (``peak_rss_mb``) is not polluted by gensim; its answers are
compared with gensim's.  Reported: analogy accuracy (total and per section) on gensim's
questions-words.txt, Spearman on wordsim353.tsv and simlex999.txt, 1,000 top-10 ``most_similar``
queries (identical lists?), timings, speedups and our peak RSS.

Timings: both sides are then timed in this one process, on the same vectors, in alternating rounds
(``--rounds``, default 2): each round times our ``evaluate_analogies`` and gensim's
``evaluate_word_analogies``, then our batched ``neighbours`` and gensim's ``most_similar`` in a loop,
the side that goes first alternating from round to round.  Each side's figure is its best round;
a speedup is gensim's best over ours, so both met the machine in the same state (a busy machine
slows both sides of a round alike; ``*_round_speedups`` lists the per-round ratios).
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


def theirs(mine: dict, skip_analogies: bool, rounds: int) -> dict:
    """gensim's answers, and the timings of both sides in alternating rounds (see the docstring)."""
    import logging

    import numpy as np
    from gensim.models import KeyedVectors

    from transferlab.words import WordVectors, evaluate_analogies

    logging.disable(logging.WARNING)
    np.seterr(all="ignore")  # GloVe 6B holds one all-zero vector: gensim divides 0 by 0 for it
    data = _data_dir()
    questions = data / "questions-words.txt"
    wv = WordVectors.load()
    kv = KeyedVectors(wv.dim)
    kv.add_vectors(wv.index_to_key, np.ascontiguousarray(wv.vectors, dtype=np.float32))
    out: dict = {}

    def timed(fn):
        t = time.perf_counter()
        res = fn()
        return time.perf_counter() - t, res

    jobs = {"similar": (lambda: wv.neighbours(mine["queries"], topn=10),
                        lambda: [kv.most_similar(w, topn=10) for w in mine["queries"]])}
    if not skip_analogies:
        jobs = {"analogy": (lambda: evaluate_analogies(wv, questions),
                            lambda: kv.evaluate_word_analogies(str(questions))), **jobs}
    times: dict = {name: {"ours": [], "gensim": []} for name in jobs}
    results: dict = {}
    for r in range(max(1, rounds)):
        for name, (our_fn, their_fn) in jobs.items():
            order = (("ours", our_fn), ("gensim", their_fn))
            for side, fn in (order if r % 2 == 0 else order[::-1]):
                dt, res = timed(fn)
                times[name][side].append(dt)
                results.setdefault((name, side), res)
    for name, t in times.items():
        out[f"{name}_seconds"] = min(t["gensim"])
        out[f"our_{name}_seconds"] = min(t["ours"])
        out[f"{name}_round_speedups"] = [round(g / o, 1) for o, g in zip(t["ours"], t["gensim"])]
    if not skip_analogies:
        score, sections = results[("analogy", "gensim")]
        out["analogy_accuracy"] = score
        out["n_questions"] = len(sections[-1]["correct"]) + len(sections[-1]["incorrect"])
        out["sections"] = {s["section"]: (len(s["correct"]) / (len(s["correct"]) + len(s["incorrect"]))
                                          if s["correct"] or s["incorrect"] else None) for s in sections[:-1]}
    for key, name in (("ws353", "wordsim353.tsv"), ("simlex", "simlex999.txt")):
        pearson, spearman, oov = kv.evaluate_word_pairs(str(data / name))
        out[key] = {"spearman": float(spearman[0]), "pearson": float(pearson[0]), "oov_ratio": oov / 100}
    lists = results[("similar", "gensim")]
    out["similar_lists"] = [[w for w, _ in lst] for lst in lists]
    out["similar_scores"] = [[s for _, s in lst] for lst in lists]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--queries", type=int, default=1000, help="number of most_similar queries (default 1000)")
    p.add_argument("--rounds", type=int, default=2,
                   help="alternating timing rounds, best of each side (default 2; each costs gensim ~100 s)")
    p.add_argument("--skip-gensim-analogies", action="store_true",
                   help="skip gensim's ~100 s analogy runs (parity/speedup for analogies then null)")
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
    ref = theirs(mine, a.skip_gensim_analogies, a.rounds)

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
        "analogy_seconds": round(ref["our_analogy_seconds"], 3) if "analogy_seconds" in ref else None,
        "gensim_analogy_seconds": round(ref["analogy_seconds"], 3) if "analogy_seconds" in ref else None,
        "analogy_speedup": (round(ref["analogy_seconds"] / ref["our_analogy_seconds"], 1)
                            if "analogy_seconds" in ref else None),
        "analogy_round_speedups": ref.get("analogy_round_speedups"),
        "child_analogy_seconds": round(mine["analogy_seconds"], 3),
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
        "similar_seconds": round(ref["our_similar_seconds"], 3),
        "gensim_similar_seconds": round(ref["similar_seconds"], 3),
        "similar_speedup": round(ref["similar_seconds"] / ref["our_similar_seconds"], 1),
        "similar_round_speedups": ref["similar_round_speedups"],
        "child_similar_seconds": round(mine["similar_seconds"], 3),
        "timing_rounds": max(1, a.rounds),
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
