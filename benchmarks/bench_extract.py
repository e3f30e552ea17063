"""End-to-end ``embed`` throughput vs the model's pure forward throughput, measured in one run.

ratio = end-to-end images/s (list files, decode, resize, forward, pooling of every tapped layer,
writing the features) / pure forward images/s of the same model (same batch size, resolution,
memory format) on random tensors, as many images as the dataset has.  Rounds alternate the two
measurements so that a busy machine slows both alike; the best round of each is kept
(``median_round_ratio``: the median over rounds of end-to-end / the forward sample just before
it).  Peak RSS is measured in fresh subprocesses for 100 and 400 images: it must not grow with
the number of images beyond the features themselves.

    python benchmarks/bench_extract.py --json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hymenoptera"


def forward_ips(backbone, batch_size: int, size: int, batches: int) -> float:
    import torch

    from transferlab.fne.extract import prepare_model

    model = prepare_model(backbone, torch.device("cpu"))
    x = torch.randn(batch_size, 3, size, size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
        return batches * batch_size / (time.perf_counter() - start)


def end_to_end_ips(backbone, args) -> tuple[float, int]:
    from transferlab.fne.pipeline import embed

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = embed(str(args.data), model=args.model, layers=args.layers, image_size=args.image_size,
                       batch_size=args.batch_size, workers=args.workers, use_cache=False, quiet=True,
                       out=str(Path(out) / "run"), backbone=backbone)
        seconds = time.perf_counter() - start
    n = len(result.train) + len(result.test) + len(result.skipped)
    return n / seconds, result.train.dim


def peak_rss_mb(n_images: int, args) -> float:
    """Peak RSS (MB) of a fresh process that embeds ``n_images`` images."""
    files = sorted(str(p) for p in Path(args.data).rglob("*.jp*g"))
    picks = [files[(i * len(files) // n_images) if n_images <= len(files) else i % len(files)]
             for i in range(n_images)]  # spread over both classes
    rows = [(p, Path(p).parent.name, "train" if i % 2 else "test") for i, p in enumerate(picks)]
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "images.csv"
        with open(listing, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["path", "label", "split"])
            w.writerows(rows)
        code = (
            "import resource, sys\n"
            "from transferlab.fne.pipeline import embed\n"
            f"embed({str(listing)!r}, model={args.model!r}, layers={args.layers!r}, "
            f"image_size={args.image_size!r}, batch_size={args.batch_size}, workers={args.workers!r}, "
            f"use_cache=False, quiet=True, out={str(Path(tmp) / 'run')!r})\n"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"memory probe failed: {out.stderr[-2000:]}")
        return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--layers", default="all")
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object")
    args = p.parse_args()

    import torch

    from transferlab.data.datasets import load_dataset
    from transferlab.models.registry import create_backbone

    backbone = create_backbone(args.model)
    backbone.preprocessing = backbone.preprocessing.with_size(args.image_size)
    splits = load_dataset(str(args.data))
    # as many images in a forward sample as embed reads: equally long samples are equally noisy
    batches = max(1, round((len(splits.train) + len(splits.test)) / args.batch_size))
    fwd, e2e, dim = [], [], 0
    for _ in range(args.rounds):
        fwd.append(forward_ips(backbone, args.batch_size, args.image_size, batches=batches))
        ips, dim = end_to_end_ips(backbone, args)
        e2e.append(ips)
    result = {
        "model": args.model, "layers": args.layers, "dim": dim, "image_size": args.image_size,
        "batch_size": args.batch_size, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "end_to_end_ips": round(max(e2e), 2), "forward_ips": round(max(fwd), 2),
        "ratio": round(max(e2e) / max(fwd), 3),
        "rounds": {"end_to_end_ips": [round(x, 2) for x in e2e], "forward_ips": [round(x, 2) for x in fwd]},
        # each round's end-to-end run next to the forward sample just before it: robust to a lone fast sample
        "median_round_ratio": round(statistics.median(e / f for e, f in zip(e2e, fwd)), 3),
    }
    if not args.no_memory:
        result["rss_mb_100"] = round(peak_rss_mb(100, args), 1)
        result["rss_mb_400"] = round(peak_rss_mb(400, args), 1)
        result["feature_mb_400_minus_100"] = round(300 * dim * 4 / 2**20, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
