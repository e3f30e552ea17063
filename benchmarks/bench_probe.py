"""Fit time of the default probe vs scikit-learn's ``LinearSVC`` defaults, on the same features.

For each case (scene15 at 224 px, and the 100-class stand-in of ``manyclass.py`` at 96 px; both
efficientnet_lite0, ``--layers all``, features from the cache after the first run) and for the
full embedding and the last layer alone, the FNE pipeline (standardise, discretise, linear SVM)
is fitted on train with the default solver and with ``--solver liblinear``, in alternating
rounds; the best round of each is kept.  ``speedup_*`` = liblinear seconds / default seconds;
``accuracy_delta`` = default accuracy - liblinear accuracy on test (points are x100).  The
many-class case also times ``--compare`` (one probe per tapped layer, 49 layers) with the default
solver: ``compare_seconds``, target <= 180 s.  Top-level keys are the many-class case's.

    python benchmarks/bench_probe.py --json [--rounds 1] [--cases scene15,manyclass] [--no-compare]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCENE15 = ROOT.parent / "shared" / "data" / "scene15"
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))


def features(case: str):
    """(train, test) FeatureSets of every layer of efficientnet_lite0 for the case."""
    import transferlab as tl

    if case == "scene15":
        data, size = SCENE15, 224
    else:
        import manyclass

        data, size = manyclass.build(), 96
    result = tl.embed(str(data), model="efficientnet_lite0", layers="all", image_size=size, quiet=True)
    return result.train, result.test


def fit_once(train, test, solver: str) -> tuple[float, float]:
    """Seconds to fit the FNE pipeline, and its test accuracy."""
    import numpy as np

    from transferlab.fne.config import ProbeOptions
    from transferlab.fne.probe import fit_predict

    config = ProbeOptions(solver=solver)
    start = time.perf_counter()
    pipe, pred, _ = fit_predict(train.features, train.labels, test.features, config)
    seconds = time.perf_counter() - start
    return seconds, float(np.mean(pred == test.labels))


def measure(case: str, rounds: int) -> dict:
    train, test = features(case)
    last = train.layer_names()[-1]
    views = {"all": (train, test), "last": (train.select([last]), test.select([last]))}
    best: dict = {}
    for _ in range(rounds):
        for view, (tr, te) in views.items():
            for solver in ("auto", "liblinear"):
                seconds, acc = fit_once(tr, te, solver)
                key = (view, solver)
                if key not in best or seconds < best[key][0]:
                    best[key] = (seconds, acc)
    out = {"n_classes": len(train.classes), "n_train": len(train), "n_test": len(test), "dim_all": train.dim,
           "dim_last": views["last"][0].dim, "last_layer": last}
    for view in views:
        ours, ref = best[(view, "auto")], best[(view, "liblinear")]
        out[f"default_seconds_{view}"] = round(ours[0], 3)
        out[f"liblinear_seconds_{view}"] = round(ref[0], 3)
        out[f"speedup_{view}"] = round(ref[0] / ours[0], 2)
        out[f"accuracy_{view}"] = round(ours[1], 4)
        out[f"liblinear_accuracy_{view}"] = round(ref[1], 4)
        out[f"accuracy_delta_{view}"] = round(100 * (ours[1] - ref[1]), 2)
    out["accuracy_delta"] = min(out["accuracy_delta_all"], out["accuracy_delta_last"])
    return out


def compare_seconds(case: str) -> float:
    from transferlab.fne.config import ProbeOptions
    from transferlab.fne.probe import compare_layers

    train, test = features(case)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        compare_layers(train, test, Path(out), ProbeOptions(), progress=False)
        return round(time.perf_counter() - start, 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--cases", default="scene15,manyclass")
    p.add_argument("--no-compare", action="store_true", help="skip the --compare timing")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    args = p.parse_args()
    import torch

    result: dict = {"threads": torch.get_num_threads(), "rounds": args.rounds, "cases": {}}
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        result["cases"][case] = measure(case, args.rounds)
        if not args.json:
            print(case, json.dumps(result["cases"][case]), flush=True)
    many = result["cases"].get("manyclass") or next(iter(result["cases"].values()))
    for key in ("speedup_all", "speedup_last", "accuracy_delta"):
        result[key] = many[key]
    result["accuracy_delta"] = min(c["accuracy_delta"] for c in result["cases"].values())
    if not args.no_compare and "manyclass" in result["cases"]:
        result["compare_seconds"] = compare_seconds("manyclass")
    result["targets"] = {"speedup_all": ">= 5 (many-class)", "compare_seconds": "<= 180 (many-class, 49 layers)",
                         "accuracy_delta": ">= -0.3 points"}
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
