"""End-to-end ``embed`` throughput of every extraction engine and precision vs PyTorch's eager forward.

speedup = end-to-end images/s of ``embed --backend B --precision P`` (list files, decode, resize,
forward, pooling of every tapped layer, writing the features) / the **PyTorch eager channels_last
fp32** forward of the same model (same batch size and resolution) on random tensors, as many
images as the dataset has: the reference the engines are measured against.  Rounds alternate all
measurements so that a busy machine slows them alike; the best round of each is kept.  Each
end-to-end run includes opening its engine (an OpenVINO compile, an ONNX Runtime session); the
one-off ONNX export is done before the rounds and reported as ``export_seconds``.
``pipeline_only_ips`` is the decoding pipeline alone (the DataLoader without a forward pass): the
ceiling for any engine.  Peak RSS is measured in fresh subprocesses for 100 and 400 images (default
engine ``auto`` picks): it must not grow with the number of images beyond the features themselves.

    python benchmarks/bench_extract.py --json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hymenoptera"


def forward_ips(backbone, batch_size: int, size: int, batches: int) -> float:
    import torch

    from transferlab.models.engines.backends import inference_model

    model = inference_model(backbone, torch.device("cpu"))
    x = torch.randn(batch_size, 3, size, size).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        for _ in range(batches):
            model(x)
        return batches * batch_size / (time.perf_counter() - start)


def end_to_end_ips(backbone, args, backend: str = "auto", precision: str = "fp32") -> tuple[float, int, str]:
    from transferlab.fne.pipeline import embed

    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        result = embed(str(args.data), model=args.model, layers=args.layers, image_size=args.image_size,
                       batch_size=args.batch_size, workers=args.workers, use_cache=False, quiet=True,
                       out=str(Path(out) / "run"), backbone=backbone, backend=backend, precision=precision)
        seconds = time.perf_counter() - start
    n = len(result.train) + len(result.test) + len(result.skipped)
    return n / seconds, result.train.dim, result.train.meta["backend"]


def pipeline_only_ips(splits, backbone, args) -> float:
    """Images/s of the decoding DataLoader alone (what embed's workers deliver without a forward pass)."""
    import numpy as np
    import torch

    from transferlab.data.image_dataset import ImageDataset, SkippingLoader, collate_skipping
    from transferlab.data.splits import Split
    from transferlab.fne.extract import _lower_priority
    from transferlab.runtime import default_workers

    pre = backbone.preprocessing
    combined = Split(splits.train.paths + splits.test.paths, np.concatenate([splits.train.labels, splits.test.labels]))
    dataset = ImageDataset(combined, pre.transform("none", normalize=False), splits.loader(), draft=pre.resize_size)
    workers = default_workers(args.workers)
    loader = SkippingLoader(torch.utils.data.DataLoader(
        dataset, batch_size=args.batch_size, num_workers=workers, collate_fn=collate_skipping,
        prefetch_factor=4 if workers else None, worker_init_fn=_lower_priority))
    start = time.perf_counter()
    n = sum(len(index) + len(bad) for _images, _labels, index, bad in loader)
    return n / (time.perf_counter() - start)


def engines(backbone, args) -> tuple[list[tuple[str, str]], dict]:
    """(backend, precision) pairs that run here, each engine's one-off export done first (timed)."""
    import torch

    from transferlab.models.engines import BF16_ENGINES, open_engine
    from transferlab.runtime import bf16_support
    from transferlab.models.taps import resolve_layers

    taps = resolve_layers(backbone, args.layers, size=args.image_size)
    bf16 = bf16_support(torch.device("cpu")) is None
    pairs, info = [], {"bf16_supported": bf16, "unavailable": {}}
    for backend in ("torch", "onnxruntime", "openvino"):
        for precision in ("fp32", "bf16"):
            if precision == "bf16" and (not bf16 or backend not in BF16_ENGINES):
                continue
            start = time.perf_counter()
            try:
                open_engine(backbone, taps, backbone.preprocessing, backend=backend, precision=precision,
                            device=torch.device("cpu"), batch_size=args.batch_size)
            except Exception as exc:  # a runtime missing here: reported, not fatal
                info["unavailable"][f"{backend}-{precision}"] = str(exc)
                continue
            if backend != "torch" and "export_seconds" not in info:
                info["export_seconds"] = round(time.perf_counter() - start, 1)  # first runtime: export + open
            pairs.append((backend, precision))
    return pairs, info


def peak_rss_mb(n_images: int, args, backend: str) -> float:
    """Peak RSS (MB) of a fresh process that embeds ``n_images`` images with ``backend``: its own high-water
    mark (``VmHWM``; ``ru_maxrss`` would report this parent's peak, which Linux carries across exec)."""
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
            f"use_cache=False, quiet=True, out={str(Path(tmp) / 'run')!r}, backend={backend!r})\n"
            "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM')]\n"
            "print(int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
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

    from transferlab.data.sources import load_dataset
    from transferlab.models.registry import create_backbone

    backbone = create_backbone(args.model)
    backbone.preprocessing = backbone.preprocessing.with_size(args.image_size)
    splits = load_dataset(str(args.data))
    # as many images in a forward sample as embed reads: equally long samples are equally noisy
    batches = max(1, round((len(splits.train) + len(splits.test)) / args.batch_size))
    pairs, info = engines(backbone, args)
    fwd, pipe, e2e, dim, auto = [], [], {f"{b}-{p}": [] for b, p in pairs}, 0, {}
    for _ in range(args.rounds):
        fwd.append(forward_ips(backbone, args.batch_size, args.image_size, batches=batches))
        pipe.append(pipeline_only_ips(splits, backbone, args))
        for backend, precision in pairs:
            ips, dim, _ = end_to_end_ips(backbone, args, backend, precision)
            e2e[f"{backend}-{precision}"].append(ips)
    for precision in ("fp32", "bf16") if info["bf16_supported"] else ("fp32",):
        auto[precision] = end_to_end_ips(backbone, args, "auto", precision)[2]
    ref = max(fwd)
    backends = {name: {"end_to_end_ips": round(max(v), 2), "speedup": round(max(v) / ref, 3),
                       "rounds": [round(x, 2) for x in v]} for name, v in e2e.items()}

    def best(precision):
        got = [b["speedup"] for name, b in backends.items() if name.endswith(precision)]
        return max(got) if got else None

    result = {
        "model": args.model, "layers": args.layers, "dim": dim, "image_size": args.image_size,
        "batch_size": args.batch_size, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "eager_forward_ips": round(ref, 2), "pipeline_only_ips": round(max(pipe), 2),
        "backends": backends, "best_fp32_speedup": best("fp32"), "best_bf16_speedup": best("bf16"),
        "auto_picks": auto, **info,
        "rounds": {"eager_forward_ips": [round(x, 2) for x in fwd], "pipeline_only_ips": [round(x, 2) for x in pipe]},
    }
    if not args.no_memory:
        result["rss_backend"] = auto["fp32"]  # both sizes on the engine auto picks (it stays on torch for
        result["rss_mb_100"] = round(peak_rss_mb(100, args, auto["fp32"]), 1)  # 100 images otherwise)
        result["rss_mb_400"] = round(peak_rss_mb(400, args, auto["fp32"]), 1)
        result["feature_mb_400_minus_100"] = round(300 * dim * 4 / 2**20, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>24}: {v}")


if __name__ == "__main__":
    main()
