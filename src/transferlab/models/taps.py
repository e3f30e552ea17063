"""Layer tapping: collect pooled activations of many layers in ONE forward pass.

Layer specs (``--layers``):
- ``all``: every conv / fully connected activation (the full-network embedding): for each Conv or
  Linear layer (except the classifier) the output after its normalisation and non-linearity,
  found by following the tensor through BatchNorm / activation modules in a traced forward;
- ``late``: the ``all`` activations of the last third of the blocks (the later, more specific layers);
- ``stages``: the output of each block (``transferlab layers M --blocks``);
- ``last``: the pre-logits features (the classifier's input);
- ``auto``: the union of the ``FAMILY`` (all, late, stages, last) in the model's module order,
  extracted once so that ``fne --layers auto`` can choose among them by cross-validation;
- a comma list of module names (``layer3,layer4``; ``name@K`` for the K-th call of a module
  that runs several times, such as torchvision ResNet's shared ``relu``) or ``re:PATTERN``.

Activations are pooled as they are produced (spatial mean for conv maps, token mean for
sequences, fully connected as is), so memory is O(batch), never O(dataset x maps).
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

import torch
from torch import nn

from transferlab.errors import BadInputError
from transferlab.models.registry import Backbone

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.Identity)
_ACT_MODULES = ("torch.nn.modules.activation", "timm.layers.activations", "timm.layers.activations_me")
_LEAF_TYPES = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


@dataclass(frozen=True)
class Tap:
    name: str  # what users see and select
    module: str  # module name in the model
    call: int = 0  # which call of the module (shared modules run several times per forward)
    port: str = "output"  # "output", or "input" for the pre-logits features
    channels: int = 0
    shape: tuple[int, ...] = ()  # activation shape without the batch dimension (traced)
    kind: str = ""  # module class name

    def to_dict(self) -> dict:
        return {"name": self.name, "module": self.module, "call": self.call, "port": self.port,
                "channels": self.channels, "shape": list(self.shape), "kind": self.kind}


@dataclass
class _Call:
    module: str
    call: int
    obj: nn.Module
    inp: torch.Tensor | None
    out: torch.Tensor | None


def trace_calls(backbone: Backbone, size: int | None = None) -> list[_Call]:
    """Run one forward on a dummy image and record every module call in completion order."""
    model = backbone.model
    size = size or backbone.preprocessing.input_size
    calls: list[_Call] = []
    counts: dict[str, int] = defaultdict(int)
    handles = []

    def make_hook(name):
        def hook(mod, args, out):
            inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
            calls.append(_Call(name, counts[name], mod, inp, out if isinstance(out, torch.Tensor) else None))
            counts[name] += 1
        return hook

    for name, mod in model.named_modules():
        if name:
            handles.append(mod.register_forward_hook(make_hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, size, size, device=_device_of(model)))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return calls


FAMILY = ("all", "late", "stages", "last")  # what --layers auto chooses among, in order of preference on ties


def resolve_layers(backbone: Backbone, spec: str | list[str] = "all", size: int | None = None) -> list[Tap]:
    """Turn a layer spec into the list of taps (in forward order) with their channel counts."""
    if isinstance(spec, (list, tuple)):
        spec = ",".join(spec)
    spec = (spec or "all").strip()
    if spec == "auto":
        return union(backbone, family(backbone, size).values())
    return _resolve_spec(backbone, trace_calls(backbone, size), spec)


def _resolve_spec(backbone: Backbone, calls: list[_Call], spec: str) -> list[Tap]:
    items = [spec] if spec.startswith("re:") else [s.strip() for s in spec.split(",") if s.strip()]
    taps: list[Tap] = []
    for item in items:
        taps.extend(_resolve_item(backbone, calls, item))
    if not taps:
        raise BadInputError(f"--layers {spec!r} selects no layer")
    seen = set()
    for t in taps:
        if t.name in seen:
            raise BadInputError(f"--layers {spec!r} names {t.name!r} twice")
        seen.add(t.name)
    return taps


def family(backbone: Backbone, size: int | None = None) -> dict[str, list[Tap]]:
    """The taps of each member of ``FAMILY`` (what ``--layers auto`` chooses among)."""
    calls = trace_calls(backbone, size)  # one traced forward for the whole family
    return {name: _resolve_spec(backbone, calls, name) for name in FAMILY}


def tap_id(t) -> tuple:
    """A tap's identity across specs: (module, call, port) of a ``Tap`` or of its dict."""
    d = t if isinstance(t, dict) else t.to_dict()
    return d["module"], int(d["call"]), d["port"]


