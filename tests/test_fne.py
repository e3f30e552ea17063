"""embed / probe / fne end to end on real photos: cache, reports, skipped files, errors."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, shared_data
from transferlab.fne.pipeline import embed
from transferlab.fne.store import FeatureSet

FAST = ["--model", "efficientnet_lite0", "--image-size", "64", "--quiet", "--workers", "0"]


@pytest.fixture()
def dirty_folder(small_folder, tmp_path):
    """The small dataset plus the bad files found in the wild."""
    root = tmp_path / "dirty"
    shutil.copytree(small_folder, root)
    (root / "train" / "ants" / "empty.jpg").write_bytes(b"")
    (root / "train" / "bees" / "notes.jpg").write_text("not an image")
    good = next((root / "val" / "bees").glob("*.jpg")).read_bytes()
    (root / "val" / "bees" / "cut.jpg").write_bytes(good[: len(good) // 4])
    (root / "train" / ".DS_Store").write_bytes(b"\0")
    return root


def test_fne_json_report_and_skipped_files(dirty_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(["fne", "--data", dirty_folder, *FAST, "--layers", "stages", "--out", out,
                                    "--json"], capsys)
    assert code == 0
    result = json.loads(stdout)  # stdout is exactly one JSON object
    for key in ("accuracy", "mean_class_accuracy", "n_train", "n_test", "dim", "skipped"):
        assert key in result
    assert result["n_train"] == 24 and result["n_test"] == 12
    skipped = {Path(s["path"]).name: s["reason"] for s in result["skipped"]}
    assert set(skipped) == {"empty.jpg", "notes.jpg", "cut.jpg"}
    assert "empty file" in skipped["empty.jpg"] and "not an image" in skipped["notes.jpg"]
    assert "truncated" in skipped["cut.jpg"]
    assert "cut.jpg" in stderr  # the user is told as it happens, too
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["accuracy"] == result["accuracy"] and len(metrics["skipped"]) == 3
    assert set(metrics["per_class"]) == {"ants", "bees"}
    assert (out / "confusion.png").stat().st_size > 1000
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0].startswith("path,true,predicted,correct") and len(rows) == 13
    assert result["accuracy"] > 0.6  # 64-px photos, 24 training images: well above chance


def test_strict_makes_a_bad_file_an_error(dirty_folder, tmp_path, capsys):
    code, _, err = run_cli(["fne", "--data", dirty_folder, *FAST, "--layers", "last", "--strict", "--no-cache",
                            "--out", tmp_path / "r"], capsys)
    assert code == 2 and "bad image (--strict)" in err and ".jpg" in err


def test_cache_makes_reruns_instant_and_identical_and_any_change_misses(small_folder, tmp_path):
    options = dict(layers="stages", image_size=56, workers=0, quiet=True)  # a size no other test extracts
    first = embed(small_folder, out=tmp_path / "a", **options)
    second = embed(small_folder, out=tmp_path / "b", **options)
    assert first.cached == {"train": False, "test": False} and second.cached == {"train": True, "test": True}
    np.testing.assert_array_equal(first.train.features, second.train.features)
    changed = embed(small_folder, **{**options, "layers": "last"})
    assert changed.cached == {"train": False, "test": False}
    resized = embed(small_folder, **{**options, "image_size": 60})
    assert resized.cached == {"train": False, "test": False}


def test_a_changed_file_invalidates_the_cache(small_folder, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(small_folder, root)
    options = dict(layers="last", image_size=64, workers=0, quiet=True)
    embed(root, **options)
    victim = next((root / "val" / "ants").glob("*.jpg"))
    victim.write_bytes(next((root / "val" / "bees").glob("*.jpg")).read_bytes())
    assert embed(root, **options).cached == {"train": True, "test": False}


def test_workers_give_the_same_features_as_the_main_process(small_folder):
    a = embed(small_folder, layers="last", image_size=64, workers=0, quiet=True, use_cache=False)
    b = embed(small_folder, layers="last", image_size=64, workers=2, quiet=True, use_cache=False)
    np.testing.assert_allclose(a.test.features, b.test.features, rtol=1e-5, atol=1e-5)
    assert a.test.paths == b.test.paths


def test_embed_then_probe_with_layer_comparison(small_folder, tmp_path, capsys):
    run = tmp_path / "emb"
    code, out, _ = run_cli(["embed", "--data", small_folder, *FAST, "--layers", "stages", "--out", run], capsys)
    assert code == 0 and "features-train.npz" in out
    train = FeatureSet.load(run / "features-train.npz")
    assert train.features.shape == (24, train.dim) and len(train.layers) == 8
    code, out, _ = run_cli(["probe", run, "--compare"], capsys)
    assert code == 0 and "full embedding" in out
    table = (run / "compare.csv").read_text().splitlines()
    assert table[0] == "layer,dim,accuracy" and len(table) == 1 + 8 + 1
    assert (run / "compare.png").stat().st_size > 1000
    code, out, _ = run_cli(["probe", run, "--layers", "bn2", "--post", "l2", "--json"], capsys)
    assert code == 0 and json.loads(out)["dim"] == 1280
    code, out, _ = run_cli(["probe", run, "--layers", "bn2,bn1", "--out", tmp_path / "sub", "--json"], capsys)
    assert code == 0 and json.loads(out)["dim"] == 1280 + 32 and json.loads(out)["layers"] == ["bn2", "bn1"]
    code, _, err = run_cli(["probe", run, "--layers", "bn7"], capsys)
    assert code == 2 and "not in this feature set" in err


def test_probe_of_an_incomplete_run_is_a_clear_error(tmp_path, capsys):
    code, _, err = run_cli(["probe", tmp_path], capsys)
    assert code == 2 and "not a complete embed or fne run" in err and "it has no run.json" in err


def test_unwritable_output_directory(small_folder, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(["fne", "--data", small_folder, *FAST, "--out", blocker / "run"], capsys)
    assert code == 2 and "cannot create output directory" in err


def test_unknown_layer_and_model_errors(small_folder, tmp_path, capsys):
    code, _, err = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "bn9", "--out", tmp_path], capsys)
    assert code == 2 and "unknown layer 'bn9'" in err and "bn2" in err
    code, _, err = run_cli(["fne", "--data", small_folder, "--model", "resnet_5o", "--out", tmp_path], capsys)
    assert code == 2 and "unknown model" in err


@pytest.mark.slow
def test_hymenoptera_full_network_embedding(tmp_path, capsys):
    """The real-data check: every layer, FNE, train/ -> val/ at the model's own 224 px."""
    code, out, _ = run_cli(["fne", "--data", shared_data("hymenoptera"), "--model", "efficientnet_lite0", "--quiet",
                            "--out", tmp_path, "--json"], capsys)
    result = json.loads(out)
    assert code == 0 and result["n_train"] == 245 and result["n_test"] == 153 and result["dim"] == 21008
    assert result["accuracy"] >= 0.90


