"""The fine-tuning configuration: one typed config, saved as ``RUN/config.yaml``, reloaded by
``--config`` (rerun) and ``--resume`` (continue; any result-changing difference but a larger
``--epochs`` is an error that names it).

Field names are the CLI option names with ``_`` for ``-`` (``--backbone-lr-mult`` ->
``backbone_lr_mult``); the same config is what a sweep run and ``tl.finetune(...)`` build.
"""
from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator, model_validator

from transferlab.data.config import DataOptions
from transferlab.errors import BadInputError
from transferlab.fne.config import RunOptions, out_option
from transferlab.models.config import ModelOptions, Precision
from transferlab.schema import Config, DeviceName, device_option, option, quiet_option, top_k_option


class FinetuneConfig(RunOptions, ModelOptions, DataOptions):
    """``transferlab finetune`` / ``tl.finetune``: which blocks are transferred, frozen and retrained, and how."""

    command = "finetune"
    out: str | None = out_option("a new folder runs/finetune-DATA-MODEL-TIME")
    val_fraction: float | None = option(None, "validate on this stratified fraction of train", gt=0, lt=1,
                                        group="dataset", default_text="the dataset's val/ or test/ split")
    # transfer
    transfer: str = option("all", "keep the pretrained weights of the first K blocks, re-initialise the rest; "
                                  "0 = from scratch", group="transfer", metavar="K|all")
    freeze: str = option("0", "freeze the first K blocks (all = train only the head); their BatchNorm stays in eval "
                              "mode", group="transfer", metavar="K|all")
    head: str = option("linear", "linear, or mlp:W1[,W2...] (hidden layers with ReLU)", group="transfer",
                       metavar="SPEC")
    dropout: float = option(0.0, "dropout before each head layer", ge=0, lt=1, group="transfer")
    # optimisation
    optimizer: Literal["sgd", "adamw"] = option("sgd", "optimizer", group="optimisation")
    lr: float = option(0.01, "learning rate of the head", gt=0, group="optimisation")
    momentum: float = option(0.9, "SGD momentum", ge=0, lt=1, group="optimisation")
    backbone_lr_mult: float = option(1.0, "backbone learning rate = lr x this (discriminative learning rate)", ge=0,
                                     group="optimisation")
    weight_decay: float = option(1e-4, "on weights, not biases or normalisation parameters", ge=0,
                                 group="optimisation")
    schedule: Literal["cosine", "step", "constant"] = option("cosine", "learning-rate schedule, per optimizer step",
                                                             group="optimisation")
    warmup: float = option(0.0, "linear warm-up epochs (fractions allowed)", ge=0, group="optimisation")
    step_size: int | None = option(None, "--schedule step: epochs between decays", ge=1, group="optimisation",
                                   default_text="a third of --epochs")
    gamma: float = option(0.1, "--schedule step: decay factor", gt=0, le=1, group="optimisation")
    label_smoothing: float = option(0.0, "cross-entropy label smoothing", ge=0, lt=1, group="optimisation")
    augment: Literal["none", "light", "strong"] = option(
        "light", "training augmentation (torchvision transforms v2): light = random resized crop + flip, strong adds "
                 "TrivialAugmentWide and random erasing", group="optimisation")
    epochs: int = option(10, "training epochs", ge=1, group="optimisation")
    batch_size: int = option(32, "images per batch, per process", ge=1, group="optimisation")
    accumulate: int = option(1, "gradient accumulation: batches per optimizer step", ge=1, group="optimisation")
    patience: int | None = option(None, "stop after this many epochs without validation improvement", ge=1,
                                  group="optimisation", default_text="off")
    amp: bool = option(True, "mixed precision on a GPU (bf16, else fp16 with loss scaling)", negate="--no-amp",
                       negate_help="full precision on a GPU too",
                       group="optimisation")
    precision: Precision = option(
        "fp32", "bf16 = bfloat16 autocast for training and evaluation, on a CPU with AVX-512 BF16/AMX or a CUDA GPU "
                "(changes results slightly); fp32 = full precision on a CPU, --amp decides on a GPU",
        group="optimisation")
    compile: bool = option(False, "torch.compile the training step (a one-off compile of a minute or more; "
                                  "falls back to eager with a notice if compilation fails; rounding differs slightly "
                                  "from eager, so it is part of the configuration)", group="optimisation")
    cache_frozen: bool = option(True, "cache the frozen prefix's outputs once (with frozen blocks and --augment none)",
                                negate="--no-cache-frozen", negate_help="run the frozen blocks every epoch",
                                group="caches")
    cache_images: bool = option(True, "decode every training image once and keep it in RAM (downscaled to what the "
                                      "augmentation needs)", negate="--no-cache-images",
                                negate_help="decode every training image every epoch", group="caches")
    cache_max_gb: float = option(4.0, "largest frozen-prefix cache kept in memory (GiB)", ge=0, runtime=True,
                                 group="caches")
    cache_images_gb: float = option(4.0, "largest decoded-image cache kept in memory (GiB); off when it would need "
                                         "more", ge=0, runtime=True, group="caches")

    @field_validator("transfer", "freeze", mode="before")
    @classmethod
    def _block_count(cls, value):
        v = str(value).strip().lower()
        if v != "all" and not re.fullmatch(r"\d+", v):
            raise ValueError("must be a block count K >= 0 or 'all'")
        return v

    @field_validator("head")
    @classmethod
    def _head(cls, value):
        parse_head(value)
        return str(value).strip().lower()

    @model_validator(mode="after")
    def _warmup_within_epochs(self):
        if self.warmup >= self.epochs:
            raise ValueError(f"warmup (--warmup) must be less than epochs (--epochs): got warmup {self.warmup:g}, "
                             f"epochs {self.epochs}")
        return self

    def to_yaml(self, header: str = "") -> str:
        header = header or ("# transferlab finetune configuration: rerun it exactly with\n"
                            "#   transferlab finetune --config THIS_FILE --out NEW_RUN\n")
        return super().to_yaml(header)


