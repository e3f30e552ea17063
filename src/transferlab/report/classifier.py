"""The report of one classifier run (``fne``, ``probe``, ``finetune``): what it got right and wrong, with
the pictures.  Reads only the run folder: ``run.json``, ``metrics.json``, ``predictions.csv`` (path,
true, predicted, correct, score), and for FNE the stored features and probe, for fine-tuning
``metrics.csv``.

The page is bounded: at most ``per_cell`` images per confusion-matrix cell (the most confident
mistakes), ``gallery`` per gallery, ``queries`` x ``neighbours`` nearest-neighbour images, and
``max_images`` thumbnails in all (the per-cell count shrinks to fit), about 3 KB each.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from transferlab.errors import DataError
from transferlab.finetune.history import curves_png
from transferlab import page
from transferlab.report.thumbs import SIZE, Thumbs

SCORE = {"fne": "the linear SVM's decision value for the predicted class",
         "finetune": "the softmax probability of the predicted class"}


def read_predictions(folder: Path) -> list[dict]:
    path = folder / "predictions.csv"
    try:
        with open(path, newline="", encoding="utf-8", errors="surrogateescape") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise DataError(f"{path} cannot be read ({exc.strerror or exc}); rerun the run") from None
    for r in rows:
        r["correct"] = r.get("correct") == "1"
        r["score"] = float(r["score"]) if r.get("score") not in (None, "") else None
    return rows


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


class Selection:
    """Which predictions are shown where, within the page's bounds."""

    def __init__(self, rows: list[dict], classes: list[str], cfg) -> None:
        self.rows, self.classes, self.cfg = rows, classes, cfg
        idx = {c: i for i, c in enumerate(classes)}
        n = len(classes)
        self.matrix = np.zeros((n, n), dtype=np.int64)
        self.cells: dict[tuple[int, int], list[int]] = {}
        for k, r in enumerate(rows):
            t, p = idx[r["true"]], idx[r["predicted"]]
            self.matrix[t, p] += 1
            if t != p:
                self.cells.setdefault((t, p), []).append(k)
        conf = lambda k: -(rows[k]["score"] if rows[k]["score"] is not None else 0.0)  # noqa: E731
        for members in self.cells.values():
            members.sort(key=conf)
        wrong = sorted((k for k, r in enumerate(rows) if not r["correct"]), key=conf)
        right = sorted((k for k, r in enumerate(rows) if r["correct"]), key=lambda k: -conf(k))
        self.mistakes, self.unsure = wrong[:cfg.gallery], right[:cfg.gallery]

    def fit_cells(self, reserved: set[str]) -> int:
        """The per-cell count that keeps the page within ``max_images`` thumbnails, beside ``reserved``."""
        per_cell = self.cfg.per_cell
        while per_cell > 0:
            paths = set(reserved) | {self.rows[k]["path"] for m in self.cells.values() for k in m[:per_cell]}
            if len(paths) <= self.cfg.max_images:
                return per_cell
            per_cell -= 1
        return 0