def test_a_killed_embed_leaves_nothing_a_later_run_would_trust(small_folder, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out, cache = tmp_path / "run", tmp_path / "cache"
    code = ("from transferlab.fne.pipeline import embed\n"
            f"embed({str(small_folder)!r}, layers='all', image_size=64, workers=0, quiet=True, out={str(out)!r})\n")
    env = dict(os.environ, TRANSFERLAB_CACHE=str(cache))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.time() + 60
    while time.time() < deadline and not (cache / "features").is_dir():  # wait until extraction is under way
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for f in list(out.glob("*")) + list((cache / "features").glob("*")):
        if not f.name.startswith("."):  # anything under a real name must be complete and readable
            assert f.suffix in (".npz", ".json")
            if f.suffix == ".npz":
                assert len(FeatureSet.load(f)) > 0
    if (out / "run.json").exists():  # the manifest says running, unless the run had really finished
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["status"] in ("running", "complete")
        assert all((out / f["path"]).is_file() for f in manifest["files"])
    os.environ["TRANSFERLAB_CACHE"], old = str(cache), os.environ["TRANSFERLAB_CACHE"]
    try:
        result = embed(small_folder, layers="all", image_size=64, workers=0, quiet=True, out=out, overwrite=True)
    finally:
        os.environ["TRANSFERLAB_CACHE"] = old
    assert len(result.train) == 24 and len(result.test) == 12
    assert json.loads((out / "embed.json").read_text())["n_train"] == 24
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_strict_error_is_one_clear_line_with_worker_processes(dirty_folder, tmp_path, capsys):
    args = [a if a != "0" else "2" for a in FAST]  # --workers 2: the bad file is met inside a worker
    code, _, err = run_cli(["fne", "--data", dirty_folder, *args, "--layers", "last", "--strict", "--no-cache",
                            "--out", tmp_path / "r"], capsys)
    assert code == 2 and "bad image (--strict)" in err
    assert "Traceback" not in err and "worker process" not in err


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="a Linux scheduling class")
def test_cpu_decoding_workers_run_only_in_idle_cycles():
    code = ("import os; from transferlab.fne.extract import _lower_priority; _lower_priority(0); "
            "print(os.sched_getscheduler(0) == os.SCHED_IDLE)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
