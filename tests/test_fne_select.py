"""--C auto and --layers auto: cross-validation on the training split only, recorded, plotted, reusable."""
from __future__ import annotations


import numpy as np
import pytest

from conftest import run_cli


@pytest.fixture(scope="module")
def auto_run(small_folder, tmp_path_factory):
    import transferlab as tl

    out = tmp_path_factory.mktemp("auto") / "fne"
    return tl.fne(small_folder, layers="auto", C="auto", image_size=64, workers=0, quiet=True, out=out, cv_folds=3)


def test_auto_chooses_layers_and_C_by_cv_and_records_the_table(auto_run):
    from transferlab.fne.select import C_GRID
    from transferlab.models.taps import FAMILY

    m = auto_run.metrics
    cv = m["cv"]
    assert cv["candidates"] == list(FAMILY) and cv["C_grid"] == list(C_GRID) and cv["folds"] == 3
    assert len(cv["table"]) == len(FAMILY) * len(C_GRID)
    best = max(r["accuracy"] for r in cv["table"])
    assert cv["chosen"]["accuracy"] == best and m["layers_chosen"] == cv["chosen"]["layers"]
    assert m["C"] == cv["chosen"]["C"]
    assert (auto_run.run_dir / "cv.png").stat().st_size > 10_000
    assert list(auto_run.cv.columns) == ["layers", "C", "accuracy", "std"]
    # the probe was fitted on the chosen tap set alone
    assert m["layers"] == [t.name for t in auto_run.features.taps if t.name in m["layers"]]
    from transferlab.models.taps import resolve_layers

    chosen = resolve_layers(auto_run.features.backbone, m["layers_chosen"], size=64)
    assert m["dim"] == sum(t.channels for t in chosen)


def test_an_auto_run_predicts_with_the_chosen_layers(auto_run, small_folder):
    import transferlab as tl

    images = sorted(str(p) for p in (small_folder / "val" / "bees").iterdir())[:3]
    loaded = tl.FNERun.load(auto_run.run_dir)
    got = loaded.predict(images)
    rows = {r["path"]: r["predicted"] for r in
            __import__("csv").DictReader(open(auto_run.run_dir / "predictions.csv", encoding="utf-8"))}
    assert [p["top"][0]["label"] for p in got["predictions"]] == [rows[p] for p in images]


def test_cross_validation_never_sees_the_test_split(fne_run):
    from transferlab.fne.config import ProbeOptions
    from transferlab.fne.select import C_GRID, cross_validate

    train = fne_run.features.train
    config = ProbeOptions(C="auto", cv_folds=3)
    a = cross_validate(train, {"stages": None}, C_GRID, config, progress=False)
    b = cross_validate(train, {"stages": None}, C_GRID, config, progress=False)
    np.testing.assert_array_equal(a.accuracy, b.accuracy)  # seeded folds: reproducible
    assert a.accuracy.shape == (1, len(C_GRID), 3) and ((a.accuracy >= 0) & (a.accuracy <= 1)).all()
    # the signature takes no test data at all; shuffling train labels must change the curve (it measures something)
    shuffled = type(train)(**{**train.__dict__, "labels": np.random.default_rng(0).permutation(train.labels)})
    c = cross_validate(shuffled, {"stages": None}, C_GRID, config, progress=False)
    assert c.accuracy.mean() < a.accuracy.mean()


def test_a_class_with_one_training_image_is_a_clear_error_for_auto(small_folder, tmp_path, capsys):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(small_folder, data)
    for p in sorted((data / "train" / "bees").iterdir())[1:]:
        p.unlink()
    code, out, err = run_cli(["fne", "--data", data, "--layers", "last", "--image-size", "64", "--C", "auto",
                              "--workers", "0", "--quiet", "--out", tmp_path / "run"], capsys)
    assert code == 2 and "'bees' has a single training image" in err and "--C VALUE" in err
    assert len(err.strip().splitlines()) == 1


def test_bad_C_names_auto_in_the_error(capsys, small_folder, tmp_path):
    code, _, err = run_cli(["fne", "--data", small_folder, "--C", "lots", "--out", tmp_path / "r"], capsys)
    assert code == 2 and "must be a number or auto, got lots" in err
    code, _, err = run_cli(["fne", "--data", small_folder, "--C", "0", "--out", tmp_path / "r"], capsys)
    assert code == 2 and "must be a number > 0 or auto, got 0" in err