def render(folder: Path, manifest: dict, cfg) -> tuple[str, dict]:
    """(the page, the numbers it shows) for a classifier run folder."""
    try:
        metrics = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{folder}/metrics.json cannot be read ({exc}); the run did not finish") from None
    kind = "finetune" if manifest.get("command") == "finetune" or "best_epoch" in metrics else "fne"
    classes = list(metrics["per_class"])
    rows = read_predictions(folder)
    sel = Selection(rows, classes, cfg)
    thumbs = Thumbs(base=folder)
    record = lambda k: [thumbs.add(rows[k]["path"]), _name(rows[k]["path"]), rows[k]["score"],  # noqa: E731
                        int(rows[k]["correct"]), rows[k]["true"], rows[k]["predicted"]]

    body = [f"<h1>{page.esc(kind.upper() if kind == 'fne' else 'Fine-tuning')} run: {page.esc(folder.name)}</h1>"]
    body += headline(folder, manifest, metrics, kind)
    body += per_class_section(metrics, sel)
    nn_html, nn_paths = "", set()
    if kind == "fne":
        nn_html, nn_paths = neighbours_section(folder, manifest, metrics, rows, sel, thumbs, cfg)
    reserved = {rows[k]["path"] for k in sel.mistakes + sel.unsure} | nn_paths
    per_cell = sel.fit_cells(reserved)
    cells = {f"{t},{p}": [record(k) for k in members[:per_cell]] for (t, p), members in sel.cells.items()}
    body += confusion_section(sel, per_cell)
    body += gallery_section(rows, sel, record, kind)
    if kind == "fne":
        body += per_layer_section(metrics)
        body.append(nn_html)
    if kind == "finetune":
        body += curves_section(folder, metrics)
    body += problems_section(metrics)
    body.append(f"<p class='note'>Thumbnails: {SIZE} px JPEG, embedded; at most {cfg.per_cell} per confusion-matrix "
                f"cell ({per_cell} here), {cfg.gallery} per gallery and {cfg.max_images} in all. Files: "
                "<a href='metrics.json'>metrics.json</a>, <a href='predictions.csv'>predictions.csv</a>.</p>")
    data = {"classes": classes, "cells": cells}
    images = thumbs.build()
    info = {"kind": kind, "accuracy": metrics.get("accuracy"), "n_test": len(rows), "images": len(images),
            "unreadable_images": sum(1 for t in images if not t), "per_cell": per_cell}
    return page.document(f"{folder.name}: report", body, images, data), info


def headline(folder: Path, manifest: dict, metrics: dict, kind: str) -> list[str]:
    items = [("accuracy", metrics.get("accuracy")), ("mean per-class accuracy", metrics.get("mean_class_accuracy")),
             ("macro F1", metrics.get("macro_f1")), ("training images", metrics.get("n_train")),
             ("test images", metrics.get("n_test")), ("classes", metrics.get("n_classes")),
             ("model", metrics.get("model"))]
    if kind == "fne":
        items += [("features", metrics.get("dim")), ("post-processing", metrics.get("post"))]
    else:
        items += [("chosen epoch", metrics.get("best_epoch")), ("epochs run", metrics.get("epochs_run"))]
    when = " ".join(x for x in (f"started {manifest.get('started')}" if manifest.get("started") else "",
                                f"{manifest['seconds']:.0f} s" if isinstance(manifest.get("seconds"), (int, float))
                                else "") if x)
    split = metrics.get("evaluation_split") or "test"
    out = [page.cards(items),
           f"<p class='note'><code>transferlab {page.esc(manifest.get('command') or kind)}</code> run, dataset "
           f"{page.esc(metrics.get('dataset'))}, measured on the {page.esc(split)} split; {page.esc(when)}; "
           f"status {page.esc(manifest.get('status'))}.</p>"]
    config = manifest.get("config") or {}
    if config:
        out.append(f"<details><summary>configuration ({len(config)} options, from run.json)</summary>"
                   f"{page.config_table(config)}</details>")
    return out


def per_class_section(metrics: dict, sel: Selection) -> list[str]:
    rows = []
    for i, (c, m) in enumerate(metrics["per_class"].items()):
        off = sel.matrix[i].copy()
        off[i] = 0
        worst = f"{sel.classes[int(off.argmax())]} ({int(off.max())})" if off.max() > 0 else ""
        rows.append([c, m["precision"], m["recall"], m["f1"], m["support"], worst])
    return ["<h2>Per class</h2><p class='note'>Click a column to sort.</p>",
            page.table(["class", "precision", "recall", "F1", "support", "most often taken for"], rows,
                       sortable=True, cls="per-class")]


