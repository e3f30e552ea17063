"""Checks of a whole plan against the world before any run starts: data, models, layers, block counts.

The configs have already checked every value's type and range (``spec.make_plan``); here each
distinct dataset is opened (file listing only), each distinct model is built once without weights,
each FNE layer spec is resolved against it and each fine-tuning K is compared with its block count,
so a typo in one corner of a grid is an error before the first run instead of a failed run an hour in.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict

from transferlab.errors import TransferlabError
from transferlab.sweep.spec import Plan, Run, absolute_paths


class PlanError(TransferlabError):
    """A plan whose runs could not even start; the message names the runs and the problem."""


def _key(run: Run, fields: tuple[str, ...], cwd: str) -> str:
    options = absolute_paths(run.config, cwd)
    return json.dumps({k: options.get(k) for k in fields}, sort_keys=True, default=str)


def _named(runs: list[Run]) -> str:
    names = [r.name for r in runs]
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_plan(plan: Plan, cwd: str | os.PathLike | None = None, local: bool = True) -> None:
    """Raise ``PlanError`` naming every problem found (at most a few per kind).  ``local``: the runs will
    run on this machine, so the devices they ask for must exist here (not so for a Slurm sweep)."""
    cwd = str(cwd or os.getcwd())
    problems: list[str] = []
    problems += _check_data(plan.runs, cwd)
    if local:
        problems += _check_devices(plan.runs)
    backbones = {}
    by_model: dict[str, list[Run]] = defaultdict(list)
    for run in plan.runs:
        by_model[_key(run, ("model", "weights"), cwd)].append(run)
    for key, runs in by_model.items():
        options = json.loads(key)
        try:
            from transferlab.models.registry import create_backbone, resolve_name

            resolve_name(options["model"])
            if options.get("weights") and not os.path.isfile(options["weights"]):
                raise TransferlabError(f"weights (--weights) file not found: {options['weights']}")
            backbones[key] = create_backbone(options["model"], pretrained=False)
        except TransferlabError as exc:
            problems.append(f"{_named(runs)}: {exc}")
    problems += _check_layers(plan.runs, backbones, cwd)
    problems += _check_blocks(plan.runs, backbones, cwd)
    if problems:
        shown = problems[:6]
        more = f" (and {len(problems) - 6} more problems)" if len(problems) > 6 else ""
        raise PlanError("the sweep was not started: " + "; ".join(shown) + more)


def _check_data(runs: list[Run], cwd: str) -> list[str]:
    from transferlab.data.sources import load_dataset

    fields = ("data", "train_list", "test_list", "images", "test_fraction", "seed", "per_class")
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[_key(run, fields, cwd)].append(run)
    problems = []
    for key, members in groups.items():
        options = json.loads(key)
        try:
            load_dataset(options.pop("data"), **options)
        except TransferlabError as exc:
            problems.append(f"{_named(members)}: {exc}")
    return problems


def _check_devices(runs: list[Run]) -> list[str]:
    from transferlab.runtime import pick_device

    problems = []
    for device in sorted({r.config.get("device") for r in runs if r.config.get("device")}):
        try:
            pick_device(device)
        except TransferlabError as exc:
            problems.append(f"{_named([r for r in runs if r.config.get('device') == device])}: {exc}")
    return problems


def _check_layers(runs: list[Run], backbones: dict, cwd: str) -> list[str]:
    from transferlab.models.taps import resolve_layers

    groups: dict[tuple, list[Run]] = defaultdict(list)
    for run in runs:
        if run.command == "fne":
            groups[(_key(run, ("model", "weights"), cwd), run.config.get("image_size"),
                    run.config.get("layers", "all"))].append(run)
    problems = []
    for (model_key, size, layers), members in groups.items():
        backbone = backbones.get(model_key)
        if backbone is None:
            continue
        try:
            resolve_layers(backbone, layers, size=backbone.preprocessing.with_size(size).input_size)
        except TransferlabError as exc:
            problems.append(f"{_named(members)}: {exc}")
    return problems


def _check_blocks(runs: list[Run], backbones: dict, cwd: str) -> list[str]:
    from transferlab.finetune.config import parse_k
    from transferlab.models.blocks import backbone_blocks

    problems = []
    counts: dict[str, int] = {}
    for run in runs:
        if run.command != "finetune":
            continue
        key = _key(run, ("model", "weights"), cwd)
        backbone = backbones.get(key)
        if backbone is None:
            continue
        if key not in counts:
            counts[key] = len(backbone_blocks(backbone))
        for option in ("transfer", "freeze"):
            try:
                parse_k(run.config.get(option, "all"), counts[key], f"--{option}", backbone.name)
            except TransferlabError as exc:
                problems.append(f"{run.name}: {exc}")
    return problems
