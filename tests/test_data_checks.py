"""data.checks: per-class checks of the images that could actually be read, on real (and broken) files."""
import shutil

import numpy as np
import pytest
import torch

from conftest import real_images
from transferlab.data import checks
from transferlab.data.checks import MIN_EVAL_PER_CLASS, MIN_TRAIN_PER_CLASS, check_split
from transferlab.data.image_dataset import ImageDataset, collate_skipping
from transferlab.data.sources import load_dataset
from transferlab.errors import DataError


def _read(split):
    """Decode a split as the commands do: (labels of the images read, skipped [{"path", "reason"}])."""
    ds = ImageDataset(split, transform=lambda im: torch.zeros(1))
    loader = torch.utils.data.DataLoader(ds, batch_size=8, collate_fn=collate_skipping)
    labels, skipped = [], []
    for _, y, _, bad in loader:
        labels += y.tolist()
        skipped += [{"path": split.paths[i], "reason": r} for i, r in bad]
    return np.asarray(labels, dtype=np.int64), skipped


def _break(folder, keep=0):
    """Make every file of ``folder`` but the first ``keep`` unreadable, in different ways."""
    for k, p in enumerate(sorted(folder.iterdir())):
        if k < keep:
            continue
        data = p.read_bytes()
        if k % 3 == 0:
            p.write_text("this is not a picture\n")
        elif k % 3 == 1:
            p.write_bytes(data[: len(data) // 4])  # truncated
        else:
            p.write_bytes(b"")


@pytest.fixture()
def broken(small_folder, tmp_path):
    root = tmp_path / "antsbees"
    shutil.copytree(small_folder, root)
    return root


def test_class_with_no_readable_training_image_is_an_error_naming_it_and_its_files(broken):
    _break(broken / "train" / "bees")
    data = load_dataset(broken)  # listing sees 12 bees files: fine so far
    labels, skipped = _read(data.train)
    assert np.bincount(labels, minlength=2).tolist() == [12, 0] and len(skipped) == 12
    with pytest.raises(DataError) as err:
        check_split(data.classes, labels, skipped, split=data.train)
    msg = str(err.value)
    assert msg.startswith("class 'bees' has no readable training image: all 12 of its files were skipped (bees/")
    assert "not an image (format not recognised)" in msg and "truncated" in msg and "empty file (0 bytes)" in msg
    assert "; and 9 more); fix or remove them, or remove the class folder" in msg
    assert "ants" not in msg
    # the same with finetune's (index, reason) pairs, and without read_labels (derived from split - skipped)
    index_pairs = [(data.train.paths.index(s["path"]), s["reason"]) for s in skipped]
    with pytest.raises(DataError, match="class 'bees' has no readable training image"):
        check_split(data.classes, None, index_pairs, split=data.train)


def test_two_empty_classes_are_one_error_naming_both(broken):
    _break(broken / "train" / "bees")
    _break(broken / "train" / "ants")
    data = load_dataset(broken)
    labels, skipped = _read(data.train)
    with pytest.raises(DataError, match=r"^2 classes have no readable training image: class 'ants' .*; class 'bees'"):
        check_split(data.classes, labels, skipped, split=data.train)


def test_few_readable_training_images_is_a_warning_not_an_error(broken):
    _break(broken / "train" / "bees", keep=MIN_TRAIN_PER_CLASS - 2)
    data = load_dataset(broken)
    labels, skipped = _read(data.train)
    result = check_split(data.classes, labels, skipped, split=data.train)
    assert result.counts == {"ants": 12, "bees": MIN_TRAIN_PER_CLASS - 2}
    assert result.skipped == {"bees": 12 - (MIN_TRAIN_PER_CLASS - 2)}
    assert result.warnings == [f"class 'bees' has only {MIN_TRAIN_PER_CLASS - 2} readable training images (fewer "
                               f"than {MIN_TRAIN_PER_CLASS}; {12 - MIN_TRAIN_PER_CLASS + 2} files skipped): what "
                               "is learnt about it is unreliable"]
    assert result.as_dict()["readable_per_class"] == {"ants": 12, "bees": MIN_TRAIN_PER_CLASS - 2}
    assert result.small_classes == ["bees"] and result.empty_classes == []
    assert check_split(data.classes, labels, skipped, split=data.train, minimum=2).warnings == []


def test_readable_dataset_passes_without_warnings(small_folder):
    data = load_dataset(small_folder)
    labels, skipped = _read(data.train)
    result = check_split(data.classes, labels, skipped)
    assert result.warnings == [] and result.counts == {"ants": 12, "bees": 12} and result.skipped == {}


def test_validation_split_problems_are_warnings(broken):
    _break(broken / "val" / "bees")
    _break(broken / "val" / "ants", keep=MIN_EVAL_PER_CLASS - 1)
    data = load_dataset(broken)
    labels, skipped = _read(data.test)
    result = check_split(data.classes, labels, skipped, split=data.test, kind="val")
    assert result.kind == "validation" and result.minimum == MIN_EVAL_PER_CLASS
    assert result.counts == {"ants": MIN_EVAL_PER_CLASS - 1, "bees": 0}
    w_ants, w_bees = result.warnings
    assert w_ants.startswith("class 'ants' has only 1 readable validation image (fewer than 2; 5 files skipped)")
    assert w_bees.startswith("class 'bees' has no readable validation image: all 6 of its files were skipped (bees/")
    assert w_bees.endswith("the evaluation cannot measure it")


def test_class_absent_from_a_validation_split_is_a_warning(small_folder):
    from transferlab.data.splits import stratified_split

    data = load_dataset(small_folder)
    _, val = stratified_split(data.train, data.classes, 0.25, 0, option="--val-fraction")
    only_ants = val.subset(np.flatnonzero(val.labels == 0))
    result = check_split(data.classes + ["wasps"], only_ants.labels, [], kind="val")
    assert result.warnings == ["class 'bees' has no validation image: the evaluation cannot measure it",
                               "class 'wasps' has no validation image: the evaluation cannot measure it"]
    with pytest.raises(DataError, match="class 'wasps' has no training image; add images or remove the class"):
        check_split(data.classes + ["wasps"], data.train.labels, [])


def test_skipped_files_from_a_csv_dataset_are_attributed_by_the_split(small_folder, tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"")
    rows = [(p, "wasp") for p in real_images("train", "ants", 6)] + [(bad, "hornet")]
    rows += [(p, "hornet") for p in real_images("train", "bees", 0)]
    (tmp_path / "d.csv").write_text("path,label,split\n" + "".join(f"{p},{c},train\n" for p, c in rows)
                                    + f"{rows[0][0]},wasp,test\n")
    data = load_dataset(tmp_path / "d.csv")
    labels, skipped = _read(data.train)
    with pytest.raises(DataError, match=rf"class 'hornet' has no readable training image: its only file was "
                                        rf"skipped \({bad}: empty file \(0 bytes\)\)"):
        check_split(data.classes, labels, skipped, split=data.train)


def test_unknown_kind_and_constants():
    with pytest.raises(ValueError, match="split kind"):
        check_split(["a", "b"], [0, 1], kind="dev")
    assert checks.MIN_TRAIN_PER_CLASS >= 1 and checks.MIN_EVAL_PER_CLASS >= 1
