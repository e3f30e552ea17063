"""Sub-commands of this capability (see transferlab.cli): ``transferlab words ...``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from transferlab.errors import BadInputError

SUBCOMMANDS = ("similarity", "distances", "similar", "analogy", "odd-one-out", "neighbours", "cluster",
               "evaluate", "export", "export-projector", "info")


def register(subparsers) -> None:
    """Add this capability's sub-commands to the ``transferlab`` parser."""
    from transferlab.words.vectors import BUILTIN, FORMATS

    common = argparse.ArgumentParser(add_help=False)
    g = common.add_argument_group("vectors")
    g.add_argument("--vectors", default=BUILTIN, metavar="PATH",
                   help=f"vectors file, or {BUILTIN} (built-in, default)")
    g.add_argument("--format", default=None, choices=("auto",) + FORMATS,
                   help="file format (default: detected)")
    g.add_argument("--lenient", action="store_true",
                   help="skip malformed lines (counted and reported) instead of stopping at the first")
    g.add_argument("--restrict", type=int, default=None, metavar="N",
                   help="only the N most frequent words answer (evaluate: default 300000, as gensim; 0 = all)")
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")

    p = subparsers.add_parser("words", help="word-embedding space: similarity, analogies, clusters, benchmarks",
                              description="Query a word-embedding space (default: GloVe 6B 50d, built in).")
    sub = p.add_subparsers(dest="words_command", metavar="SUBCOMMAND")
    sub.required = True

    s = sub.add_parser("similarity", parents=[common], help="cosine similarity of two words")
    s.add_argument("a")
    s.add_argument("b")
    s.set_defaults(func=cmd_similarity)

    s = sub.add_parser("distances", parents=[common],
                       help="distance matrix among words, and each word's nearest within the list")
    s.add_argument("words", nargs="+")
    s.add_argument("--metric", choices=("cosine", "euclidean"), default="cosine")
    s.set_defaults(func=cmd_distances)

    s = sub.add_parser("similar", parents=[common], help="nearest words to a word (or to a vector)")
    s.add_argument("word", nargs="?")
    s.add_argument("--vector", help="comma-separated values instead of a word")
    s.add_argument("-n", "--topn", type=int, default=10)
    s.set_defaults(func=cmd_similar)

    s = sub.add_parser("analogy", parents=[common], help="A is to B as C is to ? (query words never answer)")
    s.add_argument("a")
    s.add_argument("b")
    s.add_argument("c")
    s.add_argument("-n", "--topn", type=int, default=5)
    s.add_argument("--method", choices=("add", "cosmul"), default="add", help="3CosAdd (default) or 3CosMul")
    s.set_defaults(func=cmd_analogy)

    s = sub.add_parser("odd-one-out", parents=[common], help="the word that fits least with the others")
    s.add_argument("words", nargs="+")
    s.set_defaults(func=cmd_odd)

    s = sub.add_parser("neighbours", parents=[common], help="nearest words for many words in one batch")
    s.add_argument("words", nargs="*")
    s.add_argument("--file", help="more words, one per line")
    s.add_argument("-n", "--topn", type=int, default=10)
    s.set_defaults(func=cmd_neighbours)

    s = sub.add_parser("cluster", parents=[common],
                       help="cluster words (arguments, a file of word[,category] lines, or the top N)")
    s.add_argument("words", nargs="*")
    s.add_argument("--file", help="one 'word' or 'word,category' per line")
    s.add_argument("--top", type=int, help="cluster the N most frequent words instead")
    s.add_argument("-k", type=int, help="number of clusters (default: chosen by silhouette in 2..12)")
    s.add_argument("--method", choices=("kmeans", "agglomerative"), default="kmeans")
    s.add_argument("--projection", choices=("pca", "tsne"), default="pca")
    s.add_argument("--out", default="word-clusters.png", help="PNG map (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_cluster)

    s = sub.add_parser("evaluate", parents=[common], help="analogy accuracy and/or word-pair similarity correlation")
    s.add_argument("--analogies", metavar="FILE", help="questions-words format (': section' then 'a b c d')")
    s.add_argument("--similarity", metavar="FILE", help="'word1 word2 score' lines (tab/space/comma; # comments)")
    s.add_argument("--case-sensitive", action="store_true", help="match words exactly (default: ignore case)")
    s.add_argument("--method", choices=("add", "cosmul"), default="add")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("export", parents=[common], help="write the vectors in word2vec text format")
    s.add_argument("out")
    s.add_argument("--no-header", action="store_true", help="GloVe style: no 'COUNT DIMENSIONS' line")
    s.add_argument("--limit", type=int, help="only the N most frequent words")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("export-projector", parents=[common],
                       help="vectors.tsv + metadata.tsv for the TensorBoard embedding projector")
    s.add_argument("out_dir")
    s.add_argument("--limit", type=int, default=10000, help="the N most frequent words (default: %(default)s)")
    s.add_argument("--file", help="export these words instead ('word' or 'word,category' lines)")
    s.set_defaults(func=cmd_projector)

    s = sub.add_parser("info", parents=[common], help="size, dimensions, load report of the vectors")
    s.set_defaults(func=cmd_info)


# ---------------------------------------------------------------------------- helpers
def _load(args):
    from transferlab.words.vectors import WordVectors

    wv = WordVectors.load(args.vectors, args.format, args.lenient)
    for w in wv.report.warnings():
        print(f"transferlab words: warning: {args.vectors}: {w}", file=sys.stderr)
    return wv


def _restrict(args):
    if args.restrict is not None and args.restrict < 0:
        raise BadInputError("--restrict must be >= 0")
    return args.restrict or None


def _topn(n):
    if n < 1:
        raise BadInputError("-n/--topn must be at least 1")
    return n


def _emit(args, obj: dict, text: str) -> int:
    if args.json:
        print(json.dumps(obj, default=_default))
    else:
        print(text)
    return 0


def _default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (np.ndarray,)):
        return o.tolist()
    return str(o)


