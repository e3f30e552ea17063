"""The tapped network as ONE ONNX graph: uint8 images in, every tap's pooled vector out, concatenated.

A wrapper normalises the images and runs the model under ``TapRecorder``, whose forward hooks pool
each tapped activation as it is produced; tracing records those hooks, so the pooling is part of
the graph and the runtimes optimise it with the convolutions.  Conv maps are pooled by an average
pool over the whole map rather than a mean over two axes: the runtimes run it in their blocked layouts
without a reorder (faster in both precisions; same fp32 answer).  The export is cached under the cache
root (``engines/``), keyed by the model, weights, taps, preprocessing and library versions, written
atomically and validated when read (``transferlab.cache.entries``): a damaged export is exported again.
"""
from __future__ import annotations

import copy
import hashlib
import json
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from transferlab.cache import entries
from transferlab.models.taps import TapRecorder, pool

CACHE_KIND = "engines"
EXPORT_VERSION = 2
OPSET = 18


class ExportError(Exception):
    """The model does not export (the message says which model and why)."""


def graph_pool(x: torch.Tensor) -> torch.Tensor:
    """``taps.pool`` as the export traces it: a conv map's spatial mean as one average pool."""
    if x.ndim == 4:
        return F.avg_pool2d(x, kernel_size=(int(x.shape[2]), int(x.shape[3]))).flatten(1)
    return pool(x)


class TappedGraph(nn.Module):
    """uint8 (N, 3, H, W) -> normalised -> model, returning (N, D) pooled taps in tap order."""

    def __init__(self, model: nn.Module, taps, mean, std):
        super().__init__()
        self.model, self.taps = model, list(taps)
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1) * 255)
        self.register_buffer("inv_std", 1.0 / (torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1) * 255))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() - self.mean) * self.inv_std
        with TapRecorder(self.model, self.taps, pool=graph_pool) as rec:
            self.model(x)
            return rec.pop()


def export_key(backbone, taps, preprocessing) -> str:
    """Digest of everything the exported graph depends on."""
    import onnx

    parts = {"model": backbone.name, "weights": backbone.weights_id, "taps": [t.to_dict() for t in taps],
             "preprocessing": preprocessing.to_dict(), "torch": torch.__version__, "onnx": onnx.__version__,
             "opset": OPSET, "export_version": EXPORT_VERSION}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def export_name(backbone, taps, preprocessing) -> str:
    """The file name of the export of ``backbone`` with ``taps`` in the cache's ``engines`` kind."""
    safe = backbone.name.replace(":", "_").replace("/", "_")
    return f"{safe}-{export_key(backbone, taps, preprocessing)}.onnx"


def export_path(backbone, taps, preprocessing) -> Path:
    """Where the export of ``backbone`` with ``taps`` lives in the cache (``$TRANSFERLAB_CACHE/engines``)."""
    return entries.entry_path(CACHE_KIND, export_name(backbone, taps, preprocessing))


def exported_graph(backbone, taps, preprocessing) -> Path:
    """The cached ONNX file of ``backbone`` with ``taps`` pooled in the graph (exported on first use, and
    again when the cached one is damaged)."""
    try:
        name = export_name(backbone, taps, preprocessing)
    except ImportError as exc:
        raise ExportError(f"onnx is not installed ({exc}); pip install onnx") from None
    return entries.fetch(CACHE_KIND, name, "exported graph", lambda target: export_onnx(backbone, taps, preprocessing,
                                                                                        target), check=check_graph)


def check_graph(path: Path) -> None:
    """Raise unless ``path`` parses as an ONNX model (how an export written before manifests is vetted)."""
    import onnx

    onnx.checker.check_model(str(path))


def export_onnx(backbone, taps, preprocessing, target: Path) -> None:
    """Trace the tapped graph on CPU (a copy of the model in eval mode; the backbone is left as it was)."""
    model = copy.deepcopy(backbone.model).cpu().float().eval()
    graph = TappedGraph(model, taps, preprocessing.mean, preprocessing.std).eval()
    size = preprocessing.input_size
    dummy = torch.zeros(2, 3, size, size, dtype=torch.uint8)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (dummy,), str(target), input_names=["images"], output_names=["features"],
                              dynamic_axes={"images": {0: "n"}, "features": {0: "n"}}, opset_version=OPSET,
                              dynamo=False)
    except Exception as exc:
        lines = str(exc).strip().splitlines()
        raise ExportError(f"{backbone.name} does not export to ONNX ({type(exc).__name__}: "
                          f"{lines[0][:300] if lines else ''})") from exc
    verify(graph, target, backbone.name, size)


def verify(graph: TappedGraph, path: Path, name: str, size: int, tolerance: float = 1e-3) -> None:
    """Refuse an export that does not reproduce eager features on another batch size than the one traced
    (a model whose Python control flow froze a shape or a branch into the trace)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return
    seed = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 3, size, size), dtype=torch.uint8, generator=seed)
    with torch.inference_mode():
        want = graph(images).numpy()
    try:
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"images": images.numpy()})[0]
    except Exception as exc:
        raise ExportError(f"{name}: the exported graph does not run ({type(exc).__name__}: "
                          f"{str(exc).strip()[:300]})") from exc
    worst = float(abs(got - want).max()) if got.shape == want.shape else float("inf")
    if not worst <= tolerance * max(1.0, float(abs(want).max())):
        raise ExportError(f"{name}: the exported graph does not reproduce eager features (max difference "
                          f"{worst:.3g} on a batch of 3)")

