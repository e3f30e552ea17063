"""The word-space report (``transferlab words report``): the cluster map (inline SVG), the clusters as a
table, the nearest words of query words and the answers of analogies, in one self-contained page.

What the page shows is kept beside it (``words-report.json``), so ``transferlab report DIR`` redraws it
without the vectors; a ``words cluster`` folder (``clusters.json``) gets the map and the table.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from transferlab.errors import DataError
from transferlab import page
from transferlab.words.config import CLUSTER_JSON, REPORT_JSON

if TYPE_CHECKING:
    from transferlab.words.vectors import WordVectors

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
           "#756bb1", "#636363")
N_DEFAULT_QUERIES = 6


def compute(wv: WordVectors, words: Sequence[str], categories: Sequence[str] | None = None, *, queries: Sequence[str] = (),
            analogies: Sequence[str] = (), k: int | None = None, method: str = "kmeans", projection: str = "pca",
            seed: int = 0, top_k: int = 8, restrict: int | None = None, source: str = "") -> dict:
    """Everything the page shows: the clustering, the neighbours of ``queries`` (default: the first 6 words)
    and the answers of ``analogies`` (``"a:b:c"``)."""
    res = wv.cluster(words, k, method, projection, categories, seed=seed)
    queries = list(queries) or res["words"][:N_DEFAULT_QUERIES]
    triples = [tuple(w.strip() for w in a.split(":") if w.strip()) for a in analogies]
    neighbours = wv.neighbours(queries, top_k, restrict)
    answers = wv.analogies(triples, top_k=min(top_k, 5), restrict=restrict) if triples else []
    return {"vectors": source, "n_vocabulary": len(wv), "dim": wv.dim, "cluster": res,
            "neighbours": [{"word": q, "nearest": [[w, s] for w, s in lst]} for q, lst in zip(queries, neighbours)],
            "analogies": [{"a": t[0], "b": t[1], "c": t[2], "answers": [[w, s] for w, s in ans]}
                          for t, ans in zip(triples, answers)]}


def cluster_map(res: dict, width: int = 900, height: int = 560) -> str:
    """The 2-D map as inline SVG: one colour per cluster, every word labelled (its cluster on hover)."""
    xy = res["coords"]
    xs, ys = [p[0] for p in xy], [p[1] for p in xy]
    pad = 40
    sx = (width - 2 * pad) / ((max(xs) - min(xs)) or 1.0)
    sy = (height - 2 * pad) / ((max(ys) - min(ys)) or 1.0)
    font = 11 if len(xy) <= 100 else 8 if len(xy) <= 300 else 6
    marks = []
    for (x, y), w, c in zip(xy, res["words"], res["labels"]):
        px, py = pad + (x - min(xs)) * sx, height - pad - (y - min(ys)) * sy
        col = PALETTE[c % len(PALETTE)]
        marks.append(f"<g><title>{page.esc(w)}: cluster {c + 1}</title><circle cx='{px:.1f}' cy='{py:.1f}' r='4' "
                     f"fill='{col}'/><text x='{px + 5:.1f}' y='{py - 4:.1f}' font-size='{font}'>{page.esc(w)}</text></g>")
    return (f"<svg id='cluster-map' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' "
            f"width='100%' style='max-width:{width}px;border:1px solid #ddd;font-family:sans-serif'>"
            + "".join(marks) + "</svg>")


def render_page(data: dict, title: str) -> str:
    res = data["cluster"]
    head = [("words", len(res["words"])), ("clusters", res["k"]), ("silhouette", res.get("silhouette")),
            ("purity", res.get("purity")), ("adjusted Rand", res.get("adjusted_rand")),
            ("vocabulary", data.get("n_vocabulary")), ("dimensions", data.get("dim"))]
    sub = f"{res['method']}, {res['projection'].upper()} map" + (", k chosen by silhouette"
                                                                 if res.get("silhouette_by_k") else "")
    body = [f"<h1>{page.esc(title)}</h1>", page.cards(head),
            f"<p class='note'>Vectors: {page.esc(data.get('vectors') or 'as in run.json')}; {page.esc(sub)}.</p>",
            "<h2>Cluster map</h2>", cluster_map(res), "<h2>Clusters</h2>"]
    cats = res.get("categories")
    rows = []
    for i, members in enumerate(res["clusters"]):
        row = [i + 1, len(members), ", ".join(members)]
        if cats:
            mine = [c for c, lab in zip(cats, res["labels"]) if lab == i]
            top = max(set(mine), key=mine.count) if mine else ""
            row.insert(2, f"{top} ({mine.count(top)}/{len(mine)})" if mine else "")
        rows.append(row)
    header = ["cluster", "size"] + (["main category"] if cats else []) + ["words"]
    body.append(page.table(header, rows, sortable=True, cls="clusters"))
    if data.get("neighbours"):
        body.append("<h2>Nearest words</h2><p class='note'>By cosine similarity; the query word itself never "
                    "answers.</p>")
        body.append(page.table(["query", "nearest words (cosine)"],
                               [[n["word"], ", ".join(f"{w} ({s:.3f})" for w, s in n["nearest"])]
                                for n in data["neighbours"]], cls="neighbours"))
    if data.get("analogies"):
        body.append("<h2>Analogies</h2><p class='note'>A is to B as C is to ? (3CosAdd: B - A + C; the three "
                    "words never answer).</p>")
        body.append(page.table(["A : B :: C : ?", "answers (cosine)"],
                               [[f"{a['a']} : {a['b']} :: {a['c']} : ?",
                                 ", ".join(f"{w} ({s:.3f})" for w, s in a["answers"])] for a in data["analogies"]],
                               cls="analogies"))
    return page.document(title, body)


def render_folder(folder: Path, kind: str) -> tuple[str, dict]:
    """The page of a ``words report`` or ``words cluster`` folder, from the JSON it keeps."""
    name = REPORT_JSON if kind == "words report" else CLUSTER_JSON
    try:
        data = json.loads((folder / name).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}/{name} cannot be read ({exc}); rerun `transferlab {kind}`") from None
    if kind == "words cluster":
        data = {"cluster": data}
    return render_page(data, f"Word space: {folder.name}"), {"kind": kind, "n_words": len(data["cluster"]["words"])}
