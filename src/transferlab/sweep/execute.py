"""Running a sweep's runs: tasks, the worker, and the two executors (local process pool, submitit).

A *task* is the unit an executor runs in one process (or one Slurm array job):

- ``finetune``: one fine-tuning run;
- ``fne``: every pending FNE run that shares a backbone and data (they differ only in ``layers``
  and probe options).  The union of their taps is extracted ONCE (one forward pass per batch,
  stored in the feature cache) and each run probes its own columns of it.

The worker never raises: a failing run writes ``error.json`` (exception + traceback) and
``traceback.txt`` into its folder and the task goes on with the next run.  A run is complete
when its ``metrics.json`` exists; a partial folder is wiped and the run redone.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from transferlab import io as tio
from transferlab.sweep.spec import Run, absolute_argv

RUNS = "runs"
LOGS = "logs"


# -- run folders ------------------------------------------------------------------------------------
def run_folder(out: str | Path, run: Run) -> Path:
    return Path(out) / RUNS / run.name


def read_metrics(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_complete(folder: Path, run: Run) -> bool:
    """metrics.json exists (and, for ``compare: true``, holds the per-layer comparison)."""
    metrics = read_metrics(folder)
    if metrics is None:
        return False
    return not (run.command == "fne" and run.options.get("compare") and "compare" not in metrics)


def run_status(folder: Path, run: Run) -> str:
    if is_complete(folder, run):
        return "done"
    if (folder / "error.json").is_file():
        return "failed"
    return "missing"


def read_error(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "error.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def record_failure(folder: Path, exc_text: str, tb: str, seconds: float = 0.0, log: str | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tio.write_text(folder / "traceback.txt", tb)
    tio.write_json(folder / "error.json", {"error": exc_text, "traceback": tb, "seconds": round(seconds, 3),
                                           "log": log, "time": time.strftime("%Y-%m-%d %H:%M:%S")})


def _start_folder(out: Path, run: Run, cwd: str) -> Path:
    folder = run_folder(out, run)
    if folder.exists():
        shutil.rmtree(folder)  # a partial or failed attempt: redo it from nothing
    folder.mkdir(parents=True)
    tio.write_json(folder / "run.json", {"name": run.name, "command": run.command, "options": run.options,
                                         "varied": run.varied, "key": run.key, "cli": run.cli(folder),
                                         "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    return folder


# -- tasks -----------------------------------------------------------------------------------------
@dataclass
class Task:
    kind: str  # "fne" (runs sharing one extraction) or "finetune"
    runs: list[dict]  # Run.to_dict()
    out: str  # the sweep folder
    cwd: str  # where the sweep was started (relative paths in the spec are relative to it)
    label: str  # log file name
    threads: int | None = None  # torch threads (local pool: cores / processes)
    loader_workers: int | None = None  # DataLoader workers when the spec does not set them
    env: dict = field(default_factory=dict)
    companions: list[dict] = field(default_factory=list)  # complete runs of an FNE group: their taps join the
    # extracted union, so a rerun asks the feature cache for the same layers as the first run did (a cache hit)

    @property
    def run_objects(self) -> list[Run]:
        return [Run.from_dict(r) for r in self.runs]

    @property
    def log(self) -> Path:
        return Path(self.out) / LOGS / f"{self.label}.log"


def make_tasks(runs: list[Run], out: str | Path, cwd: str | None = None, complete: list[Run] = ()) -> list[Task]:
    """One task per fine-tuning run; one per group of FNE runs that share backbone + data + extraction.

    ``complete``: the sweep's runs that are already done; an FNE group still extracts the union of
    ALL its members' layers (same cache key as the first time: the features come from the cache).
    """
    from transferlab.sweep.options import probe_dests

    cwd = cwd or os.getcwd()
    probe = probe_dests() | {"layers"}

    def group_key(run: Run) -> str:
        return json.dumps({k: v for k, v in run.options.items() if k not in probe}, sort_keys=True, default=str)

    groups: dict[str, list[Run]] = {}
    tasks: list[Task] = []
    for run in runs:
        if run.command == "fne":
            groups.setdefault(group_key(run), []).append(run)
        else:
            tasks.append(Task("finetune", [run.to_dict()], str(out), cwd, run.name))
    done: dict[str, list[Run]] = {}
    for run in complete:
        if run.command == "fne":
            done.setdefault(group_key(run), []).append(run)
    fne = []
    for gkey, members in groups.items():
        label = members[0].name if len(members) == 1 else f"fne-shared-{members[0].key}-{len(members)}runs"
        fne.append(Task("fne", [r.to_dict() for r in members], str(out), cwd, label,
                        companions=[r.to_dict() for r in done.get(gkey, [])]))
    return fne + tasks


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
                    record_failure(folder, _one_line(exc), tb, log=str(task.log))
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


def _words(task: Task, run: Run) -> list[str]:
    words = absolute_argv(run, task.cwd) + ["--quiet"]
    if task.loader_workers is not None and run.options.get("workers") is None:
        words += ["--workers", str(task.loader_workers)]
    return words


class _Attempt:
    """Time a run; on an exception record it in the run's folder and carry on."""

    def __init__(self, folder: Path, log: Path, name: str):
        self.folder, self.log, self.name = folder, log, name
        self.ok = False

    def __enter__(self):
        self.start = time.perf_counter()
        print(f"-- {self.name}", flush=True)
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
        record_failure(self.folder, _one_line(exc), text, seconds, str(self.log))
        return True


