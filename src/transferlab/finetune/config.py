"""The fine-tuning configuration: one dataclass, saved as ``RUN/config.yaml``, reloaded by
``--config`` (rerun) and ``--resume`` (continue; any difference is an error that names it).

Field names are the CLI option names with ``_`` for ``-`` (``--backbone-lr-mult`` ->
``backbone_lr_mult``), so a sweep tool can build a ``FinetuneConfig`` directly.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from transferlab.data.images import DEFAULT_MAX_PIXELS
from transferlab.errors import BadInputError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "step", "constant")
AUGMENTS = ("none", "light", "strong")

# Fields that change where/how fast a run executes, never its result: free to differ on --resume.
RUNTIME_FIELDS = ("out", "workers", "device", "cache_max_gb", "cache_images_gb")


@dataclass
class FinetuneConfig:
    # dataset (same meaning as the shared dataset options)
    data: str | None = None
    train_list: str | None = None
    test_list: str | None = None
    images: str | None = None
    test_fraction: float = 0.2
    per_class: int | None = None
    seed: int = 0
    strict: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    val_fraction: float | None = None
    # model
    model: str = "efficientnet_lite0"
    weights: str | None = None
    image_size: int | None = None
    transfer: str = "all"  # K or "all": keep the pretrained weights of the first K blocks
    freeze: str = "0"  # K or "all": freeze the first K blocks
    head: str = "linear"  # "linear" or "mlp:512,512"
    dropout: float = 0.0
    # optimisation
    optimizer: str = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    backbone_lr_mult: float = 1.0
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup: float = 0.0  # epochs (fractions allowed)
    step_size: int | None = None  # --schedule step: epochs between decays (default: a third of --epochs)
    gamma: float = 0.1
    label_smoothing: float = 0.0
    augment: str = "light"
    epochs: int = 10
    batch_size: int = 32
    accumulate: int = 1
    patience: int | None = None
    amp: bool = True  # mixed precision, only ever used on a GPU
    cache_frozen: bool = True
    cache_images: bool = True  # decoded-image cache for training (augmentation from RAM after epoch 1)
    # runtime only
    out: str | None = None
    workers: int | None = None
    device: str | None = None
    cache_max_gb: float = 4.0
    cache_images_gb: float = 4.0

    def validate(self) -> "FinetuneConfig":
        if not self.data and not self.train_list:
            raise BadInputError("no dataset: give --data (e.g. --data fashion-mnist) or --train-list/--test-list/--images")
        _check_k("--transfer", self.transfer)
        _check_k("--freeze", self.freeze)
        parse_head(self.head)
        for name, value, choices in (("--optimizer", self.optimizer, OPTIMIZERS), ("--schedule", self.schedule, SCHEDULES),
                                     ("--augment", self.augment, AUGMENTS)):
            if value not in choices:
                raise BadInputError(f"{name} {value!r}: choose one of {', '.join(choices)}")
        positive = {"--lr": self.lr, "--epochs": self.epochs, "--batch-size": self.batch_size, "--accumulate": self.accumulate}
        for name, value in positive.items():
            if not value > 0:
                raise BadInputError(f"{name} must be positive, got {value}")
        if not 0 <= self.dropout < 1:
            raise BadInputError(f"--dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.label_smoothing < 1:
            raise BadInputError(f"--label-smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.val_fraction is not None and not 0 < self.val_fraction < 1:
            raise BadInputError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        if self.warmup < 0 or self.warmup >= self.epochs:
            raise BadInputError(f"--warmup {self.warmup} must be >= 0 and less than --epochs {self.epochs}")
        if self.patience is not None and self.patience < 1:
            raise BadInputError(f"--patience must be at least 1, got {self.patience}")
        if self.cache_images_gb < 0 or self.cache_max_gb < 0:
            raise BadInputError("--cache-images-gb and --cache-max-gb must be >= 0")
        if self.backbone_lr_mult < 0 or self.weight_decay < 0:
            raise BadInputError("--backbone-lr-mult and --weight-decay must be >= 0")
        if self.step_size is not None and self.step_size < 1:
            raise BadInputError(f"--step-size must be at least 1, got {self.step_size}")
        return self

    # -- serialisation -------------------------------------------------------------------
    def to_dict(self, runtime: bool = False) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not runtime:
            for k in RUNTIME_FIELDS:
                d.pop(k)
        return d

    def to_yaml(self) -> str:
        import yaml

        head = ("# transferlab finetune configuration: rerun it exactly with\n"
                "#   transferlab finetune --config THIS_FILE --out NEW_RUN\n")
        return head + yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "config") -> "FinetuneConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise BadInputError(f"{where}: unknown setting(s) {', '.join(unknown)}")
        cfg = cls(**{k: _coerce(k, v) for k, v in d.items()})
        return cfg

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FinetuneConfig":
        import yaml

        path = Path(path)
        try:
            d = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise BadInputError(f"cannot read config {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise BadInputError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(d, dict):
            raise BadInputError(f"{path} does not hold a mapping of settings")
        return cls.from_dict(d, str(path))


def config_diff(saved: FinetuneConfig, new: FinetuneConfig) -> list[str]:
    """``name: saved -> new`` for every result-changing field that differs."""
    a, b = saved.to_dict(), new.to_dict()
    return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]]


def parse_k(value: str | int, n_blocks: int, option: str, model: str) -> int:
    """``K`` or ``all`` as a block count in [0, n_blocks]; an error names the count."""
    v = str(value).strip().lower()
    if v == "all":
        return n_blocks
    k = int(v)
    if k > n_blocks:
        raise BadInputError(f"{option} {k}: {model} has only {n_blocks} blocks (choose 0..{n_blocks} or all; "
                            f"`transferlab layers {model} --blocks` lists them)")
    return k


def _check_k(option: str, value) -> None:
    v = str(value).strip().lower()
    if v != "all" and not re.fullmatch(r"\d+", v):
        raise BadInputError(f"{option} {value!r}: expected a block count K >= 0 or 'all'")


def parse_head(spec: str) -> list[int]:
    """Hidden layer widths of the head: ``linear`` -> [], ``mlp:512,512`` -> [512, 512]."""
    spec = str(spec).strip().lower()
    if spec == "linear":
        return []
    if spec.startswith("mlp:"):
        try:
            widths = [int(w) for w in spec[4:].split(",") if w.strip()]
        except ValueError:
            widths = []
        if widths and all(w > 0 for w in widths):
            return widths
    raise BadInputError(f"--head {spec!r}: expected 'linear' or 'mlp:W1[,W2...]' (e.g. mlp:512,512)")


_INTS = {"test_fraction": float, "seed": int, "per_class": int, "max_pixels": int, "val_fraction": float,
         "image_size": int, "dropout": float, "lr": float, "momentum": float, "backbone_lr_mult": float,
         "weight_decay": float, "warmup": float, "step_size": int, "gamma": float, "label_smoothing": float,
         "epochs": int, "batch_size": int, "accumulate": int, "patience": int, "workers": int, "cache_max_gb": float,
         "cache_images_gb": float}


def _coerce(key: str, value):
    """YAML may give 1e-3 as a string or 3 for 3.0: normalise to the field's type."""
    if value is None:
        return None
    if key in ("transfer", "freeze"):
        return str(value)
    typ = _INTS.get(key)
    if typ is not None:
        try:
            return typ(value)
        except (TypeError, ValueError):
            raise BadInputError(f"config setting {key}: expected a number, got {value!r}") from None
    return value


def default_out(cfg: FinetuneConfig) -> str:
    import time

    data = Path(str(cfg.data or cfg.train_list)).stem or "data"
    model = cfg.model.replace(":", "-").replace("/", "-")
    return str(Path("runs") / f"finetune-{data}-{model}-{time.strftime('%Y%m%d-%H%M%S')}")


__all__ = ["FinetuneConfig", "config_diff", "parse_k", "parse_head", "RUNTIME_FIELDS"]
