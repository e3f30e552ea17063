"""``transferlab report DIR``: the comparison a sweep was run for.

- The Yosinski curve: accuracy vs K blocks transferred (or frozen), one line per setting.  When
  both ``transfer`` and ``freeze`` vary, a run is "frozen" when freeze = K transferred and
  "fine-tuned" when freeze = 0 (Yosinski's AnB and AnB+); K = 0 belongs to both lines.
- The FNE layer table: accuracy of each ``layers`` setting, and its difference to the full
  embedding (``layers: all``) of the same backbone/data/probe; plus the per-layer tables of runs
  made with ``compare: true``.
- ``report.md`` and a self-contained ``report.html`` with the results table and the plots
  (PNG files beside them).
"""
from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import NamedTuple

from transferlab import io as tio
from transferlab.sweep.folders import read_metrics
from transferlab.sweep.results import load_plan, write_results

FROZEN, TUNED = "transferred + frozen (freeze = K)", "transferred + fine-tuned (freeze 0)"


def _agg():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _setting(row: dict, keys: list[str]) -> str:
    return ", ".join(f"{k}={row.get(k)}" for k in keys)


def yosinski_points(rows: list[dict], columns: list[str]) -> tuple[str, dict[str, list[tuple]]] | None:
    """(x label, {line label: [(K, accuracy, run), ...]}) for the fine-tuning runs, or None."""
    ft = [r for r in rows if r.get("command", "finetune") == "finetune" and r["status"] == "done"
          and _num(r.get("transfer_blocks")) is not None]
    if not ft:
        return None
    if "transfer" in columns:
        xkey, xlabel = "transfer_blocks", "K: blocks transferred"
    elif "freeze" in columns:
        xkey, xlabel = "freeze_blocks", "K: blocks frozen"
    else:
        return None
    relation = xkey == "transfer_blocks" and "freeze" in columns
    others = [c for c in columns if c not in ("transfer", "freeze", "command")]
    lines: dict[str, list[tuple]] = {}
    for r in ft:
        k = int(_num(r[xkey]))
        rest = _setting(r, others)
        labels = []
        if relation:
            f = int(_num(r.get("freeze_blocks")) or 0)
            if f == k:
                labels.append(FROZEN)
            if f == 0:
                labels.append(TUNED)
            if not labels:
                labels.append(f"freeze {r.get('freeze')}")
        else:
            labels.append("")
        for lab in labels:
            full = ", ".join(x for x in (lab, rest) if x) or "all runs"
            lines.setdefault(full, []).append((k, float(r["accuracy"]), r["run"], _num(r.get("blocks"))))
    for pts in lines.values():
        pts.sort()
    return xlabel, lines


def plot_yosinski(xlabel: str, lines: dict, path: Path, title: str) -> Path:
    plt = _agg()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ks, blocks = set(), None
    for label, pts in lines.items():
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], marker="o", label=label)
        ks.update(xs)
        blocks = blocks or next((p[3] for p in pts if p[3]), None)
    ticks = sorted(ks)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{k}\n(all)" if blocks and k == int(blocks) else str(k) for k in ticks])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return tio.save_figure(fig, path)


def fne_table(rows: list[dict], columns: list[str], layer_order: list[str]) -> list[dict] | None:
    """[{setting, layers, dim, accuracy, vs_full}] for FNE runs varying ``layers``, or None."""
    fne = [r for r in rows if r.get("command", "fne") == "fne" and "layers" in r]
    if "layers" not in columns or not fne:
        return None
    others = [c for c in columns if c not in ("layers", "command")]
    full = {_setting(r, others): _num(r["accuracy"]) for r in fne if r["layers"] == "all" and r["status"] == "done"}
    out = []
    for r in sorted(fne, key=lambda r: (_setting(r, others), layer_order.index(r["layers"])
                                        if r["layers"] in layer_order else 1e9)):
        acc = _num(r["accuracy"])
        ref = full.get(_setting(r, others))
        out.append({"setting": _setting(r, others), "layers": r["layers"], "dim": _num(r.get("dim")),
                    "accuracy": acc, "vs_full": None if acc is None or ref is None else acc - ref,
                    "status": r["status"], "run": r["run"]})
    return out


def plot_fne(table: list[dict], path: Path, title: str) -> Path:
    plt = _agg()
    settings = list(dict.fromkeys(t["setting"] for t in table))
    layers = list(dict.fromkeys(t["layers"] for t in table))
    width = 0.8 / max(1, len(settings))
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(layers) + 2), 4.5))
    for i, s in enumerate(settings):
        acc = {t["layers"]: t["accuracy"] for t in table if t["setting"] == s}
        xs = [j + (i - (len(settings) - 1) / 2) * width for j in range(len(layers))]
        ys = [acc.get(lyr) if acc.get(lyr) is not None else 0.0 for lyr in layers]
        bars = ax.bar(xs, ys, width=width, label=s or None,
                      color=["#DD8452" if lyr == "all" else f"C{i}" for lyr in layers] if len(settings) == 1 else None)
        for b, lyr in zip(bars, layers):
            if acc.get(lyr) is not None:
                ax.annotate(f"{acc[lyr]:.3f}", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center",
                            va="bottom", fontsize=7)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels([lyr if len(lyr) <= 24 else lyr[:22] + "..." for lyr in layers], rotation=30, ha="right",
                       fontsize=8)
    vals = [t["accuracy"] for t in table if t["accuracy"] is not None]
    if vals:
        ax.set_ylim(max(0.0, min(vals) - 0.1), min(1.0, max(vals) + 0.05))
    ax.set_ylabel("test accuracy")
    ax.set_xlabel("--layers (all = the full-network embedding)")
    ax.set_title(title)
    if any(settings):
        ax.legend(fontsize=8)
    return tio.save_figure(fig, path)


