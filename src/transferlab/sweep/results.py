"""The results table of a sweep: one row per run, every varied option as a column plus the metrics.

Rebuilt from the run folders (``metrics.json`` / ``error.json``), so it is always what is on
disk, whichever executor ran the runs; written atomically as ``results.csv`` and
``results.parquet``.
"""
from __future__ import annotations

import json
from pathlib import Path

from transferlab import io as tio
from transferlab.errors import BadInputError
from transferlab.sweep.folders import read_error, read_metrics, run_folder, run_status
from transferlab.sweep.spec import Plan

PLAN_FILE = "sweep.json"
METRIC_COLUMNS = ("accuracy", "mean_class_accuracy", "seconds", "status", "error")
# further metrics kept when a run has them (FNE: features; fine-tuning: blocks, epochs)
EXTRA_COLUMNS = ("macro_f1", "n_train", "n_test", "dim", "n_layers", "extract_seconds", "best_epoch", "epochs_run",
                 "blocks", "transfer_blocks", "freeze_blocks", "best_val_accuracy")


def load_plan(out: str | Path) -> Plan:
    path = Path(out) / PLAN_FILE
    if not path.is_file():
        raise BadInputError(f"{out} is not a sweep folder (no {PLAN_FILE}); run `transferlab sweep SPEC --out {out}`")
    try:
        return Plan.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise BadInputError(f"{path} is damaged ({exc}); run the sweep again to rewrite it") from exc


def collect_rows(out: str | Path, plan: Plan) -> list[dict]:
    rows = []
    for run in plan.runs:
        folder = run_folder(out, run)
        status = run_status(folder, run)
        row = {"run": run.name}
        for col in plan.columns:
            row[col] = run.command if col == "command" else run.options.get(col)
        metrics = read_metrics(folder) if status == "done" else None
        err = read_error(folder) if status == "failed" else None
        m = metrics or {}
        row["accuracy"] = m.get("accuracy")
        row["mean_class_accuracy"] = m.get("mean_class_accuracy")
        row["seconds"] = m.get("seconds", m.get("fit_seconds")) if metrics else (err or {}).get("seconds")
        row["status"] = status
        row["error"] = (err or {}).get("error")
        extra = dict(m)
        if run.command == "finetune" and metrics:
            extra["transfer_blocks"], extra["freeze_blocks"] = m.get("transfer"), m.get("freeze")
        for col in EXTRA_COLUMNS:
            row[col] = extra.get(col) if col in extra and not isinstance(extra.get(col), (dict, list)) else None
        row["command_line"] = run.cli(folder)
        row["folder"] = str(folder)
        rows.append(row)
    return rows


def results_frame(rows: list[dict], plan: Plan):
    import pandas as pd

    df = pd.DataFrame(rows)
    if df.empty:
        return df
    for col in plan.columns:  # one type per column (parquet): numbers stay numbers, mixed values become text
        df[col] = _uniform(df[col])
    extras = [c for c in EXTRA_COLUMNS if c in df and df[c].notna().any()]
    order = ["run", *plan.columns, *METRIC_COLUMNS, *extras, "command_line", "folder"]
    return df[[c for c in order if c in df]]


def _uniform(series):
    import pandas as pd

    values = [v for v in series if v is not None and not (isinstance(v, float) and pd.isna(v))]
    if values and all(isinstance(v, bool) for v in values):
        return series.astype("boolean")
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return series.astype("Int64")
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return series.astype("float64")
    return series.map(lambda v: None if v is None else (",".join(map(str, v)) if isinstance(v, (list, tuple))
                                                        else str(v))).astype("string")


def write_results(out: str | Path, plan: Plan) -> dict:
    """Write results.csv and results.parquet (atomically); return their paths and the frame."""
    out = Path(out)
    df = results_frame(collect_rows(out, plan), plan)
    csv_path, pq_path = out / "results.csv", out / "results.parquet"
    with tio.atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    with tio.atomic_path(pq_path, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)
    return {"csv": str(csv_path), "parquet": str(pq_path), "frame": df}
