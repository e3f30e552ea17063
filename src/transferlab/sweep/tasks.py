"""Grouping a sweep's pending runs into tasks, the unit an executor runs in one process (or Slurm job).

- ``finetune``: one fine-tuning run;
- ``fne``: every pending FNE run that shares a backbone and data (they differ only in ``layers``
  and probe options).  The union of their taps is extracted ONCE (one forward pass per batch,
  stored in the feature cache) and each run probes its own columns of it.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from transferlab.fne.config import EmbedConfig, FNEConfig
from transferlab.sweep.folders import LOGS
from transferlab.sweep.spec import Run

# FNE options that do not change the extracted features: runs differing only in these share one extraction.
# Read from the configs: every fne field that extraction (``embed``) does not have, plus ``layers``, whose
# union is extracted once for the whole group.
PROBE_ONLY = frozenset(FNEConfig.model_fields) - frozenset(EmbedConfig.model_fields) | {"layers"}


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
    cwd = cwd or os.getcwd()
    groups: dict[str, list[Run]] = {}
    tasks: list[Task] = []
    for run in runs:
        if run.command == "fne":
            groups.setdefault(extraction_key(run), []).append(run)
        else:
            tasks.append(Task("finetune", [run.to_dict()], str(out), cwd, run.name))
    done: dict[str, list[Run]] = {}
    for run in complete:
        if run.command == "fne":
            done.setdefault(extraction_key(run), []).append(run)
    fne = []
    for gkey, members in groups.items():
        label = members[0].name if len(members) == 1 else f"fne-shared-{members[0].key}-{len(members)}runs"
        fne.append(Task("fne", [r.to_dict() for r in members], str(out), cwd, label,
                        companions=[r.to_dict() for r in done.get(gkey, [])]))
    return fne + tasks


def extraction_key(run: Run) -> str:
    """What decides an FNE run's extracted features: runs with the same key share one extraction."""
    return json.dumps({k: v for k, v in run.config.items() if k not in PROBE_ONLY}, sort_keys=True, default=str)
