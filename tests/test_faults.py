"""Faults on real cache files: truncated, zero-filled, deleted, on a read-only filesystem.

Each damaged entry is reported in one line that points at `transferlab cache`, computed again with
the clean run's result, and healed: the run after it says nothing.
"""
from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import damage

FNE = ["fne", "--layers", "stages", "--image-size", "64", "--workers", "0", "--quiet", "--json"]


@contextlib.contextmanager
def cache_at(path: Path):
    old = os.environ["TRANSFERLAB_CACHE"]
    os.environ["TRANSFERLAB_CACHE"] = str(path)
    try:
        yield path
    finally:
        os.environ["TRANSFERLAB_CACHE"] = old


def tl(args) -> tuple[int, str, str]:
    """``transferlab ARGS`` in this process: exit status, stdout, stderr."""
    from transferlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def notices(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("transferlab:")]


def damage_entry(path: Path, how: str) -> None:
    """``conftest.damage``, or an entry from before manifests that no longer loads."""
    if how == "garbage-without-manifest":
        manifest(path).unlink()
        path.write_bytes(b"not what it was")
    else:
        damage(path, how)


def manifest(path: Path) -> Path:
    return path.parents[1] / ".manifests" / path.parent.name / f"{path.name}.json"


@pytest.fixture(scope="module")
def clean_fne(small_folder, tmp_path_factory):
    """A cache filled by one clean fne run, and that run's accuracy."""
    cache = tmp_path_factory.mktemp("clean") / "cache"
    with cache_at(cache):
        code, out, err = tl([*FNE, "--data", small_folder, "--out", cache.parent / "run"])
    assert code == 0 and not notices(err)
    return cache, json.loads(out)["accuracy"]


def rerun(cache: Path, small_folder, tmp_path, *extra) -> tuple[str, float]:
    with cache_at(cache):
        code, out, err = tl([*FNE, *extra, "--data", small_folder, "--out", tmp_path / "run", "--overwrite"])
    assert code == 0, err
    return err, json.loads(out)["accuracy"]


@pytest.mark.parametrize("how", ["truncate", "zero-fill", "delete", "garbage-without-manifest"])
def test_a_damaged_feature_file_is_extracted_again_with_one_notice(clean_fne, small_folder, tmp_path, how):
    clean, accuracy = clean_fne
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    target = sorted((cache / "features").glob("*.npz"))[0]
    damage_entry(target, how)
    err, again = rerun(cache, small_folder, tmp_path)
    [line] = notices(err)
    assert str(target) in line and "`transferlab cache info`" in line and "computing it again" in line
    assert {"truncate": "truncated", "zero-fill": "zero-filled", "delete": "missing",
            "garbage-without-manifest": "unreadable"}[how] in line
    assert again == accuracy
    assert target.is_file() and manifest(target).is_file()
    err, third = rerun(cache, small_folder, tmp_path)
    assert not notices(err) and third == accuracy  # healed


def test_entries_from_before_manifests_are_kept_and_get_one(clean_fne, small_folder, tmp_path):
    clean, accuracy = clean_fne
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    shutil.rmtree(cache / ".manifests")
    stamps = {p: p.stat().st_mtime_ns for p in (cache / "features").glob("*.npz")}
    err, again = rerun(cache, small_folder, tmp_path)
    assert not notices(err) and again == accuracy
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # read, not extracted again
    assert all(manifest(p).is_file() for p in stamps)


def test_another_users_damaged_entry_is_named_as_theirs(clean_fne, small_folder, tmp_path):
    if not hasattr(os, "getuid") or os.getuid() != 0:
        pytest.skip("needs root to give a file to another user")
    clean, accuracy = clean_fne
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    target = sorted((cache / "features").glob("*.npz"))[0]
    damage_entry(target, "truncate")
    os.chown(target, 4242, 4242)
    err, again = rerun(cache, small_folder, tmp_path)
    [line] = notices(err)
    assert str(target) in line and "4242" in line and again == accuracy


