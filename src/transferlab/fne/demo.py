"""Demo part: the full-network embedding vs the last layer on a fashion-mnist subset (offline).

Fashion-MNIST (grayscale clothing) is far from ImageNet: the early and middle layers keep what the
last one, specialised in ImageNet's classes, lost.  One run with ``compare`` probes every tapped
layer alone too, so the last layer's own accuracy comes from the same features.
"""
from __future__ import annotations

from pathlib import Path

MODEL = "efficientnet_lite0"
LAST = "bn2"  # efficientnet_lite0's last activation: pooled, it is the classifier's input


def part(out_dir: Path, quick: bool, say) -> dict:
    import transferlab as tl

    per_class, size = (20, 64) if quick else (50, 96)
    data = tl.load_dataset("fashion-mnist", per_class=per_class, seed=0)
    say(f"{data.summary()}; {MODEL} at {size} px; every conv/FC activation pooled, FNE + linear SVM")
    run = tl.fne(data, model=MODEL, layers="all", image_size=size, compare=True, out=out_dir / "fne-all",
                 overwrite=True, quiet=True)
    per_layer = run.per_layer.set_index("layer")["accuracy"]
    last, best = float(per_layer[LAST]), per_layer.drop("full embedding")
    dims = run.per_layer.set_index("layer")["dim"]
    rows = (("full-network embedding", f"{run.metrics['n_layers']} layers, {run.dim} features", run.accuracy),
            ("last layer alone", f"{LAST}, {dims[LAST]} features", last),
            ("best single layer", f"{best.idxmax()}, {dims[best.idxmax()]} features", float(best.max())))
    for title, what, acc in rows:
        say(f"  {title:<23} {what:<32} test accuracy {acc:.3f}")
    say(f"  -> every layer together: {100 * (run.accuracy - last):+.1f} points over the last layer")
    return {"accuracy_all": run.accuracy, "accuracy_last": last, "best_single_layer": best.idxmax(),
            "accuracy_best_single": float(best.max()), "n_train": run.n_train, "n_test": run.n_test,
            "reports": {"FNE metrics": run.run_dir / "metrics.json", "FNE confusion matrix": run.run_dir / "confusion.png",
                        "FNE per-layer plot": run.run_dir / "compare.png"}}