def _table(rows, headers) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _ranked(pairs) -> str:
    return _table([(i + 1, w, f"{s:.4f}") for i, (w, s) in enumerate(pairs)], ["#", "word", "cosine"])


def _read_words(path) -> list[str]:
    from transferlab.words.cluster import read_word_list

    return read_word_list(path)[0]


# ---------------------------------------------------------------------------- commands
def cmd_similarity(args) -> int:
    wv = _load(args)
    sim = wv.similarity(args.a, args.b)
    return _emit(args, {"a": args.a, "b": args.b, "cosine_similarity": sim, "cosine_distance": 1 - sim},
                 f"similarity({args.a}, {args.b}) = {sim:.4f}")


def cmd_distances(args) -> int:
    wv = _load(args)
    words = list(dict.fromkeys(args.words))
    if len(words) < 2:
        raise BadInputError("distances needs at least two different words")
    d = wv.distances(words, args.metric)
    nearest = wv.nearest_within(words, args.metric)
    rows = [[w] + [f"{x:.4f}" for x in r] for w, r in zip(words, d)]
    text = (f"{args.metric} distances\n" + _table(rows, [""] + words) + "\n\nnearest within the list\n"
            + _table([(w, n, f"{x:.4f}") for w, n, x in nearest], ["word", "nearest", "distance"]))
    return _emit(args, {"metric": args.metric, "words": words, "matrix": d.tolist(),
                        "nearest": [{"word": w, "nearest": n, "distance": x} for w, n, x in nearest]}, text)


def cmd_similar(args) -> int:
    import numpy as np

    if (args.word is None) == (args.vector is None):
        raise BadInputError("give either a WORD or --vector v1,v2,...")
    wv = _load(args)
    if args.vector is not None:
        try:
            query = np.array([float(x) for x in args.vector.replace(",", " ").split()], dtype=np.float32)
        except ValueError:
            raise BadInputError("--vector must be numbers separated by commas") from None
        label = "the given vector"
    else:
        query, label = args.word, args.word
    pairs = wv.most_similar(query, _topn(args.topn), _restrict(args))
    return _emit(args, {"query": label, "similar": [{"word": w, "cosine": s} for w, s in pairs]},
                 f"most similar to {label}\n" + _ranked(pairs))


def cmd_analogy(args) -> int:
    wv = _load(args)
    pairs = wv.analogy(args.a, args.b, args.c, _topn(args.topn), args.method, _restrict(args))
    head = f"{args.a} is to {args.b} as {args.c} is to ... ({'3CosAdd' if args.method == 'add' else '3CosMul'})"
    return _emit(args, {"a": args.a, "b": args.b, "c": args.c, "method": args.method,
                        "answers": [{"word": w, "score": s} for w, s in pairs]}, head + "\n" + _ranked(pairs))


def cmd_odd(args) -> int:
    wv = _load(args)
    odd, ranked = wv.odd_one_out(args.words)
    text = f"odd one out: {odd}\n" + _table([(w, f"{s:.4f}") for w, s in ranked], ["word", "cosine to the mean"])
    return _emit(args, {"odd_one_out": odd, "similarity_to_mean": dict(ranked)}, text)


def cmd_neighbours(args) -> int:
    words = list(args.words) + (_read_words(args.file) if args.file else [])
    if not words:
        raise BadInputError("give words as arguments or with --file")
    wv = _load(args)
    lists = wv.neighbours(words, _topn(args.topn), _restrict(args))
    text = "\n".join(f"{w}: " + ", ".join(f"{x} ({s:.3f})" for x, s in lst) for w, lst in zip(words, lists))
    return _emit(args, {"neighbours": {w: [{"word": x, "cosine": s} for x, s in lst]
                                       for w, lst in zip(words, lists)}}, text)


