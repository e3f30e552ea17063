"""``tl.report(RUN)`` / ``transferlab report RUN``: the report of any run folder, chosen by its manifest.

- ``fne`` / ``probe`` / ``embed`` (once probed) / ``finetune``: ``report.classifier``;
- ``sweep``: the sweep's tables and plots (``sweep.report``), each finished run's own report, and links;
- ``words report`` / ``words cluster``: ``words.report``.

The page is written atomically as ``RUN/report.html`` while holding the folder's lock, and the manifest
records it (``report``).  A folder that is not a run is one clear error (exit status 2).
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from transferlab import io as tio
from transferlab.errors import BadInputError
from transferlab.report.config import ReportConfig
from transferlab.runs import MANIFEST, load_manifest, require_complete

CLASSIFIERS = ("fne", "probe", "embed", "finetune")
HINT = "give the folder of an fne, probe, finetune, sweep, words report or words cluster run"


def _kind(folder: Path) -> str:
    m = load_manifest(folder)
    if m is not None:
        return str(m.get("command"))
    if (folder / "sweep.json").is_file():
        return "sweep"
    if (folder / "metrics.json").is_file():
        return "finetune" if (folder / "best.pt").is_file() else "fne"
    raise BadInputError(f"{folder} is not a transferlab run folder (it has no {MANIFEST}); {HINT}")


def report(run: str | Path | None = None, config: ReportConfig | None = None, **options) -> dict:
    """Write ``RUN/report.html`` for any run folder; returns what it wrote and the headline numbers."""
    if run is not None:
        options["dir"] = str(run)
    cfg = config.replace(**options) if config is not None else ReportConfig(**options)
    folder = Path(cfg.dir)
    if not folder.is_dir():
        raise BadInputError(f"run folder not found: {folder}")
    kind = _kind(folder)
    if kind == "sweep":
        return sweep_report(folder, cfg)
    if kind in ("words report", "words cluster"):
        from transferlab.words import report as words_page

        return write_page(folder, lambda: words_page.render_folder(folder, kind))
    if kind in CLASSIFIERS:
        manifest = require_complete(folder, CLASSIFIERS, HINT)
        if not (folder / "predictions.csv").is_file():
            raise BadInputError(f"{folder} holds a `transferlab {kind}` run with no predictions.csv; run "
                                f"`transferlab probe {folder}` first")
        from transferlab.report import classifier

        return write_page(folder, lambda: classifier.render(folder, manifest, cfg))
    raise BadInputError(f"{folder} holds a `transferlab {kind}` run, which has no report; {HINT}")


def write_page(folder: Path, make) -> dict:
    """``make()`` -> (html, info), written as ``folder/report.html`` under the folder's lock."""
    from transferlab.runs import locked, update_manifest

    start = time.perf_counter()
    with locked(folder, "report"):
        html, info = make()
        path = tio.write_text(folder / "report.html", html)
        info = {**info, "html": str(path), "bytes": path.stat().st_size, "seconds": round(time.perf_counter() - start, 3)}
        update_manifest(folder, report={"html": str(path), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return info


def sweep_report(folder: Path, cfg: ReportConfig) -> dict:
    """The sweep's page, with each finished run's own report written first and linked from it."""
    from transferlab.sweep.folders import run_folder, run_status
    from transferlab.sweep.report import render_report
    from transferlab.sweep.results import load_plan

    plan = load_plan(folder)
    links: dict[str, str] = {}
    if cfg.run_reports:
        for run in plan.runs:
            rdir = run_folder(folder, run)
            if run_status(rdir, run) != "done":
                continue
            if not cfg.quiet:
                print(f"report: {rdir}", file=sys.stderr, flush=True)
            info = report(config=cfg.replace(dir=str(rdir)))
            links[run.name] = Path(info["html"]).relative_to(folder).as_posix()
    info = render_report(folder, run_reports=links)
    info["kind"] = "sweep"
    info["run_reports"] = links
    return info
