"""The worker: runs one task's runs in this process, never raising.

Every run goes through the same library calls as the single commands (``transferlab.fne.pipeline``,
``transferlab.finetune``), with its own run folder.  A failing run is recorded in its folder
(``error.json``, ``traceback.txt``, a manifest that says failed) and the task goes on with the next.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
import traceback
from pathlib import Path

from transferlab.errors import TransferlabError
from transferlab.runs import write_metrics
from transferlab.sweep.folders import is_complete, record_failure, run_folder, run_status
from transferlab.sweep.spec import Run
from transferlab.sweep.tasks import Task


def execute_task(task: Task) -> list[dict]:
    """Run a task's runs (in this process); never raises. Returns [{name, status}]."""
    if task.threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(task.threads))
    os.environ.update(task.env)
    out = Path(task.out)
    task.log.parent.mkdir(parents=True, exist_ok=True)
    with _redirect_output(task.log):
        if task.threads:
            import torch

            torch.set_num_threads(task.threads)
        print(f"== {task.kind} task {task.label}: {len(task.runs)} run(s), pid {os.getpid()}, "
              f"{time.strftime('%Y-%m-%d %H:%M:%S')}", flush=True)
        try:
            if task.kind == "fne":
                _fne_group(task, out)
            else:
                _finetune_run(task, out, task.run_objects[0])
        except Exception as exc:  # a bug in the sweep machinery itself: charge it to the runs left
            tb = traceback.format_exc()
            print(tb, file=sys.stderr, flush=True)
            for run in task.run_objects:
                folder = run_folder(out, run)
                if not is_complete(folder, run):
                    record_failure(folder, run, _one_line(exc), tb, user_error=False, log=str(task.log))
    return [{"name": r.name, "status": run_status(run_folder(out, r), r)} for r in task.run_objects]


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


@contextlib.contextmanager
def _redirect_output(path: Path):
    """Send this process's stdout/stderr (file descriptors too) to ``path``; restore them after."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    saved_py = sys.stdout, sys.stderr
    with open(path, "a", encoding="utf-8", buffering=1) as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        sys.stdout = sys.stderr = f
        try:
            yield
        finally:
            f.flush()
            sys.stdout, sys.stderr = saved_py
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _runtime(task: Task, run: Run, folder: Path) -> dict:
    """The runtime fields the sweep sets for a run: its folder, progress to the log, pool-sized workers."""
    extra = {"out": str(folder), "overwrite": True, "quiet": False}
    if task.loader_workers is not None and run.options.get("workers") is None:
        extra["workers"] = task.loader_workers
    return extra


class _Attempt:
    """Time a run; on an exception record it in the run's folder and carry on."""

    def __init__(self, folder: Path, run: Run, log: Path, label: str):
        self.folder, self.run, self.log, self.label = folder, run, log, label
        self.ok = False

    def __enter__(self):
        self.start = time.perf_counter()
        print(f"-- {self.label}", flush=True)
        return self

    def __exit__(self, typ, exc, tb):
        seconds = time.perf_counter() - self.start
        if exc is None:
            self.ok = True
            print(f"   done in {seconds:.1f} s", flush=True)
            return False
        if not isinstance(exc, Exception):
            return False  # KeyboardInterrupt / SystemExit: the run stays missing and is redone later
        text = "".join(traceback.format_exception(typ, exc, tb))
        print(text, file=sys.stderr, flush=True)
        record_failure(self.folder, self.run, _one_line(exc), text, user_error=isinstance(exc, TransferlabError),
                       seconds=seconds, log=str(self.log))
        return True


def _finetune_run(task: Task, out: Path, run: Run) -> None:
    from transferlab.finetune import finetune

    folder = run_folder(out, run)
    with _Attempt(folder, run, task.log, run.name):
        start = time.perf_counter()
        cfg = run.make_config(task.cwd, **_runtime(task, run, folder))
        result = finetune(config=cfg)
        if result is not None and "seconds" not in result.metrics:
            result.metrics["seconds"] = time.perf_counter() - start


