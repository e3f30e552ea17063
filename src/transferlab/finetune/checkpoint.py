"""Checkpoints (atomic ``last.pt`` / ``best.pt``), and the run state and RNG they carry."""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from transferlab import io as tio
from transferlab.errors import BadInputError, DataError
from transferlab.runs import check_recorded

CHECKPOINT_FORMAT = "transferlab-finetune/1"
DAMAGED_HINT = "it is corrupt or incomplete: rerun the fine-tuning into a new --out, or with --overwrite"


@dataclass
class RunState:
    """The run's progress, kept in ``last.pt`` as a dict (the field names are part of the format)."""

    epoch: int = 0  # epochs completed
    history: list[dict] = field(default_factory=list)
    best_acc: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0

    def record(self, row: dict) -> bool:
        """Add an epoch's metrics row; True when it is the best so far (accuracy, then loss)."""
        self.history.append(row)
        self.epoch = row["epoch"]
        acc, loss = row["val_acc"], row["val_loss"]
        improved = acc > self.best_acc or (acc == self.best_acc and loss < self.best_loss)
        if improved:
            self.best_acc, self.best_loss, self.best_epoch, self.bad_epochs = acc, loss, self.epoch, 0
        else:
            self.bad_epochs += 1
        return improved


def save_checkpoint(path: Path, obj: dict) -> None:
    """Atomic: a kill -9 leaves the previous checkpoint intact."""
    with tio.atomic_path(path, size=_tensor_bytes(obj)) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)  # through a Python file: a full disk is an OSError, not torch's RuntimeError


def _tensor_bytes(obj) -> int:
    """The bytes of the tensors in ``obj``: what a checkpoint of it needs on disk, near enough."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def load_checkpoint(path: str | os.PathLike) -> dict:
    """A fine-tuning checkpoint, on the CPU; a clear error when it is missing, corrupt or something else."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"checkpoint not found: {path}")
    check_recorded(path, DAMAGED_HINT)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, pickle errors, ...: all mean corrupt
        raise tio.damaged(path, "torch checkpoint", exc, DAMAGED_HINT) from None
    if not isinstance(obj, dict) or obj.get("format") != CHECKPOINT_FORMAT or "model" not in obj:
        raise DataError(f"{path} is not a transferlab fine-tuning checkpoint")
    return obj


def checkpoint_header(cfg, classes: list[str], preprocessing, model_name: str) -> dict:
    """What every checkpoint carries besides weights: enough to rebuild the model and its inputs."""
    return {"format": CHECKPOINT_FORMAT, "config": cfg.to_dict(runtime=False), "classes": classes,
            "preprocessing": preprocessing.to_dict(), "model_name": model_name, "head": cfg.head}


def save_epoch(out: Path, header: dict, state: RunState, improved: bool, *, model, optimizer, scheduler,
               scaler) -> None:
    """After an epoch: ``best.pt`` when it improved, then ``last.pt`` (everything ``restore`` needs)."""
    row = state.history[-1]
    if improved:
        save_checkpoint(out / "best.pt", {**header, "epoch": state.epoch, "model": model.state_dict(),
                                          "val_acc": row["val_acc"], "val_loss": row["val_loss"]})
    save_checkpoint(out / "last.pt", {
        **header, "epoch": state.epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict() if scaler else None, "rng": rng_state(),
        "state": vars(state)})


def restore(ck: dict, path: Path, *, model, optimizer, scheduler, scaler) -> RunState:
    """Load a ``last.pt`` (from ``load_checkpoint``) into the run's objects and the RNG; its run state."""
    try:
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        if scaler is not None and ck.get("scaler"):
            scaler.load_state_dict(ck["scaler"])
    except (RuntimeError, ValueError, KeyError) as exc:
        raise DataError(f"{path} does not fit this model: {str(exc).splitlines()[0][:200]}") from None
    set_rng_state(ck["rng"])
    return RunState(**ck["state"])


def rng_state() -> dict:
    """The global RNG state (CPU, and CUDA where available), so a resumed run draws what the original would."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(Exception):
            torch.cuda.set_rng_state_all(state["cuda"])
