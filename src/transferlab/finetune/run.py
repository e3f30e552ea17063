"""``tl.finetune(...)`` and what it returns: a ``FinetuneRun`` that holds the results and can predict.

    run = tl.finetune(data, model="efficientnet_lite0", freeze="all", epochs=5, out="runs/x")
    run.accuracy, run.best_epoch, run.history        # history: one row per epoch (a DataFrame)
    run.predict(["photo.jpg"])                        # top-k classes, the shared prediction shape
    tl.FinetuneRun.load("runs/x")                     # a finished run folder, read back
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from transferlab import io as tio
from transferlab.errors import BadInputError, DataError
from transferlab.finetune.config import FinetuneConfig, check_resume, default_out
from transferlab.results import ClassifierRun, frame_html


@dataclass(repr=False)
class FinetuneRun(ClassifierRun):
    """A finished fine-tuning run: ``accuracy`` (best checkpoint on the evaluation split), ``best_epoch``,
    ``history`` (per-epoch train/validation loss and accuracy), ``metrics`` (everything in metrics.json)."""

    config: FinetuneConfig
    metrics: dict
    run_dir: Path
    _model: Any = field(default=None, repr=False)

    _summary = ("accuracy", "mean_class_accuracy", "best_epoch", "epochs_run", "model", "run_dir")
    _title = "fine-tuning"

    @property
    def best_epoch(self) -> int:
        return self.metrics["best_epoch"]

    @property
    def epochs_run(self) -> int:
        return self.metrics["epochs_run"]

    @property
    def skipped(self) -> list[dict]:
        return self.metrics.get("skipped", []) + self.metrics.get("skipped_train", [])

    @property
    def history(self):
        """One row per epoch: train_loss, train_acc, val_loss, val_acc, lr, seconds, images_per_s (a DataFrame)."""
        import pandas as pd

        return pd.read_csv(self.run_dir / "metrics.csv")

    def _html_extra(self) -> str:
        return frame_html(self.history) + frame_html(self.per_class)

    # -- prediction -----------------------------------------------------------------------------------
    def predict(self, images: list[str | os.PathLike], top_k: int = 3, checkpoint: str = "best.pt",
                batch_size: int = 32, device: str | None = None) -> dict:
        """Top-k classes of image files with the run's checkpoint (the shared prediction shape)."""
        import torch

        from transferlab.models.predict import PROBABILITY, payload, read_batches, top_k as best

        model, classes, pre = self._network(checkpoint, device)
        dev = next(model.parameters()).device
        paths, tops, skipped = [], [], []
        for ok, batch, bad in read_batches([str(p) for p in images], pre.transform("none"), draft=pre.resize_size,
                                           batch_size=batch_size):
            skipped += bad
            if batch is None:
                continue
            with torch.inference_mode():
                probs = torch.softmax(model(batch.to(dev)).float(), 1).cpu().numpy()
            paths += ok
            tops += best(probs, classes, top_k)
        return payload(self.model, paths, tops, skipped, PROBABILITY, run=str(self.run_dir), checkpoint=checkpoint)

    def _network(self, checkpoint: str, device: str | None):
        if self._model is None or self._model[0] != checkpoint:
            self._model = (checkpoint, *load_model(self.run_dir, checkpoint, device or self.config.device))
        return self._model[1:]

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> "FinetuneRun":
        """A finished ``finetune`` run folder (or one from before manifests existed), ready to ``predict``."""
        import json

        from transferlab.runs import require_complete

        run_dir = Path(run_dir)
        manifest = require_complete(run_dir, ("finetune",), "give the folder of a finished `transferlab finetune` run")
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{run_dir}/metrics.json cannot be read ({exc}): the run did not finish its final "
                            "evaluation") from None
        if manifest.get("config"):
            config = FinetuneConfig.from_dict(manifest["config"], str(run_dir / "run.json"))
        else:
            config = FinetuneConfig.load(run_dir / "config.yaml")
        return cls(config=config, metrics=metrics, run_dir=run_dir)


