"""The extraction input pipeline: where the time goes, and images/s before/after.

- ``stages``: ms per image of each step ``embed``'s workers run (one process, one thread, best of
  3 passes): reading the file, JPEG decoding (full size, and PIL draft mode at the resize size),
  ``open_image`` as a whole (decode, EXIF orientation, conversion to RGB), to-tensor, resize,
  centre crop; torchvision's ``decode_jpeg`` for comparison.
- ``pipeline``: images/s of ``ImageDataset`` + DataLoader (``--workers``, default 2; no model) over
  every image of the dataset, for each loader variant, in alternating rounds (rotating order;
  best and median round): ``previous`` (``open_image`` as it was: EXIF handling copied every
  photo), ``current`` (``open_image``), ``full_decode`` (no draft mode), ``fast_dct`` (draft mode
  plus libjpeg's fast integer IDCT without fancy upsampling: NOT used by transferlab, its pixels
  differ; measured to show what it would buy).  ``speedup`` = current / previous (median of the
  per-round ratios).
- ``draft_feature_diff``: for the images that draft mode decodes at a reduced DCT scale, the max
  absolute difference of the efficientnet_lite0 ``--layers all`` features against a full decode
  (and the features' largest magnitude, for scale); ``fast_dct_feature_diff``: fast_dct against
  ``current`` on the first 32 images.

    python benchmarks/bench_decode.py --json [--data DIR ...] [--image-size 224] [--workers 2] [--rounds 3]
"""
from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


class Previous:
    """The earlier ``open_image``: ``ImageOps.exif_transpose`` returned a copy of every photo."""

    def __call__(self, path, max_pixels=None, draft=None):
        from transferlab.data.images import open_image

        return open_image(path, draft=draft).copy()


class Current:
    def __call__(self, path, max_pixels=None, draft=None):
        from transferlab.data.images import open_image

        return open_image(path, draft=draft)


class FullDecode:
    def __call__(self, path, max_pixels=None, draft=None):
        from transferlab.data.images import open_image

        return open_image(path)


class FastDCT:
    """Draft mode plus libjpeg's JDCT_FASTEST and plain upsampling (Pillow's decoder ``draft`` flag)."""

    def __call__(self, path, max_pixels=None, draft=None):
        from transferlab.data.images import to_rgb

        im = Image.open(path)
        if im.format == "JPEG" and im.mode in ("RGB", "L"):
            im.draft(im.mode, (draft, draft))
            im.decoderconfig = (im.decoderconfig[0] if im.decoderconfig else 1, 1)
        im.load()
        return to_rgb(im)


VARIANTS = {"previous": Previous(), "current": Current(), "full_decode": FullDecode(), "fast_dct": FastDCT()}


def image_paths(data: Path) -> list[str]:
    return sorted(str(p) for p in data.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))


def stages(paths: list[str], pre) -> dict:
    """ms per image of each step, one thread, best of 3 passes."""
    import torchvision
    from torchvision.transforms import v2

    from transferlab.data.images import open_image

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    datas = [Path(p).read_bytes() for p in paths]
    interp = getattr(v2.InterpolationMode, pre.interpolation.upper())
    resize = v2.Resize(pre.resize_size, interpolation=interp, antialias=True)
    crop = v2.CenterCrop(pre.input_size)
    images = [open_image(p, draft=pre.resize_size) for p in paths]
    tensors = [v2.functional.pil_to_tensor(im) for im in images]
    resized = [resize(t) for t in tensors]

    def decode(b, draft):
        im = Image.open(io.BytesIO(b))
        if draft:
            im.draft(im.mode, (pre.resize_size, pre.resize_size))
        im.load()

    steps = {
        "read_file": lambda i: Path(paths[i]).read_bytes(),
        "jpeg_decode_full": lambda i: decode(datas[i], False),
        "jpeg_decode_draft": lambda i: decode(datas[i], True),
        "torchvision_decode_jpeg": lambda i: torchvision.io.decode_jpeg(
            torch.frombuffer(datas[i], dtype=torch.uint8), mode=torchvision.io.ImageReadMode.RGB),
        "open_image": lambda i: open_image(paths[i], draft=pre.resize_size),
        "to_tensor": lambda i: v2.functional.pil_to_tensor(images[i]),
        "resize": lambda i: resize(tensors[i]),
        "center_crop": lambda i: crop(resized[i]),
    }
    out = {}
    for name, fn in steps.items():
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            for i in range(len(paths)):
                fn(i)
            best = min(best, time.perf_counter() - start)
        out[name] = round(1000 * best / len(paths), 3)
    out["open_image_to_crop"] = round(out["open_image"] + out["to_tensor"] + out["resize"] + out["center_crop"], 3)
    torch.set_num_threads(threads)
    return out