def confusion_section(sel: Selection, per_cell: int) -> list[str]:
    n = len(sel.classes)
    totals = sel.matrix.sum(axis=1)
    head = "<tr><th>true \\ predicted</th>" + "".join(f"<th class='c'>{page.esc(c)}</th>" for c in sel.classes) + "</tr>"
    body = []
    for t in range(n):
        cells = []
        for p in range(n):
            v = int(sel.matrix[t, p])
            share = v / totals[t] if totals[t] else 0.0
            bg = f"rgba(30,90,200,{share:.2f})" if t == p else f"rgba(220,50,50,{min(1.0, 2 * share):.2f})"
            fg = "#fff" if share > 0.5 else "#000"
            attrs = f" class='hit' data-cell='{t},{p}' data-n='{v}' title='click: its images'" if v and t != p else ""
            cells.append(f"<td style='background:{bg};color:{fg}'{attrs}>{v or ''}</td>")
        body.append(f"<tr><th class='r'>{page.esc(sel.classes[t])}</th>{''.join(cells)}</tr>")
    return ["<h2>Confusion matrix</h2><p class='note'>Counts; rows are the true class, columns the predicted one. "
            f"Click an off-diagonal cell to see its images (the {per_cell} most confident mistakes of a cell).</p>",
            f"<div class='cm'><table id='confusion'><thead>{head}</thead><tbody>{''.join(body)}</tbody></table></div>",
            "<div id='cell-view'><p class='note'>(no cell chosen)</p></div>"]


def _figures(rows: list[dict], members: list[int], record) -> str:
    figs = []
    for k in members:
        t, name, score, ok, true, pred = record(k)
        figs.append(page.figure(t, name, score, bool(ok), true, pred))
    return "<div class='gallery'>" + "".join(figs) + "</div>"


def gallery_section(rows: list[dict], sel: Selection, record, kind: str) -> list[str]:
    has_scores = any(r["score"] is not None for r in rows)
    what = f"score: {SCORE[kind]}" if has_scores else "predictions.csv has no score column: in file order"
    return [f"<h2>Most confident mistakes</h2><p class='note'>The {len(sel.mistakes)} wrong answers given with the "
            f"highest score ({page.esc(what)}).</p>", _figures(rows, sel.mistakes, record),
            f"<h2>Least confident correct answers</h2><p class='note'>The {len(sel.unsure)} right answers given with "
            "the lowest score.</p>", _figures(rows, sel.unsure, record)]


def per_layer_section(metrics: dict) -> list[str]:
    comp = metrics.get("compare")
    if not comp:
        return ["<h2>Per layer</h2><p class='note'>Not measured: run with <code>--compare</code> to probe each "
                "tapped layer alone.</p>"]
    best = max(c["accuracy"] for c in comp) or 1.0
    rows = [[c["layer"], c["dim"], c["accuracy"],
             f"<span class='bar{' all' if c['layer'].startswith('all') or c['layer'] == 'full embedding' else ''}' "
             f"style='width:{240 * c['accuracy'] / best:.0f}px'></span>"] for c in comp]
    return ["<h2>Per layer</h2><p class='note'>Each tapped layer probed alone, then all together "
            "(<code>--compare</code>).</p>",
            page.table(["layer", "features", "accuracy", ""], [[page.esc(r[0]), r[1], r[2], r[3]] for r in rows],
                       raw=True, cls="per-layer")]


def _features(folder: Path, manifest: dict) -> tuple[Path, Path] | None:
    places = [folder] + ([Path(manifest["config"]["run"])] if (manifest.get("config") or {}).get("run") else [])
    for p in places:
        if (p / "features-train.npz").is_file() and (p / "features-test.npz").is_file():
            return p / "features-train.npz", p / "features-test.npz"
    return None


