"""The fine-tuning loop: ``finetune(config) -> dict``, in-process (sweeps) or from the CLI.

Writes into ``config.out``: ``config.yaml`` (reruns the run), ``metrics.csv`` (one row per
epoch), ``curves.png``, ``last.pt`` / ``best.pt`` (atomic), and the final evaluation of the best
checkpoint (``metrics.json``, ``predictions.csv``, ``confusion.png``, as the FNE probe).
Under ``torchrun`` it trains with DistributedDataParallel; only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from transferlab import io as tio
from transferlab.data.datasets import (DataSplits, ImageDataset, SkippingLoader, Split, collate_skipping,
                                       load_dataset)
from transferlab.data.images import open_image
from transferlab.errors import BadInputError, DataError, TransferlabError
from transferlab.finetune.cache import FeatureCache, build_cache, prefix_shape
from transferlab.finetune.config import FinetuneConfig, config_diff, default_out
from transferlab.finetune.model import (FromCache, Prepared, make_split, prepare_model, set_train_mode,
                                        trainable_groups)

CHECKPOINT_FORMAT = "transferlab-finetune/1"
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s",
                  "skipped")


class NonFiniteLoss(TransferlabError):
    """The loss became NaN/inf: training stopped, the last good checkpoint is kept."""


# ----------------------------------------------------------------------------------------------
# distributed helpers
# ----------------------------------------------------------------------------------------------
@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def barrier(self) -> None:
        if self.active:
            torch.distributed.barrier()

    def sum(self, values: list[float], device) -> list[float]:
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=device)
        torch.distributed.all_reduce(t)
        return t.tolist()


def _dist_setup(device_name: str | None) -> Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    owns = False
    if not dist.is_initialized():
        use_cuda = torch.cuda.is_available() and not (device_name or "").startswith("cpu")
        dist.init_process_group("nccl" if use_cuda else "gloo")
        owns = True
    return Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), owns)


def _device(cfg: FinetuneConfig, d: Dist) -> torch.device:
    if cfg.device:
        dev = torch.device(cfg.device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise BadInputError(f"--device {cfg.device}: CUDA is not available on this machine")
        if dev.type == "cuda" and d.active and dev.index is None:
            dev = torch.device("cuda", d.local_rank)
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda", d.local_rank if d.active else torch.cuda.current_device())
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------------
# data
# ----------------------------------------------------------------------------------------------
class EpochSampler(torch.utils.data.Sampler):
    """Yields ``(index, epoch)`` keys: a seeded permutation per epoch, sharded across ranks (padded
    so every rank runs the same number of steps).  The epoch travels with the key so augmentation
    can be seeded per (epoch, image) even in persistent workers: results do not depend on
    ``--workers`` and a resumed run sees the same images as an uninterrupted one."""

    def __init__(self, n: int, seed: int, shuffle: bool, rank: int = 0, world: int = 1):
        self.n, self.seed, self.shuffle, self.rank, self.world = n, seed, shuffle, rank, world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        if self.world > 1:
            per = math.ceil(self.n / self.world)
            order = (order * math.ceil(per * self.world / max(self.n, 1)))[: per * self.world]
            order = order[self.rank::self.world]
        return order

    def __iter__(self):
        return iter([(i, self.epoch) for i in self.indices()])

    def __len__(self) -> int:
        return math.ceil(self.n / self.world) if self.world > 1 else self.n


class SeededDataset(ImageDataset):
    """``ImageDataset`` whose random transforms are seeded by (seed, epoch, index)."""

    def __init__(self, *args, seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.seed = seed

    def __getitem__(self, key):
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        with torch.random.fork_rng(devices=[]):
            # the CPU generator only (the transforms draw from it): torch.manual_seed would also (re)seed the
            # CUDA generator, which fork_rng(devices=[]) does not restore, and while CUDA is not initialised
            # it records a stack trace per call (~0.3 ms an image, as much as the crop-resize itself)
            torch.default_generator.manual_seed((self.seed * 1_000_003 + epoch * 100_003 + int(i)) % (2 ** 63))
            return super().__getitem__(int(i))


def _loader(dataset, sampler, batch_size: int, workers: int, device: torch.device):
    kw = {}
    if workers > 0:
        kw = {"num_workers": workers, "persistent_workers": True, "prefetch_factor": 4}
    # an explicit generator: creating an iterator must not draw from the global RNG (dropout uses it), else
    # results would depend on --workers (persistent iterators draw once, fresh ones every epoch)
    return SkippingLoader(torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_skipping,
        pin_memory=device.type == "cuda", generator=torch.Generator().manual_seed(0), **kw))


def _augment_inline(cfg: FinetuneConfig, device: torch.device) -> bool:
    """Whether training images already in memory are augmented in this process rather than by workers.

    With at most 2 CPU cores and the model on the CPU, a worker process can only run by taking a core
    from the training threads, and the straggling thread holds up every synchronised operator: head-only
    training lost 9-24% to 2 workers and 5-11% doing the same ~0.35 ms crop-resize an image in process
    (alternating rounds at bench_finetune's settings). Decoding from disk (1-3 ms an image) still goes to
    workers; so does everything when --workers is given."""
    return cfg.workers is None and device.type == "cpu" and (os.cpu_count() or 1) <= 2


def split_validation(data: DataSplits, fraction: float, seed: int) -> tuple[Split, Split]:
    """Stratified (train, val) from the training split."""
    from sklearn.model_selection import train_test_split

    labels = data.train.labels
    counts = np.bincount(labels, minlength=len(data.classes))
    small = [f"{data.classes[i]} ({n})" for i, n in enumerate(counts) if 0 < n < 2]
    if small:
        raise DataError(f"--val-fraction: classes with fewer than 2 training images cannot be split: {', '.join(small)}")
    try:
        tr, va = train_test_split(np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise DataError(f"cannot make a stratified validation split with --val-fraction {fraction}: {exc}") from exc
    return data.train.subset(np.sort(tr)), data.train.subset(np.sort(va))


# ----------------------------------------------------------------------------------------------
# optimisation
# ----------------------------------------------------------------------------------------------
def make_optimizer(cfg: FinetuneConfig, prepared: Prepared) -> torch.optim.Optimizer:
    head, body = trainable_groups(prepared)
    groups = []
    for params, lr in ((head, cfg.lr), (body, cfg.lr * cfg.backbone_lr_mult)):
        decay = [p for p in params if p.ndim > 1]
        no_decay = [p for p in params if p.ndim <= 1]  # biases and normalisation scales
        if decay:
            groups.append({"params": decay, "lr": lr, "weight_decay": cfg.weight_decay})
        if no_decay:
            groups.append({"params": no_decay, "lr": lr, "weight_decay": 0.0})
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def make_schedule(cfg: FinetuneConfig, optimizer, steps_per_epoch: int):
    total = cfg.epochs * steps_per_epoch
    warm = int(round(cfg.warmup * steps_per_epoch))
    step_size = (cfg.step_size or max(1, cfg.epochs // 3)) * steps_per_epoch

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        if cfg.schedule == "cosine":
            t = (step - warm) / max(1, total - warm)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
        if cfg.schedule == "step":
            return cfg.gamma ** ((step - warm) // step_size)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def make_criterion(cfg: FinetuneConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------------------------
# checkpoints
# ----------------------------------------------------------------------------------------------
def save_checkpoint(path: Path, obj: dict) -> None:
    """Atomic: a kill -9 leaves the previous checkpoint intact."""
    with tio.atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, pickle errors, ...: all mean corrupt
        raise DataError(f"checkpoint {path} is corrupt or incomplete ({exc.__class__.__name__}: "
                        f"{str(exc).splitlines()[0][:200] if str(exc) else 'unreadable'}); it cannot be used") from None
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT or "model" not in obj:
        raise DataError(f"{path} is not a transferlab fine-tuning checkpoint")
    return obj


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(Exception):
            torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------------------
# outputs
# ----------------------------------------------------------------------------------------------
def write_metrics_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    tio.write_text(path, buf.getvalue())


def plot_curves(path: Path, rows: list[dict], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot(ep, [r["train_loss"] for r in rows], "o-", label="train")
    a.plot(ep, [r["val_loss"] for r in rows], "o-", label="validation")
    a.set_xlabel("epoch"), a.set_ylabel("loss"), a.legend(), a.grid(alpha=0.3)
    b.plot(ep, [r["train_acc"] for r in rows], "o-", label="train")
    b.plot(ep, [r["val_acc"] for r in rows], "o-", label="validation")
    b.set_xlabel("epoch"), b.set_ylabel("accuracy"), b.set_ylim(0, 1.02), b.legend(), b.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    tio.save_figure(fig, path)


# ----------------------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------------------
@dataclass
class _State:
    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)
    best_acc: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0


def check_out_dir(cfg: FinetuneConfig, resume: bool, overwrite: bool) -> Path:
    out = Path(cfg.out)
    if resume:
        if not (out / "config.yaml").is_file():
            raise BadInputError(f"--resume {out}: no config.yaml there; it is not a fine-tuning run")
    elif (out / "config.yaml").exists() or (out / "last.pt").exists():
        if not overwrite:
            raise BadInputError(f"{out} already holds a fine-tuning run; use --resume {out} to continue it, "
                                "--overwrite to replace it, or another --out")
    return out


def finetune(config: FinetuneConfig, *, resume: bool = False, overwrite: bool = False,
             callback: Callable[[int, dict], None] | None = None, verbose: bool = True) -> dict:
    """Fine-tune ``config.model`` on ``config.data``; return the final metrics (also in RUN/metrics.json).

    ``resume=True`` continues the run in ``config.out`` from its ``last.pt`` (the caller checks
    that ``config`` matches the saved one: see ``resume_config``).  ``callback(epoch, row)`` is
    called after every epoch with the metrics row.  Returns a dict with at least ``accuracy``
    (final, best checkpoint, evaluation split), ``best_epoch``, ``epochs_run``, ``seconds``.
    """
    start_time = time.perf_counter()
    cfg = replace(config)
    cfg.validate()
    if not cfg.out:
        cfg.out = default_out(cfg)
    d = _dist_setup(cfg.device)
    try:
        return _finetune(cfg, d, resume, overwrite, callback, verbose, start_time)
    finally:
        if d.owns_group:
            torch.distributed.destroy_process_group()


def _log(verbose: bool, d: Dist, msg: str) -> None:
    if verbose and d.main:
        print(msg, file=sys.stderr, flush=True)


def _finetune(cfg, d: Dist, resume, overwrite, callback, verbose, start_time) -> dict:
    from transferlab.options import default_workers

    log = lambda msg: _log(verbose, d, msg)  # noqa: E731
    # rank 0 only: the others would race with its config.yaml (torchrun stops them if rank 0 fails)
    out = check_out_dir(cfg, resume, overwrite) if d.main else Path(cfg.out)
    device = _device(cfg, d)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed % (2 ** 32))
    warnings: list[str] = []

    # ---- data
    data = load_dataset(cfg.data, test_fraction=cfg.test_fraction, seed=cfg.seed, per_class=cfg.per_class,
                        train_list=cfg.train_list, test_list=cfg.test_list, images=cfg.images)
    classes = data.classes
    if cfg.val_fraction:
        train_split, val_split = split_validation(data, cfg.val_fraction, cfg.seed)
        val_name = f"{cfg.val_fraction:g} of train (stratified)"
    else:
        train_split, val_split = data.train, data.test
        val_name = data.test_split_name
        warnings.append(f"validation uses the {data.test_split_name} split, which is also the evaluation split: "
                        "model selection (best epoch, early stopping) sees it; use --val-fraction for an untouched "
                        "evaluation")
    present = set(val_split.labels.tolist())
    absent = [c for i, c in enumerate(classes) if i not in present]
    if absent:
        warnings.append(f"{len(absent)} class(es) have no validation image: {', '.join(absent)}; their validation "
                        "accuracy cannot be measured")
    log(f"{data.summary()}; validation: {val_name} ({len(val_split)} images)")

    # ---- model
    torch.manual_seed(cfg.seed)
    prepared = prepare_model(cfg, len(classes))
    warnings += prepared.warnings
    # channels_last: ~1.6x faster convolutions on CPU (oneDNN) and on GPUs with mixed precision
    model = prepared.model.to(device, memory_format=torch.channels_last)
    pre = prepared.backbone.preprocessing.with_size(cfg.image_size)
    size = pre.input_size

    def prepare_input(x: torch.Tensor) -> torch.Tensor:
        """Workers ship uint8 images (4x less to copy); normalise the whole batch here, on the device."""
        x = x.to(device, non_blocking=True)
        if x.dtype == torch.uint8:
            return pre.normalize_batch(x)
        return x.contiguous(memory_format=torch.channels_last)
    log(f"{prepared.backbone.name}: {len(prepared.blocks)} blocks; transfer {prepared.transfer}, freeze "
        f"{prepared.freeze}; {sum(p.numel() for p in model.parameters() if p.requires_grad):,} trainable parameters; "
        f"{size}px, device {device}" + (f", {d.world} processes" if d.active else ""))

    # ---- frozen-prefix cache
    split_model, cache_note = None, "off"
    if cfg.cache_frozen and prepared.freeze > 0:
        if cfg.augment != "none":
            cache_note = f"off: --augment {cfg.augment} changes the frozen blocks' inputs every epoch (use --augment none)"
        else:
            split_model, why = make_split(prepared, size)
            if split_model is None:
                cache_note = f"off: {why}"
                warnings.append(f"frozen-prefix cache not used: {why}")
            else:
                shape = prefix_shape(split_model, size, device)
                need = 4 * int(np.prod(shape)) * (len(train_split) + len(val_split) + len(data.test))
                if need > cfg.cache_max_gb * 2 ** 30:
                    cache_note = (f"off: it would need {need / 2 ** 30:.1f} GiB (> --cache-max-gb {cfg.cache_max_gb:g}); "
                                  "freeze more blocks or use a smaller --image-size")
                    warnings.append(f"frozen-prefix cache not used: {cache_note[5:]}")
                    split_model = None
                else:
                    cache_note = f"on: {why}, {tuple(shape)} per image"
    elif not cfg.cache_frozen:
        cache_note = "off: --no-cache-frozen"
    log(f"frozen-prefix cache {cache_note}")

    workers = default_workers(cfg.workers)
    loader_fn = data.loader()
    eval_tf = pre.transform("none", normalize=False)
    draft_eval = pre.resize_size
    # a crop of RandomResizedCrop can be ~1/2 (light) or ~1/4 (strong) of the image side ... area
    draft_train = {"none": pre.resize_size, "light": int(math.ceil(size / math.sqrt(0.5))),
                   "strong": 2 * size}[cfg.augment]

    def dataset(split: Split, tf, draft: int, seed: int = cfg.seed):
        return SeededDataset(split, tf, loader=loader_fn, max_pixels=cfg.max_pixels, draft=draft, strict=cfg.strict,
                             seed=seed)

    eval_batch = max(cfg.batch_size, 64)

    eval_loaders: dict = {}

    def eval_loader(split: Split, shard: bool):  # one loader per split: persistent workers are reused
        key = (id(split), shard)
        if key not in eval_loaders:
            sampler = _ShardSampler(len(split), d.rank if shard else 0, d.world if shard else 1)
            eval_loaders[key] = _loader(dataset(split, eval_tf, draft_eval), sampler, eval_batch, workers, device)
        return eval_loaders[key]

    caches: dict[str, FeatureCache] = {}
    loader_note = "the frozen-prefix cache"
    image_cache, image_cache_note = None, ("off: --no-cache-images" if not cfg.cache_images else
                                           "off: not needed (the frozen-prefix cache is used)")
    if split_model is not None:
        for name, split in (("train", train_split), ("val", val_split)):
            caches[name] = build_cache(split_model, _loader(dataset(split, eval_tf, draft_eval),
                                                            _ShardSampler(len(split)), eval_batch, workers, device),
                                       prepare_input)
        log(f"cached the frozen prefix of {len(caches['train'])} + {len(caches['val'])} images in "
            f"{caches['train'].seconds + caches['val'].seconds:.1f} s "
            f"({(caches['train'].nbytes + caches['val'].nbytes) / 2 ** 20:.0f} MiB)")
        net: nn.Module = FromCache(split_model)
        train_sampler = EpochSampler(len(caches["train"]), cfg.seed, True, d.rank, d.world)
        train_batches = None
    else:
        net = model
        train_sampler = EpochSampler(len(train_split), cfg.seed, True, d.rank, d.world)
        # strong augmentation ends with RandomErasing on the normalised tensor: those workers ship floats
        train_tf = pre.transform(cfg.augment, normalize=cfg.augment != "strong")
        train_set = dataset(train_split, train_tf, draft_train)
        inline = _augment_inline(cfg, device)
        image_cache, image_cache_note = _image_cache(cfg, train_split, loader_fn, max(draft_train, pre.resize_size),
                                                     pre.interpolation, workers > 0 and not inline, warnings)
        if image_cache is not None:
            train_set.loader = image_cache
        train_workers = 0 if inline and (image_cache is not None or loader_fn is not open_image) else workers
        train_batches = _loader(train_set, train_sampler, cfg.batch_size, train_workers, device)
        loader_note = (f"{train_workers} worker processes" if train_workers else
                       "this process (images in memory, <= 2 CPU cores)" if inline else "this process (--workers 0)")
    log(f"decoded-image cache {image_cache_note}; training images loaded by {loader_note}")
    steps_per_epoch = math.ceil(math.ceil(len(train_sampler) / cfg.batch_size) / cfg.accumulate)

    optimizer = make_optimizer(cfg, prepared)
    scheduler = make_schedule(cfg, optimizer, steps_per_epoch)
    criterion = make_criterion(cfg)
    use_amp = cfg.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and not torch.cuda.is_bf16_supported()) if use_amp else None
    if d.active:
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(net, device_ids=[device.index] if device.type == "cuda" else None)

    # ---- resume
    state = _State()
    if resume:
        ck = load_checkpoint(out / "last.pt")
        saved = FinetuneConfig.from_dict(ck["config"], str(out / "last.pt"))
        diff = config_diff(saved, cfg)
        if diff:
            raise BadInputError(f"--resume {out}: the checkpoint was made with another configuration: {'; '.join(diff)}")
        try:
            model.load_state_dict(ck["model"])
            optimizer.load_state_dict(ck["optimizer"])
            scheduler.load_state_dict(ck["scheduler"])
            if scaler is not None and ck.get("scaler"):
                scaler.load_state_dict(ck["scaler"])
        except (RuntimeError, ValueError, KeyError) as exc:
            raise DataError(f"{out / 'last.pt'} does not fit this model: {str(exc).splitlines()[0][:200]}") from None
        _set_rng_state(ck["rng"])
        state = _State(**ck["state"])
        log(f"resuming {out} after epoch {state.epoch} (best so far: epoch {state.best_epoch}, "
            f"val accuracy {state.best_acc:.4f})")
    elif d.main:
        tio.ensure_writable_dir(out)
        for stale in ("last.pt", "best.pt", "metrics.csv", "metrics.json", "curves.png"):
            with contextlib.suppress(FileNotFoundError):
                (out / stale).unlink()
        tio.write_text(out / "config.yaml", cfg.to_yaml())
    d.barrier()

    def ckpt_common() -> dict:
        return {"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(), "classes": classes,
                "preprocessing": pre.to_dict(), "model_name": prepared.backbone.name, "head": cfg.head}

    curve_title = (f"{prepared.backbone.name} on {data.name}: transfer {prepared.transfer}, freeze {prepared.freeze}"
                   f" of {len(prepared.blocks)} blocks")
    skipped_train: dict[int, str] = {}
    stopped_early = False
    for name in caches:
        if name == "train":
            skipped_train.update(dict(caches[name].skipped))

    # ---- epochs
    while state.epoch < cfg.epochs:
        epoch = state.epoch + 1
        t0 = time.perf_counter()
        set_train_mode(model, prepared.frozen_modules, True)
        train_sampler.set_epoch(epoch)
        sums = [0.0, 0.0, 0.0]  # loss * n, correct, n
        optimizer.zero_grad(set_to_none=True)
        batches = _cache_batches(caches["train"], train_sampler, cfg.batch_size) if caches else train_batches
        n_batches = math.ceil(len(train_sampler) / cfg.batch_size)
        for step, (x, y, _, bad) in enumerate(batches):
            for i, reason in bad:
                skipped_train[int(i)] = reason
            last_micro = (step + 1) % cfg.accumulate == 0 or step + 1 == n_batches
            if x is None:
                x = torch.empty(0)
            x = x.to(device, non_blocking=True) if caches else prepare_input(x)
            y = y.to(device, non_blocking=True)
            sync = contextlib.nullcontext() if (last_micro or not d.active) else net.no_sync()
            with sync:
                if len(y):
                    with _autocast(device, use_amp):
                        logits = net(x)
                        loss = criterion(logits.float(), y)
                    finite = bool(torch.isfinite(loss.detach()))
                else:  # every image of this batch was unreadable
                    loss, logits, finite = None, None, True
                if d.active:
                    finite = d.sum([0.0 if finite else 1.0], device)[0] == 0
                if not finite:
                    raise NonFiniteLoss(_nan_message(out, epoch, step, state, optimizer))
                if loss is not None:
                    (scaler.scale(loss / cfg.accumulate) if scaler else loss / cfg.accumulate).backward()
                    sums[0] += float(loss.detach()) * len(y)
                    sums[1] += float((logits.argmax(1) == y).sum())
                    sums[2] += len(y)
            if last_micro:
                if scaler:
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
        train_seconds = time.perf_counter() - t0
        sums = d.sum(sums, device)
        if sums[2] == 0:
            raise DataError("no readable training image in this epoch")
        val_loss, val_acc, _ = _evaluate(net.module if d.active else net, model, prepared, caches.get("val"),
                                         val_split, eval_loader, device, use_amp, prepare_input, d)
        if not math.isfinite(val_loss):
            raise NonFiniteLoss(_nan_message(out, epoch, None, state, optimizer, "validation loss"))
        row = {"epoch": epoch, "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2], "val_loss": val_loss,
               "val_acc": val_acc, "lr": optimizer.param_groups[0]["lr"], "seconds": time.perf_counter() - t0,
               "images_per_s": sums[2] / train_seconds, "skipped": len(skipped_train)}
        state.history.append(row)
        state.epoch = epoch
        improved = val_acc > state.best_acc or (val_acc == state.best_acc and val_loss < state.best_loss)
        if improved:
            state.best_acc, state.best_loss, state.best_epoch, state.bad_epochs = val_acc, val_loss, epoch, 0
        else:
            state.bad_epochs += 1
        if d.main:
            if improved:
                save_checkpoint(out / "best.pt", {**ckpt_common(), "epoch": epoch, "model": model.state_dict(),
                                                  "val_acc": val_acc, "val_loss": val_loss})
            save_checkpoint(out / "last.pt", {
                **ckpt_common(), "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None,
                "rng": _rng_state(), "state": vars(state)})
            write_metrics_csv(out / "metrics.csv", state.history)
            if row["seconds"] > 30:  # a plot costs ~1 s: refresh it per epoch only on slow epochs
                plot_curves(out / "curves.png", state.history, curve_title)
        log(f"epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | val loss "
            f"{val_loss:.4f} acc {val_acc:.4f} | lr {row['lr']:.3g} | {row['seconds']:.1f} s, "
            f"{row['images_per_s']:.1f} img/s" + ("  *" if improved else ""))
        if callback is not None:
            callback(epoch, row)
        if cfg.patience and state.bad_epochs >= cfg.patience and state.epoch < cfg.epochs:
            stopped_early = True
            log(f"early stopping: no validation improvement for {cfg.patience} epoch(s)")
            break
    if d.main:
        plot_curves(out / "curves.png", state.history, curve_title)
    d.barrier()

    # ---- final evaluation with the best checkpoint (rank 0)
    result: dict = {}
    if d.main:
        best = load_checkpoint(out / "best.pt")
        model.load_state_dict(best["model"])
        eval_split = data.test
        use_cache = "val" in caches and not cfg.val_fraction  # validation split == evaluation split
        _, _, (logits, labels, index, skipped) = _evaluate(
            FromCache(split_model) if use_cache else model, model, prepared, caches["val"] if use_cache else None, eval_split,
            eval_loader, device, use_amp, prepare_input, Dist(), shard=False)
        probs = torch.softmax(logits, 1)
        pred = probs.argmax(1).numpy()
        paths = [eval_split.paths[i] for i in index.tolist()]
        skipped_list = [{"path": eval_split.paths[i], "reason": r} for i, r in skipped]
        seconds = time.perf_counter() - start_time
        extra = {
            "model": prepared.backbone.name, "dataset": data.name, "evaluation_split": data.test_split_name,
            "validation": val_name, "n_validation": len(val_split), "best_epoch": state.best_epoch,
            "best_val_accuracy": state.best_acc, "epochs_run": state.epoch, "stopped_early": stopped_early,
            "seconds": seconds, "blocks": len(prepared.blocks), "transfer": prepared.transfer,
            "freeze": prepared.freeze, "frozen_prefix_cache": cache_note, "image_cache": image_cache_note,
            "training_loader": loader_note,
            "image_size": size,
            "world_size": d.world, "device": str(device), "warnings": warnings,
            "skipped_train": [{"path": train_split.paths[i], "reason": r} for i, r in sorted(skipped_train.items())],
            "run": str(out),
        }
        result = report_evaluation(out, labels.numpy(), pred, classes, paths, n_train=len(train_split), extra=extra,
                                   skipped=skipped_list, scores=probs.max(1).values.numpy(),
                                   title=f"{prepared.backbone.name} fine-tuned on {data.name}")
        result["files"].update({"config": str(out / "config.yaml"), "metrics_csv": str(out / "metrics.csv"),
                                "curves": str(out / "curves.png"), "best": str(out / "best.pt"),
                                "last": str(out / "last.pt")})
        tio.write_json(out / "metrics.json", result)
        for w in warnings:
            log(f"warning: {w}")
    d.barrier()
    return result


def report_evaluation(out, y_true, y_pred, classes, paths, **kw) -> dict:
    from transferlab.report import evaluation_report

    return evaluation_report(out, y_true, y_pred, classes, paths, **kw)


def _nan_message(out: Path, epoch: int, step: int | None, state: _State, optimizer, what: str = "training loss") -> str:
    where = f"epoch {epoch}" + (f", batch {step + 1}" if step is not None else "")
    lr = optimizer.param_groups[0]["lr"]
    kept = (f"the last good checkpoint (epoch {state.epoch}) is kept in {out / 'last.pt'}" if state.epoch
            else "no checkpoint was written")
    return (f"the {what} became NaN/inf at {where} (lr {lr:.3g}); training stopped and {kept}. "
            "Try a lower --lr, --warmup, or --schedule with a gentler start")


class _ShardSampler(torch.utils.data.Sampler):
    """Sequential, unpadded shard ``rank::world`` of ``range(n)`` (evaluation: every image once)."""

    def __init__(self, n: int, rank: int = 0, world: int = 1):
        self.idx = list(range(rank, n, world))

    def __iter__(self):
        return iter(self.idx)

    def __len__(self) -> int:
        return len(self.idx)


def _image_cache(cfg: FinetuneConfig, split: Split, loader_fn, short_side: int, interpolation: str, shared: bool,
                 warnings: list[str]):
    """(ImageCache or None, note for the results): the decoded-image cache of the training split."""
    from transferlab.finetune.imagecache import ImageCache, plan

    if not cfg.cache_images:
        return None, "off: --no-cache-images"
    if loader_fn is not open_image:
        return None, "off: the images are already decoded in memory"
    budget = cfg.cache_images_gb * 2 ** 30
    p = plan(list(split.paths), short_side, budget, cfg.seed)
    need = f"{'about ' if p.estimated else ''}{p.nbytes / 2 ** 30:.2f} GiB"
    if p.nbytes > budget:
        note = f"off: it would need {need} (> --cache-images-gb {cfg.cache_images_gb:g})"
        warnings.append(f"decoded-image cache not used: {note[5:]}")
        return None, note
    if shared and hasattr(os, "statvfs") and os.path.isdir("/dev/shm"):
        st = os.statvfs("/dev/shm")
        free = st.f_bavail * st.f_frsize
        if p.nbytes > 0.5 * free:
            note = f"off: it would need {need} of shared memory, /dev/shm has {free / 2 ** 30:.2f} GiB free"
            warnings.append(f"decoded-image cache not used: {note[5:]}")
            return None, note
    cache = ImageCache(list(split.paths), p.sizes, short_side, interpolation, shared, tensors=True)
    return cache, (f"on: {len(split)} training images decoded once, kept at shorter side <= {short_side} px "
                   f"({cache.nbytes / 2 ** 20:.0f} MiB)")


def _cache_batches(cache: FeatureCache, sampler: EpochSampler, batch_size: int):
    order = torch.tensor(sampler.indices(), dtype=torch.long)
    for s in range(0, len(order), batch_size):
        rows = order[s:s + batch_size]
        yield cache.feats[rows], cache.labels[rows], cache.index[rows], []


@torch.no_grad()
def _evaluate(forward, model, prepared, cache, split, eval_loader, device, use_amp, prepare_input, d: Dist, shard=True):
    """(mean loss, accuracy, (logits, labels, split indices, skipped)) over ``split`` (sharded across ranks).

    ``forward``: the module to run: ``FromCache`` on cached prefix outputs when ``cache`` is given,
    else the full model on images."""
    set_train_mode(model, prepared.frozen_modules, False)
    logits_all, labels_all, index_all, skipped = [], [], [], []
    if cache is not None:
        n = len(cache)
        rows = torch.arange(d.rank if shard else 0, n, d.world if shard else 1)
        batches = ((cache.feats[rows[s:s + 256]], cache.labels[rows[s:s + 256]], cache.index[rows[s:s + 256]], [])
                   for s in range(0, len(rows), 256))
        skipped = list(cache.skipped) if (not shard or d.main) else []
    else:
        batches = eval_loader(split, shard)
    for x, y, idx, bad in batches:
        skipped += [(int(i), r) for i, r in bad]
        if x is None:
            continue
        x = x.to(device, non_blocking=True) if cache is not None else prepare_input(x)
        with _autocast(device, use_amp):
            out = forward(x)
        logits_all.append(out.float().cpu())
        labels_all.append(y)
        index_all.append(idx)
    if logits_all:
        logits, labels, index = torch.cat(logits_all), torch.cat(labels_all), torch.cat(index_all)
    else:
        logits, labels, index = torch.empty(0, 1), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long)
    loss_sum = float(nn.functional.cross_entropy(logits, labels, reduction="sum")) if len(labels) else 0.0
    correct = float((logits.argmax(1) == labels).sum()) if len(labels) else 0.0
    loss_sum, correct, n = d.sum([loss_sum, correct, float(len(labels))], device) if shard else (loss_sum, correct,
                                                                                                 float(len(labels)))
    if n == 0:
        raise DataError(f"no readable image in the validation/evaluation split ({len(split)} files)")
    return loss_sum / n, correct / n, (logits, labels, index, sorted(skipped))
