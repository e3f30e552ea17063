"""Fine-tuning part of ``transferlab demo``: head-only (cached frozen prefix) vs full fine-tuning,
offline, on a fashion-mnist subset with efficientnet_lite0."""
from __future__ import annotations

from pathlib import Path

from transferlab.finetune.config import FinetuneConfig
from transferlab.finetune.train import finetune


def part(out_dir: Path, quick: bool) -> None:
    per_class = 10 if quick else 20
    common = dict(data="fashion-mnist", per_class=per_class, seed=0, model="efficientnet_lite0", image_size=64,
                  batch_size=32, workers=0)
    runs = [
        ("head only: --freeze all --augment none (frozen-prefix cache)",
         FinetuneConfig(**common, freeze="all", augment="none", lr=0.05, epochs=3 if quick else 8,
                        out=str(out_dir / "head-only"))),
        ("full fine-tuning: --freeze 0 --augment light",
         FinetuneConfig(**common, freeze="0", augment="light", lr=0.01, epochs=1 if quick else 2,
                        out=str(out_dir / "full"))),
    ]
    print(f"fashion-mnist, {per_class} images per class for train and for test, efficientnet_lite0 at 64 px")
    for title, cfg in runs:
        r = finetune(cfg, overwrite=True, verbose=False)
        print(f"  {title}\n    test accuracy {r['accuracy']:.3f} (best epoch {r['best_epoch']} of {r['epochs_run']}, "
              f"{r['seconds']:.0f} s; cache {r['frozen_prefix_cache'].split(':')[0]})  ->  {cfg.out}")
    print(f"  each run folder: config.yaml (rerun with `transferlab finetune --config RUN/config.yaml --out NEW`), "
          "metrics.csv, curves.png, confusion.png, predictions.csv, best.pt")
