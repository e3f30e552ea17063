"""Write failures and damaged user artefacts, with real faults: a small tmpfs that fills up, a read-only
mount, files truncated, zero-filled or deleted.  Every one is a single line on stderr, exit status 2,
never a traceback; the run's run.json says ``failed``; a rerun once there is room succeeds."""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import DAMAGE, damage, run_cli
from transferlab import io as tio
from transferlab.errors import WriteError
from transferlab.runs import RunFolder

FNE = ["fne", "--image-size", "64", "--layers", "stages", "--workers", "0", "--quiet"]
FINETUNE = ["finetune", "--freeze", "all", "--augment", "none", "--epochs", "1", "--image-size", "64",
            "--workers", "0", "--quiet"]


def one_error_line(code: int, err: str) -> str:
    """The single error line of a refused command (exit 2, no traceback)."""
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in err.splitlines() if ": error: " in line]
    assert len(errors) == 1, err
    return errors[0]


def temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp-" in p.name]


def manifest(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text(encoding="utf-8"))


# -- a disk that fills up --------------------------------------------------------------------------
def test_full_disk_during_fne_is_one_line_and_a_rerun_with_room_succeeds(small_folder, tmpfs, capsys):
    out = tmpfs.mount("128k") / "run"  # room for run.json, not for the features: the cache is elsewhere
    code, _, err = run_cli(FNE + ["--data", small_folder, "--out", out], capsys)
    line = one_error_line(code, err)
    assert str(out) in line and "no space left on device" in line and "needs" in line and " free" in line
    m = manifest(out)
    assert m["status"] == "failed" and "no space left on device" in m["error"]
    assert temporary_files(out) == []

    tmpfs.remount("size=8m")
    code, _, err = run_cli(FNE + ["--data", small_folder, "--out", out], capsys)
    assert code == 0, err
    assert manifest(out)["status"] == "complete" and temporary_files(out) == []


def test_full_disk_during_finetune_names_the_checkpoint(small_folder, tmpfs, capsys):
    out = tmpfs.mount("20m") / "run"  # one checkpoint fits, the second does not
    code, _, err = run_cli(FINETUNE + ["--data", small_folder, "--out", out], capsys)
    line = one_error_line(code, err)
    assert "no space left on device" in line and str(out) in line and ".pt" in line
    assert "needs" in line and " free" in line
    m = manifest(out)
    assert m["status"] == "failed" and "no space left on device" in m["error"]
    assert temporary_files(out) == []

    tmpfs.remount("size=64m")
    code, _, err = run_cli(FINETUNE + ["--data", small_folder, "--out", out, "--overwrite"], capsys)
    assert code == 0, err
    assert manifest(out)["status"] == "complete"


def _fill(path: Path) -> None:
    """Write zeros to ``path`` until the filesystem is full."""
    with open(path, "wb", buffering=0) as f:
        block = b"\0" * 4096
        while True:
            try:
                f.write(block)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                return


def test_when_run_json_cannot_be_marked_failed_the_message_says_so_and_a_rerun_works(tmpfs):
    root = tmpfs.mount("256k")
    out = root / "run"
    with pytest.raises(WriteError) as caught:
        with RunFolder(out, "fne"):
            _fill(root / "filler")
            tio.write_text(out / "results.txt", "x" * 10_000)
    msg = str(caught.value)
    assert "\n" not in msg and str(out / "results.txt") in msg and "no space left on device" in msg
    assert "run.json could not be marked failed either" in msg
    assert manifest(out)["status"] == "running" and temporary_files(out) == []

    (root / "filler").unlink()
    with RunFolder(out, "fne"):
        tio.write_text(out / "results.txt", "x" * 10_000)
    assert manifest(out)["status"] == "complete"


def test_read_only_out_is_one_line(small_folder, tmpfs, capsys):
    root = tmpfs.mount("1m")
    (root / "existing").mkdir()
    tmpfs.remount("ro")
    for out in (root / "existing", root / "new"):
        code, _, err = run_cli(FNE + ["--data", small_folder, "--out", out], capsys)
        line = one_error_line(code, err)
        assert str(out) in line and ("not writable" in line or "Read-only" in line)


