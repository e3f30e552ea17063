"""``transferlab finetune`` and ``transferlab predict`` (see docs/finetune.md): thin doors onto the configs."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from transferlab.cli_args import command, config_from_args, given
from transferlab.errors import BadInputError
from transferlab.finetune.config import FinetuneConfig, PredictConfig

GROUPS = ("dataset", "model", "transfer", "optimisation", "caches", "run")
JSON_KEYS = ("accuracy", "mean_class_accuracy", "macro_f1", "best_epoch", "best_val_accuracy", "epochs_run",
             "stopped_early", "seconds", "n_train", "n_test", "n_classes", "model", "dataset", "transfer", "freeze",
             "blocks", "frozen_prefix_cache", "image_cache", "training_loader", "warnings", "skipped", "skipped_train",
             "run", "files")


def fill_finetune(p) -> None:
    sections = command(
        p, FinetuneConfig, run_finetune,
        "Fine-tune a pretrained backbone on an image dataset. Blocks are the backbone's stages (`transferlab layers "
        "MODEL --blocks`). Outputs in --out: config.yaml, metrics.csv, curves.png, best.pt/last.pt, metrics.json, "
        "predictions.csv, confusion.png and run.json. Under `torchrun --nproc-per-node N` it trains with "
        "DistributedDataParallel.",
        ["transferlab finetune --data ../shared/data/hymenoptera --freeze all --augment none --epochs 5 "
         "--val-fraction 0.1 --out runs/head",
         "transferlab finetune --resume runs/head --epochs 10     # continue, or extend a finished run"], GROUPS)
    sections["run"].add_argument("--config", metavar="FILE",
                                 help="read the settings from a config.yaml (options given here override them) "
                                      "(default: none)")
    sections["run"].add_argument("--resume", metavar="RUN",
                                 help="continue the run in RUN from its last checkpoint; with a larger --epochs, "
                                      "extend a finished run (default: none: a new run)")


def fill_predict(p) -> None:
    command(p, PredictConfig, run_predict,
            "Top-k classes of image files with a finished run: a fine-tuning run's checkpoint, or an FNE run's probe. "
            "Unreadable images are skipped and listed; none readable is an error.",
            ["transferlab predict runs/head photo1.jpg photo2.jpg --top-k 2",
             "transferlab predict runs/fne-fm *.png --json"])


PARSERS = {"finetune": fill_finetune, "predict": fill_predict}


def run_finetune(args) -> int:
    from transferlab.finetune.run import FinetuneRun, finetune, resume_config

    options = given(args, FinetuneConfig)
    if args.resume:
        if args.config:
            raise BadInputError("--resume and --config do not go together (the run's own config.yaml is used)")
        cfg, pending = resume_config(Path(args.resume), options)
        if not pending:
            run = FinetuneRun.load(args.resume)
            note = (f"{args.resume} is complete ({run.epochs_run} of {cfg.epochs} epochs, accuracy {run.accuracy:.4f});"
                    f" nothing to do: give --epochs N with N > {cfg.epochs} to train it further")
            print(json.dumps({**_json(run.metrics), "resumed": False, "note": note}) if args.json else note)
            return 0
        call = dict(resume=args.resume, **options)
    elif args.config:
        saved = FinetuneConfig.load(args.config)
        call = dict(config=saved.replace(out=options.pop("out", None), **options))
    else:
        call = dict(config=config_from_args(FinetuneConfig, args))
    try:
        run = finetune(**call)
    except KeyboardInterrupt:
        out = Path(call["resume"] if "resume" in call else call["config"].out or "")
        hint = (f"the last finished epoch is kept: continue with `transferlab finetune --resume {out}`"
                if (out / "last.pt").is_file() else "no epoch had finished")
        print(f"transferlab finetune: interrupted; {hint}", file=sys.stderr)
        return 130
    if run is None:  # not rank 0 under torchrun
        return 0
    result = run.metrics
    if args.json:
        print(json.dumps(_json(result)))
        return 0
    from transferlab.evaluation import summary_lines

    print("\n".join(summary_lines(result, run.classes)))
    print(f"best epoch {result['best_epoch']} of {result['epochs_run']} (validation accuracy "
          f"{result['best_val_accuracy']:.4f}); {result['seconds']:.0f} s")
    for w in result.get("warnings", []):
        print(f"warning: {w}")
    print(f"outputs in {result['run']}: metrics.json, predictions.csv, confusion.png, metrics.csv, curves.png, "
          "best.pt, last.pt, config.yaml, run.json")
    return 0


def _json(metrics: dict) -> dict:
    return {k: metrics[k] for k in JSON_KEYS if k in metrics}


def run_predict(args) -> int:
    from transferlab.models.predict import text_lines
    from transferlab.runs import require_complete

    cfg = config_from_args(PredictConfig, args)
    manifest = require_complete(cfg.run, ("finetune", "fne"), "predict needs a finished finetune or fne run")
    if manifest.get("command") == "fne":
        from transferlab.fne.results import FNERun

        run = FNERun.load(cfg.run)
        if cfg.device:
            run.config = run.config.replace(device=cfg.device)
        result = run.predict(cfg.images, top_k=cfg.top_k, batch_size=cfg.batch_size)
    else:
        from transferlab.finetune.run import FinetuneRun

        result = FinetuneRun.load(cfg.run).predict(cfg.images, top_k=cfg.top_k, checkpoint=cfg.checkpoint,
                                                   batch_size=cfg.batch_size, device=cfg.device)
    for s in result["skipped"]:
        print(f"warning: skipped {s['path']}: {s['reason']}", file=sys.stderr)
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(text_lines(result)))
    return 0
