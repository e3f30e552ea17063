"""The backbone options shared by every command that runs a network, and the ``layers``/``classify`` configs."""
from __future__ import annotations

from typing import Literal

from pydantic import field_validator

from transferlab.schema import Config, DeviceName, device_option, option, quiet_option, top_k_option

DEFAULT_MODEL = "efficientnet_lite0"


class ModelOptions(Config):
    """Which network, with which weights, at which input size, on which device."""

    model: str = option(DEFAULT_MODEL, "backbone: an offline model (efficientnet_lite0/1/2, mobilenet_v2), "
                                       "timm:NAME or torchvision:NAME (`transferlab models` lists them)",
                        group="model", metavar="NAME")
    weights: str | None = option(None, "load this state dict (.pth/.pt/.safetensors) instead of the default weights",
                                 group="model", metavar="FILE", default_text="the model's pretrained weights")
    image_size: int | None = option(None, "input size in pixels (the model's resize/crop ratio is kept)", ge=16,
                                    group="model", metavar="PX", default_text="the model's own")
    device: DeviceName = device_option(group="model")

    @field_validator("model")
    @classmethod
    def _model(cls, value):
        if not str(value).strip():
            raise ValueError("must name a model (`transferlab models` lists them)")
        return str(value).strip()


Backend = Literal["auto", "torch", "onnxruntime", "openvino"]  # the engines of transferlab.models.engines
Precision = Literal["fp32", "bf16"]


class EngineOptions(Config):
    """Which engine runs the network for inference, in which arithmetic (``transferlab.models.engines``)."""

    backend: Backend = option(
        "auto", "inference engine: torch (eager PyTorch, the reference), onnxruntime or openvino (the tapped "
                "network exported once to ONNX, every tap pooled in the graph), auto (the fastest measured for "
                "the device; torch when the export fails or the job is too small to repay it). In fp32 every "
                "engine matches torch within 1e-4",
        runtime=True, group="engine")
    precision: Precision = option(
        "fp32", "arithmetic: fp32, or bf16 where the CPU (avx512_bf16/AMX) or GPU has it (faster; its "
                "results differ slightly, and its features are cached apart)", group="engine")


class ModelsConfig(Config):
    """``transferlab models``: the backbones that work offline, and how to name any other."""

    command = "models"
    quiet: bool = quiet_option()


class LayersConfig(Config):
    """``transferlab layers MODEL``: what ``--layers`` can tap, or the blocks ``--transfer``/``--freeze`` count."""

    command = "layers"
    model: str = option(..., "backbone name (see `transferlab models`)", positional=True, metavar="MODEL")
    layers: str = option("all", "the selection to show: all, stages, last, NAME,NAME,... or re:PATTERN",
                         metavar="SPEC")
    blocks: bool = option(False, "show the ordered blocks that --transfer K / --freeze K count instead")
    image_size: int | None = option(None, "input size in pixels (changes the map sizes shown)", ge=16, metavar="PX",
                                    default_text="the model's own")
    quiet: bool = quiet_option()


class ClassifyConfig(EngineOptions, ModelOptions):
    """``transferlab classify IMAGE...``: ImageNet top-k labels, the check that weights and preprocessing are right."""

    command = "classify"
    images: list[str] = option(..., "image files", positional=True, nargs="+", metavar="IMAGE")
    top_k: int = top_k_option(5, "labels shown per image", hidden=("--top",))
    batch_size: int = option(32, "images per forward pass", ge=1)
    quiet: bool = quiet_option()
