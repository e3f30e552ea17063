"""Demo part: full-network embedding vs the last layer on a fashion-mnist subset (offline)."""
from __future__ import annotations

from pathlib import Path


def part(out_dir: Path, quick: bool) -> None:
    from transferlab.data.datasets import load_dataset
    from transferlab.embed.extract import EmbedConfig, embed
    from transferlab.probe.run import ProbeConfig, run_probe

    per_class = 20 if quick else 50
    splits = load_dataset("fashion-mnist", per_class=per_class, seed=0)
    print(splits.summary() + ", images upscaled to 96 px")
    results = {}
    for layers in ("all", "last"):
        config = EmbedConfig(data="fashion-mnist", model="efficientnet_lite0", layers=layers, image_size=96)
        run = out_dir / f"fne-{layers}"
        emb = embed(config, out_dir=run, splits=splits)
        metrics = run_probe(emb.train, emb.test, run, ProbeConfig(post="fne",
                                                                   compare=layers == "all"))
        results[layers] = metrics
        print(f"  --layers {layers:<4}  {len(emb.train.layers):>3} layers  {emb.train.dim:>6} features  "
              f"accuracy {metrics['accuracy']:.3f}   report: {run / 'metrics.json'}")
    gain = results["all"]["accuracy"] - results["last"]["accuracy"]
    print(f"  full-network embedding vs last layer: {gain * 100:+.1f} points "
          f"(fashion-mnist is far from ImageNet: the early and middle layers carry what the last one lost)")
    print(f"  per-layer comparison plot: {out_dir / 'fne-all' / 'compare.png'}")
