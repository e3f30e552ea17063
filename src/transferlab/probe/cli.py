"""``transferlab probe RUN`` and the one-shot ``transferlab fne``: post-process, linear SVM, report."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from transferlab.report import summary_lines

JSON_KEYS = ("accuracy", "mean_class_accuracy", "n_train", "n_test", "dim", "skipped")


def add_probe_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("probe")
    g.add_argument("--post", default="fne", choices=["fne", "std", "l2", "none"],
                   help="post-processing: fne (standardise + discretise), std, l2 or none (default %(default)s)")
    g.add_argument("--C", type=float, default=1.0, help="LinearSVC regularisation C (default %(default)s)")
    g.add_argument("--thresholds", type=float, nargs=2, default=(-0.25, 0.15), metavar=("LOW", "HIGH"),
                   help="FNE discretisation thresholds (default -0.25 0.15)")
    g.add_argument("--max-iter", type=int, default=5000, help="LinearSVC max_iter (default %(default)s)")
    g.add_argument("--compare", action="store_true",
                   help="also probe every tapped layer alone: table + bar plot (compare.csv, compare.png)")
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")


def probe_config_from_args(args, extra: dict | None = None):
    from transferlab.probe.run import ProbeConfig

    return ProbeConfig(post=args.post, C=args.C, low=args.thresholds[0], high=args.thresholds[1],
                       max_iter=args.max_iter, compare=args.compare, seed=getattr(args, "seed", 0) or 0,
                       extra=extra or {})


def report(metrics: dict, classes: list[str], as_json: bool, header: list[str]) -> None:
    if as_json:
        keys = [k for k in metrics if k not in ("per_class", "files")]
        out = {k: metrics[k] for k in keys}
        out["per_class"] = metrics["per_class"]
        out["files"] = metrics["files"]
        print(json.dumps(out))
        return
    from transferlab.probe.run import compare_table

    for line in header + summary_lines(metrics, classes):
        print(line)
    if "compare" in metrics:
        print("per-layer accuracy (layer, dim, accuracy):")
        for line in compare_table(metrics["compare"]):
            print(line)
        print(f"table: {Path(metrics['files']['metrics']).parent / 'compare.csv'}   "
              f"plot: {Path(metrics['files']['metrics']).parent / 'compare.png'}")
    print(f"report: {metrics['files']['metrics']}   confusion matrix: {metrics['files']['confusion']}")


def run_probe_cmd(args) -> int:
    from transferlab.embed.store import FeatureSet
    from transferlab.errors import BadInputError
    from transferlab.probe.run import run_probe

    run = Path(args.run)
    files = [run / "features-train.npz", run / "features-test.npz"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BadInputError(f"{run} is not a complete embed run (missing {', '.join(missing)}); "
                            "run `transferlab embed --out RUN ...` first")
    train, test = FeatureSet.load(files[0]), FeatureSet.load(files[1])
    if args.layers:
        names = [n.strip() for n in args.layers.split(",") if n.strip()]
        train = _select(train, names)
        test = _select(test, names)
    out = Path(args.out) if args.out else run
    metrics = run_probe(train, test, out, probe_config_from_args(args, {"run": str(run)}))
    report(metrics, train.classes, args.json, [f"{train.meta.get('model')} on {train.meta.get('dataset')}: "
                                               f"{len(train.layers)} layers, {train.dim} features, post={args.post}"])
    return 0


def _select(fs, names):
    """The feature set restricted to the named layers, in the order given."""
    from transferlab.embed.store import FeatureSet

    cols = fs.columns(names)  # raises a clear error for unknown names
    by_name = {lyr["name"]: lyr for lyr in fs.layers}
    layers, start = [], 0
    for name in names:
        width = by_name[name]["end"] - by_name[name]["start"]
        layers.append(dict(by_name[name], start=start, end=start + width))
        start += width
    return FeatureSet(cols, fs.labels, fs.paths, fs.classes, layers, fs.skipped, fs.meta)


def default_run_dir(kind: str, data: str | None, model: str, layers: str) -> Path:
    slug = lambda s: re.sub(r"[^A-Za-z0-9_.-]+", "-", s).strip("-")[:40]  # noqa: E731
    return Path("runs") / slug(f"{kind}-{Path(data or 'lists').name}-{model}-{layers}")


def run_fne(args) -> int:
    from transferlab.embed.cli import embed_config_from_args
    from transferlab.embed.extract import embed
    from transferlab.options import load_data_from_args
    from transferlab.probe.run import run_probe

    splits = load_data_from_args(args)
    out = Path(args.out) if args.out else default_run_dir("fne", args.data, args.model, args.layers)
    result = embed(embed_config_from_args(args), out_dir=out, splits=splits)
    extra = {"model": result.train.meta.get("model"), "dataset": splits.name, "layers_spec": args.layers,
             "extract_seconds": round(result.seconds, 2), "cached": result.cached, "run": str(out),
             "ignored": splits.ignored}
    metrics = run_probe(result.train, result.test, out, probe_config_from_args(args, extra))
    report(metrics, splits.classes, args.json, [splits.summary(),
                                                f"{args.model}: {len(result.train.layers)} layers ({args.layers}), "
                                                f"{result.train.dim} features, post={args.post}"])
    return 0


def register(subparsers) -> None:
    from transferlab.embed.cli import add_embed_arguments

    p = subparsers.add_parser("probe", help="linear SVM on features from `transferlab embed`",
                              description="Post-process (FNE by default) and train a linear SVM on the train "
                                          "features, evaluate on test: metrics.json, predictions.csv, confusion.png.")
    p.add_argument("run", help="an embed run folder")
    p.add_argument("--layers", help="use only these tapped layers (comma list of names from embed.json)")
    p.add_argument("--out", help="report folder (default: the run folder)")
    add_probe_arguments(p)
    p.set_defaults(func=run_probe_cmd)

    p = subparsers.add_parser("fne", help="full-network embedding + linear SVM in one command",
                              description="Extract (cached) the pooled activations of every layer, post-process "
                                          "them (FNE: standardise, discretise) and train/evaluate a linear SVM.")
    add_embed_arguments(p)
    p.add_argument("--out", help="run folder (default runs/fne-DATA-MODEL-LAYERS)")
    add_probe_arguments(p)
    p.set_defaults(func=run_fne)