def _finetune_run(task: Task, out: Path, run: Run) -> None:
    from transferlab.finetune.cli import config_from_args
    from transferlab.finetune.train import finetune
    from transferlab.sweep.options import option_table

    folder = _start_folder(out, run, task.cwd)
    with _Attempt(folder, task.log, run.name):
        ns = option_table("finetune").parse(_words(task, run) + ["--out", str(folder)], run.name)
        cfg, _ = config_from_args(ns)
        start = time.perf_counter()
        finetune(cfg, resume=False, overwrite=True, verbose=True)
        metrics = read_metrics(folder)
        if metrics is not None and "seconds" not in metrics:
            metrics["seconds"] = time.perf_counter() - start
            tio.write_json(folder / "metrics.json", metrics)


def _tap_id(t) -> tuple:
    d = t if isinstance(t, dict) else t.to_dict()
    return d["module"], int(d["call"]), d["port"]


def _fne_group(task: Task, out: Path) -> None:
    """Extract the union of the runs' taps once; probe each run's slice into its folder."""
    from transferlab.embed.cli import embed_config_from_args
    from transferlab.embed.extract import embed
    from transferlab.models.registry import create_backbone
    from transferlab.models.taps import resolve_layers
    from transferlab.options import load_data_from_args
    from transferlab.probe.cli import probe_config_from_args
    from transferlab.probe.run import run_probe
    from transferlab.sweep.options import option_table

    table = option_table("fne")
    runs = task.run_objects
    folders = {r.name: _start_folder(out, r, task.cwd) for r in runs}
    args = {r.name: table.parse(_words(task, r), r.name) for r in runs}
    first = args[runs[0].name]
    start = time.perf_counter()

    # the shared part: data, backbone, the union of the tapped layers, one extraction
    print(f"-- shared: data and backbone for {len(runs)} run(s)", flush=True)
    try:
        splits = load_data_from_args(first)
        backbone = create_backbone(first.model, weights=first.weights)
        size = backbone.preprocessing.with_size(first.image_size).input_size
    except Exception as exc:
        _fail_runs(runs, folders, exc, task, start, "the shared data/backbone setup failed")
        return
    taps: dict[str, list] = {}
    for r in runs:
        with _Attempt(folders[r.name], task.log, f"{r.name}: layers {args[r.name].layers}"):
            taps[r.name] = resolve_layers(backbone, args[r.name].layers, size=size)
    if not taps:
        return
    union: dict[tuple, object] = {}
    for r in runs:
        for t in taps.get(r.name, []):
            union.setdefault(_tap_id(t), t)
    for c in task.companions:  # complete runs of this group: keep the union (and the cache key) as it was
        try:
            for t in resolve_layers(backbone, Run.from_dict(c).options.get("layers") or "all", size=size):
                union.setdefault(_tap_id(t), t)
        except Exception:  # noqa: BLE001 - it resolved when it ran; if not now, it only costs a cache miss
            pass
    # a canonical order (the model's module order), so the same union always has the same cache key
    position = {name: i for i, (name, _) in enumerate(backbone.model.named_modules())}
    ordered = sorted(union, key=lambda ident: (position.get(ident[0], len(position)), ident[1], ident[2]))
    spec = ",".join("pre_logits" if port == "input" else f"{module}@{call}" for module, call, port in ordered)
    config = embed_config_from_args(first)
    config.layers = spec
    print(f"-- shared: extract {len(union)} layers once for {len(taps)} run(s)", flush=True)
    try:
        result = embed(config, out_dir=None, splits=splits, backbone=backbone)
        have = {_tap_id(lyr) for lyr in result.train.layers}
        if have != set(union):
            raise RuntimeError(f"the shared extraction returned other layers than requested: "
                               f"{sorted(set(union) ^ have)}")
    except Exception as exc:
        _fail_runs([r for r in runs if r.name in taps], folders, exc, task, start, "the shared extraction failed")
        return
    extract_seconds = time.perf_counter() - start
    share = extract_seconds / len(taps)
    for r in runs:
        if r.name not in taps:
            continue
        ns, folder = args[r.name], folders[r.name]
        with _Attempt(folder, task.log, f"{r.name}: probe"):
            t0 = time.perf_counter()
            train, test = _slice(result.train, taps[r.name], ns.layers), _slice(result.test, taps[r.name], ns.layers)
            extra = {"model": result.train.meta.get("model"), "dataset": splits.name, "layers_spec": ns.layers,
                     "extract_seconds": round(extract_seconds, 3), "cached": result.cached, "run": str(folder),
                     "ignored": splits.ignored,
                     "shared_extraction": {"runs": len(taps), "layers": len(union), "dim": result.train.dim}}
            metrics = run_probe(train, test, folder, probe_config_from_args(ns, extra))
            metrics["seconds"] = round(time.perf_counter() - t0 + share, 3)
            tio.write_json(folder / "metrics.json", metrics)


