"""The fine-tuning run: ``train(config) -> dict`` of final metrics (``tl.finetune`` wraps it in a run object).

Writes into ``config.out`` (a run folder: lock, ``run.json`` manifest, refused when it holds another
run unless ``overwrite``): ``config.yaml`` (reruns the run), ``metrics.csv`` (one row per epoch),
``curves.png``, ``last.pt`` / ``best.pt`` (atomic), and the final evaluation of the best checkpoint
(``metrics.json``, ``predictions.csv``, ``confusion.png``, as the FNE probe).  Under ``torchrun`` it
trains with DistributedDataParallel; only rank 0 writes.
"""
from __future__ import annotations

import contextlib
import copy
import math
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from transferlab import io as tio
from transferlab.data.checks import check_split
from transferlab.data.sources import load_dataset
from transferlab.errors import DataError, TransferlabError
from transferlab.finetune import schedule
from transferlab.finetune.checkpoint import RunState, checkpoint_header, load_checkpoint, restore, save_epoch
from transferlab.finetune.config import FinetuneConfig, check_resume, config_diff
from transferlab.finetune.distributed import Dist, dist_setup, dist_teardown, rank_device
from transferlab.finetune.evaluation import write_final_evaluation, loss_accuracy, predict
from transferlab.finetune.history import plot_curves, write_metrics_csv
from transferlab.finetune.inputs import Inputs, unreadable_headers, validation_split
from transferlab.finetune.model import FromCache, build_model, set_train_mode
from transferlab.finetune.prefix_cache import PrefixActivations, plan_cache
from transferlab.runs import RunFolder

SLOW_EPOCH_S = 30  # epochs at least this long refresh curves.png as they end (a plot is not free)


class NonFiniteLoss(TransferlabError):
    """The loss became NaN/inf: training stopped, the last good checkpoint is kept."""


def train(config: FinetuneConfig, *, resume: bool = False, callback: Callable[[int, dict], None] | None = None,
          splits=None) -> dict:
    """Fine-tune ``config.model`` on ``config.data`` (or the given ``splits``) into ``config.out``; return the
    final metrics (also in RUN/metrics.json; ``{}`` on ranks other than 0 under torchrun).

    ``resume=True`` continues the run in ``config.out`` from its ``last.pt``; ``config`` must match the
    saved one except for runtime fields and a larger ``epochs`` (the run is then extended).
    ``callback(epoch, row)`` is called after every epoch with the metrics row.
    """
    start_time = time.perf_counter()
    cfg = copy.copy(config)
    d = dist_setup(cfg.device)
    try:
        # rank 0 only: the others would race with its files (torchrun stops them if rank 0 fails)
        folder = (RunFolder(cfg.out, "finetune", cfg, overwrite=cfg.overwrite and not resume, reuse=resume,
                            replace_failed=False) if d.main else None)
        if folder is not None:
            folder.preflight()  # refused before any data is read or model built
        trainer = Trainer(cfg, d, resume=resume, start_time=start_time)
        trainer.load_data(splits)
        with folder if folder is not None else contextlib.nullcontext():
            result = trainer.setup().run(callback)
            if folder is not None:
                folder.config = trainer.cfg
                folder.summary = {k: result.get(k) for k in ("accuracy", "mean_class_accuracy", "best_epoch",
                                                             "epochs_run")}
                if trainer.extended_from:
                    folder.extra["extended"] = {"from_epochs": trainer.extended_from, "to_epochs": cfg.epochs}
        return result
    finally:
        dist_teardown(d)