def union(backbone: Backbone, tap_lists) -> list[Tap]:
    """Every tap of ``tap_lists`` once, in the model's module order (so the same union always gets the
    same feature-cache key)."""
    chosen: dict[tuple, Tap] = {}
    for taps in tap_lists:
        for t in taps:
            chosen.setdefault(tap_id(t), t)
    position = {name: i for i, (name, _) in enumerate(backbone.model.named_modules())}
    order = sorted(chosen, key=lambda ident: (position.get(ident[0], len(position)), ident[1], ident[2]))
    return [chosen[ident] for ident in order]


def union_spec(taps: list) -> str:
    """A ``--layers`` spec that resolves to exactly these taps."""
    return ",".join("pre_logits" if port == "input" else f"{module}@{call}" for module, call, port in map(tap_id, taps))


def _resolve_item(backbone: Backbone, calls: list[_Call], item: str) -> list[Tap]:
    if item == "all":
        return _activation_taps(backbone, calls)
    if item == "late":
        from transferlab.models.blocks import backbone_blocks

        blocks = backbone_blocks(backbone)
        modules = [m for b in blocks[-max(1, len(blocks) // 3):] for m in b.modules]
        late = [t for t in _activation_taps(backbone, calls)
                if any(t.module == m or t.module.startswith(m + ".") for m in modules)]
        return late or [_pre_logits_tap(backbone, calls)]
    if item == "stages":
        from transferlab.models.blocks import backbone_blocks

        return _named_taps(calls, [(b.output, None) for b in backbone_blocks(backbone)], backbone)
    if item in ("last", "pre_logits"):
        return [_pre_logits_tap(backbone, calls)]
    if item.startswith("re:"):
        try:
            pattern = re.compile(item[3:])
        except re.error as exc:
            raise BadInputError(f"invalid --layers regular expression {item[3:]!r}: {exc}") from exc
        names = list(dict.fromkeys(c.module for c in calls if pattern.search(c.module) and c.out is not None))
        if not names:
            raise BadInputError(f"--layers {item!r} matches no module; "
                                f"`transferlab layers {backbone.name}` lists them")
        return _named_taps(calls, [(n, None) for n in names], backbone)
    name, _, k = item.partition("@")
    if k and not k.isdigit():
        _bad_call(item)
    return _named_taps(calls, [(name, int(k) if k else None)], backbone)


def _bad_call(item: str):
    raise BadInputError(f"bad layer {item!r}: use NAME or NAME@K with K the call index")


def _activation_taps(backbone: Backbone, calls: list[_Call]) -> list[Tap]:
    head = backbone.classifier_name
    consumers: dict[int, list[int]] = defaultdict(list)
    for i, c in enumerate(calls):
        if c.inp is not None:
            consumers[id(c.inp)].append(i)
    taps = []
    for i, c in enumerate(calls):
        if not isinstance(c.obj, _LEAF_TYPES) or c.module == head or c.out is None:
            continue
        j = end_index = i
        while True:
            nxt = [k for k in consumers.get(id(calls[j].out), []) if k > j and _is_post_op(calls[k].obj)]
            if not nxt:
                break
            j = nxt[0]
            if not isinstance(calls[j].obj, nn.Identity):  # pass through, but never name an Identity
                end_index = j
        end = calls[end_index]
        taps.append(_tap_from_call(end, f"{end.module}@{end.call}" if end.call else end.module))
    return taps


def _is_post_op(module: nn.Module) -> bool:
    return isinstance(module, _NORM_TYPES) or type(module).__module__ in _ACT_MODULES


def _named_taps(calls: list[_Call], wanted: list[tuple[str, int | None]], backbone: Backbone | None = None) -> list[Tap]:
    by_name: dict[str, list[_Call]] = defaultdict(list)
    for c in calls:
        by_name[c.module].append(c)
    taps = []
    for name, k in wanted:
        found = by_name.get(name)
        if not found:
            raise BadInputError(_unknown_layer(name, calls, backbone))
        if k is not None and k >= len(found):
            raise BadInputError(f"layer {name!r} runs {len(found)} time(s) per forward; {name}@{k} does not exist")
        chosen = [found[k]] if k is not None else found
        for c in chosen:
            if c.out is None:
                raise BadInputError(f"layer {name!r} does not output a single tensor; it cannot be tapped")
            taps.append(_tap_from_call(c, f"{name}@{c.call}" if len(found) > 1 else name))
    return taps


def _unknown_layer(name: str, calls: list[_Call], backbone: Backbone | None) -> str:
    import difflib

    names = list(dict.fromkeys(c.module for c in calls))
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    model = backbone.name if backbone else "MODEL"
    shown = ", ".join(close) if close else ", ".join(names[:8]) + ", ..."
    return (f"unknown layer {name!r}. Close names: {shown}. Also valid: all, late, stages, last, auto, re:PATTERN. "
            f"`transferlab layers {model}` lists every tappable layer.")


def _pre_logits_tap(backbone: Backbone, calls: list[_Call]) -> Tap:
    head = [c for c in calls if c.module == backbone.classifier_name]
    c = head[-1]
    return Tap("pre_logits", c.module, c.call, "input", int(c.inp.shape[-1]), tuple(c.inp.shape[1:]), "pre_logits")


def _tap_from_call(c: _Call, name: str) -> Tap:
    shape = tuple(c.out.shape[1:])
    channels = shape[0] if len(shape) == 3 else shape[-1]
    return Tap(name, c.module, c.call, "output", int(channels), shape, type(c.obj).__name__)


def pool(x: torch.Tensor) -> torch.Tensor:
    """One vector per image: spatial mean of conv maps, mean over tokens, FC as is."""
    if x.ndim == 4:
        return x.mean(dim=(2, 3))
    if x.ndim == 3:
        return x.mean(dim=1)
    if x.ndim == 2:
        return x
    return x.flatten(2).mean(dim=2) if x.ndim > 4 else x.reshape(x.shape[0], -1)


class TapRecorder:
    """Context manager: hooks on the tapped modules; ``pop()`` returns the pooled (N, D) features.

    >>> with TapRecorder(backbone.model, taps) as rec:
    ...     backbone.model(images); feats = rec.pop()
    """

    def __init__(self, model: nn.Module, taps: list[Tap], pool=pool):
        self.model = model
        self.taps = taps
        self._pool = pool
        self._handles = []
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._store: dict[int, torch.Tensor] = {}
        self._by_module: dict[str, list[tuple[int, Tap]]] = defaultdict(list)
        for i, t in enumerate(taps):
            self._by_module[t.module].append((i, t))

    def __enter__(self) -> "TapRecorder":
        for name, entries in self._by_module.items():
            module = self.model.get_submodule(name)
            inputs = [(i, t) for i, t in entries if t.port == "input"]
            outputs = [(i, t) for i, t in entries if t.port == "output"]
            if inputs:
                self._handles.append(module.register_forward_pre_hook(self._pre_hook(name, inputs)))
            if outputs:
                self._handles.append(module.register_forward_hook(self._hook(name, outputs)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _take(self, key, entries, tensor):
        k = self._counts[key]
        self._counts[key] = k + 1
        for i, t in entries:
            if t.call == k:
                self._store[i] = self._pool(tensor).float()

    def _hook(self, name, entries):
        def hook(mod, args, out):
            self._take((name, "output"), entries, out)
        return hook

    def _pre_hook(self, name, entries):
        def hook(mod, args):
            self._take((name, "input"), entries, args[0])
        return hook

    def pop(self) -> torch.Tensor:
        """The features of the last forward, (N, sum of channels), in tap order."""
        missing = [self.taps[i].name for i in range(len(self.taps)) if i not in self._store]
        if missing:
            raise RuntimeError(f"taps not reached in the forward pass: {missing[:5]}")
        feats = torch.cat([self._store[i] for i in range(len(self.taps))], dim=1)
        self._store.clear()
        self._counts.clear()
        return feats


def _device_of(model: nn.Module) -> torch.device:
    try:
        return next(model.parameters()).device
    except StopIteration:
        return torch.device("cpu")
