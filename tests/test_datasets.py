"""Dataset sources, one class list from train, and every malformed layout is a clear error."""
import os
import shutil

import numpy as np
import pytest

from conftest import real_images, shared_data
from transferlab.data.sources import load_dataset
from transferlab.errors import BadInputError, DataError


def test_train_val_folder_real_data():
    s = load_dataset(shared_data("hymenoptera"))
    assert s.classes == ["ants", "bees"]
    assert (len(s.train), len(s.test)) == (245, 153)
    assert s.test_split_name == "val"
    assert np.bincount(s.train.labels).tolist() == [124, 121]


def test_hidden_files_are_ignored_and_listed():
    s = load_dataset(shared_data("scene15"))
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
    with pytest.raises(BadInputError, match=r"test_fraction \(--test-fraction\) must be a number in \(0, 1\), got 1.5"):
        load_dataset(small_folder / "train", test_fraction=1.5)


# ---------------------------------------------------------------------------------------------
# balanced per-class subsets with the dataset's own class names (data.splits)
# ---------------------------------------------------------------------------------------------
def test_per_class_message_names_the_folder_class(small_folder):
    with pytest.raises(DataError) as err:
        load_dataset(small_folder, per_class=13)
    assert str(err.value) == "per_class (--per-class) 13 is more than the 12 training images of class 'ants'"
    s = load_dataset(small_folder, per_class=5, seed=1)
    assert np.bincount(s.train.labels).tolist() == [5, 5] and len(s.test) == 12  # test split untouched
    assert s.train.paths == load_dataset(small_folder, per_class=5, seed=1).train.paths
    assert s.train.paths != load_dataset(small_folder, per_class=5, seed=2).train.paths


def test_per_class_on_a_csv_dataset_names_its_class(small_folder, tmp_path):
    rows = [(p, "wasp" if p.parent.name == "ants" else "hornet") for p in sorted((small_folder / "train").rglob("*.jpg"))]
    (tmp_path / "d.csv").write_text("filename,class\n" + "".join(f"{p},{c}\n" for p, c in rows[:20]))
    with pytest.raises(DataError, match=r"more than the \d+ training images of class '(wasp|hornet)'"):
        load_dataset(tmp_path / "d.csv", per_class=9, test_fraction=0.25)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_per_class_zero_negative_or_fractional_is_a_clear_error(small_folder, bad):
    with pytest.raises(BadInputError, match=r"per_class \(--per-class\) must be"):
        load_dataset(small_folder, per_class=bad)
    with pytest.raises(BadInputError, match=r"per_class \(--per-class\) must be"):
        load_dataset("fashion-mnist", per_class=bad)  # refused before the data is even looked up


def test_fashion_mnist_balanced_indices_keeps_its_results_and_names():
    from transferlab.data import fashion_mnist, splits

    labels = np.repeat(np.arange(10), 4)[::-1].copy()
    old = _reference_balanced_indices(labels, 3, 7)
    np.testing.assert_array_equal(fashion_mnist.balanced_indices(labels, 3, 7), old)
    np.testing.assert_array_equal(splits.balanced_indices(labels, 3, 7, fashion_mnist.CLASSES), old)
    with pytest.raises(DataError, match="4 training images of class 'T-shirt/top'"):
        fashion_mnist.balanced_indices(labels, 5, 0)
    with pytest.raises(DataError, match="of class #12"):  # a class index the list does not name: no IndexError
        splits.balanced_indices(np.array([12, 12]), 3, 0, ["a", "b"])


def _reference_balanced_indices(labels, per_class, seed):
    """The reference: per class, ``per_class`` indices drawn without replacement by one seeded generator."""
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        chosen.append(rng.choice(idx, size=per_class, replace=False))
    return np.sort(np.concatenate(chosen))


# ---------------------------------------------------------------------------------------------
# one stratified split for --test-fraction and --val-fraction (data.splits)
# ---------------------------------------------------------------------------------------------
def _reference_stratified(full, classes, test_fraction, seed):
    """The reference for a test split: scikit-learn's stratified ``train_test_split``, both index lists sorted."""
    from sklearn.model_selection import train_test_split

    tr, te = train_test_split(np.arange(len(full)), test_size=test_fraction, random_state=seed, stratify=full.labels)
    return full.subset(np.sort(tr)), full.subset(np.sort(te))