def cmd_cluster(args) -> int:
    from transferlab.words.cluster import cluster_words, plot_clusters, read_word_list

    cats = None
    words = list(args.words)
    if args.file:
        fw, cats = read_word_list(args.file)
        if words:
            raise BadInputError("give words either as arguments or with --file, not both")
        words = fw
    if args.top:
        if words:
            raise BadInputError("--top clusters the most frequent words: give no other words")
        if args.top < 3:
            raise BadInputError("--top must be at least 3")
    elif not words:
        raise BadInputError("give words as arguments, with --file, or --top N")
    wv = _load(args)
    if args.top:
        words = wv.index_to_key[:args.top]
    if cats is not None:  # de-duplicate words, keeping each one's first category
        first = {}
        for w, c in zip(words, cats):
            first.setdefault(w, c)
        words, cats = list(first), list(first.values())
    res = cluster_words(wv, words, args.k, args.method, args.projection, cats, seed=args.seed)
    png = plot_clusters(res, Path(args.out), title=f"{len(res['words'])} words from {args.vectors}")
    res["png"] = str(png)
    lines = [f"{res['method']}: k={res['k']}" + (f", silhouette {res['silhouette']:.3f}" if res["silhouette"] is not None else "")
             + (" (k chosen by silhouette)" if res["silhouette_by_k"] else "")]
    for i, c in enumerate(res["clusters"]):
        lines.append(f"  cluster {i + 1} ({len(c)}): {', '.join(c)}")
    if cats is not None:
        lines.append(f"purity {res['purity']:.3f}, adjusted Rand index {res['adjusted_rand']:.3f}")
    lines.append(f"map: {png}")
    res.pop("coords")
    return _emit(args, res, "\n".join(lines))


def cmd_evaluate(args) -> int:
    from transferlab.words.evaluate import DEFAULT_RESTRICT, evaluate_analogies, evaluate_similarity

    if not args.analogies and not args.similarity:
        raise BadInputError("give --analogies FILE and/or --similarity FILE")
    restrict = DEFAULT_RESTRICT if args.restrict is None else _restrict(args)
    wv = _load(args)
    out, text = {}, []
    if args.analogies:
        r = evaluate_analogies(wv, args.analogies, restrict, not args.case_sensitive, args.method)
        out["analogies"] = r
        rows = [(s["section"], f"{s['correct'] / s['total']:.4f}" if s["total"] else "-", s["total"], s["skipped"])
                for s in r["section_details"]]
        text.append(_table(rows, ["section", "accuracy", "questions", "skipped (OOV)"]))
        text.append(f"total accuracy {r['accuracy']:.4f} ({r['n_correct']}/{r['n_questions']}); "
                    f"{r['n_skipped']} skipped as out-of-vocabulary ({100 * r['oov_ratio']:.1f}%)")
    if args.similarity:
        r = evaluate_similarity(wv, args.similarity, restrict, not args.case_sensitive)
        out["similarity"] = r
        text.append(f"{r['file']}: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f}, "
                    f"{r['n_pairs']} pairs, {r['n_oov']} out-of-vocabulary ({100 * r['oov_ratio']:.1f}%)")
    if len(out) == 1:  # one benchmark: its keys at the top level of the JSON object
        out = next(iter(out.values()))
    return _emit(args, out, "\n".join(text))


def cmd_export(args) -> int:
    wv = _load(args)
    path = wv.save_word2vec(args.out, header=not args.no_header, limit=args.limit)
    n = min(args.limit or len(wv), len(wv))
    return _emit(args, {"path": str(path), "n_words": n, "dim": wv.dim, "header": not args.no_header},
                 f"wrote {n} x {wv.dim} vectors to {path}")


def cmd_projector(args) -> int:
    from transferlab.words.cluster import read_word_list

    words = labels = None
    if args.file:
        words, cats = read_word_list(args.file)
        labels = dict(zip(words, cats)) if cats else None
    wv = _load(args)
    v, m = wv.save_projector(args.out_dir, args.limit, words, labels)
    n = len(words) if words else min(args.limit or len(wv), len(wv))
    return _emit(args, {"vectors_tsv": str(v), "metadata_tsv": str(m), "n_words": n},
                 f"wrote {v} and {m} ({n} words); load them at https://projector.tensorflow.org")


def cmd_info(args) -> int:
    wv = _load(args)
    rep = wv.report.as_dict()
    text = (f"{rep['source']} ({rep['format']}): {len(wv)} words x {wv.dim} dimensions, loaded in "
            f"{rep['seconds']:.2f} s\nmost frequent: {', '.join(wv.index_to_key[:10])}")
    for w in wv.report.warnings():
        text += f"\nwarning: {w}"
    return _emit(args, {**rep, "first_words": wv.index_to_key[:10], "warnings": wv.report.warnings()}, text)