def _fail_runs(runs, folders, exc, task, start, what: str) -> None:
    tb = traceback.format_exc()
    print(tb, file=sys.stderr, flush=True)
    for r in runs:
        record_failure(folders[r.name], f"{what}: {_one_line(exc)}", tb, time.perf_counter() - start, str(task.log))


def _slice(fs, taps, spec: str):
    """The columns of ``taps`` (in their order) from a feature set holding a superset of them."""
    import numpy as np

    from transferlab.embed.store import FeatureSet

    by_id = {_tap_id(lyr): lyr for lyr in fs.layers}
    blocks, layers, start = [], [], 0
    for t in taps:
        lyr = by_id[_tap_id(t)]
        blocks.append(fs.features[:, lyr["start"]:lyr["end"]])
        width = lyr["end"] - lyr["start"]
        layers.append(dict(t.to_dict(), start=start, end=start + width))
        start += width
    features = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    return FeatureSet(np.ascontiguousarray(features), fs.labels, fs.paths, fs.classes, layers, fs.skipped,
                      dict(fs.meta, layers_spec=spec))


# -- executors ---------------------------------------------------------------------------------------
def default_workers() -> int:
    """Processes of the local pool: one per GPU when there are GPUs, else one per core."""
    gpus = gpu_count()
    return gpus if gpus else (os.cpu_count() or 1)


