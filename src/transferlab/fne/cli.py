"""``transferlab embed``, ``probe`` and ``fne``: thin doors onto ``transferlab.fne.pipeline``."""
from __future__ import annotations

import json
from pathlib import Path

from transferlab.cli_args import command, config_from_args
from transferlab.fne.config import EmbedConfig, FNEConfig, ProbeConfig

GROUPS = ("dataset", "model", "extraction", "probe", "run")


def fill_embed(p) -> None:
    command(p, EmbedConfig, run_embed,
            "One forward pass per batch collects the pooled activations of every tapped layer; features are cached "
            "by model, weights, layers, preprocessing and the exact file list. Writes features-train.npz, "
            "features-test.npz, embed.json and run.json into --out.",
            ["transferlab embed --data fashion-mnist --per-class 100 --image-size 96 --out runs/emb",
             "transferlab probe runs/emb --compare"], GROUPS)


def fill_probe(p) -> None:
    command(p, ProbeConfig, run_probe_cmd,
            "Post-process (FNE by default) the features of an `embed` run and train a linear SVM on the train "
            "features; evaluate on test: metrics.json, predictions.csv, confusion.png, probe.skops.",
            ["transferlab probe runs/emb --post fne --C 1.0 --json",
             "transferlab probe runs/emb --layers bn2,blocks.5.3.bn2 --out runs/emb-two-layers"],
            ("probe", "dataset", "run"))


def fill_fne(p) -> None:
    command(p, FNEConfig, run_fne,
            "Extract (cached) the pooled activations of every layer, post-process them (FNE: standardise, "
            "discretise) and train and evaluate a linear SVM. Writes metrics.json, predictions.csv, confusion.png, "
            "the features, probe.skops (for `transferlab predict`) and run.json into --out.",
            ["transferlab fne --data fashion-mnist --per-class 100 --image-size 96 --compare",
             "transferlab fne --data path/to/images --layers last --out runs/last --json"], GROUPS)


PARSERS = {"embed": fill_embed, "probe": fill_probe, "fne": fill_fne}


def print_summary(metrics: dict, as_json: bool, header: list[str]) -> None:
    """The run's results on stdout: one JSON object, or a readable summary."""
    from transferlab.fne.probe import compare_table
    from transferlab.evaluation import summary_lines

    if as_json:
        print(json.dumps(metrics, default=str))
        return
    for line in header + summary_lines(metrics, list(metrics["per_class"])):
        print(line)
    for w in metrics.get("warnings", []):
        print(f"warning: {w}")
    if "cv" in metrics:
        cv = metrics["cv"]
        chosen = cv["chosen"]
        print(f"cross-validation ({cv['folds']} folds of train, {cv['seconds']:.1f} s): chose layers "
              f"{chosen['layers']}, C={chosen['C']:g} (CV accuracy {chosen['accuracy']:.4f})")
        for line in cv_table(cv):
            print(line)
        print(f"plot: {metrics['files']['cv_plot']}")
    if "compare" in metrics:
        print("per-layer accuracy (layer, dim, accuracy):")
        for line in compare_table(metrics["compare"]):
            print(line)
        print(f"table: {metrics['files']['compare']}   plot: {metrics['files']['compare_plot']}")
    print(f"report: {metrics['files']['metrics']}   confusion matrix: {metrics['files']['confusion']}")


def cv_table(cv: dict) -> list[str]:
    """Mean CV accuracy, one row per tap set, one column per C."""
    Cs = cv["C_grid"]
    cell = {(r["layers"], r["C"]): r["accuracy"] for r in cv["table"]}
    width = max(len(n) for n in cv["candidates"])
    lines = ["  " + " " * width + "".join(f"  C={C:<6g}" for C in Cs)]
    for name in cv["candidates"]:
        lines.append(f"  {name:<{width}}" + "".join(f"  {cell[(name, C)]:<8.4f}" for C in Cs))
    return lines


def run_embed(args) -> int:
    from transferlab.fne.pipeline import embed

    config = config_from_args(EmbedConfig, args)
    if config.out is None:
        from transferlab.runs import default_run_dir

        config = config.replace(out=str(default_run_dir("embed", config.data or config.train_list, config.model,
                                                         config.layers)))
    result = embed(config=config)
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
        return 0
    print(result.splits.summary())
    print(f"{result.n_layers} layers, {result.dim} features per image "
          f"({'from cache' if all(result.cached.values()) else f'{result.seconds:.1f} s'})")
    for s in result.skipped:
        print(f"skipped {s['path']}: {s['reason']}")
    print(f"features in {result.run_dir} (features-train.npz, features-test.npz, embed.json); "
          f"next: transferlab probe {result.run_dir}")
    return 0


def run_probe_cmd(args) -> int:
    from transferlab.fne.pipeline import probe

    config = config_from_args(ProbeConfig, args)
    result = probe(config=config)
    m = result.metrics
    print_summary(m, args.json, [f"{m.get('model')} on {m.get('dataset')}: {m['n_layers']} layers, {m['dim']} features, "
                          f"post={config.post}"])
    return 0


def run_fne(args) -> int:
    from transferlab.fne.pipeline import fne

    config = config_from_args(FNEConfig, args)
    result = fne(config=config)
    m = result.metrics
    splits = result.features.splits
    layers = f"auto: {m['layers_chosen']}" if m.get("layers_chosen") else config.layers
    print_summary(m, args.json, [splits.summary(), f"{m['model']}: {m['n_layers']} layers ({layers}), {m['dim']} features, "
                                            f"post={config.post}", f"run folder: {Path(result.run_dir)}"])
    return 0
