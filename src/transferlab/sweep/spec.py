"""Sweep specs: a YAML file describing a study, expanded into runs validated by the commands' own configs.

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
Yosinski study.  ``command`` may be set per run in ``runs`` (and in ``grid``).  Option names are
the fields of ``FNEConfig`` / ``FinetuneConfig`` (or their command-line spellings, ``--backbone-lr-mult``,
``no-cache-frozen: true``); every run is one of those configs, so a spec accepts and refuses exactly
what the command line and Python do.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transferlab import io as tio
from transferlab.data.config import FASHION_MNIST
from transferlab.errors import BadInputError
from transferlab.schema import Config, ConfigError

TOP_KEYS = ("name", "description", "command", "base", "grid", "runs")
COMMANDS = ("fne", "finetune")
# set by the sweep itself for every run (its folder, quiet workers): not settable in a spec
CONTROLLED = frozenset({"out", "overwrite", "quiet"})
# options whose values are file system paths (relative ones are relative to where the sweep starts)
PATH_OPTIONS = frozenset({"data", "train_list", "test_list", "images", "weights"})
_REF = re.compile(r"^\$\{\s*([A-Za-z0-9_-]+)\s*\}$")


def config_class(command: str) -> type[Config]:
    """The config a sweep run of ``command`` is."""
    if command == "fne":
        from transferlab.fne.config import FNEConfig

        return FNEConfig
    if command == "finetune":
        from transferlab.finetune.config import FinetuneConfig

        return FinetuneConfig
    raise BadInputError(f"unknown sweep command {command!r}: choose {' or '.join(COMMANDS)}")


@dataclass
class Run:
    """One planned run of a sweep."""

    name: str  # folder name under DIR/runs: readable + hash suffix, stable across reruns
    command: str  # fne | finetune
    options: dict  # every option the spec sets for this run (field -> value as written, references resolved)
    varied: dict  # the options the grid/runs entries set (the columns of the results table)
    argv: list[str]  # the command's words for those options (without --out)
    key: str  # digest of the command + the result-changing options that differ from the defaults
    config: dict = field(default_factory=dict)  # the validated config, every field

    def cli(self, out: str | Path) -> str:
        """The equivalent single command."""
        import shlex

        return " ".join(["transferlab", self.command, *map(shlex.quote, self.argv), "--out", shlex.quote(str(out))])

    def make_config(self, cwd: str | os.PathLike | None = None, **runtime) -> Config:
        """The run's config, relative paths made absolute against ``cwd``, plus runtime fields (out, quiet...)."""
        cls = config_class(self.command)
        values = absolute_paths(self.options, cwd) if cwd is not None else dict(self.options)
        return cls(**{**values, **runtime})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Run":
        return cls(**{k: d[k] for k in ("name", "command", "options", "varied", "argv", "key")},
                   config=d.get("config", {}))


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
    from transferlab.io import read_yaml

    spec = read_yaml(path, "sweep spec")
    if not isinstance(spec, dict):
        raise BadInputError(f"{path}: a sweep spec is a mapping with keys {', '.join(TOP_KEYS)}")
    return spec


def plan_from_file(path: str | os.PathLike) -> Plan:
    spec = load_spec(path)
    plan = make_plan(spec, default_name=Path(path).stem)
    plan.source = str(Path(path).resolve())
    return plan


def _normalise(cls: type[Config], key, value, where: str) -> tuple[str, object]:
    name, value = cls.normalise(str(key), value, where)
    if name in CONTROLLED:
        raise BadInputError(f"{where}: {key} is set by the sweep for every run (each run gets its own folder under "
                            "DIR/runs); leave it out of the spec")
    return name, value


def make_plan(spec: dict, default_name: str = "sweep") -> Plan:
    """Expand and validate a spec: every option name and value is checked by the run's config before anything runs."""
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
    points = _points(spec)
    mixed = any(p.get("command", command) != command for _, p in points)
    columns: list[str] = []
    planned: dict[str, Run] = {}  # key -> run
    for where, point in points:
        cmd = point.pop("command", command)
        if cmd not in COMMANDS:
            raise BadInputError(f"{where}: command {cmd!r}: choose {' or '.join(COMMANDS)}")
        cls = config_class(cmd)
        merged: dict = {}
        for k, v in base.items():
            name, v = _normalise(cls, k, v, "base")
            merged[name] = v
        varied_keys = []
        for k, v in point.items():
            name, v = _normalise(cls, k, v, where)
            merged[name] = v
            varied_keys.append(name)
        merged = _resolve_references(merged, where)
        label = f"{where} ({_describe(merged, varied_keys)})"
        if merged.get("data") is None and merged.get("train_list") is None:
            raise BadInputError(f"{where}: no dataset: set data (e.g. data: fashion-mnist) in base or in the grid")
        try:
            config = cls(**merged)
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from None
        key = hashlib.sha256(json.dumps([cmd, config.identity()], sort_keys=True, default=str).encode()).hexdigest()[:8]
        varied = {k: merged.get(k) for k in varied_keys}
        if mixed:
            varied = {"command": cmd, **varied}
        for k in varied:
            if k not in columns:
                columns.append(k)
        if key not in planned:  # the same run reached twice (e.g. K=0 frozen == K=0 fine-tuned): run it once
            argv = config.to_argv(only=set(merged))
            planned[key] = Run(run_name(cmd, varied, key), cmd, merged, varied, argv, key, config.to_dict())
    plan_name = str(spec.get("name") or default_name)
    return Plan(plan_name, list(planned.values()), columns, spec)


def _points(spec: dict) -> list[tuple[str, dict]]:
    """``(where, options)`` of every run the spec lists: the grid's products, then the ``runs`` entries."""
    points: list[tuple[str, dict]] = []
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
    return points


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


def absolute_paths(options: dict, cwd: str | os.PathLike) -> dict:
    """``options`` with relative paths made absolute against ``cwd`` (where the sweep was started)."""
    opts = dict(options)
    for k in PATH_OPTIONS:
        v = opts.get(k)
        if isinstance(v, str) and v and v != FASHION_MNIST and not os.path.isabs(v):
            opts[k] = tio.absolute_path(v, cwd)
    return opts