# -- damaged user artefacts ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(small_folder, tmp_path_factory):
    """A finished fne run, a finished fine-tuning run and a word2vec binary vectors file."""
    from transferlab.cli import main

    root = tmp_path_factory.mktemp("artefacts")
    assert main(FNE + ["--data", str(small_folder), "--out", str(root / "fne")]) == 0
    assert main(FINETUNE + ["--data", str(small_folder), "--out", str(root / "finetune")]) == 0
    rng = np.random.default_rng(0)
    with open(root / "vectors.bin", "wb") as f:
        f.write(b"6 8\n")
        for word in ("king", "queen", "man", "woman", "apple", "pear"):
            f.write(word.encode() + b" " + rng.standard_normal(8).astype("<f4").tobytes() + b"\n")
    return root


def _image(small_folder: Path) -> Path:
    return next(iter(sorted((small_folder / "val" / "ants").iterdir())))


# artefact -> (run folder to copy, file in it, the command that reads it)
CASES = {
    "fne run.json": ("fne", "run.json", lambda d, img: ["predict", d, img]),
    "probe.skops": ("fne", "probe.skops", lambda d, img: ["predict", d, img]),
    "best.pt": ("finetune", "best.pt", lambda d, img: ["predict", d, img]),
    "config.yaml --resume": ("finetune", "config.yaml", lambda d, img: ["finetune", "--resume", d, "--epochs", "2"]),
    "config.yaml --config": ("finetune", "config.yaml",
                             lambda d, img: ["finetune", "--config", d / "config.yaml", "--out", d.parent / "new"]),
    "--weights": ("finetune", "best.pt", lambda d, img: ["classify", "--weights", d / "best.pt", img]),
    "vectors": (None, "vectors.bin", lambda d, img: ["words", "similarity", "king", "queen", "--vectors",
                                                     d / "vectors.bin"]),
}
# a folder without run.json is one written before manifests existed, and a shortened --config file is a
# valid config: neither is damage
NOT_DAMAGE = {("fne run.json", "delete"), ("config.yaml --config", "truncate")}


@pytest.mark.parametrize("case,how", [(c, d) for c in CASES for d in DAMAGE if (c, d) not in NOT_DAMAGE])
def test_a_damaged_artefact_is_refused_in_one_line_naming_it(case, how, runs, small_folder, tmp_path, capsys):
    folder, name, command = CASES[case]
    work = tmp_path / "work"
    if folder is None:
        work.mkdir()
        shutil.copy(runs / name, work / name)
    else:
        shutil.copytree(runs / folder, work)
    damage(work / name, how)
    code, _, err = run_cli(command(work, _image(small_folder)), capsys)
    line = one_error_line(code, err)
    assert name in line, line
    if how != "delete":
        assert "damaged" in line or "ends early" in line or "not a text file" in line, line


def test_a_damaged_run_json_blocks_reuse_without_overwrite(runs, tmp_path, capsys, small_folder):
    work = tmp_path / "fne"
    shutil.copytree(runs / "fne", work)
    damage(work / "run.json", "truncate")
    code, _, err = run_cli(FNE + ["--data", small_folder, "--out", work], capsys)
    line = one_error_line(code, err)
    assert "run.json is damaged" in line and "--overwrite" in line
    assert os.path.exists(work / "probe.skops")  # nothing was removed


def test_any_file_name_the_filesystem_allows_is_read_reported_and_written_back(small_folder, tmp_path, capsys):
    """Class names with HTML, a newline and accents; a file name that is not UTF-8 at all."""
    data = tmp_path / "odd"
    odd = {"ants": "ants é <b>&\"x", "bees": "bees\nnew line"}
    raw_name = b"0-\xff-not-utf8.jpg"
    for split in ("train", "val"):
        for cls, name in odd.items():
            target = data / split / name
            target.mkdir(parents=True)
            for i, photo in enumerate(sorted((small_folder / split / cls).iterdir())[:6]):
                dest = os.path.join(os.fsencode(target), raw_name) if i == 0 else target / f"{i} spaced 'q' ü.jpg"
                shutil.copyfile(photo, dest)
    out = tmp_path / "run"
    code, _, err = run_cli(FNE + ["--data", data, "--out", out], capsys)
    assert code == 0, err
    assert raw_name in (out / "predictions.csv").read_bytes()  # the file's own bytes, not a mangled name
    code, _, err = run_cli(["report", out], capsys)
    assert code == 0, err
    assert "&lt;b&gt;" in (out / "report.html").read_text(encoding="utf-8", errors="replace")