def gpu_count() -> int:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return 0
    if shutil.which("nvidia-smi") is None and not Path("/proc/driver/nvidia").exists():
        return 0  # no NVIDIA driver: do not pay for importing torch just to learn that
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run_local(tasks: list[Task], workers: int | None, on_done) -> None:
    """Run the tasks in a pool of fresh processes (spawn), ``workers`` at a time.

    Each process is sized to its share of the machine: one GPU each when there are GPUs, else
    cores / processes torch threads.  A process that dies (segfault, out of memory) is recorded
    as the failure of its runs; the others go on.
    """
    import multiprocessing as mp
    from multiprocessing.connection import wait

    if not tasks:
        return
    if len(tasks) == 1:
        # one task (e.g. a whole FNE study sharing one extraction): run it here and save a process
        # start (interpreter + torch import); exceptions are still recorded per run by the worker
        execute_task(tasks[0])
        on_done(tasks[0])
        return
    gpus = gpu_count()
    pool = max(1, min(workers or (gpus or os.cpu_count() or 1), len(tasks)))
    cores = os.cpu_count() or 1
    threads = max(1, cores // pool)
    ctx = mp.get_context("spawn")
    queue = list(tasks)
    free = list(range(pool))
    running: dict = {}  # sentinel -> (process, task, slot)
    try:
        while queue or running:
            while queue and free:
                task, slot = queue.pop(0), free.pop(0)
                if pool > 1 or gpus:
                    task.threads = threads
                    task.loader_workers = max(0, min(threads, 4) - 1) if pool > 1 else None
                if gpus:
                    task.env = dict(task.env, CUDA_VISIBLE_DEVICES=str(slot % gpus))
                p = ctx.Process(target=execute_task, args=(task,), name=f"sweep-{task.label}", daemon=False)
                p.start()
                running[p.sentinel] = (p, task, slot)
            for sentinel in wait(list(running), timeout=5.0):
                p, task, slot = running.pop(sentinel)
                p.join()
                if p.exitcode != 0:
                    _record_dead(task, f"worker process exited with code {p.exitcode}"
                                       + (f" (signal {-p.exitcode})" if p.exitcode and p.exitcode < 0 else ""))
                free.append(slot)
                on_done(task)
    finally:
        for p, _task, _slot in running.values():  # interrupted: stop our own children
            if p.is_alive():
                p.terminate()
        for p, _task, _slot in running.values():
            p.join(timeout=10)


def _record_dead(task: Task, why: str) -> None:
    log = task.log
    tail = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""
    for run in task.run_objects:
        folder = run_folder(task.out, run)
        if not is_complete(folder, run) and not (folder / "error.json").exists():
            record_failure(folder, why, f"{why}\n--- last lines of {log} ---\n{tail}", log=str(log))


def parse_time(text: str | None) -> int | None:
    """Slurm-style time limits in minutes: 90, 1:30:00, 2-00:00:00, 45:00 (MM:SS)."""
    from transferlab.errors import BadInputError

    if text is None:
        return None
    s = str(text).strip()
    try:
        days = 0
        if "-" in s:
            d, s = s.split("-", 1)
            days = int(d)
        parts = [int(p) for p in s.split(":")]
    except ValueError:
        raise BadInputError(f"--time {text!r}: expected minutes, MM:SS, HH:MM:SS or D-HH:MM:SS") from None
    if len(parts) == 1:
        minutes = parts[0]
    elif len(parts) == 2:
        minutes = parts[0] + (parts[1] > 0)
    elif len(parts) == 3:
        minutes = parts[0] * 60 + parts[1] + (parts[2] > 0)
    else:
        raise BadInputError(f"--time {text!r}: expected minutes, MM:SS, HH:MM:SS or D-HH:MM:SS")
    minutes += days * 24 * 60
    if minutes <= 0:
        raise BadInputError(f"--time {text!r} must be positive")
    return minutes


def run_submitit(tasks: list[Task], out: Path, cluster: str, options: dict, on_done) -> list[str]:
    """Submit the tasks as one job array (``executor.map_array``) and wait for them.

    ``cluster``: "slurm", or submitit's "local" / "debug" executors (same code path, no cluster;
    what the tests use).  Returns the job ids.
    """
    import submitit

    from transferlab.errors import BadInputError

    if not tasks:
        return []
    if cluster == "slurm" and shutil.which("sbatch") is None:
        raise BadInputError("--executor slurm: sbatch is not on PATH; run the sweep on a Slurm login node "
                            "(or use --executor local)")
    folder = Path(out) / "slurm"
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster=cluster)
    params = {"name": f"transferlab-sweep-{Path(out).name}"[:60]}
    if options.get("time") is not None:
        params["timeout_min"] = parse_time(options["time"])
    if options.get("gpus_per_node") is not None:
        params["gpus_per_node"] = int(options["gpus_per_node"])
    if options.get("cpus_per_task") is not None:
        params["cpus_per_task"] = int(options["cpus_per_task"])
    if cluster == "slurm":
        if options.get("partition"):
            params["slurm_partition"] = options["partition"]
        if options.get("array_parallelism") is not None:
            params["slurm_array_parallelism"] = int(options["array_parallelism"])
    executor.update_parameters(**params)
    jobs = executor.map_array(execute_task, tasks)
    ids = [str(j.job_id) for j in jobs]
    tio.write_json(folder / "jobs.json", {"cluster": cluster, "parameters": params,
                                          "jobs": [{"job_id": i, "task": t.label, "runs": [r["name"] for r in t.runs]}
                                                   for i, t in zip(ids, tasks)]})
    for job, task in zip(jobs, tasks):
        try:
            job.result()
        except Exception as exc:  # the job itself died (time limit, preemption, node failure)
            _record_dead(task, f"job {job.job_id} failed: {_one_line(exc)}")
        on_done(task)
    return ids
