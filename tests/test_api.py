"""The Python API at the package's top level (``import transferlab as tl``): result objects, loading runs
back, and every Python snippet of the README and docs/, executed as written so they cannot rot."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, real_images

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def test_import_is_lazy_and_the_face_is_complete():
    code = ("import sys, transferlab as tl; print(sorted(m for m in ('torch', 'numpy', 'pydantic', 'sklearn') "
            "if m in sys.modules)); print(callable(tl.fne), callable(tl.finetune), callable(tl.sweep), "
            "callable(tl.report), callable(tl.embed), callable(tl.load_dataset))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"  # `import transferlab` loads none of the heavy libraries
    assert out[1] == "True True True True True True"
    import transferlab as tl

    for name in tl.__all__:
        assert getattr(tl, name) is not None, name
    import transferlab.fne.pipeline  # noqa: F401 - importing a sub-module must not hide the function
    assert callable(tl.fne) and tl.fne.pipeline.fne is not None


@pytest.mark.slow
@pytest.mark.parametrize("doc", [d for d in DOCS if python_blocks(d)], ids=lambda d: d.name)
def test_the_python_snippets_of_the_docs_run_as_written(doc, tmp_path):
    """Each file's snippets run in order in one fresh interpreter (as in a notebook), in an empty folder
    holding only ``photo.jpg`` (a real photo) and ``examples/`` (the repository's)."""
    shutil.copy(real_images("val", "bees", 1)[0], tmp_path / "photo.jpg")
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    code = "\n".join(python_blocks(doc))
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"{doc.name} snippets failed:\n{proc.stderr[-4000:]}"


def test_fne_returns_a_run_object_that_predicts_and_loads_back(fne_run, small_folder):
    import transferlab as tl

    run = fne_run
    assert isinstance(run, tl.FNERun) and 0.5 <= run.accuracy <= 1 and run.n_train == 24 and run.n_test == 12
    assert list(run.per_layer.columns) == ["layer", "dim", "accuracy"] and len(run.per_layer) == 8 + 1
    assert set(run.per_class["class"]) == {"ants", "bees"}
    assert "<table" in run._repr_html_() and "accuracy" in repr(run)
    json.dumps(run.to_dict())
    photos = [str(p) for p in real_images("val", "ants", 2)] + [str(small_folder / "missing.jpg")]
    pred = run.predict(photos, top_k=2)
    assert pred["score"] == "svm decision value" and [p["path"] for p in pred["predictions"]] == photos[:2]
    assert [s["path"] for s in pred["skipped"]] == photos[2:]
    top = pred["predictions"][0]["top"]
    assert [t["label"] for t in top] and {t["label"] for t in top} == {"ants", "bees"}
    again = tl.FNERun.load(run.run_dir)  # from disk: the saved probe and the run's config
    assert again.accuracy == run.accuracy
    assert again.predict(photos[:2], top_k=2)["predictions"] == pred["predictions"]


def test_embed_gives_cached_feature_sets(fne_run, small_folder):
    import transferlab as tl

    emb = tl.embed(small_folder, layers="stages", image_size=64, workers=0, quiet=True)
    assert emb.cached == {"train": True, "test": True}  # the fne run above extracted the same features
    assert emb.n_layers == 8 and emb.train.features.shape == (24, emb.dim)
    assert emb.layers == fne_run.per_layer.layer.tolist()[:-1]


def test_finetune_returns_a_run_object_and_loads_back(small_folder, tmp_path):
    import transferlab as tl

    data = tl.load_dataset(small_folder)
    run = tl.finetune(data, freeze="all", augment="none", epochs=2, image_size=48, batch_size=8, workers=0,
                      quiet=True, out=tmp_path / "ft")
    assert isinstance(run, tl.FinetuneRun) and run.epochs_run == 2 and 1 <= run.best_epoch <= 2
    assert list(run.history.epoch) == [1, 2] and {"train_loss", "val_acc"} <= set(run.history.columns)
    assert run.config.data == str(small_folder)  # the dataset object says how it was loaded
    loaded = tl.FinetuneRun.load(tmp_path / "ft")
    assert loaded.accuracy == run.accuracy and loaded.config.freeze == "all"
    photo = str(real_images("val", "bees", 1)[0])
    pred = loaded.predict([photo])
    assert pred["score"] == "probability" and abs(sum(t["score"] for t in pred["predictions"][0]["top"]) - 1) < 1e-5
    assert "<table" in run._repr_html_()
    with pytest.raises(tl.BadInputError, match="epochs"):
        tl.finetune(data, epochs=0)


def test_sweep_and_report_from_python(small_folder, tmp_path):
    import transferlab as tl

    spec = {"command": "fne", "base": {"data": str(small_folder), "image_size": 48, "workers": 0},
            "grid": {"layers": ["last", "stages"]}}
    study = tl.sweep(spec, out=tmp_path / "s", quiet=True)
    assert isinstance(study, tl.SweepResult) and study.done == 2 and study.failed == 0
    assert sorted(study.results.layers) == ["last", "stages"]
    info = tl.report(tmp_path / "s")
    assert Path(info["html"]).is_file()
    assert yaml_spec(tmp_path / "s" / "spec.yaml") == spec  # the study says what it was


def yaml_spec(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())
