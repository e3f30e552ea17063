"""The two executors of a sweep's tasks: a local pool of fresh processes, and submitit (Slurm job arrays)."""
from __future__ import annotations

import shutil
from pathlib import Path

from transferlab import io as tio
from transferlab.errors import BadInputError
from transferlab.runtime import cpu_count, gpu_count
from transferlab.sweep.config import parse_time
from transferlab.sweep.folders import is_complete, read_error, record_failure, run_folder
from transferlab.sweep.tasks import Task
from transferlab.sweep.worker import _one_line, execute_task


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
    pool = max(1, min(workers or (gpus or cpu_count()), len(tasks)))
    threads = max(1, cpu_count() // pool)
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
                    record_dead(task, f"worker process exited with code {p.exitcode}"
                                      + (f" (signal {-p.exitcode})" if p.exitcode and p.exitcode < 0 else ""))
                free.append(slot)
                on_done(task)
    finally:
        for p, _task, _slot in running.values():  # interrupted: stop our own children
            if p.is_alive():
                p.terminate()
        for p, _task, _slot in running.values():
            p.join(timeout=10)


def record_dead(task: Task, why: str) -> None:
    """A task whose process died: its unfinished runs fail with the end of its log."""
    log = task.log
    tail = log.read_text(encoding="utf-8", errors="replace")[-4000:] if log.exists() else ""
    for run in task.run_objects:
        folder = run_folder(task.out, run)
        if not is_complete(folder, run) and read_error(folder) is None:
            record_failure(folder, run, why, f"{why}\n--- last lines of {log} ---\n{tail}", user_error=False,
                           log=str(log))


def run_submitit(tasks: list[Task], out: Path, cluster: str, options: dict, on_done) -> list[str]:
    """Submit the tasks as one job array (``executor.map_array``) and wait for them.

    ``cluster``: "slurm", or submitit's "local" / "debug" executors (same code path, no cluster;
    what the tests use).  Returns the job ids.
    """
    import submitit

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
            record_dead(task, f"job {job.job_id} failed: {_one_line(exc)}")
        on_done(task)
    return ids