def _reference_split_validation(data, fraction, seed):
    """The reference for a validation split: the same, taken from the training split."""
    from sklearn.model_selection import train_test_split

    labels = data.train.labels
    tr, va = train_test_split(np.arange(len(labels)), test_size=fraction, random_state=seed, stratify=labels)
    return data.train.subset(np.sort(tr)), data.train.subset(np.sort(va))


@pytest.mark.parametrize("fraction,seed", [(0.2, 0), (0.1, 3), (0.5, 1), (0.33, 42)])
def test_stratified_split_equals_the_references(fraction, seed):
    from transferlab.data.splits import stratified_split

    data = load_dataset(shared_data("hymenoptera"))
    kept, held = stratified_split(data.train, data.classes, fraction, seed, option="--val-fraction")
    for ref_kept, ref_held in (_reference_stratified(data.train, data.classes, fraction, seed),
                               _reference_split_validation(data, fraction, seed)):
        assert kept.paths == ref_kept.paths and held.paths == ref_held.paths
        np.testing.assert_array_equal(kept.labels, ref_kept.labels)
        np.testing.assert_array_equal(held.labels, ref_held.labels)
    assert not set(kept.paths) & set(held.paths) and len(kept) + len(held) == len(data.train)


def test_test_fraction_split_equals_the_reference(small_folder):
    from transferlab.data.sources import _list_class_dirs, _split

    s = load_dataset(small_folder / "train", test_fraction=0.3, seed=5)
    by_class, _ = _list_class_dirs(small_folder / "train")
    ref_train, ref_test = _reference_stratified(_split(by_class, sorted(by_class)), sorted(by_class), 0.3, 5)
    assert s.train.paths == ref_train.paths and s.test.paths == ref_test.paths


def test_stratified_split_errors_name_the_option_and_the_classes(small_folder):
    from transferlab.data.splits import Split, stratified_split

    split = Split(["a1", "a2", "a3", "b1", "c1"], np.array([0, 0, 0, 1, 2]))
    with pytest.raises(DataError, match=r"val_fraction \(--val-fraction\) 0.5: .*too small: 'bees' \(1\), 'cats' \(1\)"):
        stratified_split(split, ["ants", "bees", "cats"], 0.5, 0, option="--val-fraction")
    split = Split([f"x{i}" for i in range(20)], np.array([0] * 10 + [1] * 10))
    with pytest.raises(DataError, match=r"test_fraction \(--test-fraction\) 0.01 holds out 1 of the 20 images, "
                                        r"fewer than the 2 classes.*raise it"):
        stratified_split(split, ["ants", "bees"], 0.01, 0)
    with pytest.raises(DataError, match=r"0.99 keeps 0 of the 20 images.*lower it"):
        stratified_split(split, ["ants", "bees"], 0.99, 0)
    with pytest.raises(BadInputError, match=r"val_fraction \(--val-fraction\) must be between 0 and 1"):
        stratified_split(split, ["ants", "bees"], 0, 0, option="--val-fraction")
    # a class with no image at all is not "too small" (fine-tuning's behaviour): it is absent
    kept, held = stratified_split(split, ["ants", "bees", "empty"], 0.5, 0)
    assert len(kept) == len(held) == 10


# ---------------------------------------------------------------------------------------------
# CSV files: columns by header name, any delimiter, real line numbers
# ---------------------------------------------------------------------------------------------
def _csv_rows(small_folder):
    return [(p, p.parent.name) for p in sorted((small_folder / "train").rglob("*.jpg"))]


def test_csv_header_filename_class(small_folder, tmp_path):
    rows = _csv_rows(small_folder)
    (tmp_path / "d.csv").write_text("Filename,Class\n" + "".join(f"{p},{c}\n" for p, c in rows))
    s = load_dataset(tmp_path / "d.csv", test_fraction=0.5)
    assert s.classes == ["ants", "bees"]  # not a class "Class" with an image "Filename"
    assert len(s.train) + len(s.test) == 24 and all(p.endswith(".jpg") for p in s.train.paths)


