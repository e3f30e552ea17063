"""Images in, (train, test) splits out: everything a command needs to read a dataset.

- ``config``: ``DataOptions``, the dataset options every image command shares (and the
  ``fashion-mnist`` name); ``sources``: ``load_dataset`` and ``DataSplits``, from any source;
  ``csv_lists``: the CSV reader behind a CSV source; ``fashion_mnist``: the built-in dataset's files;
- ``splits``: stratified held-out splits and balanced per-class subsets; ``images``: one image read
  safely; ``image_dataset``: a split as a torch ``Dataset`` that drops and reports unreadable files;
  ``checks``: the per-class check of what was actually read.

Submodules are imported where they are used (``image_dataset`` loads torch).
"""
