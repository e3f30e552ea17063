"""Dataset sources, one class list from train, and every malformed layout is a clear error."""
import shutil

import numpy as np
import pytest

from conftest import HYMENOPTERA, SCENE15, real_images
from transferlab.data.datasets import load_dataset
from transferlab.errors import BadInputError, DataError


def test_train_val_folder_real_data():
    s = load_dataset(HYMENOPTERA)
    assert s.classes == ["ants", "bees"]
    assert (len(s.train), len(s.test)) == (245, 153)
    assert s.test_split_name == "val"
    assert np.bincount(s.train.labels).tolist() == [124, 121]


def test_hidden_files_are_ignored_and_listed():
    s = load_dataset(SCENE15)
    assert len(s.classes) == 15 and len(s.train) == 1500 and len(s.test) == 2985
    assert [i["reason"] for i in s.ignored] == ["hidden file"]
    assert s.ignored[0]["path"].endswith(".DS_Store")


def test_class_folders_split_stratified_and_seeded(small_folder):
    a = load_dataset(small_folder / "train", test_fraction=0.25, seed=1)
    b = load_dataset(small_folder / "train", test_fraction=0.25, seed=1)
    c = load_dataset(small_folder / "train", test_fraction=0.25, seed=2)
    assert a.train.paths == b.train.paths and a.train.paths != c.train.paths
    assert np.bincount(a.test.labels).tolist() == [3, 3]
    assert not set(a.train.paths) & set(a.test.paths)


def test_fashion_mnist_balanced_subset():
    s = load_dataset("fashion-mnist", per_class=7, seed=3)
    assert len(s.classes) == 10 and s.classes[0] == "T-shirt/top"
    assert np.bincount(s.train.labels).tolist() == [7] * 10
    assert np.bincount(s.test.labels).tolist() == [7] * 10
    assert s.train.paths != load_dataset("fashion-mnist", per_class=7, seed=4).train.paths
    image = s.loader()(s.train.paths[0])
    assert image.size == (28, 28) and image.mode == "RGB"


def test_mit67_style_lists(small_folder, tmp_path):
    images = small_folder / "train"
    files = sorted(p.relative_to(images).as_posix() for p in images.rglob("*.jpg"))
    (tmp_path / "TrainImages.txt").write_text("\n".join(files[::2]) + "\n")
    (tmp_path / "TestImages.txt").write_text("\n".join(files[1::2]) + "\n")
    s = load_dataset(None, train_list=tmp_path / "TrainImages.txt", test_list=tmp_path / "TestImages.txt",
                     images=images)
    assert s.classes == ["ants", "bees"] and len(s.train) == 12 and len(s.test) == 12
    (tmp_path / "TestImages.txt").write_text("wasps/w1.jpg\n")
    with pytest.raises(DataError, match="wasps"):
        load_dataset(None, train_list=tmp_path / "TrainImages.txt", test_list=tmp_path / "TestImages.txt",
                     images=images)


def test_csv_with_and_without_split_column(small_folder, tmp_path):
    rows = [(p, p.parent.name) for p in sorted((small_folder / "train").rglob("*.jpg"))]
    (tmp_path / "plain.csv").write_text("path,label\n" + "".join(f"{p},{c}\n" for p, c in rows))
    s = load_dataset(tmp_path / "plain.csv", test_fraction=0.5, seed=0)
    assert len(s.train) == 12 and len(s.test) == 12
    (tmp_path / "split.csv").write_text("path,label,split\n" + "".join(
        f"{p},{c},{'train' if i % 3 else 'test'}\n" for i, (p, c) in enumerate(rows)))
    s = load_dataset(tmp_path / "split.csv")
    assert len(s.test) == 8
    (tmp_path / "bad.csv").write_text("path,label\nonly-a-path\n")
    with pytest.raises(DataError, match=r"bad.csv:2"):
        load_dataset(tmp_path / "bad.csv")


def test_test_class_absent_from_train_is_an_error(small_folder, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(small_folder, root)
    (root / "val" / "wasps").mkdir()
    shutil.copy(real_images("val", "bees", 1)[0], root / "val" / "wasps" / "w.jpg")
    with pytest.raises(DataError, match="wasps.*do not exist in"):
        load_dataset(root)


def test_one_class_dataset_is_an_error(small_folder, tmp_path):
    root = tmp_path / "one"
    shutil.copytree(small_folder / "train" / "ants", root / "ants")
    with pytest.raises(DataError, match="only one class"):
        load_dataset(root)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataError, match="no class sub-folders"):
        load_dataset(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(DataError, match="no images found"):
        load_dataset(tmp_path)


def test_missing_folder_and_bad_fraction(small_folder, tmp_path):
    with pytest.raises(BadInputError, match="not found"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(BadInputError, match="between 0 and 1"):
        load_dataset(small_folder / "train", test_fraction=1.5)