@pytest.fixture(scope="module")
def clean_export(small_folder, tmp_path_factory):
    """A cache holding the onnxruntime export of one clean fne run (features not cached), and its accuracy."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    cache = tmp_path_factory.mktemp("clean-export") / "cache"
    with cache_at(cache):
        code, out, err = tl([*FNE, "--backend", "onnxruntime", "--no-cache", "--data", small_folder,
                             "--out", cache.parent / "run"])
    assert code == 0 and not notices(err), err
    return cache, json.loads(out)["accuracy"]


@pytest.mark.parametrize("how", ["truncate", "zero-fill", "delete"])
def test_a_damaged_exported_graph_is_exported_again(clean_export, small_folder, tmp_path, how):
    clean, accuracy = clean_export
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    [graph] = (cache / "engines").glob("*.onnx")
    damage_entry(graph, how)
    err, again = rerun(cache, small_folder, tmp_path, "--backend", "onnxruntime", "--no-cache")
    [line] = notices(err)
    assert str(graph) in line and "exported graph" in line and "`transferlab cache info`" in line
    assert again == accuracy and graph.is_file()
    err, third = rerun(cache, small_folder, tmp_path, "--backend", "onnxruntime", "--no-cache")
    assert not notices(err) and third == accuracy


WORDS = ["words", "similarity", "cat", "dog", "--json"]


@pytest.mark.parametrize("how", ["truncate", "zero-fill", "delete", "garbage-without-manifest"])
def test_a_damaged_vocabulary_cache_is_made_again(tmp_path, how):
    with cache_at(tmp_path / "cache"):
        code, out, err = tl(WORDS)
        assert code == 0 and not notices(err)
        [vocab] = (tmp_path / "cache" / "words").glob("*.vocab")
        damage_entry(vocab, how)
        code, again, err = tl(WORDS)
        assert code == 0 and again == out
        [line] = notices(err)
        assert str(vocab) in line and "vocabulary" in line and "`transferlab cache info`" in line
        code, third, err = tl(WORDS)
        assert code == 0 and third == out and not notices(err)


def test_a_read_only_cache_is_read_and_not_written(tmpfs, clean_fne, small_folder, tmp_path):
    clean, accuracy = clean_fne
    cache = tmpfs.mount("8m") / "cache"
    shutil.copytree(clean, cache)
    tmpfs.remount("ro")
    err, again = rerun(cache, small_folder, tmp_path)  # everything it needs is there: read, nothing said
    assert not notices(err) and again == accuracy
    err, _ = rerun(cache, small_folder, tmp_path, "--layers", "last")  # not cached: computed, not saved
    [line] = notices(err)
    assert str(cache) in line and "cannot be written (a read-only filesystem)" in line
    assert "`transferlab cache info`" in line
    with cache_at(cache):
        code, out, err = tl(["cache", "info", "--json"])
        assert code == 0 and json.loads(out)["writable"] is False


def test_an_empty_read_only_cache_is_one_notice_and_every_kind_runs(tmpfs, small_folder, tmp_path):
    cache = tmpfs.mount("8m") / "cache" / "shared"
    tmpfs.remount("ro")
    err, _ = rerun(cache, small_folder, tmp_path, "--layers", "last")
    with cache_at(cache):
        code, out, words_err = tl(WORDS)
    assert code == 0 and json.loads(out)["a"] == "cat"
    if importlib.util.find_spec("onnxruntime") and importlib.util.find_spec("onnx"):  # exported for this run only
        export_err, _ = rerun(cache, small_folder, tmp_path, "--layers", "last", "--backend", "onnxruntime")
        err += export_err
    assert len(notices(err + words_err)) == 1  # one line in a process, whichever caches it skips
    assert not cache.exists()


def test_cache_info_and_clear(clean_fne, tmp_path):
    clean, _ = clean_fne
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    with cache_at(cache):
        code, out, err = tl(["cache", "info", "--json"])
        info = json.loads(out)
        assert code == 0 and info["root"] == str(cache) and info["kinds"]["features"]["entries"] == 2
        assert info["kinds"]["features"]["bytes"] > 0 and not info["kinds"]["features"]["damaged"]
        target = sorted((cache / "features").glob("*.npz"))[0]
        damage_entry(target, "truncate")
        code, out, err = tl(["cache", "info"])
        assert code == 0 and f"damaged: {target}" in out and str(cache) in out

        code, out, err = tl(["cache", "clear", "--kind", "nonsense"])
        assert code == 2 and not out and len(err.strip().splitlines()) == 1 and "nonsense" in err
        code, out, err = tl(["cache", "clear", "--older-than", "-3"])
        assert code == 2 and len(err.strip().splitlines()) == 1

        code, out, err = tl(["cache", "clear", "--kind", "features", "--older-than", "1"])
        assert code == 0 and "removed 0 files" in out and target.exists()  # written just now: kept
        code, out, err = tl(["cache", "clear", "--kind", "features"])
        assert code == 0 and f"removed {target}" in out and "removed 2 files" in out
        assert not list((cache / "features").glob("*")) and not list((cache / ".manifests").rglob("*.json"))


def test_the_python_face_of_the_cache(tmp_path):
    from transferlab.cache import cache_info, clear_cache
    from transferlab.errors import BadInputError

    with cache_at(tmp_path / "cache"):
        assert cache_info()["kinds"]["features"]["entries"] == 0
        assert clear_cache("features")["removed"] == []
        with pytest.raises(BadInputError, match="nonsense"):
            clear_cache(["nonsense"])
        with pytest.raises(BadInputError, match="older_than"):  # checked as the command line checks it
            clear_cache(older_than=-1)
