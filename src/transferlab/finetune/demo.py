"""Demo part: what transfer buys, on a small fashion-mnist subset (offline, efficientnet_lite0).

Three runs with the same data and validation protocol (20% of train chooses the best epoch; the
test split is only evaluated): the pretrained backbone frozen with a new head, the whole pretrained
network fine-tuned, and the same network trained from scratch.
"""
from __future__ import annotations

from pathlib import Path

MODEL = "efficientnet_lite0"


def part(out_dir: Path, quick: bool, say) -> dict:
    import transferlab as tl

    per_class, size, epochs = (10, 48, 2) if quick else (30, 64, 10)
    data = tl.load_dataset("fashion-mnist", per_class=per_class, seed=0)
    common = dict(model=MODEL, image_size=size, batch_size=32, val_fraction=0.2, optimizer="adamw", quiet=True,
                  overwrite=True)
    runs = (
        ("head only", "head-only", dict(freeze="all", augment="none", lr=0.003, epochs=epochs),
         "--freeze all: the pretrained blocks frozen, a new linear head trained (frozen prefix cached)"),
        ("full fine-tuning", "full", dict(freeze="0", augment="light", lr=0.001, epochs=epochs),
         "--freeze 0: every pretrained block retrained"),
        ("from scratch", "scratch", dict(transfer="0", freeze="0", augment="light", lr=0.001, epochs=epochs),
         "--transfer 0: the same network, randomly initialised, the same budget"),
    )
    say(f"{data.summary()}; {MODEL} at {size} px, {epochs} epochs; the best epoch is chosen on 20% of train, "
        "the test split is only evaluated")
    numbers, reports = {}, {}
    for title, key, options, what in runs:
        run = tl.finetune(data, out=out_dir / key, **common, **options)
        numbers[key] = {"accuracy": run.accuracy, "best_epoch": run.best_epoch, "seconds": run.metrics["seconds"]}
        say(f"  {title:<17} test accuracy {run.accuracy:.3f} (best epoch {run.best_epoch} of {run.epochs_run}, "
            f"{run.metrics['seconds']:.0f} s)  {what}")
        reports[f"{title}: curves"] = run.run_dir / "curves.png"
        reports[f"{title}: metrics"] = run.run_dir / "metrics.json"
    gain = numbers["full"]["accuracy"] - numbers["scratch"]["accuracy"]
    say(f"  -> transferred weights: {100 * gain:+.1f} points over training from scratch on "
        f"{run.metrics['n_train']} training images")
    return {**numbers, "reports": reports}
