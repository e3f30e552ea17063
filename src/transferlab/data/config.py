"""The dataset options shared by every command that reads images (``embed``, ``fne``, ``finetune``)."""
from __future__ import annotations

from typing import Any

from pydantic import model_validator

from transferlab.errors import BadInputError
from transferlab.schema import Config, option

FASHION_MNIST = "fashion-mnist"
DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's own default limit (about 9459 x 9459)


class DataOptions(Config):
    """Where the images come from and how they are split and read."""

    data: str | None = option(
        None, "fashion-mnist, a folder (class sub-folders, or train/ + val/ or test/), or a CSV file with "
              "path and label columns (and optionally split)", group="dataset", metavar="DATA",
        default_text="none: give --data or --train-list/--test-list/--images")
    test_fraction: float = option(0.2, "held-out fraction when the data has no test split (stratified)",
                                  gt=0, lt=1, group="dataset")
    seed: int = option(0, "random seed for splits, subsets, initialisation and shuffling", ge=0, group="dataset")
    per_class: int | None = option(None, "balanced subset: N training images per class (for fashion-mnist also "
                                         "N test images per class)", ge=1, group="dataset", metavar="N",
                                   default_text="every image")
    train_list: str | None = option(None, "MIT67-style list of CLASS/FILE lines for train (with --test-list and "
                                          "--images)", group="dataset", metavar="FILE")
    test_list: str | None = option(None, "MIT67-style list of CLASS/FILE lines for test", group="dataset",
                                   metavar="FILE")
    images: str | None = option(None, "folder the --train-list/--test-list paths are relative to",
                                group="dataset", metavar="DIR")
    strict: bool = option(False, "stop at the first unreadable image instead of skipping and listing it",
                          group="dataset")
    max_pixels: int = option(DEFAULT_MAX_PIXELS, "refuse images with more pixels (decompression-bomb protection)",
                             ge=1, group="dataset")
    workers: int | None = option(None, "DataLoader worker processes that decode images", ge=0, runtime=True,
                                 group="dataset", metavar="N", default_text="the number of CPUs, at most 8")

    @model_validator(mode="after")
    def _lists_together(self):
        if bool(self.train_list) != bool(self.test_list):
            raise ValueError("train_list (--train-list) and test_list (--test-list) go together")
        return self

    def dataset_options(self) -> dict[str, Any]:
        """The keyword arguments of ``load_dataset`` (an error when no dataset is given at all)."""
        if not self.data and not self.train_list:
            raise BadInputError("no dataset: give --data (e.g. --data fashion-mnist) or "
                                "--train-list/--test-list/--images")
        return {"data": self.data, "test_fraction": self.test_fraction, "seed": self.seed,
                "per_class": self.per_class, "train_list": self.train_list, "test_list": self.test_list,
                "images": self.images}


def make_config(cls, config=None, data=None, options: dict[str, Any] | None = None):
    """(config, splits): the config from ``config`` and/or keyword ``options``; ``data`` may be a dataset
    source (name, folder, CSV) or an already loaded ``DataSplits``, whose loading options are recorded."""
    options = dict(options or {})
    splits = None
    if data is not None and hasattr(data, "classes") and hasattr(data, "train"):
        splits = data
        loaded = dict(getattr(data, "options", None) or {})
        for key in ("data", "test_fraction", "seed", "per_class", "train_list", "test_list", "images"):
            if key in loaded and key not in options and key in cls.model_fields:
                options[key] = loaded[key]
    elif data is not None:
        options["data"] = data
    if config is None:
        config = cls(**options)
    else:
        if not isinstance(config, cls):
            config = cls(**{k: v for k, v in config.to_dict().items() if k in cls.model_fields})
        if options:
            config = config.replace(**options)
    return config, splits
