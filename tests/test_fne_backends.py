"""Extraction engines: every fp32 engine gives torch eager's features (1e-4) on real photos; bf16 keys apart.

Batches of 4 on 7 photos: the short last batch (OpenVINO pads it) is checked too."""
import numpy as np
import pytest

from conftest import run_cli
from transferlab.models.engines import open_engine
from transferlab.runtime import bf16_support
from transferlab.fne.pipeline import embed

TOLERANCE = 1e-4
BF16 = bf16_support(__import__("torch").device("cpu")) is None
RUNTIMES = ["onnxruntime", "openvino"]


@pytest.fixture(scope="module")
def photos(small_folder):
    """Seven real photos (ants and bees, odd so that a batch of 4 leaves a short last batch)."""
    from transferlab.data.sources import load_dataset
    from transferlab.data.splits import Split

    splits = load_dataset(small_folder)
    pick = list(range(0, 24, 4)) + [23]
    return splits, Split([splits.train.paths[i] for i in pick], splits.train.labels[pick])


def _features(model, layers, size, photos, runtimes=RUNTIMES):
    """Features of ``photos`` from torch eager and from each runtime, one export per engine."""
    import torch

    from transferlab.fne.extract import extract_split
    from transferlab.models.registry import create_backbone
    from transferlab.models.taps import resolve_layers

    splits, split = photos
    backbone = create_backbone(model)
    pre = backbone.preprocessing.with_size(size)
    taps = resolve_layers(backbone, layers, size=size)
    out = {}
    for backend in ["torch"] + runtimes:
        engine = open_engine(backbone, taps, pre, backend=backend, device=torch.device("cpu"), batch_size=4)
        assert engine.name == backend
        if backend == "openvino":
            out["openvino requests"] = engine.request_size
        out[backend] = extract_split(backbone, taps, split, splits, pre, batch_size=4, workers=0, progress=False,
                                     engine=engine)
    return out


def _assert_same(out):
    out.pop("openvino requests", None)
    ref = out.pop("torch")
    assert len(ref) == 7
    for backend, fs in out.items():
        assert fs.paths == ref.paths and fs.layers == ref.layers
        assert np.abs(fs.features - ref.features).max() < TOLERANCE, backend


@pytest.mark.slow
@pytest.mark.parametrize("layers", ["all", "stages", "last"])
def test_fp32_engines_match_torch_on_every_layer_set(photos, layers):
    _assert_same(_features("efficientnet_lite0", layers, 96, photos))


@pytest.mark.slow
@pytest.mark.parametrize("model", ["efficientnet_lite1", "efficientnet_lite2", "mobilenet_v2"])
def test_fp32_engines_match_torch_on_every_offline_model(photos, model):
    _assert_same(_features(model, "all", 64, photos))


@pytest.mark.slow
def test_openvino_runs_a_batch_as_several_padded_requests(photos, monkeypatch):
    """Requests of 3 images under loader batches of 4 (4 = 3 + 1 padded, then 3): the same features."""
    from transferlab.models.engines import backends

    monkeypatch.setattr(backends, "OPENVINO_REQUEST_PIXELS", 3 * 64 * 64)
    out = _features("efficientnet_lite0", "all", 64, photos, runtimes=["openvino"])
    assert out["openvino requests"] == 3
    _assert_same(out)


@pytest.mark.slow
@pytest.mark.bf16
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
    expected = "onnxruntime has no bf16" if BF16 else "no native bf16"  # a CPU without bf16 is refused first
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["embed", "--data", small_folder, "--backend", "tensorrt"], capsys)
    assert code == 2 and "backend" in err


def test_bf16_is_refused_where_the_cpu_lacks_it(monkeypatch):
    import torch

    from transferlab.errors import BadInputError
    from transferlab import runtime

    monkeypatch.setattr(runtime, "bf16_support", lambda device: "this CPU has no native bf16 instructions")
    with pytest.raises(BadInputError, match="no native bf16"):
        open_engine(None, [], None, backend="torch", precision="bf16", device=torch.device("cpu"))


def test_auto_falls_back_to_torch_with_a_notice_when_the_export_fails(small_folder, monkeypatch, capsys):
    from transferlab.models import engines
    from transferlab.models.engines import export

    small = embed(small_folder, model="efficientnet_lite0", layers="last", image_size=64, workers=0, quiet=True,
                  use_cache=False)
    assert small.train.meta["backend"] == "torch"  # 36 small images: an export would cost more than it saves
    monkeypatch.setattr(engines, "AUTO_EXPORT_MIN_WORK", 0)

    def broken(*args, **kwargs):
        raise export.ExportError("efficientnet_lite0 does not export to ONNX (RuntimeError: unsupported op)")

    monkeypatch.setattr(export, "exported_graph", broken)
    out = embed(small_folder, model="efficientnet_lite0", layers="last", image_size=64, workers=0,
                use_cache=False)
    err = capsys.readouterr().err
    assert out.train.meta["backend"] == "torch"
    assert "notice: --backend auto uses torch" in err and "unsupported op" in err


def test_the_export_is_cached_atomically_and_keyed_by_the_taps():
    from transferlab.models.engines.export import export_path, exported_graph
    from transferlab.models.registry import create_backbone
    from transferlab.models.taps import resolve_layers

    backbone = create_backbone("mobilenet_v2")
    pre = backbone.preprocessing.with_size(48)
    last, stages = (resolve_layers(backbone, spec, size=48) for spec in ("last", "stages"))
    backbone.model.train()
    path = exported_graph(backbone, last, pre)
    assert backbone.model.training  # exported from an eval-mode copy; the backbone is left as it was
    assert path == export_path(backbone, last, pre) and path.parent.name == "engines"
    stamp = path.stat().st_mtime_ns
    assert exported_graph(backbone, last, pre).stat().st_mtime_ns == stamp  # read from the cache, not exported again
    assert export_path(backbone, stages, pre) != path
    assert not list(path.parent.glob(".*.tmp-*"))  # the temporary name was renamed into place


def test_a_cached_bf16_run_opens_no_engine(small_folder, monkeypatch):
    """bf16 keys name the engine; a rerun finds them before an engine is opened (an OpenVINO compile)."""
    from transferlab import runtime
    from transferlab.fne import extract

    monkeypatch.setattr(runtime, "bf16_support", lambda device: None)  # torch emulates bf16 where it is not native
    options = dict(model="efficientnet_lite0", layers="last", image_size=80, workers=0, quiet=True, precision="bf16")
    first = embed(small_folder, backend="torch", **options)
    assert first.cached == {"train": False, "test": False} and first.train.meta["backend"] == "torch"

    def no_engine(*args, **kwargs):
        raise AssertionError("an engine was opened for cached features")

    monkeypatch.setattr(extract, "open_engine", no_engine)
    again = embed(small_folder, backend="torch", **options)
    assert again.cached == {"train": True, "test": True} and again.cache_keys == first.cache_keys
    assert np.array_equal(again.test.features, first.test.features)
    fp32 = dict(options, precision="fp32")
    with pytest.raises(AssertionError, match="engine was opened"):  # fp32 is another key: not in the cache
        embed(small_folder, backend="torch", **fp32)
