"""``transferlab report RUN``: the door onto ``transferlab.report.render.report``."""
from __future__ import annotations

import json

from transferlab.cli_args import command, config_from_args
from transferlab.report.config import ReportConfig


def fill_report(p) -> None:
    command(p, ReportConfig, run_report_cmd,
            "Write RUN/report.html, one self-contained page (no network; opens from disk) for any run folder. "
            "fne/finetune: headline numbers and configuration, per-class precision/recall/F1 (sortable), the "
            "confusion matrix whose cells show their images, the most confident mistakes and least confident "
            "correct answers; FNE: per-layer accuracy (--compare) and nearest training images in the embedding; "
            "fine-tuning: learning curves and the chosen epoch. Sweeps: the results tables and plots "
            "(report.md, report.html) and a link to each run's own report. words report / words cluster: the "
            "cluster map and tables. Thumbnails are 96 px JPEGs, bounded per cell, per gallery and in all. "
            "See docs/report.md.",
            ["transferlab report runs/fne-fashion-mnist-efficientnet_lite0-all-20250101-120000",
             "transferlab report runs/head --per-cell 4", "transferlab report runs/fne-layers --json"],
            groups=("bounds of the page",))


PARSERS = {"report": fill_report}


def run_report_cmd(args) -> int:
    from transferlab.report.render import report

    info = report(config=config_from_args(ReportConfig, args))
    if args.json:
        print(json.dumps(info, default=str))
        return 0
    if info.get("kind") == "sweep":
        print(f"{info['name']}: {info['done']} done, {info['failed']} failed, {info['missing']} missing of "
              f"{info['n_runs']} runs")
        for line in info.get("text", []):
            print(line)
        print(f"report: {info['markdown']}  {info['html']}")
        for p in info["plots"]:
            print(f"plot: {p}")
        if info.get("run_reports"):
            print(f"run reports: {len(info['run_reports'])} (linked from {info['html']})")
        return 0
    what = f"accuracy {info['accuracy']:.4f}, " if isinstance(info.get("accuracy"), float) else ""
    print(f"report: {info['html']} ({what}{info.get('images', 0)} thumbnails, {info['bytes'] / 1e6:.1f} MB, "
          f"{info['seconds']:.1f} s)")
    return 0