class Trainer:
    """One run of ``cfg``: ``load_data()`` and ``setup()`` build it ready to train, ``run()`` trains and
    evaluates it."""

    def __init__(self, cfg: FinetuneConfig, d: Dist, *, resume: bool = False, start_time: float | None = None):
        self.cfg, self.dist, self.verbose, self.resuming = cfg, d, not cfg.quiet, resume
        self.start_time = time.perf_counter() if start_time is None else start_time
        self.out = Path(cfg.out)
        self.state = RunState()
        self.stopped_early = False
        self.extended_from = 0
        self.warnings: list[str] = []
        # load_data(): the data
        self.device: torch.device | None = None
        self.data = self.classes = None
        self.train_split = self.val_split = self.val_name = None
        # setup(): the model, its inputs and its optimisation
        self.prepared = self.model = self.pre = self.size = None
        self.cut_model, self.cache_note = None, ""
        self.inputs: Inputs | None = None
        self.amp_dtype: torch.dtype | None = None
        self.caches: dict = {}
        self.net: nn.Module | None = None
        self.skipped_train: dict[int, str] = {}
        self.optimizer = self.scheduler = self.criterion = self.scaler = None
        self.compiled = None

    def log(self, msg: str) -> None:
        if self.verbose and self.dist.main:
            print(msg, file=sys.stderr, flush=True)

    def load_data(self, splits=None) -> "Trainer":
        """The dataset, its validation split, and the check that every class has a readable training image
        (image headers only: a class whose files are all missing, empty or not images stops the run here)."""
        cfg = self.cfg
        self.device = rank_device(cfg.device, self.dist)
        schedule.check_precision(cfg, self.device)
        self.data = data = splits if splits is not None else load_dataset(**cfg.dataset_options())
        self.classes = data.classes
        self.train_split, self.val_split, self.val_name = validation_split(cfg, data, self.warnings)
        self.log(f"{data.summary()}; validation: {self.val_name} ({len(self.val_split)} images)")
        self._check_splits(unreadable_headers(data, self.train_split), unreadable_headers(data, self.val_split),
                           unreadable_headers(data, data.test) if cfg.val_fraction else None)
        return self

    def _check_splits(self, train_bad, val_bad=None, test_bad=None) -> None:
        """``data.checks`` on the splits (an error for a training class with nothing readable); warnings kept."""
        checks = [check_split(self.classes, None, train_bad, split=self.train_split, kind="train")]
        if val_bad is not None:
            checks.append(check_split(self.classes, None, val_bad, split=self.val_split, kind="val"))
        if test_bad is not None:
            checks.append(check_split(self.classes, None, test_bad, split=self.data.test, kind="test"))
        for c in checks:
            self.warnings += [w for w in c.warnings if w not in self.warnings]

    def setup(self) -> "Trainer":
        """Model, frozen-prefix or decoded-image cache, loaders, optimiser (after ``load_data``)."""
        np.random.seed(self.cfg.seed % (2 ** 32))
        torch.manual_seed(self.cfg.seed)
        self._setup_model()
        self._setup_inputs()
        self._setup_optimisation()
        return self

    def _setup_model(self) -> None:
        cfg, d = self.cfg, self.dist
        self.prepared = p = build_model(cfg, len(self.classes))
        self.warnings += p.warnings
        # channels_last: faster convolutions on CPU (oneDNN) and on GPUs with mixed precision
        self.model = p.model.to(self.device, memory_format=torch.channels_last)
        self.pre = p.backbone.preprocessing.with_size(cfg.image_size)
        self.size = self.pre.input_size
        self.log(f"{p.backbone.name}: {len(p.blocks)} blocks; transfer {p.transfer}, freeze {p.freeze}; "
                 f"{sum(q.numel() for q in self.model.parameters() if q.requires_grad):,} trainable parameters; "
                 f"{self.size}px, device {self.device}" + (f", {d.world} processes" if d.active else ""))

    def _setup_inputs(self) -> None:
        """The frozen-prefix cache (when it applies) or the training loader, and the network they feed."""
        cfg, d, data = self.cfg, self.dist, self.data
        n_images = len(self.train_split) + len(self.val_split) + len(data.test)
        self.cut_model, self.cache_note = plan_cache(cfg, self.prepared, self.size, self.device, n_images,
                                                     self.warnings)
        self.log(f"frozen-prefix cache {self.cache_note}")
        self.inputs = inputs = Inputs(cfg, self.pre, data.loader(), self.device, d)
        self.amp_dtype = schedule.amp_dtype(cfg, self.device)
        with schedule.autocast(self.device, self.amp_dtype):  # the frozen prefix is cached as training runs it
            inputs.setup_training(self.train_split, self.val_split, self.cut_model, self.warnings)
        self.caches = inputs.caches
        if self.caches:
            tr, va = self.caches["train"], self.caches["val"]
            self.log(f"cached the frozen prefix of {len(tr)} + {len(va)} images in {tr.seconds + va.seconds:.1f} s "
                     f"({(tr.nbytes + va.nbytes) / 2 ** 20:.0f} MiB)")
        self.log(f"decoded-image cache {inputs.image_cache_note}; training images loaded by {inputs.loader_note}")
        self.net = FromCache(self.cut_model) if self.caches else self.model
        self.skipped_train = dict(self.caches["train"].skipped) if self.caches else {}
        if self.caches:  # every image was decoded for the cache: the full check now
            self._check_splits(sorted(self.skipped_train.items()), sorted(self.caches["val"].skipped))

    def _setup_optimisation(self) -> None:
        """Optimiser, schedule, loss, scaler; DDP and ``--compile`` around the network."""
        cfg, d = self.cfg, self.dist
        steps_per_epoch = math.ceil(math.ceil(len(self.inputs.train_sampler) / cfg.batch_size) / cfg.accumulate)
        self.optimizer = schedule.make_optimizer(cfg, self.prepared)
        self.scheduler = schedule.make_schedule(cfg, self.optimizer, steps_per_epoch)
        self.criterion = schedule.make_criterion(cfg)
        self.scaler = schedule.make_scaler(self.amp_dtype)
        if d.active:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.net = DDP(self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        if cfg.compile:
            from transferlab.finetune.compiled import CompiledStep

            self.compiled = CompiledStep(self.net, notify=self._notice)

    def _notice(self, msg: str) -> None:
        """A one-line notice on stderr (even with --quiet: something did not work as asked), kept in the results."""
        self.warnings.append(msg.removeprefix("notice: "))
        if self.dist.main:
            print(msg, file=sys.stderr, flush=True)

    @property
    def precision_note(self) -> str:
        return "fp32" if self.amp_dtype is None else str(self.amp_dtype).removeprefix("torch.") + " autocast"

    def resume(self) -> None:
        """Continue from ``last.pt``: weights, optimiser, schedule, scaler, RNG and run state.  A larger
        ``epochs`` extends the run: the schedule is re-planned over the new total and recorded."""
        out = self.out
        ck = load_checkpoint(out / "last.pt")
        saved = FinetuneConfig.from_dict({k: v for k, v in ck["config"].items() if k in FinetuneConfig.model_fields},
                                         str(out / "last.pt"))
        check_resume(out, saved, self.cfg, config_diff(saved, self.cfg, ignore=("epochs",)),
                     "the checkpoint was made with another configuration")
        self.state = s = restore(ck, out / "last.pt", model=self.model, optimizer=self.optimizer,
                                 scheduler=self.scheduler, scaler=self.scaler)
        if self.cfg.epochs > saved.epochs:
            self.extended_from = saved.epochs
            tio.write_text(out / "config.yaml", self.cfg.to_yaml())
            self.log(f"extending {out} from {saved.epochs} to {self.cfg.epochs} epochs (the learning-rate schedule "
                     f"is re-planned over {self.cfg.epochs} epochs)")
        self.log(f"resuming {out} after epoch {s.epoch} (best so far: epoch {s.best_epoch}, "
                 f"val accuracy {s.best_acc:.4f})")

    # ---- the epochs --------------------------------------------------------------------------
    def run(self, callback: Callable[[int, dict], None] | None = None) -> dict:
        """Train the remaining epochs, then evaluate the best checkpoint; the final metrics (rank 0, else {})."""
        cfg, d, state = self.cfg, self.dist, self.state
        if self.resuming:
            self.resume()
            state = self.state
        elif d.main:
            tio.write_text(self.out / "config.yaml", cfg.to_yaml())
        d.barrier()
        first_epoch = state.epoch + 1
        while state.epoch < cfg.epochs:
            row = self._run_epoch(state.epoch + 1, first_epoch)
            if callback is not None:
                callback(row["epoch"], row)
            if cfg.patience and state.bad_epochs >= cfg.patience and state.epoch < cfg.epochs:
                self.stopped_early = True
                self.log(f"early stopping: no validation improvement for {cfg.patience} epoch(s)")
                break
        if d.main:
            plot_curves(self.out / "curves.png", state.history, self._curve_title())
        d.barrier()
        result = self.final_evaluation() if d.main else {}
        d.barrier()
        return result

    def _run_epoch(self, epoch: int, first_epoch: int) -> dict:
        """Train one epoch, validate, record and save it (rank 0); its metrics row."""
        cfg, d, state = self.cfg, self.dist, self.state
        t0 = time.perf_counter()
        sums, train_seconds = self.train_epoch(epoch)
        if self.compiled is not None and not self.compiled.failed and epoch == first_epoch:
            self.log(f"torch.compile: {self.compiled.note()}")
        if epoch == 1 and not self.caches:  # every training image has now been decoded once
            self._check_splits(sorted(self.skipped_train.items()))
        val_loss, val_acc, _ = self.evaluate(self.net.module if d.active else self.net, self.caches.get("val"),
                                             self.val_split)
        if not math.isfinite(val_loss):
            raise NonFiniteLoss(self._nan_message(epoch, None, "validation loss"))
        row = {"epoch": epoch, "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
               "val_loss": val_loss, "val_acc": val_acc, "lr": self.optimizer.param_groups[0]["lr"],
               "seconds": time.perf_counter() - t0, "images_per_s": sums[2] / train_seconds,
               "skipped": len(self.skipped_train)}
        improved = state.record(row)
        if d.main:
            self._save_epoch(row, improved)
        self.log(f"epoch {epoch}/{cfg.epochs}: train loss {row['train_loss']:.4f} acc {row['train_acc']:.4f} | "
                 f"val loss {val_loss:.4f} acc {val_acc:.4f} | lr {row['lr']:.3g} | {row['seconds']:.1f} s, "
                 f"{row['images_per_s']:.1f} img/s" + ("  *" if improved else ""))
        return row

    def train_epoch(self, epoch: int) -> tuple[list[float], float]:
        """One pass over the training split: ([loss * n, correct, n] summed over ranks, seconds it took)."""
        cfg, d, device, net = self.cfg, self.dist, self.device, self.net
        t0 = time.perf_counter()
        set_train_mode(self.model, self.prepared.frozen_modules, True)
        batches, prepare = self.inputs.train_batches(epoch)
        sums = [0.0, 0.0, 0.0]  # loss * n, correct, n
        self.optimizer.zero_grad(set_to_none=True)
        n_batches = math.ceil(len(self.inputs.train_sampler) / cfg.batch_size)
        for step, (x, y, _, bad) in enumerate(batches):
            for i, reason in bad:
                self.skipped_train[int(i)] = reason
            last_micro = (step + 1) % cfg.accumulate == 0 or step + 1 == n_batches
            if x is None:
                x = torch.empty(0)
            x = prepare(x)
            y = y.to(device, non_blocking=True)
            sync = contextlib.nullcontext() if (last_micro or not d.active) else net.no_sync()
            with sync:
                def forward_backward(module, x=x, y=y, step=step):
                    return self._forward_backward(module, x, y, epoch, step)

                loss, logits = self.compiled.run(forward_backward) if self.compiled else forward_backward(net)
                if loss is not None:
                    sums[0] += float(loss.detach()) * len(y)
                    sums[1] += float((logits.argmax(1) == y).sum())
                    sums[2] += len(y)
            if last_micro:
                self._step()
        seconds = time.perf_counter() - t0
        sums = d.sum(sums, device)
        if sums[2] == 0:
            raise DataError("no readable training image in this epoch")
        return sums, seconds

    def _forward_backward(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor, epoch: int, step: int):
        """Forward, loss and backward of one batch (scaled for accumulation): (loss, logits), (None, None) for a
        batch whose images were all unreadable; NonFiniteLoss when the loss of any rank is not finite."""
        if len(y):
            with schedule.autocast(self.device, self.amp_dtype, compiled=self.compiled is not None):
                logits = net(x)
                loss = self.criterion(logits.float(), y)
            finite = bool(torch.isfinite(loss.detach()))
        else:
            loss, logits, finite = None, None, True
        if self.dist.active:
            finite = self.dist.sum([0.0 if finite else 1.0], self.device)[0] == 0
        if not finite:
            raise NonFiniteLoss(self._nan_message(epoch, step))
        if loss is not None:
            scaled = loss / self.cfg.accumulate
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        return loss, logits

    def _step(self) -> None:
        if self.scaler:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()

    @torch.no_grad()
    def evaluate(self, forward: nn.Module, cache: PrefixActivations | None, split, shard: bool = True):
        """(mean loss, accuracy, (logits, labels, split indices, skipped)) over ``split`` (sharded across ranks).

        ``forward``: the module to run: ``FromCache`` on cached prefix outputs when ``cache`` is given,
        else the full model on images."""
        set_train_mode(self.model, self.prepared.frozen_modules, False)
        batches, prepare, skipped = self.inputs.eval_batches(split, cache, shard)
        logits, labels, index, bad = predict(forward, batches, prepare, self.device, self.amp_dtype)
        loss, acc = loss_accuracy(logits, labels, self.dist if shard else Dist(), self.device, len(split))
        return loss, acc, (logits, labels, index, sorted(skipped + bad))

    # ---- outputs (rank 0) ----------------------------------------------------------------------
    def _save_epoch(self, row: dict, improved: bool) -> None:
        """The checkpoints and ``metrics.csv``; ``curves.png`` only after slow epochs."""
        out, state = self.out, self.state
        header = checkpoint_header(self.cfg, self.classes, self.pre, self.prepared.backbone.name)
        save_epoch(out, header, state, improved, model=self.model, optimizer=self.optimizer,
                   scheduler=self.scheduler, scaler=self.scaler)
        write_metrics_csv(out / "metrics.csv", state.history)
        if row["seconds"] > SLOW_EPOCH_S:
            plot_curves(out / "curves.png", state.history, self._curve_title())

    def _curve_title(self) -> str:
        p = self.prepared
        return (f"{p.backbone.name} on {self.data.name}: transfer {p.transfer}, freeze {p.freeze}"
                f" of {len(p.blocks)} blocks")

    def final_evaluation(self) -> dict:
        """The best checkpoint on the evaluation split: metrics.json, predictions.csv, confusion.png."""
        out, cfg, data, p, state = self.out, self.cfg, self.data, self.prepared, self.state
        best = load_checkpoint(out / "best.pt")
        self.model.load_state_dict(best["model"])
        eval_split = data.test
        use_cache = "val" in self.caches and not cfg.val_fraction  # validation split == evaluation split
        _, _, predictions = self.evaluate(FromCache(self.cut_model) if use_cache else self.model,
                                          self.caches["val"] if use_cache else None, eval_split, shard=False)
        extra = {
            "model": p.backbone.name, "dataset": data.name, "evaluation_split": data.test_split_name,
            "validation": self.val_name, "n_validation": len(self.val_split), "best_epoch": state.best_epoch,
            "best_val_accuracy": state.best_acc, "epochs_run": state.epoch, "stopped_early": self.stopped_early,
            "seconds": time.perf_counter() - self.start_time, "blocks": len(p.blocks), "transfer": p.transfer,
            "freeze": p.freeze, "frozen_prefix_cache": self.cache_note, "image_cache": self.inputs.image_cache_note,
            "training_loader": self.inputs.loader_note, "precision": self.precision_note,
            "compile": self.compiled.note() if self.compiled else "off",
            "image_size": self.size,
            "world_size": self.dist.world, "device": str(self.device), "warnings": self.warnings,
            "skipped_train": [{"path": self.train_split.paths[i], "reason": r}
                              for i, r in sorted(self.skipped_train.items())],
            "run": str(out),
        }
        result = write_final_evaluation(out, predictions, eval_split, self.classes, n_train=len(self.train_split), extra=extra,
                              title=f"{p.backbone.name} fine-tuned on {data.name}")
        for w in self.warnings:
            self.log(f"warning: {w}")
        return result

    def _nan_message(self, epoch: int, step: int | None, what: str = "training loss") -> str:
        out, state = self.out, self.state
        where = f"epoch {epoch}" + (f", batch {step + 1}" if step is not None else "")
        lr = self.optimizer.param_groups[0]["lr"]
        kept = (f"the last good checkpoint (epoch {state.epoch}) is kept in {out / 'last.pt'}" if state.epoch
                else "no checkpoint was written")
        return (f"the {what} became NaN/inf at {where} (lr {lr:.3g}); training stopped and {kept}. "
                "Try a lower --lr, --warmup, or --schedule with a gentler start")
