"""The engines behind ``open_engine``: torch eager with hooks, ONNX Runtime, OpenVINO.

Each is a context manager called on uint8 (N, 3, H, W) CPU batches and returning float32 (N, D)
numpy features.  The runtimes get as many threads as torch has, and do not spin while idle: the
decoding workers run at idle priority and need the cycles between forward passes.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from transferlab.cache import entries


def inference_model(backbone, device: torch.device) -> torch.nn.Module:
    """Eval mode on ``device``; channels_last for convnets (faster oneDNN / cuDNN kernels)."""
    model = backbone.model.eval().to(device)
    if any(isinstance(m, torch.nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


class TorchEngine:
    """The reference: eager forward, channels_last, hooks pool the taps; bf16 through autocast."""

    name = "torch"

    def __init__(self, backbone, taps, preprocessing, device, precision: str = "fp32"):
        from transferlab.models.taps import TapRecorder

        self.device, self.precision, self.preprocessing = device, precision, preprocessing
        self.model = inference_model(backbone, device)
        self.recorder = TapRecorder(self.model, taps)
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        self._stack.enter_context(self.recorder)
        self._stack.enter_context(torch.inference_mode())
        if self.precision == "bf16":
            self._stack.enter_context(torch.autocast(self.device.type, dtype=torch.bfloat16))
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        self.model(self.preprocessing.normalize_batch(images.to(self.device, non_blocking=True)))
        return self.recorder.pop().float().cpu().numpy()


class OnnxRuntimeEngine:
    """The exported graph on ONNX Runtime's CPU provider (fp32)."""

    name = package = "onnxruntime"

    @staticmethod
    def check_installed():
        import onnxruntime  # noqa: F401

    def __init__(self, path, taps, precision: str, batch_size: int, name: str = ""):
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.precision = precision
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        return self.session.run(None, {"images": np.ascontiguousarray(images.numpy())})[0]


# pixels per OpenVINO request: its kernels run faster on a few images whose activations stay in the
# CPU caches than on a whole loader batch (figures in docs/fne.md)
OPENVINO_REQUEST_PIXELS = 4 * 224 * 224


class OpenVinoEngine:
    """The exported graph on OpenVINO's CPU plugin, compiled for a fixed request of a few images (a
    loader batch is run as several; a short last one is padded); fp32 is asked for explicitly, since
    OpenVINO defaults to bf16 on CPUs that have it.

    In bf16 the output is bf16 too: with an f32 output the plugin keeps everything between the last
    convolutions and the output in f32, so each tapped map would be converted to f32 to be pooled.
    """

    name = package = "openvino"

    @staticmethod
    def check_installed():
        import openvino  # noqa: F401

    def __init__(self, path, taps, precision: str, batch_size: int, name: str = ""):
        import openvino as ov

        core = ov.Core()
        blobs = entries.folder("engines", "openvino")  # compiled blobs: a faster open (None: read-only cache)
        if blobs is not None:
            core.set_property({"CACHE_DIR": str(blobs)})
        model = core.read_model(str(path))
        dims = [model.input(0).get_partial_shape()[i].get_length() for i in (1, 2, 3)]
        request = max(1, min(batch_size, round(OPENVINO_REQUEST_PIXELS / (dims[1] * dims[2]))))
        shape = [request] + dims
        model.reshape(shape)
        if precision == "bf16":
            from openvino.preprocess import PrePostProcessor

            ppp = PrePostProcessor(model)
            ppp.output(0).tensor().set_element_type(ov.Type.bf16)
            model = ppp.build()
        self.request_size, self.precision = request, precision
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": torch.get_num_threads(),
                  "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32"}
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self._pad = np.zeros(shape, dtype=np.uint8)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def __call__(self, images: torch.Tensor) -> np.ndarray:
        x = images.numpy()
        size = self.request_size
        return np.concatenate([self._infer(x[s:s + size]) for s in range(0, len(x), size)])

    def _infer(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n != self.request_size:
            self._pad[:n] = x
            self._pad[n:] = 0
            x = self._pad
        out = self.request.infer({0: np.ascontiguousarray(x)})[0][:n]
        if self.precision == "bf16":  # numpy has no bf16: its bits are the top half of a float32's
            return (out.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        return np.array(out, dtype=np.float32)
