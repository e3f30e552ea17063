"""A 6-run FNE study (6 layer settings, one backbone, one dataset) vs ONE `transferlab fne` run.

Both sides run as the user would run them (`transferlab sweep SPEC --out DIR` and
`transferlab fne ... --out RUN`, each a fresh process) with a cold feature cache (a fresh
TRANSFERLAB_CACHE each), measured in the same invocation.  The sweep extracts the union of the
six settings' layers once and probes each slice; target: `sweep_over_single` <= 1.5.

    python benchmarks/bench_sweep.py --json
    python benchmarks/bench_sweep.py --data ../shared/data/hymenoptera --per-class 0 --image-size 0 --json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAYERS = ["all", "stages", "last", "blocks.1,blocks.2", "re:^blocks\\.5\\.\\d+$", "blocks.6,conv_head"]


def timed(cmd: list[str], env: dict) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--per-class", type=int, default=30, help="0 = the whole dataset")
    ap.add_argument("--image-size", type=int, default=64, help="0 = the model's own size")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import yaml

    exe = [sys.executable, "-m", "transferlab"]
    base = {"data": args.data, "model": args.model}
    if args.per_class:
        base["per_class"] = args.per_class
    if args.image_size:
        base["image_size"] = args.image_size
    single_args = [w for k, v in base.items() for w in (f"--{k.replace('_', '-')}", str(v))]
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        tmp = Path(tmp)
        spec = tmp / "fne_layers.yaml"
        spec.write_text(yaml.safe_dump({"name": "bench", "command": "fne", "base": base, "grid": {"layers": LAYERS}}))
        env_single = dict(os.environ, TRANSFERLAB_CACHE=str(tmp / "cache-single"))
        env_sweep = dict(os.environ, TRANSFERLAB_CACHE=str(tmp / "cache-sweep"))
        single_s, single_out = timed(exe + ["fne", *single_args, "--layers", "all", "--quiet", "--json",
                                            "--out", str(tmp / "single")], env_single)
        sweep_s, sweep_out = timed(exe + ["sweep", str(spec), "--out", str(tmp / "sweep"), "--json"], env_sweep)
        single, sweep = json.loads(single_out), json.loads(sweep_out)
        extractions = len(list((tmp / "cache-sweep" / "features").glob("*.npz"))) // 2
    result = {
        "sweep_over_single": round(sweep_s / single_s, 3),
        "target": 1.5,
        "sweep_seconds": round(sweep_s, 2),
        "single_seconds": round(single_s, 2),
        "runs": sweep["n_runs"],
        "runs_done": sweep["done"],
        "extractions_in_sweep": extractions,
        "single_accuracy": single["accuracy"],
        "sweep_accuracy": {r["run"]: r["accuracy"] for r in sweep["runs"]},
        "layers": LAYERS,
        "data": args.data, "model": args.model, "per_class": args.per_class or None,
        "image_size": args.image_size or None, "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")


if __name__ == "__main__":
    main()
