"""The typed config of the sweep capability: ``transferlab sweep`` (``transferlab report``'s is
``transferlab.report.config``)."""
from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from transferlab.schema import Config, option, quiet_option

DEFAULT_MAX_RUNS = 1000


class SweepConfig(Config):
    """How a study runs: where, on which executor, with how many processes."""

    command = "sweep"
    spec: str = option(..., "the study: command, base options, grid and/or runs (YAML)", positional=True,
                       metavar="SPEC.yaml")
    out: str = option(..., "sweep folder; rerunning into it completes only the missing or failed runs",
                      metavar="DIR", runtime=True)
    executor: Literal["local", "slurm", "submitit-local", "submitit-debug"] = option(
        "local", "local process pool, slurm (a submitit job array), or submitit's local/debug executors (the Slurm "
                 "code path without a cluster)", runtime=True)
    workers: int | None = option(None, "local pool size", ge=1, runtime=True, metavar="N",
                                 default_text="one process per GPU, else per CPU core")
    max_runs: int = option(DEFAULT_MAX_RUNS, "refuse to start more than N runs", ge=0, metavar="N", runtime=True)
    dry_run: bool = option(False, "check the whole grid, list the runs and their status; run nothing", runtime=True)
    overwrite: bool = option(False, "replace a run of another command that --out holds (a sweep folder is always "
                                    "completed, never replaced)", runtime=True)
    quiet: bool = quiet_option()
    partition: str | None = option(None, "Slurm partition", group="slurm (--executor slurm)", runtime=True)
    time: str | None = option(None, "time limit per job: minutes, MM:SS, HH:MM:SS or D-HH:MM:SS",
                              group="slurm (--executor slurm)", runtime=True, default_text="the cluster's")
    gpus_per_node: int | None = option(None, "GPUs per job", ge=0, group="slurm (--executor slurm)", runtime=True)
    cpus_per_task: int | None = option(None, "CPU cores per job", ge=1, group="slurm (--executor slurm)",
                                       runtime=True)
    array_parallelism: int | None = option(None, "jobs of the array running at once", ge=1,
                                           group="slurm (--executor slurm)", runtime=True)

    @field_validator("time")
    @classmethod
    def _time(cls, value):
        if value is not None:
            parse_time(value)
        return value

    def slurm(self) -> dict:
        return {k: getattr(self, k) for k in ("partition", "time", "gpus_per_node", "cpus_per_task",
                                               "array_parallelism")}


def parse_time(text: str | None) -> int | None:
    """Slurm-style time limits in minutes: 90, 1:30:00, 2-00:00:00, 45:00 (MM:SS)."""
    if text is None:
        return None
    s = str(text).strip()
    bad = ValueError("must be minutes, MM:SS, HH:MM:SS or D-HH:MM:SS")
    try:
        days = 0
        if "-" in s:
            d, s = s.split("-", 1)
            days = int(d)
        parts = [int(p) for p in s.split(":")]
    except ValueError:
        raise bad from None
    if len(parts) == 1:
        minutes = parts[0]
    elif len(parts) == 2:
        minutes = parts[0] + (parts[1] > 0)
    elif len(parts) == 3:
        minutes = parts[0] * 60 + parts[1] + (parts[2] > 0)
    else:
        raise bad
    minutes += days * 24 * 60
    if minutes <= 0:
        raise ValueError("must be a positive time limit")
    return minutes
