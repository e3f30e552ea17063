"""``transferlab demo``: every capability, offline, on built-in defaults.

Each capability contributes one part: a function ``part(out_dir: Path, quick: bool) -> None``
that prints its numbers and where its report/plots are.  Parts run in order.
"""
from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

# (title, "module:function")
PARTS = (
    ("Full-network embedding vs last layer (fashion-mnist, efficientnet_lite0)", "transferlab.probe.demo:part"),
    ("Fine-tuning (fashion-mnist, efficientnet_lite0)", "transferlab.finetune.demo:part"),
    ("Word embeddings (GloVe 6B 50d)", "transferlab.words.demo:part"),
)


def run_demo(out_dir: str | Path = "demo-output", quick: bool = False, only: list[str] | None = None) -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for title, target in PARTS:
        module_name, func_name = target.split(":")
        key = module_name.split(".")[1]
        if only and key not in only:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # capability not built yet
            raise
        print(f"\n=== {title} ===", flush=True)
        start = time.perf_counter()
        getattr(module, func_name)(out / key, quick)
        print(f"({time.perf_counter() - start:.0f} s)", flush=True)
    print(f"\nAll demo outputs are under {out.resolve()}")


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run every capability offline on built-in defaults")
    p.add_argument("--out", default="demo-output", help="output folder (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="smaller settings, for a smoke test")
    p.add_argument("--only", nargs="+", choices=["probe", "finetune", "words"], help="run only these parts")
    p.set_defaults(func=lambda a: run_demo(a.out, a.quick, a.only))
