"""Fine-tuning: transfer/freeze semantics, frozen-prefix cache, resume, config rerun, bad inputs.

Real images (a small copy of hymenoptera, fashion-mnist) at 64 px, 1-2 epochs, no workers.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from transferlab import runtime
from transferlab.cli import main
from transferlab.data.image_dataset import collate_skipping
from transferlab.errors import BadInputError, DataError
from transferlab.finetune import FinetuneConfig, checkpoint, inputs, loop, schedule
from transferlab.finetune.model import FromCache, make_cut, build_model, set_train_mode
from transferlab.finetune.prefix_cache import build_cache
from transferlab.models.registry import create_backbone

from conftest import HYMENOPTERA, needs_shared_data

pytestmark = needs_shared_data("hymenoptera")


def _copy_subset(dst: Path, n_train: int, n_val: int, val_classes=("ants", "bees"), extra_class: str | None = None):
    for split, n, classes in (("train", n_train, ("ants", "bees")), ("val", n_val, val_classes)):
        for c in classes:
            (dst / split / c).mkdir(parents=True, exist_ok=True)
            for f in sorted((HYMENOPTERA / split / c).iterdir())[:n]:
                shutil.copy(f, dst / split / c / f.name)
    if extra_class:  # a third class (copies of bee images) that exists in train only
        (dst / "train" / extra_class).mkdir(parents=True)
        for f in sorted((HYMENOPTERA / "train" / "bees").iterdir())[-4:]:
            shutil.copy(f, dst / "train" / extra_class / f.name)
    return dst


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """8 + 8 training and 6 + 6 validation images of hymenoptera."""
    return _copy_subset(tmp_path_factory.mktemp("hym"), 8, 6)


def _cfg(data: Path, out: Path, **kw) -> FinetuneConfig:
    base = dict(data=str(data), model="efficientnet_lite0", image_size=48, epochs=1, batch_size=8, workers=0,
                out=str(out), lr=0.01)
    base.update(kw)
    return FinetuneConfig(**base)


def finetune(cfg: FinetuneConfig, resume: bool = False, callback=None, verbose: bool = False) -> dict:
    """The run's final metrics (what metrics.json holds), through the training loop itself."""
    return loop.train(cfg.replace(quiet=not verbose), resume=resume, callback=callback)


def _block_state(model: torch.nn.Module, blocks) -> dict[str, torch.Tensor]:
    """Parameters AND buffers (BatchNorm running statistics, num_batches_tracked) of ``blocks``."""
    prefixes = tuple(m + "." for b in blocks for m in b.modules)
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefixes)}