def config_diff(saved: FinetuneConfig, new: FinetuneConfig, ignore: tuple[str, ...] = ()) -> list[str]:
    """``name: saved -> new`` for every result-changing field that differs (``ignore``: fields allowed to)."""
    return [d for d in saved.diff(new) if d.split(":", 1)[0] not in ignore]


def check_resume(run, saved: FinetuneConfig, asked: FinetuneConfig, differences: list[str], against: str) -> None:
    """The resume rule: ``run`` (saved as ``saved``) continues as ``asked`` only when no result-changing option
    differs (``differences``, found ``against`` the run's config.yaml or its checkpoint) and ``epochs`` does not
    shrink: a run can be extended, not shortened."""
    if differences:
        raise BadInputError(f"--resume {run}: {against}: {'; '.join(differences)}")
    if asked.epochs < saved.epochs:
        raise BadInputError(f"--resume {run}: --epochs {asked.epochs} is fewer than the run's {saved.epochs}; a run "
                            "can be extended, not shortened")


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


def parse_head(spec: str) -> list[int]:
    """Hidden layer widths of the head: ``linear`` -> [], ``mlp:512,512`` -> [512, 512]."""
    s = str(spec).strip().lower()
    if s == "linear":
        return []
    if s.startswith("mlp:"):
        try:
            widths = [int(w) for w in s[4:].split(",") if w.strip()]
        except ValueError:
            widths = []
        if widths and all(w > 0 for w in widths):
            return widths
    raise ValueError("must be 'linear' or 'mlp:W1[,W2...]' (e.g. mlp:512,512)")


def default_out(cfg: FinetuneConfig) -> str:
    """``runs/finetune-DATA-MODEL-TIME``: a new folder when no ``--out`` is given."""
    from transferlab.runs import default_run_dir

    return str(default_run_dir("finetune", cfg.data or cfg.train_list, cfg.model.replace(":", "-")))


class PredictConfig(Config):
    """``transferlab predict RUN IMAGE...``: top-k classes of new images with a finished fne or finetune run."""

    command = "predict"
    run: str = option(..., "a finished `transferlab finetune` or `transferlab fne` run folder", positional=True,
                      metavar="RUN")
    images: list[str] = option(..., "image files", positional=True, nargs="+", metavar="IMAGE")
    top_k: int = top_k_option(3, "classes shown per image")
    checkpoint: str = option("best.pt", "checkpoint of a fine-tuning run to use (best.pt or last.pt)", metavar="FILE")
    batch_size: int = option(32, "images per forward pass", ge=1)
    device: DeviceName = device_option()
    quiet: bool = quiet_option()


__all__ = ["FinetuneConfig", "PredictConfig", "check_resume", "config_diff", "parse_k", "parse_head", "default_out"]