def plot_accuracy(rows: list[dict], path: Path, title: str) -> Path | None:
    done = [r for r in rows if r["status"] == "done" and _num(r["accuracy"]) is not None]
    if not done:
        return None
    plt = _agg()
    fig, ax = plt.subplots(figsize=(7, max(2.5, 0.32 * len(done) + 1)))
    ax.barh(range(len(done)), [float(r["accuracy"]) for r in done], color="#4C72B0")
    ax.set_yticks(range(len(done)))
    ax.set_yticklabels([r["run"].rsplit("-", 1)[0] for r in done], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("test accuracy")
    ax.set_title(title)
    return tio.save_figure(fig, path)


def _fmt(v, digits=4, signed=False) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"
    return str(v)


def _md_table(header: list[str], rows: list[list]) -> list[str]:
    esc = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return (["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows])


def _html_table(header: list[str], rows: list[list]) -> str:
    h = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def render_report(out: str | Path, run_reports: dict[str, str] | None = None) -> dict:
    """Refresh the results table and write report.md, report.html and the plots into ``out``, holding the
    sweep folder's lock (a sweep still running there, or a second report, is refused at once).
    ``run_reports``: run name -> its report.html relative to ``out``, linked from the page."""
    import time

    from transferlab.runs import locked, update_manifest

    out = Path(out)
    plan = load_plan(out)
    with locked(out, "report"):
        info = _render(out, plan, run_reports or {})
        update_manifest(out, report={"markdown": info["markdown"], "html": info["html"], "plots": info["plots"],
                                     "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return info


class Section(NamedTuple):
    """One part of the page: a title, a table (or none), a plot (or none) and a note."""

    title: str
    header: list[str]
    rows: list[list] | None
    plot: Path | None
    note: str


def _render(out: Path, plan, run_reports: dict[str, str]) -> dict:
    table = write_results(out, plan)
    df = table["frame"]
    rows = df.astype(object).where(df.notna(), None).to_dict("records") if len(df) else []
    counts = {s: sum(r["status"] == s for r in rows) for s in ("done", "failed", "missing")}
    sections: list[Section] = []
    plots: list[str] = []
    text: list[str] = []
    for part in (_yosinski_section(out, plan, rows), _fne_section(out, plan, rows)):
        if part:
            section, lines = part
            sections.append(section)
            plots.append(str(section.plot))
            text += lines
    sections += _compare_sections(rows)
    acc_plot = plot_accuracy(rows, out / "accuracy.png", f"{plan.name}: accuracy per run")
    if acc_plot:
        plots.append(str(acc_plot))
    sections.append(_all_runs_section(plan, rows, acc_plot, table))
    failed = [r for r in rows if r["status"] == "failed"]
    md_path = tio.write_text(out / "report.md", _markdown(out, plan, rows, counts, sections, run_reports, failed))
    html_path = tio.write_text(out / "report.html", _html(plan, rows, counts, sections, run_reports, failed))
    return {"name": plan.name, "n_runs": len(rows), **counts, "markdown": str(md_path), "html": str(html_path),
            "plots": plots, "results_csv": table["csv"], "results_parquet": table["parquet"], "text": text}


def _yosinski_section(out: Path, plan, rows: list[dict]) -> tuple[Section, list[str]] | None:
    ys = yosinski_points(rows, plan.columns)
    if not ys:
        return None
    xlabel, lines = ys
    plot = plot_yosinski(xlabel, lines, out / "yosinski.png", f"{plan.name}: accuracy vs {xlabel[3:]}")
    ks = sorted({p[0] for pts in lines.values() for p in pts})
    header = [xlabel.split(":")[0]] + list(lines)
    trows = [[k] + [_fmt(next((p[1] for p in pts if p[0] == k), None)) for pts in lines.values()] for k in ks]
    section = Section("Transferability (Yosinski curve)", header, trows, plot,
                      f"x: {xlabel}; one line per setting; accuracy on the evaluation split.")
    return section, [f"Yosinski curve: {len(lines)} line(s) over K = {ks[0]}..{ks[-1]} -> {plot}"]


def _fne_section(out: Path, plan, rows: list[dict]) -> tuple[Section, list[str]] | None:
    order = [str(r.options.get("layers", "all")) for r in plan.runs if r.command == "fne"]
    ft = fne_table(rows, plan.columns, order)
    if not ft:
        return None
    plot = plot_fne(ft, out / "fne_layers.png", f"{plan.name}: accuracy per layer setting")
    several = len({t["setting"] for t in ft}) > 1
    header = (["setting"] if several else []) + ["layers", "features", "accuracy", "vs full embedding", "status"]
    trows = [([t["setting"]] if several else []) + [t["layers"], "" if t["dim"] is None else int(t["dim"]),
                                                    _fmt(t["accuracy"]), _fmt(t["vs_full"], signed=True), t["status"]]
             for t in ft]
    note = ("'vs full embedding' = accuracy minus that of layers=all with the same other options"
            if any(t["vs_full"] is not None for t in ft) else
            "add layers: all to the grid to compare with the full embedding")
    section = Section("FNE: accuracy per tapped-layer setting vs the full embedding", header, trows, plot, note)
    lines = ["FNE layer table:"]
    lines += [f"  {t['layers']:<28} {_fmt(t['accuracy'])}  {_fmt(t['vs_full'], signed=True)}  {t['setting']}"
              for t in ft]
    return section, lines


def _compare_sections(rows: list[dict]) -> list[Section]:
    """The per-layer tables of the ``compare: true`` runs."""
    sections = []
    for r in rows:
        m = read_metrics(Path(r["folder"])) if r["status"] == "done" and r.get("command", "fne") == "fne" else None
        if m and m.get("compare"):
            png = Path(r["folder"]) / "compare.png"
            sections.append(Section(f"Per tapped layer vs full embedding: {r['run']}", ["layer", "features", "accuracy"],
                                    [[c["layer"], c["dim"], _fmt(c["accuracy"])] for c in m["compare"]],
                                    png if png.is_file() else None, "each tapped layer probed alone, then all together"))
    return sections


def _all_runs_section(plan, rows: list[dict], acc_plot: Path | None, table: dict) -> Section:
    cols = ["run", *plan.columns, "accuracy", "mean_class_accuracy", "seconds", "status", "error"]
    res_rows = [[_fmt(r.get(c), 1 if c == "seconds" else 4) if isinstance(r.get(c), float)
                 else ("" if r.get(c) is None else r.get(c)) for c in cols] for r in rows]
    return Section("All runs", cols, res_rows, acc_plot,
                   f"the same table with more columns: {table['csv']}, {table['parquet']}")


def _markdown(out: Path, plan, rows, counts, sections: list[Section], run_reports, failed) -> str:
    md = [f"# Sweep report: {plan.name}", "",
          f"{len(rows)} runs: {counts['done']} done, {counts['failed']} failed, {counts['missing']} missing. "
          f"Spec: `{plan.source or 'sweep.json'}`. Rerun `transferlab sweep SPEC --out {out}` to complete missing "
          "or failed runs.", ""]
    for title, header, trows, plot, note in sections:
        md += [f"## {title}", ""]
        if plot is not None:
            rel = Path(plot).resolve().relative_to(out.resolve()) if out.resolve() in Path(plot).resolve().parents \
                else Path(plot)
            md += [f"![{title}]({rel.as_posix()})", ""]
        if trows is not None:
            md += _md_table(header, trows) + [""]
        if note:
            md += [f"_{note}_", ""]
    if run_reports:
        md += ["## Each run's report", ""] + [f"- [{name}]({rel})" for name, rel in run_reports.items()] + [""]
    if failed:
        md += ["## Failed runs", ""]
        md += [f"- `{r['run']}`: {r['error']} (traceback: `{Path(r['folder']) / 'traceback.txt'}`)" for r in failed]
        md.append("")
    return "\n".join(md) + "\n"


def _html(plan, rows, counts, sections: list[Section], run_reports, failed) -> str:
    """The same page as one self-contained HTML file (the plots embedded)."""
    body = [f"<h1>Sweep report: {html.escape(plan.name)}</h1>",
            f"<p>{len(rows)} runs: {counts['done']} done, {counts['failed']} failed, {counts['missing']} missing.</p>"]
    for title, header, trows, plot, note in sections:
        body.append(f"<h2>{html.escape(title)}</h2>")
        if plot is not None:
            data = base64.b64encode(Path(plot).read_bytes()).decode()
            body.append(f'<img alt="{html.escape(title)}" src="data:image/png;base64,{data}">')
        if trows is not None:
            body.append(_html_table(header, trows))
        if note:
            body.append(f"<p><em>{html.escape(note)}</em></p>")
    if run_reports:
        body.append("<h2>Each run's report</h2><ul>" + "".join(
            f"<li><a href='{html.escape(rel)}'>{html.escape(name)}</a></li>" for name, rel in run_reports.items())
            + "</ul>")
    if failed:
        body.append("<h2>Failed runs</h2>")
        body += [f"<p><code>{html.escape(r['run'])}</code>: {html.escape(str(r['error']))}</p>" for r in failed]
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:left}th{background:#f3f3f3}img{max-width:100%}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(plan.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