def load_model(run_dir: Path, checkpoint: str = "best.pt", device: str | None = None):
    """(model in eval mode on ``device``, classes, preprocessing) rebuilt from a checkpoint of the run:
    no pretrained weights are needed."""
    from transferlab.finetune.checkpoint import load_checkpoint
    from transferlab.finetune.model import build_model
    from transferlab.models.preprocess import Preprocessing
    from transferlab.runtime import pick_device

    path = Path(run_dir) / checkpoint
    if not path.is_file():
        raise BadInputError(f"{run_dir} has no {checkpoint} (is it a fine-tuning run that finished an epoch?)")
    ck = load_checkpoint(path)
    cfg = FinetuneConfig.from_dict({k: v for k, v in ck["config"].items() if k in FinetuneConfig.model_fields},
                                   str(path))
    classes = list(ck["classes"])
    prepared = build_model(cfg, len(classes), pretrained=False)
    try:
        prepared.model.load_state_dict(ck["model"])
    except RuntimeError as exc:
        raise DataError(f"{path} does not fit {cfg.model}: {str(exc).splitlines()[0][:200]}") from None
    model = prepared.model.to(pick_device(device)).eval()
    p = ck["preprocessing"]
    pre = Preprocessing(p["input_size"], p["resize_size"], p["interpolation"], tuple(p["mean"]), tuple(p["std"]))
    return model, classes, pre


def finetune(data=None, config: FinetuneConfig | None = None, *, resume: str | os.PathLike | None = None,
             callback: Callable[[int, dict], None] | None = None, **options) -> FinetuneRun | None:
    """Fine-tune a backbone (every option of ``transferlab finetune``, as keywords or a ``FinetuneConfig``).

    ``data``: a dataset source or a loaded ``DataSplits``; ``resume``: a run folder to continue (a larger
    ``epochs`` extends a finished run; a finished run given no more epochs is returned as it is).
    Returns a ``FinetuneRun`` (``None`` on ranks other than 0 under torchrun).
    """
    from transferlab.finetune.loop import train
    from transferlab.data.config import make_config

    if resume is not None:
        return _resume(Path(resume), config, options, callback)
    config, splits = make_config(FinetuneConfig, config, data, options)
    if not config.out:
        config = config.replace(out=default_out(config))
    config = _absolute_paths(config)
    metrics = train(config, callback=callback, splits=splits)
    return FinetuneRun(config=config, metrics=metrics, run_dir=Path(config.out)) if metrics else None


def _absolute_paths(config: FinetuneConfig) -> FinetuneConfig:
    """Paths made absolute, so the run's config.yaml reruns it from any folder."""
    changes = {}
    for k in ("data", "train_list", "test_list", "images", "weights"):
        v = getattr(config, k)
        if v and v != "fashion-mnist" and os.path.exists(v):
            changes[k] = tio.absolute_path(v)
    return config.replace(**changes) if changes else config


def resume_config(run: Path, given: dict) -> tuple[FinetuneConfig, bool]:
    """(the run's config with ``given`` applied, whether there is anything left to train).

    Only runtime fields and a larger ``epochs`` may differ from the run's config.yaml; anything else
    is an error that names the differences."""
    from transferlab.runs import check_recorded, load_manifest

    if not (run / "config.yaml").is_file():
        raise BadInputError(f"--resume {run}: no config.yaml there; it is not a fine-tuning run")
    check_recorded(run / "config.yaml", "it cannot be resumed: rerun the fine-tuning into a new --out")
    saved = FinetuneConfig.load(run / "config.yaml")
    runtime = FinetuneConfig.runtime_fields()
    asked = saved.replace(**{k: v for k, v in given.items() if k != "out"})  # validated, so 0.10 equals 0.1
    diffs = [f"{FinetuneConfig.flag(k)}: the run has {getattr(saved, k)}, given {getattr(asked, k)}" for k in given
             if k not in runtime and k not in ("epochs", "out") and getattr(asked, k) != getattr(saved, k)]
    if "out" in given and given["out"] and Path(given["out"]).resolve() != run.resolve():
        raise BadInputError(f"--resume {run} continues in {run}; do not give another --out")
    cfg = saved.replace(**{k: v for k, v in given.items() if k in runtime or k == "epochs"}, out=str(run))
    check_resume(run, saved, cfg, diffs, "the options differ from the run's config.yaml")
    manifest = load_manifest(run)
    finished = (manifest or {}).get("status") == "complete" or (manifest is None and (run / "metrics.json").is_file())
    return cfg, not (finished and cfg.epochs <= saved.epochs)


def _resume(run: Path, config: FinetuneConfig | None, options: dict, callback) -> FinetuneRun | None:
    from transferlab.finetune.loop import train

    given = {**(config.model_dump(exclude_unset=True) if config is not None else {}), **options}
    cfg, pending = resume_config(run, given)
    if not pending:
        return FinetuneRun.load(run)
    metrics = train(cfg, resume=True, callback=callback)
    return FinetuneRun(config=cfg, metrics=metrics, run_dir=run) if metrics else None
