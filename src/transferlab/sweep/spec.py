"""Sweep specs: a YAML file describing a study, expanded into validated runs.

A spec::

    name: fne-layers                 # optional, for the report
    command: fne                     # fne or finetune (default for every run)
    base:                            # options shared by every run
      data: fashion-mnist
      per_class: 30
      image_size: 64
    grid:                            # a product over these values ...
      layers: [all, stages, last]
      post: [fne, l2]
    runs:                            # ... and/or an explicit list of runs
      - {layers: stages, C: 0.1}

``grid`` may also be a list of mappings (the union of several products).  A value written
``${OPTION}`` takes the value of another option of the same run: ``freeze: ["${transfer}", 0]``
with ``transfer: [0, 1, 2]`` is "frozen" (freeze = transfer) vs "fine-tuned" (freeze 0), the
Yosinski study.  ``command`` may be set per run in ``runs`` (and in ``grid``).  Option names
are those of ``transferlab fne`` / ``transferlab finetune`` (see ``sweep.options``).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transferlab.errors import BadInputError
from transferlab.sweep.options import COMMANDS, PATH_OPTIONS, option_table

TOP_KEYS = ("name", "description", "command", "base", "grid", "runs")
_REF = re.compile(r"^\$\{\s*([A-Za-z0-9_-]+)\s*\}$")


@dataclass
class Run:
    """One planned run of a sweep."""

    name: str  # folder name under DIR/runs: readable + hash suffix, stable across reruns
    command: str  # fne | finetune
    options: dict  # every option the spec sets for this run (dest -> value as written, references resolved)
    varied: dict  # the options the grid/runs entries set (the columns of the results table)
    argv: list[str]  # the command's words (without --out/--json/--quiet)
    key: str  # digest of the command + the options that change the result

    def cli(self, out: str | Path) -> str:
        """The equivalent single command."""
        import shlex

        return " ".join(["transferlab", self.command, *map(shlex.quote, self.argv), "--out", shlex.quote(str(out))])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Run":
        return cls(**{k: d[k] for k in ("name", "command", "options", "varied", "argv", "key")})


@dataclass
class Plan:
    name: str
    runs: list[Run]
    columns: list[str]  # varied option names, in spec order ("command" first when it varies)
    spec: dict = field(default_factory=dict)
    source: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "source": self.source, "columns": self.columns, "spec": self.spec,
                "runs": [r.to_dict() for r in self.runs]}

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        return cls(d["name"], [Run.from_dict(r) for r in d["runs"]], d["columns"], d.get("spec", {}), d.get("source", ""))


def load_spec(path: str | os.PathLike) -> dict:
    import yaml

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInputError(f"cannot read sweep spec {path}: {exc.strerror or exc}") from exc
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BadInputError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(spec, dict):
        raise BadInputError(f"{path}: a sweep spec is a mapping with keys {', '.join(TOP_KEYS)}")
    return spec


def plan_from_file(path: str | os.PathLike) -> Plan:
    spec = load_spec(path)
    plan = make_plan(spec, default_name=Path(path).stem)
    plan.source = str(Path(path).resolve())
    return plan


def make_plan(spec: dict, default_name: str = "sweep") -> Plan:
    """Expand and validate a spec: every option name and value is checked before anything runs."""
    unknown = sorted(set(spec) - set(TOP_KEYS))
    if unknown:
        raise BadInputError(f"sweep spec: unknown key(s) {', '.join(map(str, unknown))}; the keys are "
                            f"{', '.join(TOP_KEYS)} (options go under base, grid or runs)")
    command = spec.get("command", "fne")
    if command not in COMMANDS:
        raise BadInputError(f"sweep spec: command {command!r}: choose {' or '.join(COMMANDS)}")
    base = spec.get("base") or {}
    if not isinstance(base, dict):
        raise BadInputError("sweep spec: base must be a mapping of option: value")
    points: list[tuple[str, dict]] = []  # (where, entry)
    grid = spec.get("grid")
    if grid is not None:
        grids = grid if isinstance(grid, list) else [grid]
        for i, g in enumerate(grids):
            where = "grid" if len(grids) == 1 else f"grid[{i}]"
            points += [(where, p) for p in _expand_grid(g, where)]
    runs = spec.get("runs")
    if runs is not None:
        if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
            raise BadInputError("sweep spec: runs must be a list of mappings of option: value")
        points += [(f"runs[{i}]", dict(r)) for i, r in enumerate(runs)]
    if not points:
        raise BadInputError("sweep spec: the grid is empty: it defines no run (give grid: {option: [values, ...]} "
                            "and/or runs: [{option: value}, ...])")

    mixed = any(p.get("command", command) != command for _, p in points)
    columns: list[str] = []
    planned: dict[str, Run] = {}  # key -> run
    for where, point in points:
        cmd = point.pop("command", command)
        if cmd not in COMMANDS:
            raise BadInputError(f"{where}: command {cmd!r}: choose {' or '.join(COMMANDS)}")
        table = option_table(cmd)
        merged: dict = {}
        for k, v in base.items():
            dest, v = table.normalise(k, v, "base")
            merged[dest] = v
        varied_keys = []
        for k, v in point.items():
            dest, v = table.normalise(k, v, where)
            merged[dest] = v
            varied_keys.append(dest)
        merged = _resolve_references(merged, where)
        if merged.get("data") is None and merged.get("train_list") is None:
            raise BadInputError(f"{where}: no dataset: set data (e.g. data: fashion-mnist) in base or in the grid")
        argv = table.argv(merged, where)
        ns = table.parse(argv, f"{where} ({_describe(merged, varied_keys)})")
        identity = table.identity(ns)
        key = hashlib.sha256(json.dumps([cmd, identity], sort_keys=True, default=str).encode()).hexdigest()[:8]
        varied = {k: merged.get(k) for k in varied_keys}
        if mixed:
            varied = {"command": cmd, **varied}
        for k in varied:
            if k not in columns:
                columns.append(k)
        if key not in planned:  # the same run reached twice (e.g. K=0 frozen == K=0 fine-tuned): run it once
            planned[key] = Run(run_name(cmd, varied, key), cmd, merged, varied, argv, key)
    plan_name = str(spec.get("name") or default_name)
    return Plan(plan_name, list(planned.values()), columns, spec)


def _expand_grid(grid, where: str) -> list[dict]:
    if not isinstance(grid, dict):
        raise BadInputError(f"sweep spec: {where} must be a mapping of option: [values, ...]")
    if not grid:
        raise BadInputError(f"sweep spec: {where} is empty: it defines no run")
    keys, values = [], []
    for k, v in grid.items():
        vals = v if isinstance(v, list) else [v]
        if not vals:
            raise BadInputError(f"sweep spec: {where}: {k} has no values, so the grid is empty (no run)")
        keys.append(k)
        values.append(vals)
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _resolve_references(options: dict, where: str) -> dict:
    out = dict(options)
    for _ in range(len(out) + 1):
        changed = False
        for k, v in out.items():
            m = _REF.match(v) if isinstance(v, str) else None
            if m:
                ref = m.group(1).replace("-", "_")
                if ref not in out:
                    raise BadInputError(f"{where}: {k}: {v!r} refers to {ref}, which this run does not set")
                if ref == k:
                    raise BadInputError(f"{where}: {k} refers to itself")
                out[k] = out[ref]
                changed = True
        if not changed:
            return out
    raise BadInputError(f"{where}: circular ${{...}} references")


def _describe(options: dict, keys: list[str]) -> str:
    return ", ".join(f"{k}={options.get(k)}" for k in keys) or "base options"


def run_name(command: str, varied: dict, key: str, width: int = 64) -> str:
    """``fne-layers=stages-1a2b3c4d``: readable, and stable for the same options (hash suffix)."""
    parts = "_".join(f"{k}={_short(v)}" for k, v in varied.items() if k != "command")
    slug = re.sub(r"[^A-Za-z0-9=.,_+-]+", "-", f"{command}-{parts}" if parts else command).strip("-")
    slug = re.sub(r"-{2,}", "-", slug)[:width].rstrip("-_")
    return f"{slug}-{key}"


def _short(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    text = str(value)
    if os.sep in text:  # a path: its last part is what tells runs apart
        text = Path(text).name or text
    return text


def absolute_argv(run: Run, cwd: str | os.PathLike) -> list[str]:
    """The run's words with relative paths made absolute against ``cwd`` (where the sweep was started)."""
    table = option_table(run.command)
    opts = dict(run.options)
    for k in PATH_OPTIONS:
        v = opts.get(k)
        if isinstance(v, str) and v and v != "fashion-mnist" and not os.path.isabs(v):
            candidate = Path(cwd) / v
            if candidate.exists():
                opts[k] = str(candidate.resolve())
    return table.argv(opts, run.name)
