"""``sweep``: plan and check the whole grid, skip what is complete, run the rest, write the results table."""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from transferlab import io as tio
from transferlab.errors import BadInputError
from transferlab.results import Result, frame_html
from transferlab.runs import RunFolder
from transferlab.sweep.config import SweepConfig
from transferlab.sweep.folders import read_error, read_metrics, run_folder, run_status
from transferlab.sweep.results import PLAN_FILE, write_results
from transferlab.sweep.spec import Plan, plan_from_file
from transferlab.sweep.tasks import Task, make_tasks
from transferlab.sweep.validate import check_plan


@dataclass(repr=False)
class SweepResult(Result):
    """A sweep's outcome: run counts, the results table (``results``, a DataFrame) and its files."""

    summary: dict
    out: Path
    failures_are_user_errors: bool = True
    _frame: object = field(default=None, repr=False)

    _summary = ("name", "n_runs", "done", "failed", "missing", "out")
    _title = "a transferability study"

    def __getattr__(self, name):
        summary = self.__dict__.get("summary", {})
        if name in summary:
            return summary[name]
        raise AttributeError(name)

    @property
    def results(self):
        """One row per run: the varied options, accuracy, status, error, command line, folder."""
        import pandas as pd

        if self._frame is None and (self.out / "results.parquet").is_file():
            self._frame = pd.read_parquet(self.out / "results.parquet")
        return self._frame

    def to_dict(self) -> dict:
        return dict(self.summary)

    def _html_extra(self) -> str:
        return frame_html(self.results)


def _log(config: SweepConfig):
    return (lambda msg: None) if config.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))


def sweep(spec: str | os.PathLike | dict | Plan | None = None, out: str | os.PathLike | None = None,
          config: SweepConfig | None = None, **options) -> SweepResult:
    """Run every run of ``spec`` (a YAML file, or the same mapping in Python) that ``out`` does not hold
    complete; return a ``SweepResult``.

    The whole grid is checked first (every option by the commands' configs, then data, models, layer
    names and block counts), so a bad value anywhere stops the sweep before any run starts.
    """
    plan, config = _plan_and_config(spec, out, config, options)
    out = Path(config.out)
    status = {r.name: run_status(run_folder(out, r), r) for r in plan.runs}
    pending = [r for r in plan.runs if status[r.name] != "done"]
    complete = len(plan.runs) - len(pending)
    if len(pending) > config.max_runs:
        raise BadInputError(f"the sweep would start {len(pending)} runs (of {len(plan.runs)}; {complete} already "
                            f"complete), more than --max-runs {config.max_runs}; raise --max-runs or shrink the grid")
    check_plan(plan, os.getcwd(), local=config.executor == "local")
    summary = {"out": str(out), "name": plan.name, "n_runs": len(plan.runs), "complete_before": complete,
               "to_run": len(pending), "executor": config.executor}
    if config.dry_run:
        summary["runs"] = [{"name": r.name, "command": r.command, "varied": r.varied,
                            "status": status[r.name], "command_line": r.cli(run_folder(out, r))} for r in plan.runs]
        return SweepResult(summary, out)
    if config.executor == "slurm" and pending:
        import shutil

        if shutil.which("sbatch") is None:
            raise BadInputError("--executor slurm: sbatch is not on PATH; run the sweep on a Slurm login node "
                                "(or use --executor local)")
    start = time.perf_counter()
    with RunFolder(out, "sweep", config, overwrite=config.overwrite, reuse=True,
                   extra={"plan": {"name": plan.name, "runs": len(plan.runs)}}) as folder:
        _write_plan(out, plan)
        tasks = make_tasks(pending, out, complete=[r for r in plan.runs if status[r.name] == "done"])
        _log(config)(f"sweep {plan.name}: {len(plan.runs)} runs, {complete} already complete, {len(pending)} to run "
                     f"in {len(tasks)} task(s) ({config.executor})")
        job_ids = _execute(tasks, out, config, _progress(out, plan, config, complete))
        table = write_results(out, plan)
        df = table["frame"]
        summary.update(_outcome(df, table, start))
        if job_ids:
            summary["job_ids"] = job_ids
        summary["runs"] = [{k: _plain(row.get(k)) for k in ("run", "status", "accuracy", "mean_class_accuracy",
                                                            "seconds", "error")} for row in df.to_dict("records")]
        folder.summary = {k: summary[k] for k in ("n_runs", "done", "failed", "missing")}
    kinds = [(read_error(run_folder(out, r)) or {}).get("kind") for r in plan.runs
             if run_status(run_folder(out, r), r) == "failed"]
    return SweepResult(summary, out, failures_are_user_errors=all(k == "user error" for k in kinds), _frame=df)


