"""``transferlab embed``: extract (and cache) pooled features of the tapped layers."""
from __future__ import annotations

import argparse
import json

from transferlab.options import add_data_arguments, add_model_arguments


def add_embed_arguments(p: argparse.ArgumentParser) -> None:
    add_data_arguments(p)
    add_model_arguments(p)
    g = p.add_argument_group("extraction")
    g.add_argument("--layers", default="all",
                   help="all (every conv/FC activation: the full-network embedding), stages, last (pre-logits), "
                        "a comma list of module names (NAME@K for the K-th call), or re:PATTERN (default %(default)s)")
    g.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default %(default)s)")
    g.add_argument("--no-cache", action="store_true", help="always extract; do not read or write the feature cache")
    g.add_argument("--quiet", action="store_true", help="no progress bars")


def embed_config_from_args(args):
    from transferlab.embed.extract import EmbedConfig

    return EmbedConfig(
        data=args.data, model=args.model, weights=args.weights, layers=args.layers, image_size=args.image_size,
        batch_size=args.batch_size, workers=args.workers, device=args.device, strict=args.strict,
        max_pixels=args.max_pixels, use_cache=not args.no_cache, progress=not args.quiet)


def run_embed(args) -> int:
    from transferlab.embed.extract import embed
    from transferlab.options import load_data_from_args

    splits = load_data_from_args(args)
    result = embed(embed_config_from_args(args), out_dir=args.out, splits=splits)
    info = {"run": str(result.run_dir), "n_train": len(result.train), "n_test": len(result.test),
            "dim": result.train.dim, "n_layers": len(result.train.layers), "skipped": result.skipped,
            "cached": result.cached, "seconds": round(result.seconds, 2)}
    if args.json:
        print(json.dumps(info))
    else:
        print(splits.summary())
        print(f"{len(result.train.layers)} layers, {result.train.dim} features per image "
              f"({'from cache' if all(result.cached.values()) else f'{result.seconds:.1f} s'})")
        for s in result.skipped:
            print(f"skipped {s['path']}: {s['reason']}")
        print(f"features in {result.run_dir} (features-train.npz, features-test.npz, embed.json); "
              f"next: transferlab probe {result.run_dir}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("embed", help="extract pooled activations of many layers (cached)",
                              description="One forward pass per batch collects the pooled activations of every "
                                          "tapped layer; features are cached by model, weights, layers, "
                                          "preprocessing and the exact file list.")
    add_embed_arguments(p)
    p.add_argument("--out", required=True, help="run folder for the features")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=run_embed)
