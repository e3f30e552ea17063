"""The state of a sweep's run folders (``DIR/runs/NAME``), read from each run's manifest.

A run is *done* when its ``run.json`` says complete (and, for ``compare: true``, its metrics hold the
per-layer comparison), *failed* when it says failed (``error.json`` and ``traceback.txt`` beside it
tell why), else *missing* (never started, or killed): done runs are skipped on a rerun, the rest run.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from transferlab import io as tio
from transferlab.runs import RunFolder, read_manifest
from transferlab.sweep.spec import Run

RUNS = "runs"
LOGS = "logs"


def run_folder(out: str | Path, run: Run) -> Path:
    return Path(out) / RUNS / run.name


def read_metrics(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_error(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "error.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        m = read_manifest(folder)
        return {"error": m.get("error"), "kind": "bug"} if m and m.get("status") == "failed" else None


def is_complete(folder: Path, run: Run) -> bool:
    m = read_manifest(folder)
    if not m or m.get("status") != "complete":
        return False
    metrics = read_metrics(folder)
    if metrics is None:  # a finished run whose results were removed since
        return False
    return not (run.command == "fne" and run.options.get("compare") and "compare" not in metrics)


def run_status(folder: Path, run: Run) -> str:
    if is_complete(folder, run):
        return "done"
    m = read_manifest(folder)
    if (m and m.get("status") == "failed") or (folder / "error.json").is_file():
        return "failed"
    return "missing"


def record_failure(folder: Path, run: Run, error: str, tb: str, *, user_error: bool, seconds: float = 0.0,
                   log: str | None = None) -> None:
    """A failed run: ``error.json`` (one line + traceback, and whether it was a user error or a bug),
    ``traceback.txt`` and a manifest that says failed."""
    folder.mkdir(parents=True, exist_ok=True)
    with RunFolder(folder, run.command, run.config, overwrite=True) as rf:
        tio.write_text(folder / "traceback.txt", tb)
        tio.write_json(folder / "error.json", {"error": error, "kind": "user error" if user_error else "bug",
                                               "traceback": tb, "seconds": round(seconds, 3), "log": log,
                                               "time": time.strftime("%Y-%m-%d %H:%M:%S")})
        rf.error = error
