"""Extraction engines: every fp32 engine gives torch eager's features (1e-4) on real photos; bf16 keys apart."""
import numpy as np
import pytest

from conftest import run_cli
from transferlab.fne.backends import bf16_support, open_engine
from transferlab.fne.pipeline import embed

TOLERANCE = 1e-4
BF16 = bf16_support(__import__("torch").device("cpu")) is None
RUNTIMES = ["onnxruntime", "openvino"]


def _embed(folder, **options):
    return embed(folder, workers=0, quiet=True, use_cache=False, **options)


def _assert_same(ref, other):
    for split in ("train", "test"):
        a, b = getattr(ref, split), getattr(other, split)
        assert a.paths == b.paths and a.layers == b.layers
        assert np.abs(a.features - b.features).max() < TOLERANCE, split


@pytest.mark.parametrize("layers", ["all", "stages", "last"])
def test_fp32_engines_match_torch_on_every_layer_set(small_folder, layers):
    ref = _embed(small_folder, model="efficientnet_lite0", layers=layers, image_size=96, backend="torch")
    assert ref.train.meta["backend"] == "torch" and ref.train.features.shape[0] == 24
    for backend in RUNTIMES:
        _assert_same(ref, _embed(small_folder, model="efficientnet_lite0", layers=layers, image_size=96,
                                 backend=backend))


@pytest.mark.parametrize("model", ["efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2"])
def test_fp32_engines_match_torch_on_every_offline_model(small_folder, model):
    ref = _embed(small_folder, model=model, layers="all", image_size=64, backend="torch")
    for backend in RUNTIMES:
        out = _embed(small_folder, model=model, layers="all", image_size=64, backend=backend, batch_size=5)
        assert out.train.meta["backend"] == backend
        _assert_same(ref, out)  # batch 5: the short last batch (OpenVINO pads it) is exact too


def test_fp32_engines_share_the_cache_and_bf16_gets_its_own_key(small_folder):
    options = dict(model="efficientnet_lite0", layers="last", image_size=72, workers=0, quiet=True)
    first = embed(small_folder, backend="torch", **options)
    again = embed(small_folder, backend="onnxruntime", **options)
    assert again.cached == {"train": True, "test": True} and again.cache_keys == first.cache_keys
    if not BF16:
        pytest.skip("this CPU has no bf16")
    for backend in ("torch", "openvino"):
        bf16 = embed(small_folder, backend=backend, precision="bf16", **options)
        assert bf16.cached == {"train": False, "test": False} and bf16.cache_keys != first.cache_keys
        rel = np.abs(bf16.test.features - first.test.features).max() / np.abs(first.test.features).max()
        assert 0 < rel < 0.1  # rounded, not wrong


def test_backend_errors_are_one_line(small_folder, tmp_path, capsys):
    code, _, err = run_cli(["embed", "--data", small_folder, "--backend", "onnxruntime", "--precision", "bf16",
                            "--out", tmp_path / "r", "--quiet"], capsys)
    assert code == 2 and "onnxruntime has no bf16" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["embed", "--data", small_folder, "--backend", "tensorrt"], capsys)
    assert code == 2 and "backend" in err


def test_bf16_is_refused_where_the_cpu_lacks_it(monkeypatch):
    import torch

    from transferlab.errors import BadInputError
    from transferlab.fne import backends

    monkeypatch.setattr(backends, "_cpu_flags", lambda: {"avx2", "fma"})
    with pytest.raises(BadInputError, match="no native bf16"):
        open_engine(None, [], None, backend="torch", precision="bf16", device=torch.device("cpu"))


def test_auto_falls_back_to_torch_with_a_notice_when_the_export_fails(small_folder, monkeypatch, capsys):
    from transferlab.fne.backends import export

    def broken(*args, **kwargs):
        raise export.ExportError("efficientnet_lite0 does not export to ONNX (RuntimeError: unsupported op)")

    monkeypatch.setattr(export, "exported_graph", broken)
    out = embed(small_folder, model="efficientnet_lite0", layers="last", image_size=64, workers=0,
                use_cache=False)
    err = capsys.readouterr().err
    assert out.train.meta["backend"] == "torch"
    assert "notice: --backend auto uses torch" in err and "unsupported op" in err