def pipeline(paths: list[str], pre, workers: int, rounds: int, batch_size: int) -> dict:
    """Images/s of each loader variant through ImageDataset + DataLoader, alternating rounds."""
    from transferlab.data.image_dataset import ImageDataset, collate_skipping
    from transferlab.data.splits import Split

    split = Split(paths, np.zeros(len(paths), dtype=np.int64))
    tf = pre.transform("none", normalize=False)
    names = list(VARIANTS)
    ips: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds + 1):  # round 0: page cache and worker start-up paths warmed, not counted
        for name in names[r % len(names):] + names[:r % len(names)]:
            ds = ImageDataset(split, tf, VARIANTS[name], draft=pre.resize_size)
            loader = torch.utils.data.DataLoader(ds, batch_size=batch_size, num_workers=workers,
                                                 collate_fn=collate_skipping, prefetch_factor=4 if workers else None)
            start = time.perf_counter()
            n = sum(len(b[2]) for b in loader)
            if r:
                ips[name].append(n / (time.perf_counter() - start))
    ratio = statistics.median(a / b for a, b in zip(ips["current"], ips["previous"]))
    return {"images_per_s": {n: [round(v, 1) for v in vals] for n, vals in ips.items()},
            "best_images_per_s": {n: round(max(vals), 1) for n, vals in ips.items()},
            "median_images_per_s": {n: round(statistics.median(vals), 1) for n, vals in ips.items()},
            "speedup": round(ratio, 3),
            "fast_dct_vs_current": round(statistics.median(a / b for a, b in zip(ips["fast_dct"], ips["current"])), 3)}


def feature_diff(paths: list[str], backbone, pre, loader, reference) -> dict | None:
    """Max |features(loader) - features(reference)| over ``paths`` (``--model``, ``--layers all``)."""
    from transferlab.models.engines.backends import inference_model
    from transferlab.models.taps import TapRecorder, resolve_layers

    if not paths:
        return None
    tf = pre.transform("none", normalize=False)
    taps = resolve_layers(backbone, "all", size=pre.input_size)
    model = inference_model(backbone, torch.device("cpu"))
    feats = []
    for load in (loader, reference):
        x = torch.stack([tf(load(p, draft=pre.resize_size)) for p in paths])
        with TapRecorder(model, taps) as rec, torch.inference_mode():
            model(pre.normalize_batch(x))
            feats.append(rec.pop())
    diff = (feats[0] - feats[1]).abs()
    return {"images": len(paths), "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
            "max_abs_feature": float(feats[1].abs().max()), "dim": int(feats[1].shape[1])}


def drafted(paths: list[str], resize: int) -> list[str]:
    """The JPEGs that draft mode decodes at a reduced DCT scale (both sides >= 2x the resize size)."""
    out = []
    for p in paths:
        with Image.open(p) as im:
            if im.format == "JPEG" and min(im.size[0] // resize, im.size[1] // resize) >= 2:
                out.append(p)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", nargs="+", default=[str(SHARED / "hymenoptera"), str(SHARED / "scene15")])
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--max-images", type=int, default=800, help="images per dataset (evenly spaced; default %(default)s)")
    ap.add_argument("--stage-images", type=int, default=150, help="images per dataset for the stage timings")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from transferlab.models.registry import create_backbone

    log = (lambda *a: print(*a, file=sys.stderr, flush=True))
    backbone = create_backbone(args.model)
    pre = backbone.preprocessing.with_size(args.image_size)
    out: dict = {"model": args.model, "image_size": args.image_size, "resize_size": pre.resize_size,
                 "workers": args.workers, "rounds": args.rounds, "datasets": {}}
    for data in map(Path, args.data):
        paths = image_paths(data)
        if not paths:
            log(f"no JPEGs under {data}")
            return 2
        paths = paths[:: max(1, len(paths) // args.max_images)][: args.max_images]
        sample = paths[:: max(1, len(paths) // args.stage_images)][: args.stage_images]
        sizes = [Image.open(p).size for p in sample]
        row = {"images": len(paths), "median_size": [int(np.median([s[0] for s in sizes])),
                                                     int(np.median([s[1] for s in sizes]))]}
        row["stages_ms"] = stages(sample, pre)
        log(f"{data.name}: stages (ms/image) {row['stages_ms']}")
        row["pipeline"] = pipeline(paths, pre, args.workers, args.rounds, args.batch_size)
        log(f"{data.name}: pipeline images/s {row['pipeline']['median_images_per_s']}, "
            f"current / previous {row['pipeline']['speedup']}")
        small = drafted(paths, pre.resize_size)
        row["drafted_images"] = len(small)
        row["draft_feature_diff"] = feature_diff(small[:32], backbone, pre, Current(), FullDecode())
        row["fast_dct_feature_diff"] = feature_diff(paths[:32], backbone, pre, FastDCT(), Current())
        out["datasets"][data.name] = row
    if args.json:
        print(json.dumps(out))
    else:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
