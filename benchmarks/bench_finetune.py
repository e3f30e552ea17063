"""Fine-tuning performance: data-pipeline overhead and frozen-prefix cache speed-up.

- ``pipeline_overhead``: 1 - (training images/s of ``transferlab finetune`` with its real data
  pipeline) / (images/s of the same forward+backward+step on random tensors at the same batch
  size and resolution), for (a) full fine-tuning and (b) head-only (``--freeze all``) with
  augmentation; the key is the larger of the two (target <= 0.15).  Training throughput is the
  ``images_per_s`` column of metrics.csv (validation excluded), best epoch after the first; the
  reference is sampled right after each of those epochs (an epoch's worth of batches), best
  sample: both sides get the same number of draws under the same machine load.  The medians of
  the same samples are reported too (``median_overhead``).
- ``cache_speedup``: epoch time (training + validation) without / with the frozen-prefix cache on
  a ``--freeze all --augment none`` run, best epoch after the first (target >= 3).
- ``bf16_speedup`` / ``compile_speedup``: training images/s with ``--precision bf16`` /
  ``--compile`` over eager fp32, for full fine-tuning and head-only with augmentation (``speedups``
  section, ``--speedup-size`` px, default 224).  One ``Trainer`` per variant is built, then every
  variant trains one epoch per round (the real training loop and data pipeline; validation excluded),
  round after round in a rotating order; round 0 (decoded-image cache filled, compilation) is not
  measured.  The speed-up is the median over rounds of the per-round ratio; ``compile_seconds`` is
  the one-off cost: round 0 compiled minus round 0 eager at the same precision, cold compiler cache
  (it includes the recompilation for the smaller last batch).
  Target: ``bf16_speedup`` >= 1.4 for full fine-tuning on a CPU with bf16.

The training set is the whole of hymenoptera/train (245 images, 8 batches an epoch): with a few
batches an epoch the figure is dominated by per-epoch fixed costs (the first batch's wait on the
workers, new kernel shapes for the partial last batch) rather than the rate training sustains.

    python benchmarks/bench_finetune.py --json [--image-size 128] [--batch-size 32] [--epochs 8]
    python benchmarks/bench_finetune.py --json --sections speedups [--rounds 3] [--variants bf16,compile]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / ".." / "shared" / "data" / "hymenoptera"


def rows_of(run: Path) -> list[dict]:
    with open(run / "metrics.csv") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


class PureThroughput:
    """Images/s of forward + backward + optimizer step on random tensors: the same model (channels_last,
    frozen blocks in eval mode), optimizer, batch size and resolution as the training loop."""

    def __init__(self, cfg):
        from transferlab.finetune.model import build_model, set_train_mode
        from transferlab.finetune.schedule import make_criterion, make_optimizer

        torch.manual_seed(0)
        prepared = build_model(cfg, 2)
        self.model = prepared.model.to(memory_format=torch.channels_last)  # as in the training loop
        size = prepared.backbone.preprocessing.with_size(cfg.image_size).input_size
        self.opt = make_optimizer(cfg, prepared)
        self.crit = make_criterion(cfg)
        self.x = torch.randn(cfg.batch_size, 3, size, size).contiguous(memory_format=torch.channels_last)
        self.y = torch.randint(0, 2, (cfg.batch_size,))
        set_train_mode(self.model, prepared.frozen_modules, True)
        self.step()  # warm-up (oneDNN primitive creation)
        self.samples: list[float] = []

    def step(self) -> None:
        loss = self.crit(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        float(loss.detach())

    def measure(self, steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            self.step()
        ips = steps * self.x.shape[0] / (time.perf_counter() - start)
        self.samples.append(ips)
        return ips


# amp off: on a GPU the fp32 variants are then really fp32 (--amp would autocast them); no effect on a CPU
VARIANTS = {"eager_fp32": {"amp": False}, "bf16": {"precision": "bf16"}, "compile": {"compile": True, "amp": False},
            "compile_bf16": {"compile": True, "precision": "bf16"}}


def speedups(base: dict, tmp: Path, rounds: int, size: int, variants: list[str], log) -> dict:
    """Training images/s of each variant, side by side in rotating rounds (see the module docstring)."""
    from transferlab.finetune import FinetuneConfig
    from transferlab.finetune.distributed import dist_setup
    from transferlab.finetune.loop import Trainer
    from transferlab.runtime import bf16_supported

    device = base.get("device") or ("cuda" if torch.cuda.is_available() else "cpu")
    names = [n for n in VARIANTS if n in variants and (bf16_supported(device) or "bf16" not in n)]
    result: dict = {"image_size": size, "rounds": rounds, "variants": names,
                    "bf16_supported": bf16_supported(device)}
    for mode, kw in (("full_finetune", dict(freeze="0", augment="light")),
                     ("head_only_augmented", dict(freeze="all", augment="light"))):
        trainers, warm = {}, {}
        for name in names:
            cfg = FinetuneConfig(**{**base, "image_size": size}, **kw, **VARIANTS[name], out=str(tmp / f"{mode}-{name}"),
                                 quiet=True)
            trainers[name] = Trainer(cfg, dist_setup(cfg.device)).load_data().setup()
        for name, t in trainers.items():  # round 0: image cache, oneDNN primitives, compilation
            start = time.perf_counter()
            t.train_epoch(1)
            warm[name] = time.perf_counter() - start
        ips: dict[str, list[float]] = {n: [] for n in names}
        for r in range(rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                sums, seconds = trainers[name].train_epoch(r + 2)
                ips[name].append(sums[2] / seconds)
            log(f"{mode} round {r + 1}: " + ", ".join(f"{n} {ips[n][-1]:.1f}" for n in names) + " img/s")
        ref = ips["eager_fp32"]
        row: dict = {"images_per_s": {n: [round(v, 2) for v in vals] for n, vals in ips.items()},
                     "round0_seconds": {n: round(v, 1) for n, v in warm.items()}}
        n_batches = math.ceil(len(trainers["eager_fp32"].inputs.train_sampler) / base["batch_size"])
        for name in names[1:]:
            row[f"{name}_speedup"] = round(statistics.median(a / b for a, b in zip(ips[name], ref)), 3)
            c = trainers[name].compiled
            if c is not None:  # round 0 of the compiled variant minus that of the same precision eagerly
                plain = "bf16" if "bf16" in name else "eager_fp32"
                row[f"{name}_compile_seconds"] = round(warm[name] - warm[plain], 1)
                row[f"{name}_compile"] = c.note()
        row["batches_per_epoch"] = n_batches
        result[mode] = row
        log(f"{mode}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k.endswith(("speedup", "seconds"))
                                    and not isinstance(v, dict)))
        del trainers
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=8,
                    help="epochs per measured run; the best epoch after the first is measured (default %(default)s)")
    ap.add_argument("--per-class", type=int, default=None,
                    help="training images per class (default: all 124/121; the 153 val images are always all used)."
                         " Small epochs (40: 3 batches) mostly measure per-epoch fixed costs, not sustained images/s")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--compare-no-image-cache", action="store_true",
                    help="also measure head-only with --no-cache-images (reported, not part of pipeline_overhead)")
    ap.add_argument("--sections", default="overhead,cache,speedups",
                    help="comma list of overhead (pipeline_overhead), cache (cache_speedup), speedups (bf16_speedup, "
                         "compile_speedup) (default %(default)s)")
    ap.add_argument("--speedup-size", type=int, default=224, help="image size of the speedups section (default %(default)s)")
    ap.add_argument("--rounds", type=int, default=3, help="measured rounds of the speedups section (default %(default)s)")
    ap.add_argument("--variants", default="bf16,compile",
                    help="speedups: variants measured against eager fp32, among bf16, compile, compile_bf16 "
                         "(default %(default)s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    from transferlab.finetune import FinetuneConfig, train

    sections = {x.strip() for x in args.sections.split(",") if x.strip()}
    data = Path(args.data).resolve()
    if not data.is_dir():
        print(f"dataset not found: {data}", file=sys.stderr)
        return 2
    log = (lambda *a: print(*a, file=sys.stderr, flush=True))
    base = dict(data=str(data), model=args.model, image_size=args.image_size, batch_size=args.batch_size,
                epochs=args.epochs, workers=args.workers, lr=0.01, per_class=args.per_class)
    out: dict = {"model": args.model, "data": str(data), "image_size": args.image_size, "batch_size": args.batch_size,
                 "per_class": args.per_class, "epochs": args.epochs,
                 "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
                 "device": "cuda" if torch.cuda.is_available() else "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "overhead" in sections:
            overheads = {}
            runs = [("full_finetune", dict(freeze="0", augment="light")),
                    ("head_only_augmented", dict(freeze="all", augment="light"))]
            if args.compare_no_image_cache:  # the same head-only run decoding every image every epoch (not a target)
                runs.append(("head_only_augmented_no_image_cache", dict(freeze="all", augment="light", cache_images=False)))
            for key, kw in runs:
                # The machine may be shared: sample the reference right after each measured epoch (the epoch
                # callback) and compare the best epoch (after the first) with the best reference sample.
                cfg = FinetuneConfig(**base, **kw, out=str(tmp / key))
                pure = PureThroughput(cfg)
                steps = 8  # reference sample: 8 batches, about an epoch (245 training images at 32)
                t = time.perf_counter()
                train(cfg.replace(quiet=True),
                      callback=lambda epoch, row: pure.measure(steps) if epoch > 1 or cfg.epochs == 1 else None)
                rows = rows_of(tmp / key)
                real = max(r["images_per_s"] for r in rows[1:] or rows)
                best_pure = max(pure.samples)
                median = 1 - statistics.median(r["images_per_s"] for r in rows[1:] or rows) / statistics.median(pure.samples)
                (overheads if "no_image_cache" not in key else {})[key] = 1 - real / best_pure
                out[key] = {"pipeline_images_per_s": round(real, 2), "pure_images_per_s": round(best_pure, 2),
                            "overhead": round(1 - real / best_pure, 4), "median_overhead": round(median, 4),
                            "run_seconds": round(time.perf_counter() - t, 1),
                            "epochs": [{k: round(r[k], 3) for k in ("epoch", "seconds", "images_per_s")} for r in rows],
                            "pure_samples": [round(v, 2) for v in pure.samples],
                            "image_cache": json.loads((tmp / key / "metrics.json").read_text()).get("image_cache")}
                log(f"{key}: pipeline {real:.1f} img/s, random tensors {best_pure:.1f} img/s, overhead "
                    f"{1 - real / best_pure:.1%}")
                del pure
            out["pipeline_overhead"] = round(max(overheads.values()), 4)

        if "cache" in sections:
            epoch = {}
            for key, cache in (("cached", True), ("uncached", False)):
                cfg = FinetuneConfig(**base, freeze="all", augment="none", cache_frozen=cache, out=str(tmp / key))
                r = train(cfg.replace(quiet=True))
                rows = rows_of(tmp / key)
                epoch[key] = min(r["seconds"] for r in rows[1:] or rows)
                out[f"epoch_seconds_{key}"] = round(epoch[key], 4)
                out[f"accuracy_{key}"] = r["accuracy"]
                log(f"--freeze all --augment none, cache {'on' if cache else 'off'}: best epoch after the first took "
                    f"{epoch[key]:.3f} s ({r['frozen_prefix_cache']})")
            out["cache_speedup"] = round(epoch["uncached"] / epoch["cached"], 2)
        if "speedups" in sections:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(tmp / "inductor"))  # a cold compile
            variants = ["eager_fp32"] + [v.strip() for v in args.variants.split(",") if v.strip() in VARIANTS]
            sp = speedups(base, tmp, args.rounds, args.speedup_size, variants, log)
            out["speedups"] = sp
            for key, name in (("bf16_speedup",) * 2, ("compile_speedup",) * 2, ("compile_bf16_speedup",) * 2,
                              ("compile_seconds", "compile_compile_seconds")):
                out[key] = {m: sp[m][name] for m in ("full_finetune", "head_only_augmented") if name in sp[m]}
    out["targets"] = {"pipeline_overhead": "<= 0.15", "cache_speedup": ">= 3",
                      "bf16_speedup": ">= 1.4 for full_finetune (CPU with bf16)"}
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
