"""``transferlab words SUBCOMMAND``: thin doors from the command line onto ``transferlab.words``.

Every sub-command's parser is built from its config (``words/config.py``); a handler reads the
config from the arguments, calls the library and prints a table or, with ``--json``, exactly one
JSON object.  The sub-commands that write files (``cluster``, ``export``, ``export-projector``)
write a run folder (``transferlab.runs.RunFolder``: lock, ``run.json``, refusal of another run
unless ``--overwrite``).
"""
from __future__ import annotations

import argparse
import json
import sys

from transferlab.cli_args import add_config_arguments, add_subcommands, config_from_args
from transferlab.words import config as cfgs

DESCRIPTION = ("Query a word-embedding space (default: GloVe 6B 50d, built in, offline): similarities, "
               "distances, nearest words, analogies, odd-one-out, clusters with a 2-D map, the standard "
               "benchmarks, exports.")


# ---------------------------------------------------------------------------- output
def _warn(args, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(f"transferlab words {args.words_command}: warning: {text}", file=sys.stderr)


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


def _load(cfg, args):
    from transferlab.words.vectors import WordVectors

    wv = WordVectors.load(cfg.vectors, cfg.format, cfg.lenient)
    for w in wv.load_summary.warnings():
        _warn(args, f"{cfg.vectors}: {w}")
    return wv


# ---------------------------------------------------------------------------- commands
def cmd_similarity(args) -> int:
    cfg = config_from_args(cfgs.SimilarityConfig, args)
    wv = _load(cfg, args)
    sim = wv.similarity(cfg.a, cfg.b)
    return _emit(args, {"a": cfg.a, "b": cfg.b, "cosine_similarity": sim, "cosine_distance": 1 - sim},
                 f"similarity({cfg.a}, {cfg.b}) = {sim:.4f}")


def cmd_distances(args) -> int:
    cfg = config_from_args(cfgs.DistancesConfig, args)
    wv = _load(cfg, args)
    words = list(dict.fromkeys(cfg.words))
    d = wv.distances(words, cfg.metric)
    nearest = wv.nearest_within(words, cfg.metric)
    rows = [[w] + [f"{x:.4f}" for x in r] for w, r in zip(words, d)]
    text = (f"{cfg.metric} distances\n" + _table(rows, [""] + words) + "\n\nnearest within the list\n"
            + _table([(w, n, f"{x:.4f}") for w, n, x in nearest], ["word", "nearest", "distance"]))
    return _emit(args, {"metric": cfg.metric, "words": words, "matrix": d.tolist(),
                        "nearest": [{"word": w, "nearest": n, "distance": x} for w, n, x in nearest]}, text)


def cmd_similar(args) -> int:
    import numpy as np

    cfg = config_from_args(cfgs.SimilarConfig, args)
    wv = _load(cfg, args)
    if cfg.vector is not None:
        query, label = np.array(cfg.vector, dtype=np.float32), "the given vector"
    else:
        query, label = cfg.word, cfg.word
    pairs = wv.most_similar(query, cfg.top_k, cfg.restrict)
    return _emit(args, {"query": label, "similar": [{"word": w, "cosine": s} for w, s in pairs]},
                 f"most similar to {label}\n" + _ranked(pairs))


def cmd_analogy(args) -> int:
    cfg = config_from_args(cfgs.AnalogyConfig, args)
    wv = _load(cfg, args)
    pairs = wv.analogy(cfg.a, cfg.b, cfg.c, cfg.top_k, cfg.method, cfg.restrict)
    head = f"{cfg.a} is to {cfg.b} as {cfg.c} is to ... ({'3CosAdd' if cfg.method == 'add' else '3CosMul'})"
    return _emit(args, {"a": cfg.a, "b": cfg.b, "c": cfg.c, "method": cfg.method,
                        "answers": [{"word": w, "score": s} for w, s in pairs]}, head + "\n" + _ranked(pairs))


def cmd_odd(args) -> int:
    cfg = config_from_args(cfgs.OddOneOutConfig, args)
    wv = _load(cfg, args)
    odd, ranked = wv.odd_one_out(cfg.words)
    text = f"odd one out: {odd}\n" + _table([(w, f"{s:.4f}") for w, s in ranked], ["word", "cosine to the mean"])
    return _emit(args, {"odd_one_out": odd, "similarity_to_mean": dict(ranked)}, text)


def cmd_neighbours(args) -> int:
    from transferlab.words.cluster import read_word_list

    cfg = config_from_args(cfgs.NeighboursConfig, args)
    words = list(cfg.words) + (read_word_list(cfg.file)[0] if cfg.file else [])
    wv = _load(cfg, args)
    lists = wv.neighbours(words, cfg.top_k, cfg.restrict)
    text = "\n".join(f"{w}: " + ", ".join(f"{x} ({s:.3f})" for x, s in lst) for w, lst in zip(words, lists))
    return _emit(args, {"neighbours": {w: [{"word": x, "cosine": s} for x, s in lst]
                                       for w, lst in zip(words, lists)}}, text)


def _cluster_words(cfg, args):
    """(vectors, words, categories or None) of a config with ``ClusterWords``: arguments, a file, or the
    most frequent words; a file's repeated words keep their first category."""
    from transferlab.words.cluster import read_word_list

    words, cats = list(cfg.words), None
    if cfg.file:
        words, cats = read_word_list(cfg.file)
    wv = _load(cfg, args)
    if cfg.most_frequent:
        words = wv.index_to_key[:cfg.most_frequent]
    if cats is not None:
        first: dict[str, str] = {}
        for w, c in zip(words, cats):
            first.setdefault(w, c)
        words, cats = list(first), list(first.values())
    return wv, words, cats


def cmd_cluster(args) -> int:
    from transferlab.io import write_json
    from transferlab.runs import RunFolder
    from transferlab.words.cluster import plot_clusters

    cfg = config_from_args(cfgs.ClusterConfig, args)
    wv, words, cats = _cluster_words(cfg, args)
    res = wv.cluster(words, cfg.k, cfg.method, cfg.projection, cats, seed=cfg.seed)
    with RunFolder(cfg.out, "words cluster", cfg, overwrite=cfg.overwrite) as run:
        png = plot_clusters(res, run.path / cfgs.CLUSTER_PNG, title=f"{len(res['words'])} words from {cfg.vectors}")
        result = write_json(run.path / cfgs.CLUSTER_JSON, res)
        run.summary = {k: res.get(k) for k in ("k", "silhouette", "purity", "adjusted_rand")}
        run.summary["n_words"] = len(res["words"])
    head = f"{res['method']}: k={res['k']}"
    if res["silhouette"] is not None:
        head += f", silhouette {res['silhouette']:.3f}"
    lines = [head + (" (k chosen by silhouette)" if res["silhouette_by_k"] else "")]
    for i, c in enumerate(res["clusters"]):
        lines.append(f"  cluster {i + 1} ({len(c)}): {', '.join(c)}")
    if cats is not None:
        lines.append(f"purity {res['purity']:.3f}, adjusted Rand index {res['adjusted_rand']:.3f}")
    lines.append(f"map: {png}   result: {result}")
    out = {k: v for k, v in res.items() if k != "coords"}
    out.update(out=str(run.path), png=str(png), json=str(result))
    return _emit(args, out, "\n".join(lines))


def cmd_report(args) -> int:
    from transferlab import io as tio
    from transferlab.words import report as page
    from transferlab.runs import RunFolder

    cfg = config_from_args(cfgs.WordsReportConfig, args)
    wv, words, cats = _cluster_words(cfg, args)
    data = page.compute(wv, words, cats, queries=cfg.query, analogies=cfg.analogy, k=cfg.k, method=cfg.method,
                        projection=cfg.projection, seed=cfg.seed, top_k=cfg.top_k, restrict=cfg.restrict,
                        source=cfg.vectors)
    with RunFolder(cfg.out, "words report", cfg, overwrite=cfg.overwrite) as run:
        tio.write_json(run.path / cfgs.REPORT_JSON, data)
        html = tio.write_text(run.path / "report.html", page.render_page(data, f"Word space: {run.path.name}"))
        res = data["cluster"]
        run.summary = {"n_words": len(res["words"]), "k": res["k"], "silhouette": res["silhouette"],
                       "purity": res.get("purity"), "queries": len(data["neighbours"]),
                       "analogies": len(data["analogies"])}
    lines = [f"{len(res['words'])} words in {res['k']} clusters; {len(data['neighbours'])} query word(s), "
             f"{len(data['analogies'])} analogy(ies)"]
    lines += [f"  {a['a']} : {a['b']} :: {a['c']} : {a['answers'][0][0] if a['answers'] else '?'}"
              for a in data["analogies"]]
    lines.append(f"report: {html}")
    return _emit(args, {"out": str(run.path), "html": str(html), "json": str(run.path / cfgs.REPORT_JSON),
                        **run.summary}, "\n".join(lines))


def cmd_evaluate(args) -> int:
    cfg = config_from_args(cfgs.EvaluateConfig, args)
    wv = _load(cfg, args)
    out, text = {}, []
    if cfg.analogies:
        r = wv.evaluate_analogies(cfg.analogies, cfg.restrict or None, not cfg.case_sensitive, cfg.method)
        out["analogies"] = r
        rows = [(s["section"], f"{s['correct'] / s['total']:.4f}" if s["total"] else "-", s["total"], s["skipped"])
                for s in r["section_details"]]
        text.append(_table(rows, ["section", "accuracy", "questions", "skipped (OOV)"]))
        text.append(f"total accuracy {r['accuracy']:.4f} ({r['n_correct']}/{r['n_questions']}); "
                    f"{r['n_skipped']} skipped as out-of-vocabulary ({100 * r['oov_ratio']:.1f}%)")
    if cfg.similarity:
        r = wv.evaluate_similarity(cfg.similarity, cfg.restrict or None, not cfg.case_sensitive)
        out["similarity"] = r
        text.append(f"{r['file']}: Spearman {r['spearman']:.4f}, Pearson {r['pearson']:.4f}, "
                    f"{r['n_pairs']} pairs, {r['n_oov']} out-of-vocabulary ({100 * r['oov_ratio']:.1f}%)")
    if len(out) == 1:  # one benchmark: its keys at the top level of the JSON object
        out = next(iter(out.values()))
    return _emit(args, out, "\n".join(text))


def cmd_export(args) -> int:
    from transferlab.runs import RunFolder

    cfg = config_from_args(cfgs.ExportConfig, args)
    wv = _load(cfg, args)
    n = min(cfg.limit or len(wv), len(wv))
    out = {"n_words": n, "dim": wv.dim, "header": cfg.header}
    with RunFolder(cfg.out, "words export", cfg, overwrite=cfg.overwrite) as run:
        path = wv.save_word2vec(run.path / cfgs.EXPORT_TXT, header=cfg.header, limit=cfg.limit)
        run.summary = dict(out)
    out["out"] = str(run.path)
    return _emit(args, {"path": str(path), **out}, f"wrote {n} x {wv.dim} vectors to {path}")


def cmd_projector(args) -> int:
    from transferlab.runs import RunFolder
    from transferlab.words.cluster import read_word_list

    cfg = config_from_args(cfgs.ExportProjectorConfig, args)
    words = labels = None
    if cfg.file:
        words, cats = read_word_list(cfg.file)
        labels = dict(zip(words, cats)) if cats else None
    wv = _load(cfg, args)
    n = len(words) if words else min(cfg.limit or len(wv), len(wv))
    out = {"n_words": n}
    with RunFolder(cfg.out, "words export-projector", cfg, overwrite=cfg.overwrite) as run:
        v, m = wv.save_projector(run.path, cfg.limit, words, labels)
        run.summary = dict(out)
    out["out"] = str(run.path)
    return _emit(args, {"vectors_tsv": str(v), "metadata_tsv": str(m), **out},
                 f"wrote {v} and {m} ({n} words); load them at https://projector.tensorflow.org")


def cmd_info(args) -> int:
    cfg = config_from_args(cfgs.InfoConfig, args)
    wv = _load(cfg, args)
    rep = wv.load_summary.as_dict()
    text = (f"{rep['source']} ({rep['format']}): {len(wv)} words x {wv.dim} dimensions, loaded in "
            f"{rep['seconds']:.2f} s\nmost frequent: {', '.join(wv.index_to_key[:10])}")
    for w in wv.load_summary.warnings():
        text += f"\nwarning: {w}"
    return _emit(args, {**rep, "first_words": wv.index_to_key[:10], "warnings": wv.load_summary.warnings()}, text)


# ---------------------------------------------------------------------------- parsers
# name -> (handler, one-line help, examples)
SUBCOMMANDS: dict[str, tuple] = {
    "similarity": (cmd_similarity, "cosine similarity of two words",
                   ["transferlab words similarity cat dog",
                    "transferlab words similarity cat dog --vectors wiki.en.vec --json"]),
    "distances": (cmd_distances, "distance matrix among words, and each word's nearest within the list",
                  ["transferlab words distances cat dog car truck",
                   "transferlab words distances cat dog car truck --metric euclidean --json"]),
    "similar": (cmd_similar, "nearest words to a word (or to a vector)",
                ["transferlab words similar frog --top-k 5",
                 "transferlab words similar frog --restrict 50000 --json"]),
    "analogy": (cmd_analogy, "A is to B as C is to ? (query words never answer)",
                ["transferlab words analogy man king woman          # man : king :: woman : ?  -> queen",
                 "transferlab words analogy paris france tokyo --method cosmul --top-k 3"]),
    "odd-one-out": (cmd_odd, "the word that fits least with the others",
                    ["transferlab words odd-one-out breakfast lunch dinner car"]),
    "neighbours": (cmd_neighbours, "nearest words for many words in one batch",
                   ["transferlab words neighbours paris london tokyo --top-k 5",
                    "transferlab words neighbours --file words.txt --restrict 50000 --json"]),
    "cluster": (cmd_cluster, "cluster words (arguments, a file of word[,category] lines, or the most frequent "
                             "words) and map them in 2-D",
                ["transferlab words cluster --file words.csv --out runs/clusters   # word[,category] lines",
                 "transferlab words cluster --most-frequent 200 -k 8 --projection tsne --out runs/top200"]),
    "report": (cmd_report, "one self-contained report.html: the cluster map, the clusters, the nearest words of "
                           "query words and analogy answers",
               ["transferlab words report --file words.csv --query frog paris --analogy man:king:woman --out runs/wr",
                "transferlab words report --most-frequent 100 -k 8 --out runs/top100-report"]),
    "evaluate": (cmd_evaluate, "analogy accuracy and/or word-pair similarity correlation (as gensim computes them)",
                 ["transferlab words evaluate --analogies questions-words.txt --json",
                  "transferlab words evaluate --similarity wordsim353.tsv --restrict 0"]),
    "export": (cmd_export, "write the vectors in word2vec text format (a run folder with vectors.txt)",
               ["transferlab words export --out runs/glove-text --limit 50000",
                "transferlab words export --out runs/glove-plain --no-header --overwrite"]),
    "export-projector": (cmd_projector, "vectors.tsv + metadata.tsv for the TensorBoard embedding projector",
                         ["transferlab words export-projector --out runs/projector --limit 5000",
                          "transferlab words export-projector --file words.csv --out runs/projector-words"]),
    "info": (cmd_info, "size, dimensions, load report of the vectors",
             ["transferlab words info", "transferlab words info --vectors wiki.en.vec --json"]),
}


def fill(parser: argparse.ArgumentParser) -> None:
    """Fill the ``words`` parser: one sub-parser per sub-command, built from its config."""
    parser.description = DESCRIPTION
    parser.epilog = ("examples:\n  transferlab words analogy man king woman\n"
                     "  transferlab words SUBCOMMAND --help")
    add_subcommands(parser, "words_command", SUBCOMMANDS, _add_options,
                    "print exactly one JSON object on stdout; warnings go to stderr (default: text)")


def _add_options(parser: argparse.ArgumentParser, name: str) -> None:
    cls = cfgs.CONFIGS[name]
    shared = cfgs.SearchOptions.model_fields  # the vectors group last
    add_config_arguments(parser, cls, only=[f for f in cls.model_fields if f not in shared]
                         + [f for f in cls.model_fields if f in shared])


PARSERS = {"words": fill}
