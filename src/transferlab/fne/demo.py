"""Demo part: full-network embedding vs the last layer on a fashion-mnist subset (offline)."""
from __future__ import annotations

from pathlib import Path


def part(out_dir: Path, quick: bool) -> None:
    from transferlab.data.datasets import load_dataset
    from transferlab.fne.pipeline import fne

    per_class = 20 if quick else 50
    splits = load_dataset("fashion-mnist", per_class=per_class, seed=0)
    print(splits.summary() + ", images upscaled to 96 px")
    results = {}
    for layers in ("all", "last"):
        run = fne(splits, model="efficientnet_lite0", layers=layers, image_size=96, compare=layers == "all",
                  out=str(out_dir / f"fne-{layers}"), overwrite=True, quiet=True)
        results[layers] = run
        print(f"  --layers {layers:<4}  {run.metrics['n_layers']:>3} layers  {run.dim:>6} features  "
              f"accuracy {run.accuracy:.3f}   report: {run.run_dir / 'metrics.json'}")
    gain = results["all"].accuracy - results["last"].accuracy
    print(f"  full-network embedding vs last layer: {gain * 100:+.1f} points "
          f"(fashion-mnist is far from ImageNet: the early and middle layers carry what the last one lost)")
    print(f"  per-layer comparison plot: {out_dir / 'fne-all' / 'compare.png'}")
