"""The run-folder contract (refusal, --overwrite, lock, manifest, umask) and the training-data checks, through
the commands that write folders; resume and extend of a fine-tuning run."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, real_images, run_cli

FAST = ["--image-size", "32", "--workers", "0", "--quiet"]
FT = ["--image-size", "32", "--workers", "0", "--quiet", "--freeze", "all", "--augment", "none", "--epochs", "1",
      "--batch-size", "8"]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())


def test_a_folder_holding_another_run_is_refused_and_overwrite_removes_the_old_files(small_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "stages", "--compare", "--out", out],
                         capsys)
    assert code == 0 and (out / "compare.csv").is_file() and manifest(out)["status"] == "complete"
    code, out_text, err = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "last", "--out", out], capsys)
    assert code == 2 and out_text == "" and "already holds a `transferlab fne` run" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    code, _, _ = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "last", "--out", out, "--overwrite"],
                         capsys)
    assert code == 0
    assert not (out / "compare.csv").exists() and not (out / "compare.png").exists()  # no stale results
    m = manifest(out)
    assert m["status"] == "complete" and m["command"] == "fne" and m["config"]["layers"] == "last"
    listed = {f["path"] for f in m["files"]}
    on_disk = {p.name for p in out.iterdir() if p.name != "run.json"}
    assert listed == on_disk and {"metrics.json", "probe.skops", "features-train.npz"} <= listed
    assert m["versions"]["torch"] and m["started"] <= m["ended"]


def test_embed_and_probe_refuse_a_folder_holding_another_run(small_folder, tmp_path, capsys):
    emb, other = tmp_path / "emb", tmp_path / "other"
    assert run_cli(["embed", "--data", small_folder, *FAST, "--layers", "last", "--out", emb], capsys)[0] == 0
    code, _, err = run_cli(["embed", "--data", small_folder, *FAST, "--layers", "stages", "--out", emb], capsys)
    assert code == 2 and "already holds a `transferlab embed` run" in err
    assert run_cli(["fne", "--data", small_folder, *FAST, "--layers", "last", "--out", other], capsys)[0] == 0
    code, _, err = run_cli(["probe", emb, "--out", other], capsys)
    assert code == 2 and "already holds a `transferlab fne` run" in err
    assert run_cli(["probe", emb, "--out", other, "--overwrite"], capsys)[0] == 0
    assert manifest(other)["command"] == "probe" and not (other / "features-train.npz").exists()
    assert run_cli(["probe", emb, "--post", "l2"], capsys)[0] == 0  # into the embed run itself: extends it
    assert manifest(emb)["command"] == "embed" and (emb / "metrics.json").is_file()


def test_fne_into_a_fine_tuning_folder_is_refused_then_replaced(small_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = run_cli(["finetune", "--data", small_folder, *FT, "--out", out], capsys)
    assert code == 0 and (out / "best.pt").is_file()
    code, _, err = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "last", "--out", out], capsys)
    assert code == 2 and "already holds a `transferlab finetune` run" in err
    code, _, _ = run_cli(["fne", "--data", small_folder, *FAST, "--layers", "last", "--out", out, "--overwrite"],
                         capsys)
    assert code == 0
    for stale in ("best.pt", "last.pt", "curves.png", "config.yaml", "metrics.csv"):
        assert not (out / stale).exists(), stale


def test_a_folder_that_is_not_a_run_is_never_emptied(small_folder, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for extra in ([], ["--overwrite"]):
        code, _, err = run_cli(["fne", "--data", small_folder, *FAST, "--out", out, *extra], capsys)
        assert code == 2 and "holds no transferlab run" in err
    assert (out / "thesis.tex").read_text() == "precious"


@pytest.mark.slow
def test_two_writers_of_one_folder_the_second_fails_fast_and_the_first_stays_consistent(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), TRANSFERLAB_CACHE=str(tmp_path / "cache"))
    # 1,000 images at 96 px with every layer: long enough for a second process to start meanwhile
    cmd = [sys.executable, "-m", "transferlab", "fne", "--data", "fashion-mnist", "--per-class", "50",
           "--image-size", "96", "--workers", "0", "--quiet", "--no-cache", "--out", str(out), "--json"]
    first = subprocess.Popen(cmd + ["--layers", "all"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (out / ".transferlab.lock").exists():
        time.sleep(0.05)
    assert (out / ".transferlab.lock").exists()
    second = subprocess.run(cmd + ["--layers", "last", "--overwrite"], env=env, capture_output=True, text=True)
    assert second.returncode == 2 and "is being written by pid" in second.stderr and "fne" in second.stderr
    assert first.poll() is None  # refused at once, while the first is still extracting (not after waiting)
    stdout, _ = first.communicate(timeout=300)
    assert first.returncode == 0
    result = json.loads(stdout)
    m = manifest(out)
    assert m["status"] == "complete" and m["config"]["layers"] == "all"
    metrics = json.loads((out / "metrics.json").read_text())
    embed = json.loads((out / "embed.json").read_text())
    assert metrics["dim"] == embed["dim"] == result["dim"] == 21008 and embed["layers"] == "all"
    assert metrics["layers_spec"] == "all" and metrics["n_train"] == embed["n_train"] == 500
    assert not (out / ".transferlab.lock").exists()  # released


def test_metrics_are_written_under_the_folders_lock(tmp_path):
    """Inside the run it writes; after it, it takes the lock for the write (refused while another holds it)
    and the manifest lists the new file."""
    import fcntl

    from transferlab.runs import LOCK, RunBusyError, RunFolder, write_metrics

    folder = tmp_path / "run"
    with RunFolder(folder, "fne", {"C": 1.0}) as run:
        write_metrics(run.path, {"accuracy": 0.5})
    assert json.loads((folder / "metrics.json").read_text()) == {"accuracy": 0.5}
    assert manifest(folder)["status"] == "complete"
    write_metrics(folder, {"accuracy": 0.75, "seconds": 1.0})
    assert json.loads((folder / "metrics.json").read_text()) == {"accuracy": 0.75, "seconds": 1.0}
    listed = {f["path"]: f["bytes"] for f in manifest(folder)["files"]}
    assert listed["metrics.json"] == (folder / "metrics.json").stat().st_size and not (folder / LOCK).exists()
    with open(folder / LOCK, "a+") as other:  # another writer holds the folder
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunBusyError):
            write_metrics(folder, {"accuracy": 0.0})
    assert json.loads((folder / "metrics.json").read_text())["accuracy"] == 0.75


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_created_files_honour_the_umask(small_folder, tmp_path, umask, file_mode, dir_mode):
    import transferlab as tl

    old = os.umask(umask)
    try:
        run = tl.fne(small_folder, layers="last", image_size=32, workers=0, quiet=True, out=tmp_path / "runs" / "r")
    finally:
        os.umask(old)
    files = [p for p in run.run_dir.rglob("*") if p.is_file()]
    assert len(files) >= 8
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == file_mode, (p.name, oct(p.stat().st_mode))
    assert stat.S_IMODE(run.run_dir.stat().st_mode) == dir_mode


def broken_bees(root: Path, n: int = 6) -> Path:
    for split in ("train", "val"):
        for cls in ("ants", "bees"):
            (root / split / cls).mkdir(parents=True)
            for photo in real_images(split, cls, n):
                if split == "train" and cls == "bees":
                    (root / split / cls / photo.name).write_text("this is not a photo")
                else:
                    shutil.copy(photo, root / split / cls / photo.name)
    return root


def test_a_class_with_no_readable_training_image_is_an_error_naming_it(tmp_path, capsys):
    data = broken_bees(tmp_path / "data")
    for argv in (["finetune", "--data", data, *FT, "--out", tmp_path / "ft"],
                 ["fne", "--data", data, *FAST, "--layers", "last", "--out", tmp_path / "fne"]):
        code, out, err = run_cli(argv, capsys)
        lines = err.strip().splitlines()
        assert code == 2 and out == "", argv
        assert "class 'bees' has no readable training image" in lines[-1] and "bees/" in lines[-1]
        assert "not an image" in lines[-1] and "Traceback" not in err
    assert not (tmp_path / "ft").exists()  # finetune checks the image headers before anything is written


def test_resume_of_a_finished_run_does_nothing_and_more_epochs_extend_it(small_folder, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, _ = run_cli(["finetune", "--data", small_folder, *FT, "--epochs", "2", "--out", out], capsys)
    assert code == 0
    before = (out / "last.pt").stat().st_mtime_ns
    code, text, _ = run_cli(["finetune", "--resume", out], capsys)
    assert code == 0 and "is complete" in text and "nothing to do" in text
    assert (out / "last.pt").stat().st_mtime_ns == before
    code, text, err = run_cli(["finetune", "--resume", out, "--epochs", "3", "--json"], capsys)
    result = json.loads(text)
    assert code == 0 and result["epochs_run"] == 3
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 3
    assert "epochs: 3" in (out / "config.yaml").read_text()
    m = manifest(out)
    assert m["status"] == "complete" and m["config"]["epochs"] == 3
    assert m["extended"] == {"from_epochs": 2, "to_epochs": 3}
    code, _, err = run_cli(["finetune", "--resume", out, "--epochs", "1"], capsys)
    assert code == 2 and "extended, not shortened" in err


def test_a_binary_file_given_as_a_spec_or_a_config_is_a_clear_error(tmp_path, capsys):
    blob = tmp_path / "spec.yaml"
    blob.write_bytes(bytes(range(256)) * 8)
    code, _, err = run_cli(["sweep", blob, "--out", tmp_path / "s"], capsys)
    assert code == 2 and "not a text file" in err and "Traceback" not in err
    code, _, err = run_cli(["finetune", "--config", blob], capsys)
    assert code == 2 and "not a text" in err
