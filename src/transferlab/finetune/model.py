"""The network being fine-tuned: backbone + new head, with ``--transfer K`` and ``--freeze K``.

Blocks come from ``transferlab.models.blocks.backbone_blocks`` (the same K as
``transferlab layers M --blocks``).  ``CutModel`` runs a backbone as an explicit sequence of
steps so that it can be cut after block K-1: the frozen prefix (cacheable) and the rest.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from transferlab.errors import BadInputError
from transferlab.finetune.config import FinetuneConfig, parse_head, parse_k
from transferlab.models.blocks import Block, backbone_blocks
from transferlab.models.registry import Backbone, create_backbone
from transferlab.models.weights import set_submodule

_BN = nn.modules.batchnorm._BatchNorm


@dataclass
class Prepared:
    backbone: Backbone
    blocks: list[Block]
    transfer: int  # blocks that keep their pretrained weights
    freeze: int  # blocks frozen
    head_name: str  # module name of the new head
    frozen_modules: list[str]  # modules kept in eval mode while training
    warnings: list[str] = field(default_factory=list)

    @property
    def model(self) -> nn.Module:
        return self.backbone.model


def build_head(in_features: int, num_classes: int, spec: str, dropout: float) -> nn.Module:
    """``linear``: Dropout -> Linear; ``mlp:W1,W2``: (Dropout -> Linear -> ReLU) per hidden layer, then the same."""
    layers: list[nn.Module] = []
    width = in_features
    for hidden in parse_head(spec):
        if dropout:
            layers.append(nn.Dropout(dropout))
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    if dropout:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(width, num_classes))
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


def build_model(cfg: FinetuneConfig, num_classes: int, pretrained: bool = True) -> Prepared:
    """Backbone with its new head, the last blocks re-initialised and the first blocks frozen."""
    backbone = create_backbone(cfg.model, pretrained=pretrained and cfg.weights is None and cfg.transfer != "0",
                               weights=cfg.weights if pretrained else None)
    blocks = backbone_blocks(backbone)
    n = len(blocks)
    transfer = parse_k(cfg.transfer, n, "--transfer", backbone.name)
    freeze = parse_k(cfg.freeze, n, "--freeze", backbone.name)
    warnings: list[str] = []
    head_name = backbone.classifier_name
    in_features = backbone.num_features
    set_submodule(backbone.model, head_name, build_head(in_features, num_classes, cfg.head, cfg.dropout))
    backbone.labels = None
    if pretrained:
        not_reset = reinitialise(backbone, blocks[transfer:])
        if not_reset:
            warnings.append(f"--transfer {cfg.transfer}: {len(not_reset)} parameter(s) have no initialiser and keep "
                            f"their pretrained values (e.g. {', '.join(not_reset[:3])})")
    if freeze > transfer:
        warnings.append(f"--freeze {freeze} > --transfer {transfer}: blocks {transfer}..{freeze - 1} are frozen "
                        "at their random initialisation")
    frozen = freeze_blocks(backbone.model, blocks[:freeze])
    return Prepared(backbone, blocks, transfer, freeze, head_name, frozen, warnings)


def reinitialise(backbone: Backbone, blocks: list[Block]) -> list[str]:
    """Re-initialise the parameters (and BatchNorm statistics) of ``blocks``; return parameters left as they were.

    timm EfficientNet/MobileNet families use timm's own initialiser; everything else each
    module's ``reset_parameters``.
    """
    model = backbone.model
    goog = None
    if backbone.source == "timm" and type(model).__name__ in ("EfficientNet", "MobileNetV3"):
        from timm.models._efficientnet_builder import _init_weight_goog as goog
    done: set[str] = set()
    names = {id(m): n for n, m in model.named_modules()}
    for block in blocks:
        for mname in block.modules:
            for sub in model.get_submodule(mname).modules():
                sub_name = names[id(sub)]
                if sub_name in done:
                    continue
                done.add(sub_name)
                if goog is not None and isinstance(sub, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
                    goog(sub, sub_name)
                    if isinstance(sub, _BN):
                        sub.reset_running_stats()
                elif hasattr(sub, "reset_parameters") and callable(sub.reset_parameters):
                    sub.reset_parameters()
    reset_params = {f"{n}.{p}" for n in done for p, _ in model.get_submodule(n).named_parameters(recurse=False)}
    return [p for b in blocks for p in b.params if p not in reset_params]


def freeze_blocks(model: nn.Module, blocks: list[Block]) -> list[str]:
    """Stop gradients to the parameters of ``blocks``; return the modules to keep in eval mode.

    A module is kept in eval mode (BatchNorm uses and keeps its running statistics, dropout and
    drop-path are off) when all parameters under it are frozen, or it is a parameter-less module
    (pooling, activation, drop-path) whose parent is.  Call ``set_train_mode`` after every
    ``model.train()``.
    """
    frozen = {p for b in blocks for p in b.params}
    for name, p in model.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
    keep_eval = []
    for name, module in model.named_modules():
        params = [n for n, _ in module.named_parameters(prefix=name)]
        if name and params and all(n in frozen for n in params):
            keep_eval.append(name)
    # BatchNorm without affine parameters inside a frozen block: keep it frozen too
    for b in blocks:
        for mname in b.modules:
            for sub_name, sub in model.get_submodule(mname).named_modules(prefix=mname):
                if isinstance(sub, _BN) and sub_name not in keep_eval:
                    keep_eval.append(sub_name)
    # keep only the outermost names
    keep_eval.sort()
    outer: list[str] = []
    for name in keep_eval:
        if not any(name.startswith(o + ".") for o in outer):
            outer.append(name)
    return outer


def set_train_mode(model: nn.Module, frozen_modules: list[str], training: bool = True) -> None:
    """``model.train(training)`` but frozen modules stay in eval mode (their BatchNorm statistics never drift)."""
    model.train(training)
    if training:
        for name in frozen_modules:
            model.get_submodule(name).eval()


# --------------------------------------------------------------------------------------------
# Cutting a backbone after block K-1 (frozen-prefix cache)
# --------------------------------------------------------------------------------------------

# timm classes whose forward_features is these children in order (Sequentials are expanded).
_TIMM_FEATURES = {
    "EfficientNet": ("conv_stem", "bn1", "blocks", "conv_head", "bn2"),
    "MobileNetV3": ("conv_stem", "bn1", "blocks"),
    "ResNet": ("conv1", "bn1", "act1", "maxpool", "layer1", "layer2", "layer3", "layer4"),
}
_TV_RESNET = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4")


class _Flatten(nn.Module):
    def forward(self, x):
        return torch.flatten(x, 1)


class _Pool(nn.Module):
    def forward(self, x):
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)


class CutModel(nn.Module):
    """The backbone as ``steps`` + ``tail``; ``prefix(x)`` runs steps[:at], ``rest(h)`` the remainder."""

    def __init__(self, model: nn.Module, steps: list[tuple[str, nn.Module]], tail: Callable, at: int):
        super().__init__()
        self.model = model
        self._steps = steps
        self._tail = tail
        self.at = at

    def prefix(self, x: torch.Tensor) -> torch.Tensor:
        for _, m in self._steps[: self.at]:
            x = m(x)
        return x

    def rest(self, h: torch.Tensor) -> torch.Tensor:
        for _, m in self._steps[self.at:]:
            h = m(h)
        return self._tail(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rest(self.prefix(x))


class FromCache(nn.Module):
    """``forward(h)`` = the rest of the network on cached prefix outputs (what DDP wraps when caching)."""

    def __init__(self, cut: CutModel):
        super().__init__()
        self.cut = cut

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.cut.rest(h)


def _expand(model: nn.Module, names) -> list[tuple[str, nn.Module]]:
    steps = []
    for name in names:
        m = model.get_submodule(name)
        if isinstance(m, nn.Sequential):
            steps += _expand(model, [f"{name}.{c}" for c, _ in m.named_children()])
        else:
            steps.append((name, m))
    return steps


def cut_plan(backbone: Backbone, head_name: str) -> tuple[list[tuple[str, nn.Module]], Callable] | str:
    """(steps, tail) for the supported families, or a reason why the model cannot be cut."""
    model = backbone.model
    cls = type(model).__name__
    children = dict(model.named_children())
    if backbone.source == "timm":
        names = _TIMM_FEATURES.get(cls)
        if names is None or not all(n in children for n in names):
            return f"timm {cls} is not one of the supported families ({', '.join(_TIMM_FEATURES)})"
        return _expand(model, names), model.forward_head
    if cls == "ResNet" and all(n in children for n in _TV_RESNET):
        steps = _expand(model, _TV_RESNET)
    elif "features" in children and cls in ("VGG", "MobileNetV2", "MobileNetV3", "EfficientNet", "AlexNet"):
        steps = _expand(model, ["features"])
    else:
        return f"torchvision {cls} is not one of the supported families (ResNet, VGG, MobileNet, EfficientNet)"
    steps.append(("avgpool", model.avgpool) if "avgpool" in children else ("<pool>", _Pool()))
    if "avgpool" in children:
        steps.append(("<flatten>", _Flatten()))
    # the classifier container: its children before the head are steps, the head is the tail
    parent, _, _ = head_name.rpartition(".")
    if parent:
        container = model.get_submodule(parent)
        kids = list(container.named_children())
        idx = [f"{parent}.{c}" for c, _ in kids].index(head_name)
        steps += [(f"{parent}.{c}", m) for c, m in kids[:idx]]
        after = [m for _, m in kids[idx:]]
        tail = nn.Sequential(*after)
    else:
        tail = model.get_submodule(head_name)
    return steps, tail


def make_cut(prepared: Prepared, image_size: int) -> tuple[CutModel | None, str]:
    """A ``CutModel`` cut after the last frozen block, checked to give the model's own logits.

    Returns (None, reason) when the architecture is not supported, the cut is not clean (a step
    before the cut has trainable parameters) or the check fails.
    """
    if prepared.freeze == 0:
        return None, "no frozen block"
    plan = cut_plan(prepared.backbone, prepared.head_name)
    if isinstance(plan, str):
        return None, plan
    steps, tail = plan
    output = prepared.blocks[prepared.freeze - 1].output
    hits = [i for i, (n, _) in enumerate(steps) if n == output or n.startswith(output + ".")]
    if not hits:
        return None, f"block output {output!r} is not a step of the cut plan"
    cut = hits[-1] + 1
    for name, m in steps[:cut]:
        if any(p.requires_grad for p in m.parameters()):
            return None, f"{name} runs before block {prepared.freeze - 1}'s output but is trainable"
    cut_model = CutModel(prepared.model, steps, tail, cut)
    model = prepared.model
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            device = next(model.parameters()).device
            x = torch.randn(2, 3, image_size, image_size, generator=torch.Generator().manual_seed(0)).to(device)
            ok = torch.allclose(cut_model(x), model(x), rtol=1e-4, atol=1e-5)
    except Exception as exc:  # noqa: BLE001 - any failure means: do not cache
        return None, f"cut check failed ({exc.__class__.__name__}: {exc})"
    finally:
        model.train(was)
    if not ok:
        return None, "the cut model does not reproduce the model's logits"
    return cut_model, f"cut after {steps[cut - 1][0]} (block {prepared.freeze - 1})"


def trainable_groups(prepared: Prepared) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(head parameters, trainable backbone parameters)."""
    head, body = [], []
    for name, p in prepared.model.named_parameters():
        if not p.requires_grad:
            continue
        (head if name == prepared.head_name or name.startswith(prepared.head_name + ".") else body).append(p)
    if not head:
        raise BadInputError("the head has no trainable parameter")
    return head, body
