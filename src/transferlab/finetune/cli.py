"""``transferlab finetune`` and ``transferlab predict`` (see docs/finetune.md)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from transferlab.errors import BadInputError


def register(subparsers) -> None:
    """Add this capability's sub-commands to the ``transferlab`` parser."""
    from transferlab.finetune.config import AUGMENTS, OPTIMIZERS, SCHEDULES, FinetuneConfig
    from transferlab.options import add_data_arguments, add_model_arguments

    d = FinetuneConfig()
    p = subparsers.add_parser(
        "finetune", help="fine-tune a backbone: choose transferred, frozen and retrained blocks",
        description="Fine-tune a pretrained backbone on an image dataset. Blocks are the backbone's stages "
                    "(`transferlab layers MODEL --blocks`). Outputs in --out: config.yaml, metrics.csv, curves.png, "
                    "best.pt/last.pt, metrics.json, predictions.csv, confusion.png. Under `torchrun --nproc-per-node N` "
                    "it trains with DistributedDataParallel.")
    add_data_arguments(p)
    p.add_argument("--val-fraction", type=float, default=None,
                   help="validate on this stratified fraction of train (default: the dataset's val/test split)")
    add_model_arguments(p)
    g = p.add_argument_group("transfer")
    g.add_argument("--transfer", default=d.transfer, metavar="K|all",
                   help="keep the pretrained weights of the first K blocks, re-initialise the rest; 0 = from scratch "
                        "(default %(default)s)")
    g.add_argument("--freeze", default=d.freeze, metavar="K|all",
                   help="freeze the first K blocks (all = train only the head); their BatchNorm stays in eval mode "
                        "(default %(default)s)")
    g.add_argument("--head", default=d.head, help="linear or mlp:W1[,W2...] (default %(default)s)")
    g.add_argument("--dropout", type=float, default=d.dropout, help="dropout before each head layer (default %(default)s)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="(default %(default)s)")
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate of the head (default %(default)s)")
    g.add_argument("--momentum", type=float, default=d.momentum, help="SGD momentum (default %(default)s)")
    g.add_argument("--backbone-lr-mult", type=float, default=d.backbone_lr_mult,
                   help="backbone learning rate = lr x this (discriminative learning rate; default %(default)s)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay,
                   help="on weights, not biases/normalisation (default %(default)s)")
    g.add_argument("--schedule", choices=SCHEDULES, default=d.schedule, help="(default %(default)s)")
    g.add_argument("--warmup", type=float, default=d.warmup, help="linear warm-up epochs (default %(default)s)")
    g.add_argument("--step-size", type=int, default=d.step_size,
                   help="--schedule step: epochs between decays (default: a third of --epochs)")
    g.add_argument("--gamma", type=float, default=d.gamma, help="--schedule step: decay factor (default %(default)s)")
    g.add_argument("--label-smoothing", type=float, default=d.label_smoothing, help="(default %(default)s)")
    g.add_argument("--augment", choices=AUGMENTS, default=d.augment,
                   help="training augmentation, torchvision transforms v2 (default %(default)s)")
    g.add_argument("--epochs", type=int, default=d.epochs, help="(default %(default)s)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="per process (default %(default)s)")
    g.add_argument("--accumulate", type=int, default=d.accumulate,
                   help="gradient accumulation steps per optimizer step (default %(default)s)")
    g.add_argument("--patience", type=int, default=d.patience,
                   help="stop after this many epochs without validation improvement (default: off)")
    g.add_argument("--no-amp", dest="amp", action="store_false", help="no mixed precision on GPU")
    g.add_argument("--no-cache-frozen", dest="cache_frozen", action="store_false",
                   help="do not cache the frozen prefix's outputs (used with frozen blocks and --augment none)")
    g.add_argument("--cache-max-gb", type=float, default=d.cache_max_gb,
                   help="largest frozen-prefix cache kept in memory (default %(default)s)")
    g.add_argument("--no-cache-images", dest="cache_images", action="store_false",
                   help="decode every training image every epoch instead of once (the cache keeps them in RAM, "
                        "downscaled to the shorter side the augmentation needs)")
    g.add_argument("--cache-images-gb", type=float, default=d.cache_images_gb,
                   help="largest decoded-image cache kept in memory; off when it would need more "
                        "(default %(default)s)")
    g = p.add_argument_group("run")
    g.add_argument("--out", help="run folder (default: runs/finetune-DATA-MODEL-TIME)")
    g.add_argument("--config", help="read the settings from a config.yaml (options given here override them)")
    g.add_argument("--resume", metavar="RUN", help="continue the interrupted run in RUN from its last checkpoint")
    g.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    g.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _track_explicit(p)
    p.set_defaults(func=run_finetune)

    q = subparsers.add_parser("predict", help="top-k classes of new images with a fine-tuned run",
                              description="Classify images with RUN/best.pt of a `transferlab finetune` run.")
    q.add_argument("run", help="run folder of transferlab finetune")
    q.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    q.add_argument("--top-k", type=int, default=3, help="classes shown per image (default %(default)s)")
    q.add_argument("--checkpoint", default="best.pt", help="checkpoint in RUN (default %(default)s)")
    q.add_argument("--device", default=None, help="cpu, cuda ... (default: cuda when available)")
    q.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    q.set_defaults(func=run_predict)


def _track_explicit(parser: argparse.ArgumentParser) -> None:
    """Record in ``namespace._explicit`` which options the user actually gave (for --config / --resume)."""
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        cls = action.__class__

        def call(self, parser, namespace, values, option_string=None, _orig=cls.__call__):
            explicit = set(getattr(namespace, "_explicit", ()) or ())
            explicit.add(self.dest)
            namespace._explicit = explicit
            _orig(self, parser, namespace, values, option_string)

        action.__class__ = type(cls.__name__, (cls,), {"__call__": call})


def config_from_args(args):
    """(config, resume?) from the options, ``--config`` file and ``--resume`` run."""
    from transferlab.finetune.config import RUNTIME_FIELDS, FinetuneConfig

    names = [f.name for f in fields(FinetuneConfig)]
    explicit = set(getattr(args, "_explicit", ()) or ())
    given = {n: getattr(args, n) for n in names if n in explicit}
    if args.resume:
        if args.config:
            raise BadInputError("--resume and --config do not go together (the run's own config.yaml is used)")
        run = Path(args.resume)
        if not (run / "config.yaml").is_file():
            raise BadInputError(f"--resume {run}: no config.yaml there; it is not a fine-tuning run")
        saved = FinetuneConfig.load(run / "config.yaml")
        diffs = [f"{k}: run has {getattr(saved, k)!r}, given {v!r}" for k, v in given.items()
                 if k not in RUNTIME_FIELDS and _norm(v) != _norm(getattr(saved, k))]
        if diffs:
            raise BadInputError(f"--resume {run}: the options differ from the run's config.yaml: {'; '.join(diffs)}")
        if "out" in given and Path(given["out"]).resolve() != run.resolve():
            raise BadInputError(f"--resume {run} continues in {run}; do not give another --out")
        for k in RUNTIME_FIELDS:
            if k in given:
                setattr(saved, k, given[k])
        saved.out = str(run)
        return saved, True
    if args.config:
        cfg = FinetuneConfig.load(args.config)
        for k, v in given.items():
            setattr(cfg, k, v)
        cfg.out = given.get("out")
    else:
        cfg = FinetuneConfig(**{n: getattr(args, n) for n in names if hasattr(args, n)})
    if cfg.data and cfg.data != "fashion-mnist" and os.path.exists(cfg.data):
        cfg.data = os.path.abspath(cfg.data)  # config.yaml reruns from any folder
    for k in ("train_list", "test_list", "images", "weights"):
        v = getattr(cfg, k)
        if v and os.path.exists(v):
            setattr(cfg, k, os.path.abspath(v))
    return cfg, False


def _norm(v):
    return str(v) if v is not None else None


def run_finetune(args) -> int:
    from transferlab.finetune.train import finetune

    from transferlab.finetune.config import default_out

    cfg, resume = config_from_args(args)
    cfg.out = cfg.out or default_out(cfg)
    try:
        result = finetune(cfg, resume=resume, overwrite=args.overwrite, verbose=not args.quiet)
    except KeyboardInterrupt:
        kept = Path(cfg.out) / "last.pt"
        hint = (f"the last finished epoch is kept: continue with `transferlab finetune --resume {cfg.out}`"
                if kept.is_file() else "no epoch had finished")
        print(f"transferlab finetune: interrupted; {hint}", file=sys.stderr)
        return 130
    if not result:  # not rank 0 under torchrun
        return 0
    if args.json:
        keys = ("accuracy", "mean_class_accuracy", "macro_f1", "best_epoch", "best_val_accuracy", "epochs_run",
                "stopped_early", "seconds", "n_train", "n_test", "n_classes", "model", "dataset", "transfer", "freeze",
                "blocks", "frozen_prefix_cache", "image_cache", "training_loader", "warnings", "skipped", "skipped_train",
                "run", "files")
        print(json.dumps({k: result[k] for k in keys if k in result}))
    else:
        from transferlab.report import summary_lines

        classes = list(result["per_class"])
        print("\n".join(summary_lines(result, classes)))
        print(f"best epoch {result['best_epoch']} of {result['epochs_run']} (validation accuracy "
              f"{result['best_val_accuracy']:.4f}); {result['seconds']:.0f} s")
        for w in result.get("warnings", []):
            print(f"warning: {w}")
        print(f"outputs in {result['run']}: metrics.json, predictions.csv, confusion.png, metrics.csv, curves.png, "
              "best.pt, last.pt, config.yaml")
    return 0


def run_predict(args) -> int:
    from transferlab.finetune.predict import load_run, predict_images
    from transferlab.options import pick_device

    if args.top_k < 1:
        raise BadInputError("--top-k must be at least 1")
    run = load_run(args.run, args.checkpoint, pick_device(args.device))
    result = predict_images(run, args.images, args.top_k)
    if args.json:
        print(json.dumps(result))
    else:
        for p in result["predictions"]:
            tops = "  ".join(f"{t['class']} {t['probability']:.3f}" for t in p["top"])
            print(f"{p['path']}: {tops}")
        for s in result["skipped"]:
            print(f"{s['path']}: skipped ({s['reason']})", file=sys.stderr)
    if not result["predictions"]:
        raise BadInputError("no readable image: " + "; ".join(f"{s['path']}: {s['reason']}" for s in result["skipped"]))
    return 0