def _rows(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------------------------
# freezing and transfer
# ------------------------------------------------------------------------------------------------
def test_freeze_keeps_parameters_and_batchnorm_statistics_bit_identical(tiny, tmp_path):
    cfg = _cfg(tiny, tmp_path / "run", freeze="3", augment="light", epochs=1)
    torch.manual_seed(0)
    before_model = build_model(cfg, 2)
    frozen_before = _block_state(before_model.model, before_model.blocks[:3])
    trained_before = _block_state(before_model.model, before_model.blocks[3:])
    assert any("running_mean" in k for k in frozen_before)  # the frozen blocks do hold BatchNorm statistics

    finetune(cfg, verbose=False)
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    for k, v in frozen_before.items():
        assert torch.equal(state[k], v), f"frozen tensor {k} changed"
    # the rest did train, and its BatchNorm statistics moved: the test would see a leak
    changed = [k for k, v in trained_before.items() if not torch.equal(state[k], v)]
    assert any("running_mean" in k for k in changed)
    assert any(k.endswith("weight") for k in changed)


def test_set_train_mode_keeps_frozen_batchnorm_in_eval():
    cfg = FinetuneConfig(data="x", freeze="2")
    p = build_model(cfg, 3)
    set_train_mode(p.model, p.frozen_modules, True)
    frozen_bn = [m for name in ("conv_stem", "bn1", "blocks.0") for m in p.model.get_submodule(name).modules()
                 if isinstance(m, torch.nn.BatchNorm2d)]
    assert frozen_bn and all(not m.training for m in frozen_bn)
    assert p.model.blocks[3].training and p.model.training
    frozen = {n for b in p.blocks[:2] for n in b.params}
    assert all(not q.requires_grad for n, q in p.model.named_parameters() if n in frozen)


def test_transfer_reinitialises_blocks_from_k():
    torch.manual_seed(0)
    pre = create_backbone("efficientnet_lite0").model.state_dict()
    p = build_model(FinetuneConfig(data="x", transfer="3"), 2)
    now = p.model.state_dict()
    for b in p.blocks:
        same = all(torch.equal(now[k], pre[k]) for k in b.params)
        assert same == (b.index < 3), f"block {b.index} {'kept' if same else 'changed'}"
    # BatchNorm statistics of re-initialised blocks are reset too
    assert torch.equal(now["blocks.6.0.bn1.running_var"], torch.ones_like(now["blocks.6.0.bn1.running_var"]))
    scratch = build_model(FinetuneConfig(data="x", transfer="0"), 2).model.state_dict()
    assert not torch.equal(scratch["conv_stem.weight"], pre["conv_stem.weight"])


def test_k_larger_than_blocks_names_the_count():
    with pytest.raises(BadInputError, match="has only 8 blocks"):
        build_model(FinetuneConfig(data="x", freeze="9"), 2)
    with pytest.raises(BadInputError, match="has only 19 blocks"):
        build_model(FinetuneConfig(data="x", model="mobilenet_v2", transfer="20"), 2)


def test_k_error_on_the_command_line(tiny, tmp_path, capsys):
    rc = main(["finetune", "--data", str(tiny), "--freeze", "12", "--out", str(tmp_path / "r"), "--workers", "0",
               "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "has only 8 blocks" in err[0]


def test_mlp_head_and_dropout():
    p = build_model(FinetuneConfig(data="x", head="mlp:32,16", dropout=0.3, freeze="all"), 5)
    head = p.model.classifier
    linears = [m for m in head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(1280, 32), (32, 16), (16, 5)]
    assert sum(isinstance(m, torch.nn.Dropout) for m in head) == 3
    trainable = {n for n, q in p.model.named_parameters() if q.requires_grad}
    assert trainable and all(n.startswith("classifier.") for n in trainable)
    with pytest.raises(BadInputError, match="--head"):
        build_model(FinetuneConfig(data="x", head="mlp:"), 2)


# ------------------------------------------------------------------------------------------------
# frozen-prefix cache
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model,freeze", [("efficientnet_lite0", "1"), ("efficientnet_lite0", "4"),
                                          ("efficientnet_lite0", "all"), ("mobilenet_v2", "7"),
                                          ("mobilenet_v2", "all")])
def test_cached_prefix_gives_the_full_models_logits(tiny, model, freeze):
    from transferlab.data.image_dataset import ImageDataset, collate_skipping
    from transferlab.data.sources import load_dataset

    torch.manual_seed(0)
    p = build_model(FinetuneConfig(data="x", model=model, freeze=freeze), 2)
    cut, why = make_cut(p, 64)
    assert cut is not None, why
    data = load_dataset(str(tiny))
    pre = p.backbone.preprocessing.with_size(64)
    ds = ImageDataset(data.test, pre.transform("none"))
    loader = torch.utils.data.DataLoader(ImageDataset(data.test, pre.transform("none", normalize=False)),
                                         batch_size=5, collate_fn=collate_skipping)
    cache = build_cache(cut, loader, pre.normalize_batch)  # the uint8 path of the training loop
    p.model.eval()
    with torch.no_grad():
        images = torch.stack([ds[i][0] for i in range(len(ds))])
        full = p.model(images)
        cached = FromCache(cut)(cache.feats)
    assert cache.index.tolist() == list(range(len(ds)))
    torch.testing.assert_close(cached, full, rtol=1e-4, atol=1e-5)


def _assert_same_curves(run_a: Path, run_b: Path, rel_tol: float, abs_tol: float) -> None:
    """Two runs' metrics.csv agree epoch by epoch on losses and accuracies."""
    ra, rb = _rows(run_a / "metrics.csv"), _rows(run_b / "metrics.csv")
    for x, y in zip(ra, rb):
        for k in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert math.isclose(float(x[k]), float(y[k]), rel_tol=rel_tol, abs_tol=abs_tol), (k, x[k], y[k])


def test_cache_and_no_cache_train_the_same(tiny, tmp_path):
    kw = dict(freeze="all", augment="none", epochs=2, lr=0.05)
    a = finetune(_cfg(tiny, tmp_path / "cached", **kw), verbose=False)
    # the exact uncached pipeline (the decoded-image cache resamples once more: see the image-cache tests)
    b = finetune(_cfg(tiny, tmp_path / "plain", cache_frozen=False, cache_images=False, **kw), verbose=False)
    assert a["frozen_prefix_cache"].startswith("on") and b["frozen_prefix_cache"].startswith("off")
    _assert_same_curves(tmp_path / "cached", tmp_path / "plain", rel_tol=1e-3, abs_tol=1e-4)
    assert a["accuracy"] == b["accuracy"]


def test_cache_is_off_with_augmentation(tiny, tmp_path):
    r = finetune(_cfg(tiny, tmp_path / "r", freeze="all", augment="light"), verbose=False)
    assert r["frozen_prefix_cache"].startswith("off") and "augment" in r["frozen_prefix_cache"]


# ------------------------------------------------------------------------------------------------
# decoded-image cache
def _image_cache_dataset(data: Path, augment: str, size: int = 64, cache: bool = True, workers: int = 0,
                         tensors: bool = False):
    from transferlab.data.sources import load_dataset
    from transferlab.data.images import open_image
    from transferlab.finetune.imagecache import ImageCache, plan

    split = load_dataset(str(data)).train
    pre = create_backbone("efficientnet_lite0", pretrained=False).preprocessing.with_size(size)
    draft = pre.resize_size if augment == "none" else int(math.ceil(size / math.sqrt(0.5)))
    ds = inputs.SeededDataset(split, pre.transform(augment, normalize=False), loader=open_image, draft=draft, seed=3)
    ic = None
    if cache:
        short = max(draft, pre.resize_size)
        ic = ImageCache(list(split.paths), plan(list(split.paths), short, 1e12).sizes, short, pre.interpolation,
                        shared=workers > 0, tensors=tensors)
        ds.loader = ic
    return ds, ic


@pytest.mark.parametrize("tensors", [False, True], ids=["pil", "tensors"])
def test_image_cache_gives_nearly_the_uncached_tensors(tiny, tensors):
    from transferlab.data.images import open_image

    plain, _ = _image_cache_dataset(tiny, "none", cache=False)
    cached, ic = _image_cache_dataset(tiny, "none", tensors=tensors)
    n = len(plain)
    first = [cached[(i, 1)][0] for i in range(n)]  # decodes and stores
    assert ic.filled() == n
    to_cache, to_full = [], []
    for i in range(n):
        again = cached[(i, 2)][0]  # from RAM
        assert torch.equal(again, first[i])  # augment none: the stored image gives the same tensor every epoch
        ref = plain[(i, 1)][0]
        assert again.shape == ref.shape and again.dtype == torch.uint8
        diff = float((again.float() - ref.float()).abs().mean())
        assert diff < 10, (i, diff)  # out of 255: a resampling difference, not another image or crop
        # the yardstick: the same transform on the image decoded at full resolution (no DCT scaling)
        full = plain.transform(open_image(plain.split.paths[i])).float()
        to_cache.append(diff)
        to_full.append((float((again.float() - full).abs().mean()), float((ref.float() - full).abs().mean())))
    assert sum(to_cache) / n < 6
    # the cached tensors are no farther from the full-resolution ones than the uncached pipeline's own
    assert sum(c for c, _ in to_full) <= 1.25 * sum(u for _, u in to_full), to_full


def test_image_cache_keeps_augmentation_reproducible_and_is_shared_with_workers(tiny):
    a, ic = _image_cache_dataset(tiny, "light", workers=2)
    loader = torch.utils.data.DataLoader(a, batch_size=4, sampler=[(i, 1) for i in range(len(a))], num_workers=2,
                                         collate_fn=collate_skipping)
    from_workers = torch.cat([x for x, *_ in loader])
    assert ic.filled() == len(a)  # filled by the worker processes, visible here
    in_process = torch.stack([a[(i, 1)][0] for i in range(len(a))])  # now read from the shared cache
    assert torch.equal(from_workers, in_process)  # same (seed, epoch, image) -> same crop, filled or not
    assert not torch.equal(in_process, torch.stack([a[(i, 2)][0] for i in range(len(a))]))  # epochs differ


def test_image_cache_tensors_augment_like_the_pil_images(tiny):
    """The training loop's cache hands uint8 (3, H, W) tensors to the transform (crop-resize on tensors
    costs ~1/3 of PIL's): same crops and flips for the same (seed, epoch, image), a few levels apart."""
    pil, _ = _image_cache_dataset(tiny, "light")
    ten, ic = _image_cache_dataset(tiny, "light", tensors=True)
    n = len(ten)
    decoded = [ten[(i, 1)][0] for i in range(n)]  # epoch 1: decoded and stored
    assert ic.filled() == n
    diffs = []
    for i in range(n):
        x = ten[(i, 1)][0]  # now from RAM: a view of the buffer, never written to
        assert x.dtype == torch.uint8 and x.shape == (3, 64, 64)
        assert torch.equal(x, decoded[i])
        ref = pil[(i, 1)][0]
        assert ref.dtype == torch.uint8 and ref.shape == x.shape
        diffs.append(float((x.float() - ref.float()).abs().mean()))
    assert max(diffs) < 4 and sum(diffs) / n < 2, diffs  # out of 255: resampling rounding, same crop
    assert not torch.equal(torch.stack(decoded), torch.stack([ten[(i, 2)][0] for i in range(n)]))


def test_workers_train_as_no_workers_with_the_image_cache(tiny, tmp_path):
    """The cache's tensors are augmented in the DataLoader workers: same images, same results as without."""
    kw = dict(freeze="all", augment="light", epochs=2, device="cpu")
    a = finetune(_cfg(tiny, tmp_path / "w0", **kw), verbose=False)
    b = finetune(_cfg(tiny, tmp_path / "w2", workers=2, **kw), verbose=False)
    assert a["image_cache"].startswith("on") and b["image_cache"].startswith("on")
    _assert_same_curves(tmp_path / "w0", tmp_path / "w2", rel_tol=1e-4, abs_tol=1e-5)
    assert a["accuracy"] == b["accuracy"]


def test_images_in_memory_are_augmented_in_process_on_two_cores(tiny, tmp_path, monkeypatch):
    """At most 2 cores: cached images are augmented by the training process (a worker would take a core
    from the training threads), with the same results as workers; decoding from disk keeps its workers."""
    monkeypatch.setattr(runtime, "cpu_count", lambda: 2)
    kw = dict(freeze="all", augment="light", epochs=2, device="cpu", workers=None)
    auto = finetune(_cfg(tiny, tmp_path / "auto", **kw), verbose=False)
    assert auto["training_loader"].startswith("this process (images in memory")
    assert finetune(_cfg(tiny, tmp_path / "w2", **{**kw, "workers": 2}),
                    verbose=False)["training_loader"] == "2 worker processes"
    _assert_same_curves(tmp_path / "auto", tmp_path / "w2", rel_tol=1e-4, abs_tol=1e-5)
    no_cache = finetune(_cfg(tiny, tmp_path / "disk", cache_images=False, **kw), verbose=False)
    assert no_cache["training_loader"] == "2 worker processes"


def test_bad_training_image_is_reported_with_the_image_cache(tmp_path):
    data = _copy_subset(tmp_path / "data", 5, 3)
    good = sorted((data / "train" / "bees").iterdir())[0].read_bytes()
    (data / "train" / "bees" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (data / "train" / "ants" / "empty.jpg").write_bytes(b"")
    r = finetune(_cfg(data, tmp_path / "run", freeze="all", augment="light", epochs=2), verbose=False)
    assert r["image_cache"].startswith("on")
    bad = {Path(s["path"]).name: s["reason"] for s in r["skipped_train"]}
    assert set(bad) == {"truncated.jpg", "empty.jpg"} and "empty" in bad["empty.jpg"]
    rows = _rows(tmp_path / "run" / "metrics.csv")
    assert [int(x["skipped"]) for x in rows] == [2, 2]
    off = finetune(_cfg(data, tmp_path / "off", freeze="all", augment="light", epochs=2, cache_images=False),
                   verbose=False)
    assert off["image_cache"] == "off: --no-cache-images" and off["skipped_train"] == r["skipped_train"]


# ------------------------------------------------------------------------------------------------
# outputs, rerun, resume
# ------------------------------------------------------------------------------------------------
def test_cli_json_outputs_and_config_rerun(tiny, tmp_path, capsys):
    run = tmp_path / "run"
    args = ["finetune", "--data", str(tiny), "--image-size", "48", "--epochs", "2", "--batch-size", "8",
            "--workers", "0", "--freeze", "6", "--augment", "light", "--val-fraction", "0.25", "--head", "mlp:16",
            "--dropout", "0.1", "--optimizer", "adamw", "--lr", "0.001", "--warmup", "0.5", "--label-smoothing", "0.1",
            "--out", str(run), "--json"]
    assert main(args) == 0
    out = capsys.readouterr().out
    result = json.loads(out)  # exactly one JSON object on stdout
    for key in ("accuracy", "best_epoch", "epochs_run", "seconds"):
        assert key in result
    assert result["epochs_run"] == 2 and 0 <= result["accuracy"] <= 1
    for name in ("config.yaml", "metrics.csv", "curves.png", "best.pt", "last.pt", "metrics.json", "predictions.csv",
                 "confusion.png"):
        assert (run / name).is_file(), name
    rows = _rows(run / "metrics.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert set(rows[0]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 12 and metrics["n_validation"] == 4  # val-fraction from train; test untouched

    assert main(["finetune", "--config", str(run / "config.yaml"), "--out", str(tmp_path / "rerun"), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    rerun_rows = _rows(tmp_path / "rerun" / "metrics.csv")
    for x, y in zip(rows, rerun_rows):
        for k in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert x[k] == y[k], (k, x[k], y[k])
    assert again["accuracy"] == result["accuracy"]

    # the run folder is not silently overwritten
    assert main(args) == 2
    assert "--resume" in capsys.readouterr().err


def test_resume_after_interruption_matches_an_uninterrupted_run(tiny, tmp_path):
    kw = dict(freeze="6", augment="light", epochs=2, dropout=0.2, head="mlp:16")
    full = finetune(_cfg(tiny, tmp_path / "full", **kw), verbose=False)

    def interrupt(epoch, row):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        finetune(_cfg(tiny, tmp_path / "cut", **kw), callback=interrupt, verbose=False)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 1
    assert not (tmp_path / "cut" / "metrics.json").exists()
    resumed = finetune(_cfg(tiny, tmp_path / "cut", **kw), resume=True, verbose=False)
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    assert resumed["accuracy"] == full["accuracy"] and resumed["epochs_run"] == 2
    assert [r["val_loss"] for r in _rows(tmp_path / "full" / "metrics.csv")] == \
           [r["val_loss"] for r in _rows(tmp_path / "cut" / "metrics.csv")]


@pytest.fixture(scope="module")
def head_run(tiny, tmp_path_factory) -> Path:
    """A finished head-only run (cached frozen prefix); copy it before modifying it."""
    run = tmp_path_factory.mktemp("head") / "run"
    finetune(_cfg(tiny, run, freeze="all", augment="none"), verbose=False)
    return run


def test_resume_with_a_different_config_names_the_differences(head_run, capsys):
    rc = main(["finetune", "--resume", str(head_run), "--lr", "0.5", "--freeze", "3"])
    err = capsys.readouterr().err
    assert rc == 2 and "--lr" in err and "--freeze" in err and "0.5" in err
    saved = FinetuneConfig.load(head_run / "config.yaml")
    rc = main(["finetune", "--resume", str(head_run), "--lr", f"{saved.lr:.6e}", "--freeze", "all"])  # same values
    assert rc == 0, capsys.readouterr().err
    # the checkpoint's own config is checked too (config.yaml edited by hand)
    saved = FinetuneConfig.load(head_run / "config.yaml")
    ck = torch.load(head_run / "last.pt", weights_only=True)
    assert FinetuneConfig.from_dict(ck["config"]) == saved
    from transferlab.finetune.config import config_diff

    assert config_diff(saved, saved.replace(batch_size=4, head="mlp:8")) == ["head: 'linear' -> 'mlp:8'",
                                                                            "batch_size: 8 -> 4"]


def test_predict_and_corrupt_checkpoint_is_a_clear_error(tiny, head_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(head_run, run)
    image = next((tiny / "val" / "ants").iterdir())
    assert main(["predict", str(run), str(image), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)["predictions"][0]
    assert pred["path"] == str(image) and len(pred["top"]) == 2
    assert math.isclose(sum(t["score"] for t in pred["top"]), 1.0, rel_tol=1e-5)

    data = (run / "best.pt").read_bytes()
    (run / "best.pt").write_bytes(data[: len(data) // 2])
    assert main(["predict", str(run), str(image)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "corrupt" in err[0] and "best.pt" in err[0]
    (run / "last.pt").write_bytes(b"not a checkpoint")
    assert main(["finetune", "--resume", str(run), "--epochs", "2"]) == 2  # extending needs last.pt
    assert "corrupt" in capsys.readouterr().err


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tiny, tmp_path, monkeypatch):
    real = schedule.make_criterion
    calls = {"n": 0}

    def poisoned(cfg):
        crit = real(cfg)

        def loss(logits, y):
            calls["n"] += 1
            value = crit(logits, y)
            return value * float("nan") if calls["n"] > 2 else value  # 2 batches per epoch: NaN in epoch 2
        return loss

    monkeypatch.setattr(schedule, "make_criterion", poisoned)
    run = tmp_path / "run"
    with pytest.raises(loop.NonFiniteLoss, match="NaN") as exc:
        finetune(_cfg(tiny, run, freeze="all", augment="none", epochs=3), verbose=False)
    assert "epoch 2" in str(exc.value) and "last good checkpoint (epoch 1)" in str(exc.value)
    ck = torch.load(run / "last.pt", weights_only=True)
    assert ck["epoch"] == 1 and all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert len(_rows(run / "metrics.csv")) == 1


def test_class_absent_from_validation_is_a_reported_warning(tmp_path):
    data = _copy_subset(tmp_path / "data", 6, 4, extra_class="wasps")
    r = finetune(_cfg(data, tmp_path / "run", freeze="all", augment="none"), verbose=False)
    assert any("wasps" in w and "no validation image" in w for w in r["warnings"])
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["warnings"] == r["warnings"] and saved["n_classes"] == 3


def test_accumulation_equals_a_larger_batch(tiny, tmp_path):
    kw = dict(freeze="all", augment="none", epochs=1, optimizer="sgd", momentum=0.0, weight_decay=0.0)
    finetune(_cfg(tiny, tmp_path / "a", batch_size=4, accumulate=2, **kw), verbose=False)
    finetune(_cfg(tiny, tmp_path / "b", batch_size=8, accumulate=1, **kw), verbose=False)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    torch.testing.assert_close(a["classifier.weight"], b["classifier.weight"], rtol=1e-4, atol=1e-6)


def test_bad_options(tiny, tmp_path):
    for kw, match in ((dict(val_fraction=1.5), "--val-fraction"), (dict(augment="heavy"), "--augment"),
                      (dict(freeze="some"), "--freeze"), (dict(warmup=5, epochs=2), "--warmup"),
                      (dict(optimizer="rmsprop"), "--optimizer")):
        with pytest.raises(BadInputError, match=match):
            finetune(_cfg(tiny, tmp_path / "r", **kw), verbose=False)
    with pytest.raises(BadInputError, match="unknown option 'learning_rate'"):
        FinetuneConfig.from_dict({"data": "x", "learning_rate": 1})
    with pytest.raises(DataError, match="not a transferlab"):
        checkpoint.load_checkpoint(_save(tmp_path / "x.pt", {"a": torch.zeros(1)}))


def _save(path: Path, obj) -> Path:
    torch.save(obj, path)
    return path


def test_fashion_mnist_head_only_learns(tmp_path):
    from transferlab.data import fashion_mnist

    try:
        fashion_mnist.locate()
    except DataError:
        pytest.skip("fashion-mnist not installed")
    r = finetune(FinetuneConfig(data="fashion-mnist", per_class=10, image_size=64, freeze="all", augment="none",
                                epochs=4, lr=0.05, workers=0, out=str(tmp_path / "run")), verbose=False)
    assert r["n_test"] == 100 and r["accuracy"] > 0.4  # chance is 0.1


@pytest.mark.slow
def test_cut_on_other_families_and_a_clear_reason_when_unsupported():
    x = torch.randn(2, 3, 64, 64)
    for name, freeze in (("torchvision:resnet18", "3"), ("torchvision:mobilenet_v3_small", "all"), ("timm:resnet18", "2")):
        torch.manual_seed(0)
        p = build_model(FinetuneConfig(data="x", model=name, freeze=freeze), 3, pretrained=False)
        cut, why = make_cut(p, 64)
        assert cut is not None, (name, why)
        p.model.eval()
        with torch.no_grad():
            torch.testing.assert_close(FromCache(cut)(cut.prefix(x)), p.model(x), rtol=1e-4, atol=1e-5)
    p = build_model(FinetuneConfig(data="x", model="timm:vit_tiny_patch16_224", freeze="2"), 3, pretrained=False)
    cut, why = make_cut(p, 224)
    assert cut is None and "supported families" in why