def _fne_group(task: Task, out: Path) -> None:
    """Extract the union of the runs' taps once; probe each run's slice into its folder."""
    from transferlab.fne.extract import extract_features
    from transferlab.fne.pipeline import prepare
    from transferlab.models.taps import resolve_layers, tap_id, union, union_spec

    runs = task.run_objects
    folders = {r.name: run_folder(out, r) for r in runs}
    configs = {r.name: r.make_config(task.cwd, **_runtime(task, r, folders[r.name])) for r in runs}
    first = configs[runs[0].name]
    start = time.perf_counter()

    # the shared part: data, backbone, the union of the tapped layers, one extraction
    print(f"-- shared: data and backbone for {len(runs)} run(s)", flush=True)
    try:
        splits, backbone, _ = prepare(first.replace(layers="last"))
        size = backbone.preprocessing.with_size(first.image_size).input_size
    except Exception as exc:
        _fail_runs(runs, folders, exc, task, start, "the shared data/backbone setup failed")
        return
    taps: dict[str, list] = {}
    for r in runs:
        with _Attempt(folders[r.name], r, task.log, f"{r.name}: layers {configs[r.name].layers}"):
            taps[r.name] = resolve_layers(backbone, configs[r.name].layers, size=size)
    if not taps:
        return
    extra = []
    for c in task.companions:  # complete runs of this group: keep the union (and the cache key) as it was
        try:
            extra.append(resolve_layers(backbone, Run.from_dict(c).config.get("layers") or "all", size=size))
        except Exception:  # noqa: BLE001 - it resolved when it ran; if not now, it only costs a cache miss
            pass
    shared_taps = union(backbone, [*taps.values(), *extra])
    spec = union_spec(shared_taps)
    wanted = {tap_id(t) for t in shared_taps}
    print(f"-- shared: extract {len(shared_taps)} layers once for {len(taps)} run(s)", flush=True)
    try:
        shared = extract_features(first.replace(layers=spec), splits, backbone)
        have = {tap_id(lyr) for lyr in shared.train.layers}
        if have != wanted:
            raise RuntimeError(f"the shared extraction returned other layers than requested: "
                               f"{sorted(wanted ^ have)}")
    except Exception as exc:
        _fail_runs([r for r in runs if r.name in taps], folders, exc, task, start, "the shared extraction failed")
        return
    extract_seconds = time.perf_counter() - start
    for r in runs:
        if r.name in taps:
            _probe_slice(task, r, folders[r.name], configs[r.name], splits, shared, taps, len(shared_taps),
                         extract_seconds)


def _probe_slice(task: Task, run: Run, folder: Path, cfg, splits, shared, taps: dict, n_layers: int,
                 extract_seconds: float) -> None:
    """One run of an FNE group: the probe on its own columns of the shared features, in its own folder."""
    from transferlab.fne.pipeline import fne

    with _Attempt(folder, run, task.log, f"{run.name}: probe"):
        t0 = time.perf_counter()
        own = dataclasses.replace(shared, config=cfg, taps=taps[run.name], seconds=extract_seconds, cache_keys={},
                                  train=shared.train.select_taps(taps[run.name]),
                                  test=shared.test.select_taps(taps[run.name]))
        own.train.meta["layers_spec"] = own.test.meta["layers_spec"] = cfg.layers
        result = fne(splits, cfg, features=own, save_features=False)
        result.metrics["shared_extraction"] = {"runs": len(taps), "layers": n_layers, "dim": shared.dim}
        result.metrics["seconds"] = round(time.perf_counter() - t0 + extract_seconds / len(taps), 3)
        write_metrics(folder, result.metrics)


def _fail_runs(runs, folders, exc, task, start, what: str) -> None:
    tb = traceback.format_exc()
    print(tb, file=sys.stderr, flush=True)
    for r in runs:
        record_failure(folders[r.name], r, f"{what}: {_one_line(exc)}", tb,
                       user_error=isinstance(exc, TransferlabError), seconds=time.perf_counter() - start,
                       log=str(task.log))
