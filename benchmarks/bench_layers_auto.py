"""Is ``--layers auto`` good enough to be ``fne``'s default?  Accuracy and cost against ``--layers all``.

For each target (hymenoptera and scene15 at 224 px, Fashion-MNIST 100/class at 96 px;
efficientnet_lite0, FNE post-processing, default C) one whole ``fne`` run with ``--layers all`` and
one with ``--layers auto``, both without the feature cache (extraction included), alternating in
rounds (the best time of each is kept).  The issue's rule: ``auto`` becomes the default if, on every
target, it is never worse than ``all`` by more than 0.5 points (``delta_points`` >= -0.5) and costs
at most 1.5x an ``all`` run (``cost_ratio`` <= 1.5).  ``--C auto`` adds the C grid to the same CV.

    python benchmarks/bench_layers_auto.py --json [--rounds 1] [--C 1.0|auto] [--targets hymenoptera,scene15,fmnist]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "src"))

TARGETS = {
    "hymenoptera": {"data": str(SHARED / "hymenoptera")},
    "scene15": {"data": str(SHARED / "scene15")},
    "fmnist": {"data": "fashion-mnist", "per_class": 100, "image_size": 96},
}


def run(target: str, layers: str, C) -> tuple[float, dict]:
    import transferlab as tl

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = tl.fne(**TARGETS[target], model="efficientnet_lite0", layers=layers, C=C, use_cache=False,
                        quiet=True, out=str(Path(out) / "run"), save_features=False)
        return time.perf_counter() - start, result.metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--C", default="1.0")
    p.add_argument("--targets", default=",".join(TARGETS))
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    args = p.parse_args()
    C = args.C if args.C == "auto" else float(args.C)
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    best: dict = {}
    for _ in range(args.rounds):
        for target in targets:
            for layers in ("all", "auto"):
                seconds, metrics = run(target, layers, C)
                key = (target, layers)
                if key not in best or seconds < best[key][0]:
                    best[key] = (seconds, metrics)
    out: dict = {"C": C, "rounds": args.rounds, "targets": {}}
    for target in targets:
        (t_all, m_all), (t_auto, m_auto) = best[(target, "all")], best[(target, "auto")]
        out["targets"][target] = {
            "accuracy_all": m_all["accuracy"], "accuracy_auto": m_auto["accuracy"],
            "delta_points": round(100 * (m_auto["accuracy"] - m_all["accuracy"]), 2),
            "chosen": m_auto["cv"]["chosen"], "cv_seconds": m_auto["cv"]["seconds"],
            "seconds_all": round(t_all, 1), "seconds_auto": round(t_auto, 1), "cost_ratio": round(t_auto / t_all, 2)}
        if not args.json:
            print(target, json.dumps(out["targets"][target]), flush=True)
    rows = out["targets"].values()
    out["worst_delta_points"] = min(r["delta_points"] for r in rows)
    out["worst_cost_ratio"] = max(r["cost_ratio"] for r in rows)
    out["auto_qualifies_as_default"] = out["worst_delta_points"] >= -0.5 and out["worst_cost_ratio"] <= 1.5
    print(json.dumps(out) if args.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