def neighbours_section(folder: Path, manifest: dict, metrics: dict, rows: list[dict], sel: Selection, thumbs: Thumbs,
                       cfg) -> tuple[str, set[str]]:
    """For a few test images (the most confident mistakes, then correct answers), their nearest training
    images by cosine in the probe's input space (the post-processed embedding)."""
    title = "<h2>Nearest training images in the embedding</h2>"
    files = _features(folder, manifest)
    if cfg.queries == 0:
        return "", set()
    if files is None:
        return (title + "<p class='note'>Not available: the run folder keeps no features (a sweep's runs leave them "
                "in the cache).</p>", set())
    from transferlab.fne.store import FeatureSet
    from transferlab.fne.config import FNE_THRESHOLDS
    from transferlab.fne.transforms import post_processing

    train, test = FeatureSet.load(files[0]), FeatureSet.load(files[1])
    layers = metrics.get("layers")
    if layers and train.layer_names() != layers:
        train, test = train.select(layers), test.select(layers)
    # the probe's post-processing, fitted on the training features as the probe's was (no need to load it)
    post = post_processing(metrics.get("post") or "fne", *(metrics.get("thresholds") or FNE_THRESHOLDS))
    by_path = {p: i for i, p in enumerate(test.paths)}
    chosen = [k for k in sel.mistakes[: (cfg.queries + 1) // 2]]
    right = [k for k, r in enumerate(rows) if r["correct"]]
    step = max(1, len(right) // max(1, cfg.queries - len(chosen)))
    chosen += right[::step][: cfg.queries - len(chosen)]
    chosen = [k for k in chosen if rows[k]["path"] in by_path]
    if not chosen:
        return title + "<p class='note'>Not available: the features do not hold the test images.</p>", set()

    def unit(x):
        x = np.asarray(x, dtype=np.float32)
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    T = unit(post.fit_transform(train.features) if post is not None else train.features)
    query = test.features[[by_path[rows[k]["path"]] for k in chosen]]
    Q = unit(post.transform(query) if post is not None else query)
    sims = Q @ T.T
    used: set[str] = set()
    lines = []
    for qi, k in enumerate(chosen):
        r = rows[k]
        used.add(r["path"])
        q = page.figure(thumbs.add(r["path"]), _name(r["path"]), r["score"], r["correct"], r["true"], r["predicted"])
        figs = []
        for j in np.argsort(-sims[qi])[: cfg.neighbours]:
            path, label = train.paths[j], train.classes[int(train.labels[j])]
            used.add(path)
            figs.append(f"<figure class='{'ok' if label == r['true'] else 'bad'}'><img data-t='{thumbs.add(path)}' "
                        f"alt='{page.esc(_name(path))}'><figcaption>{page.esc(_name(path))}<br>{page.esc(label)}"
                        f"<br>cosine {sims[qi, j]:.3f}</figcaption></figure>")
        lines.append(f"<div class='row'><div class='q'>{q}</div><div class='gallery'>{''.join(figs)}</div></div>")
    return (title + f"<p class='note'>Left: a test image (first the most confident mistakes); right: its "
            f"{cfg.neighbours} nearest training images by cosine similarity of the {page.esc(metrics.get('post') or 'fne')}-post-processed "
            "features the SVM sees, captioned with their class (green border: the test image's true class).</p>"
            + "".join(lines), used)


def curves_section(folder: Path, metrics: dict) -> list[str]:
    try:
        with open(folder / "metrics.csv", newline="", encoding="utf-8") as f:
            hist = [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()} for r in csv.DictReader(f)]
    except (OSError, ValueError):
        return ["<h2>Learning curves</h2><p class='note'>metrics.csv cannot be read.</p>"]
    best = metrics.get("best_epoch")
    out = ["<h2>Learning curves</h2>",
           f"<p class='note'>The chosen epoch, {best}, has the highest validation accuracy (validation: "
           f"{page.esc(metrics.get('validation'))}); its checkpoint (best.pt) is the one measured above"
           f"{' (training stopped early)' if metrics.get('stopped_early') else ''}.</p>"]
    if hist:
        out.append(page.png_img(curves_png(hist, best), "learning curves"))
        cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]
        trs = [[("chosen: " if int(h["epoch"]) == best else "") + str(int(h["epoch"]))]
               + [h.get(c) for c in cols[1:]] for h in hist]
        out.append(page.table(cols, trs, cls="epochs"))
    return out


def problems_section(metrics: dict) -> list[str]:
    out = []
    if metrics.get("warnings"):
        out.append("<h2>Warnings</h2><ul>" + "".join(f"<li>{page.esc(w)}</li>" for w in metrics["warnings"]) + "</ul>")
    skipped = list(metrics.get("skipped", [])) + list(metrics.get("skipped_train", []))
    if skipped:
        out.append(f"<h2>Skipped files ({len(skipped)})</h2>" + page.table(
            ["file", "reason"], [[s.get("path"), s.get("reason")] for s in skipped[:50]]))
    return out
