"""``transferlab demo``: the lab's lessons, offline, on built-in defaults, with real numbers.

Each capability contributes one part, ``part(out_dir: Path, quick: bool, say) -> dict``: it calls
``say(line)`` for what it shows and returns its numbers and the reports it wrote (``{"reports":
{name: path}, ...}``).  Parts run in order; the demo ends by listing every report.  Every run of
the demo replaces the previous demo's runs (each part writes its folders with ``overwrite``).
"""
from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Literal

from transferlab.schema import Config, option, quiet_option

# (key, title, "module:function")
PARTS = (
    ("fne", "full-network embedding vs the last layer", "transferlab.fne.demo:part"),
    ("finetune", "fine-tuning: head only vs the full network vs from scratch", "transferlab.finetune.demo:part"),
    ("words", "word embeddings (GloVe 6B 50d)", "transferlab.words.demo:part"),
)


class DemoConfig(Config):
    command = "demo"
    out: str = option("demo-output", "output folder (each part's runs are replaced on every demo)", metavar="DIR")
    quick: bool = option(False, "smaller settings, for a smoke test")
    only: list[Literal["fne", "finetune", "words"]] | None = option(
        None, "run only these parts", nargs="+", metavar="PART", default_text="every part: fne finetune words")
    quiet: bool = quiet_option("no progress bars on stderr (the numbers are still printed)")


def run_demo(config: DemoConfig | None = None, *, as_json: bool = False, **options) -> dict:
    """Run the parts; print their lines (to stderr with ``as_json``, which prints one JSON object instead)."""
    config = config.replace(**options) if config is not None else DemoConfig(**options)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    stream = sys.stderr if as_json else sys.stdout

    def say(line: str = "") -> None:
        print(line, file=stream, flush=True)

    results: dict = {}
    for key, title, target in PARTS:
        if config.only and key not in config.only:
            continue
        module_name, func_name = target.split(":")
        say(f"\n=== {title} ===")
        start = time.perf_counter()
        results[key] = getattr(importlib.import_module(module_name), func_name)(out / key, config.quick, say)
        results[key]["seconds"] = round(time.perf_counter() - start, 1)
        say(f"({results[key]['seconds']:.0f} s)")
    say("\nReports:")
    for key, part in results.items():
        for name, path in part.get("reports", {}).items():
            say(f"  {key:<8} {name:<34} {path}")
    say(f"All demo outputs are under {out.resolve()}")
    if as_json:
        print(json.dumps(results, default=str))
    return results
