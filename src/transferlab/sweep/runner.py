"""``run_sweep``: plan, skip what is complete, run the rest, write the results table."""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from pathlib import Path

from transferlab import io as tio
from transferlab.errors import BadInputError, TransferlabError
from transferlab.sweep.execute import make_tasks, run_folder, run_local, run_status, run_submitit
from transferlab.sweep.results import PLAN_FILE, write_results
from transferlab.sweep.spec import Plan, plan_from_file

EXECUTORS = ("local", "slurm", "submitit-local", "submitit-debug")
DEFAULT_MAX_RUNS = 1000


def run_sweep(spec: str | Path | Plan, out: str | Path, *, executor: str = "local", workers: int | None = None,
              max_runs: int | None = DEFAULT_MAX_RUNS, dry_run: bool = False, slurm: dict | None = None,
              log=None) -> dict:
    """Run every run of ``spec`` that ``out`` does not hold complete; return a summary.

    ``executor``: "local" (a process pool, ``workers`` processes; default one per GPU, else one
    per core), "slurm" (a submitit job array; ``slurm`` holds partition, time, gpus_per_node,
    array_parallelism, cpus_per_task), or submitit's "submitit-local" / "submitit-debug"
    executors (the Slurm code path without a cluster).
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if executor not in EXECUTORS:
        raise BadInputError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise BadInputError(f"--workers must be at least 1, got {workers}")
    plan = spec if isinstance(spec, Plan) else plan_from_file(spec)
    out = Path(out)
    status = {r.name: run_status(run_folder(out, r), r) for r in plan.runs}
    pending = [r for r in plan.runs if status[r.name] != "done"]
    complete = len(plan.runs) - len(pending)
    if max_runs is not None and len(pending) > max_runs:
        raise BadInputError(f"the sweep would start {len(pending)} runs (of {len(plan.runs)}; {complete} already "
                            f"complete), more than --max-runs {max_runs}; raise --max-runs or shrink the grid")
    summary = {"out": str(out), "name": plan.name, "n_runs": len(plan.runs), "complete_before": complete,
               "to_run": len(pending), "executor": executor}
    if dry_run:
        summary["runs"] = [{"name": r.name, "command": r.command, "varied": r.varied,
                            "status": status[r.name], "command_line": r.cli(run_folder(out, r))} for r in plan.runs]
        return summary
    if executor == "slurm" and pending and shutil.which("sbatch") is None:
        raise BadInputError("--executor slurm: sbatch is not on PATH; run the sweep on a Slurm login node "
                            "(or use --executor local)")
    tio.ensure_writable_dir(out)
    start = time.perf_counter()
    with _lock(out):
        tio.write_json(out / PLAN_FILE, {**plan.to_dict(), "cwd": os.getcwd(),
                                         "updated": time.strftime("%Y-%m-%d %H:%M:%S")})
        if plan.source and Path(plan.source).is_file():
            tio.write_text(out / "spec.yaml", Path(plan.source).read_text(encoding="utf-8"))
        tasks = make_tasks(pending, out, complete=[r for r in plan.runs if status[r.name] == "done"])
        log(f"sweep {plan.name}: {len(plan.runs)} runs, {complete} already complete, {len(pending)} to run "
            f"in {len(tasks)} task(s) ({executor})")
        finished = [complete]

        def on_done(task):
            for r in task.run_objects:
                finished[0] += 1
                folder = run_folder(out, r)
                st = run_status(folder, r)
                tail = ""
                if st == "done":
                    from transferlab.sweep.execute import read_metrics

                    m = read_metrics(folder) or {}
                    tail = f"accuracy {m.get('accuracy', float('nan')):.4f}"
                elif st == "failed":
                    from transferlab.sweep.execute import read_error

                    tail = (read_error(folder) or {}).get("error", "")
                log(f"[{finished[0]}/{len(plan.runs)}] {st:7s} {r.name}  {tail}")

        job_ids = []
        if executor == "local":
            run_local(tasks, workers, on_done)
        else:
            cluster = {"slurm": "slurm", "submitit-local": "local", "submitit-debug": "debug"}[executor]
            job_ids = run_submitit(tasks, out, cluster, slurm or {}, on_done)
        table = write_results(out, plan)
    df = table["frame"]
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    summary.update({"done": int(counts.get("done", 0)), "failed": int(counts.get("failed", 0)),
                    "missing": int(counts.get("missing", 0)), "seconds": round(time.perf_counter() - start, 2),
                    "results_csv": table["csv"], "results_parquet": table["parquet"]})
    if job_ids:
        summary["job_ids"] = job_ids
    summary["runs"] = [{k: _plain(row.get(k)) for k in ("run", "status", "accuracy", "mean_class_accuracy", "seconds",
                                                        "error")} for row in df.to_dict("records")]
    return summary


def _plain(v):
    try:
        import pandas as pd

        if v is None or (not isinstance(v, (str, list, dict)) and pd.isna(v)):
            return None
    except (TypeError, ValueError):
        pass
    if hasattr(v, "item"):
        return v.item()
    return v


@contextlib.contextmanager
def _lock(out: Path):
    """One sweep at a time in a folder (two would redo each other's runs)."""
    import fcntl

    f = open(out / ".sweep.lock", "w")
    try:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise TransferlabError(f"another sweep is running in {out}; wait for it or use another --out") from None
        f.write(str(os.getpid()))
        f.flush()
        yield
    finally:
        f.close()