def _plan_and_config(spec, out, config: SweepConfig | None, options: dict) -> tuple[Plan, SweepConfig]:
    """The plan (from a file, a mapping or a ``Plan``) and the sweep's config, with ``spec``/``out`` in it."""
    if isinstance(spec, dict):
        from transferlab.sweep.spec import make_plan

        spec = make_plan(dict(spec), default_name=str(spec.get("name") or "sweep"))
    if spec is not None and not isinstance(spec, Plan):
        options["spec"] = str(spec)
    if out is not None:
        options["out"] = str(out)
    plan = spec if isinstance(spec, Plan) else None
    if plan is not None:
        options.setdefault("spec", plan.source or "<a spec given in Python>")
    config = config.replace(**options) if config is not None else SweepConfig(**options)
    return plan or plan_from_file(config.spec), config


def _write_plan(out: Path, plan: Plan) -> None:
    """``sweep.json`` (the plan, where it was started) and ``spec.yaml`` (the spec as given)."""
    tio.write_json(out / PLAN_FILE, {**plan.to_dict(), "cwd": os.getcwd(),
                                     "updated": time.strftime("%Y-%m-%d %H:%M:%S")})
    if plan.source and Path(plan.source).is_file():
        tio.write_text(out / "spec.yaml", Path(plan.source).read_text(encoding="utf-8"))
    elif plan.spec:
        import yaml

        tio.write_text(out / "spec.yaml", yaml.safe_dump(plan.spec, sort_keys=False))


def _progress(out: Path, plan: Plan, config: SweepConfig, complete: int) -> Callable[[Task], None]:
    """The executors' callback: one line per finished run, with its accuracy or its error."""
    log = _log(config)
    finished = [complete]

    def on_done(task: Task) -> None:
        for r in task.run_objects:
            finished[0] += 1
            run_dir = run_folder(out, r)
            st = run_status(run_dir, r)
            tail = ""
            if st == "done":
                tail = f"accuracy {(read_metrics(run_dir) or {}).get('accuracy', float('nan')):.4f}"
            elif st == "failed":
                tail = (read_error(run_dir) or {}).get("error", "")
            log(f"[{finished[0]}/{len(plan.runs)}] {st:7s} {r.name}  {tail}")

    return on_done


def _execute(tasks: list[Task], out: Path, config: SweepConfig, on_done: Callable[[Task], None]) -> list[str]:
    """Run the tasks on the configured executor; the Slurm/submitit job ids (none for the local pool)."""
    if config.executor == "local":
        from transferlab.sweep.executors import run_local

        run_local(tasks, config.workers, on_done)
        return []
    from transferlab.sweep.executors import run_submitit

    cluster = {"slurm": "slurm", "submitit-local": "local", "submitit-debug": "debug"}[config.executor]
    return run_submitit(tasks, out, cluster, config.slurm(), on_done)


def _outcome(df, table: dict, start: float) -> dict:
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    return {"done": int(counts.get("done", 0)), "failed": int(counts.get("failed", 0)),
            "missing": int(counts.get("missing", 0)), "seconds": round(time.perf_counter() - start, 2),
            "results_csv": table["csv"], "results_parquet": table["parquet"]}


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
