"""``transferlab demo``: every capability, offline, on built-in defaults.

Each capability contributes one part: a function ``part(out_dir: Path, quick: bool) -> None``
that prints its numbers and where its report/plots are.  Parts run in order.
"""
from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Literal

from transferlab.schema import Config, option

# (key, title, "module:function")
PARTS = (
    ("fne", "full-network embedding vs last layer", "transferlab.fne.demo:part"),
    ("finetune", "fine-tuning: head only, full, from scratch", "transferlab.finetune.demo:part"),
    ("words", "word embeddings (GloVe 6B 50d)", "transferlab.words.demo:part"),
)


class DemoConfig(Config):
    command = "demo"
    out: str = option("demo-output", "output folder (each part's runs are replaced on every demo)", metavar="DIR")
    quick: bool = option(False, "smaller settings, for a smoke test")
    only: list[Literal["fne", "finetune", "words"]] | None = option(
        None, "run only these parts", nargs="+", metavar="PART", default_text="every part: fne finetune words")
    quiet: bool = option(False, "no progress bars on stderr (the numbers are still printed)", runtime=True)


def run_demo(config: DemoConfig | None = None, **options) -> None:
    config = config.replace(**options) if config is not None else DemoConfig(**options)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    for key, title, target in PARTS:
        if config.only and key not in config.only:
            continue
        module_name, func_name = target.split(":")
        module = importlib.import_module(module_name)
        print(f"\n=== {title} ===", flush=True)
        start = time.perf_counter()
        getattr(module, func_name)(out / key, config.quick)
        print(f"({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\nAll demo outputs are under {out.resolve()}")
