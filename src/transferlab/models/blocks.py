"""A backbone as an ordered list of blocks (stem, stages, ...), the unit of transfer and freezing.

``--transfer K`` / ``--freeze K`` and ``transferlab layers M --blocks`` all count these, so K means
the same on ResNet, VGG, EfficientNet and MobileNet.  timm models use timm's own coarse
``group_matcher`` (the grouping timm uses for layer-wise learning-rate decay); torchvision
models are split structurally (stem + ``layerN`` for ResNets, the children of ``features`` and of
the fully connected part otherwise).  The final classifier is never a block: it is the head.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from transferlab.models.registry import Backbone


@dataclass(frozen=True)
class Block:
    index: int
    name: str
    modules: tuple[str, ...]  # modules that hold the block's parameters
    params: tuple[str, ...]  # parameter names
    num_params: int
    output: str  # the module whose output is the block's output


def backbone_blocks(backbone: Backbone) -> list[Block]:
    """The backbone's blocks in forward order, excluding the classifier head."""
    model, head = backbone.model, backbone.classifier_name
    if backbone.source == "timm" and hasattr(model, "group_matcher"):
        groups = _timm_groups(model)
    else:
        groups = _structural_groups(model)
    blocks: list[Block] = []
    param_names = dict(model.named_parameters())
    for modules in groups:
        modules = [m for m in modules if m != head and not m.startswith(head + ".")]
        if not modules:
            continue
        params = tuple(p for p in param_names if _owned(p, modules))
        if not params:
            continue
        prefix = _common_prefix(modules)
        name = prefix or ("+".join(modules) if len(modules) <= 3 else f"{modules[0]}..{modules[-1]}")
        output = prefix or modules[-1]
        blocks.append(Block(len(blocks), name, tuple(modules), params,
                            sum(param_names[p].numel() for p in params), output))
    return blocks


def _owned(param: str, modules: list[str]) -> bool:
    return any(param.startswith(m + ".") for m in modules)


def _timm_groups(model: nn.Module) -> list[list[str]]:
    from timm.models._manipulate import group_modules

    grouped = group_modules(model, model.group_matcher(coarse=True))
    return [list(v) for _, v in sorted(grouped.items())]


def _structural_groups(model: nn.Module) -> list[list[str]]:
    groups: list[list[str]] = []
    stem: list[str] = []
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential) and name in ("features", "classifier", "fc", "head"):
            for sub, grand in child.named_children():
                if _has_params(grand):
                    groups.append([f"{name}.{sub}"])
        elif name.startswith("layer") or name.startswith("stage") or name.startswith("denseblock"):
            if stem:
                groups.append(stem)
                stem = []
            groups.append([name])
        elif _has_params(child):
            if groups and not stem:
                groups.append([name])
            else:
                stem.append(name)
    if stem:
        groups.append(stem)
    return groups


def _has_params(module: nn.Module) -> bool:
    return any(True for _ in module.parameters())


def _common_prefix(names: list[str]) -> str:
    parts = [n.split(".") for n in names]
    prefix = []
    for tokens in zip(*parts):
        if len(set(tokens)) != 1:
            break
        prefix.append(tokens[0])
    return ".".join(prefix)