def test_csv_columns_in_any_order_with_extra_columns(small_folder, tmp_path):
    rows = _csv_rows(small_folder)
    (tmp_path / "d.csv").write_text("id,category,split,image\n" + "".join(
        f"{i},{c},{'val' if i % 4 == 0 else 'train'},{p}\n"
        for i, (p, c) in enumerate(rows)))
    s = load_dataset(tmp_path / "d.csv")
    assert s.classes == ["ants", "bees"] and (len(s.train), len(s.test)) == (18, 6)
    assert s.source == "csv(split column)"


def test_csv_semicolon_and_tab_delimiters(small_folder, tmp_path):
    rows = _csv_rows(small_folder)
    (tmp_path / "semi.csv").write_text("path;label;split\n" + "".join(
        f"{p};{c};{'train' if i % 3 else 'test'}\n" for i, (p, c) in enumerate(rows)))
    s = load_dataset(tmp_path / "semi.csv")
    assert s.classes == ["ants", "bees"] and len(s.test) == 8
    (tmp_path / "tab.csv").write_text("file\tlabel\n" + "".join(f"{p}\t{c}\n" for p, c in rows))
    assert load_dataset(tmp_path / "tab.csv", test_fraction=0.5).classes == ["ants", "bees"]


def test_csv_bad_row_error_names_the_real_line(small_folder, tmp_path):
    rows = _csv_rows(small_folder)
    lines = ["path;label", ""] + [f"{p};{c}" for p, c in rows[:4]] + ["", "# no", f"{rows[5][0]}"]
    lines += [f"{p};{c}" for p, c in rows[6:]]
    (tmp_path / "semi.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path / "semi.csv")
    # line 1 header, 2 blank, 3-6 rows, 7 blank, 8 "# no" (a path without label), 9 the bad row
    assert "semi.csv:8:" in str(err.value) and "';'" in str(err.value)
    lines[7] = f"{rows[4][0]};ants"
    (tmp_path / "semi.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"semi.csv:9: expected 'path' and 'label' columns separated by ';', got '.*jpg'"):
        load_dataset(tmp_path / "semi.csv")
    (tmp_path / "split.csv").write_text("path,label,split\n" + f"{rows[0][0]},ants,train\n\n{rows[1][0]},ants,dev\n")
    with pytest.raises(DataError, match=r"split.csv:4: split must be train, val or test, got 'dev'"):
        load_dataset(tmp_path / "split.csv")


def test_csv_header_without_path_or_label_column(small_folder, tmp_path):
    rows = _csv_rows(small_folder)
    (tmp_path / "d.csv").write_text("filename,target\n" + "".join(f"{p},{c}\n" for p, c in rows))
    with pytest.raises(DataError) as err:
        load_dataset(tmp_path / "d.csv")
    msg = str(err.value)
    assert "d.csv:1: the header row names no label column" in msg
    assert "columns found: 'filename', 'target'" in msg and "label: label, class, category" in msg
    (tmp_path / "d.csv").write_text("img_id,kind\n" + "".join(f"{p},{c}\n" for p, c in rows))
    with pytest.raises(DataError, match=r"names no path and no label column \(columns found: 'img_id', 'kind'\)"):
        load_dataset(tmp_path / "d.csv")
    (tmp_path / "d.csv").write_text("path,file,label\n" + "".join(f"{p},{p},{c}\n" for p, c in rows))
    with pytest.raises(DataError, match=r"2 path columns \('path', 'file'\)"):
        load_dataset(tmp_path / "d.csv")


def test_headerless_csv_still_works(small_folder, tmp_path):
    rows = _csv_rows(small_folder)
    (tmp_path / "plain.csv").write_text("".join(f"{p},{c}\n" for p, c in rows))
    s = load_dataset(tmp_path / "plain.csv", test_fraction=0.5, seed=0)
    assert s.classes == ["ants", "bees"] and len(s.train) + len(s.test) == 24
    # paths relative to the CSV, ';', a split column, and a class literally called "class"
    shutil.copytree(small_folder / "train", tmp_path / "images")
    (tmp_path / "rel.csv").write_text("".join(
        f"images/{p.parent.name}/{p.name};{'class' if c == 'ants' else c};{'test' if i % 4 == 0 else 'train'}\n"
        for i, (p, c) in enumerate(rows)))
    s = load_dataset(tmp_path / "rel.csv")
    assert s.classes == ["bees", "class"] and (len(s.train), len(s.test)) == (18, 6)
    assert all(os.path.isfile(p) for p in s.train.paths)


def test_csv_with_byte_order_mark_and_crlf(small_folder, tmp_path):
    rows = _csv_rows(small_folder)
    (tmp_path / "excel.csv").write_bytes(("\ufeffPath,Label\r\n" + "".join(f"{p},{c}\r\n" for p, c in rows)).encode())
    assert load_dataset(tmp_path / "excel.csv", test_fraction=0.5).classes == ["ants", "bees"]


# ---------------------------------------------------------------------------------------------
# files that are clearly not images, in class folders: ignored and counted
# ---------------------------------------------------------------------------------------------
def test_non_image_extensions_in_class_folders_are_ignored_and_counted(small_folder, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(small_folder, root)
    (root / "train" / "ants" / "notes.txt").write_text("collected in 2019\n")
    (root / "train" / "bees" / "labels.csv").write_text("a,b\n")
    (root / "train" / "bees" / "meta.JSON").write_text("{}")
    (root / "val" / "ants" / "README.md").write_text("# ants\n")
    (root / "train" / "bees" / "mystery").write_bytes(b"no extension: still tried")
    (root / "train" / "bees" / "odd.xyz").write_bytes(b"unknown extension: still tried")
    s = load_dataset(root)
    ignored = {os.path.basename(i["path"]): i["reason"] for i in s.ignored}
    assert ignored == {"notes.txt": "not an image (by extension)", "labels.csv": "not an image (by extension)",
                       "meta.JSON": "not an image (by extension)", "README.md": "not an image (by extension)"}
    assert not any(p.endswith((".txt", ".csv", ".JSON", ".md")) for p in s.train.paths + s.test.paths)
    assert {os.path.basename(p) for p in s.train.paths} >= {"mystery", "odd.xyz"}
    assert (len(s.train), len(s.test)) == (26, 12)
    assert "4 files ignored (4: not an image (by extension))" in s.summary()


def test_summary_counts_hidden_files():
    assert "; 1 file ignored (1: hidden file)" in load_dataset(shared_data("scene15")).summary()
    assert "ignored" not in load_dataset(shared_data("hymenoptera")).summary()


def test_class_folder_with_only_non_images_is_a_clear_error(small_folder, tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(small_folder / "train", root)
    (root / "docs").mkdir()
    (root / "docs" / "a.txt").write_text("x")
    (root / "docs" / "b.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(DataError, match=r"without any image file: docs \(2 files ignored: not an image"):
        load_dataset(root)


def test_fashion_mnist_cache_follows_transferlab_cache(monkeypatch, tmp_path):
    from transferlab.data import fashion_mnist
    from transferlab.runtime import cache_dir

    monkeypatch.setenv("TRANSFERLAB_CACHE", str(tmp_path / "c"))
    assert fashion_mnist.cache_folder() == cache_dir("FashionMNIST") == tmp_path / "c" / "FashionMNIST"
    assert tmp_path / "c" / "FashionMNIST" / "raw" in fashion_mnist.candidate_dirs()


def test_load_dataset_takes_the_options_of_data_config(small_folder):
    from transferlab.data.config import DataOptions

    opts = DataOptions(data=str(small_folder), per_class=4, seed=2).dataset_options()
    s = load_dataset(**opts)
    assert np.bincount(s.train.labels).tolist() == [4, 4]
    assert s.train.paths == load_dataset(small_folder, per_class=4, seed=2).train.paths
    assert s.options == {**opts, "data": str(small_folder)}  # recorded: a run given this dataset can say how
    # the options are validated by the same schema as on the command line: the same message
    for bad in (0, -3):
        with pytest.raises(BadInputError, match=rf"per_class \(--per-class\) must be an integer >= 1, got {bad}"):
            load_dataset(small_folder, per_class=bad)
