"""Fine-tuning with control over transferred, frozen and retrained blocks.

- ``config``: ``FinetuneConfig`` (every option, validated) and ``PredictConfig``;
- ``model``: backbone + new head (``build_model``), ``--transfer K`` / ``--freeze K``, and the model cut
  after the frozen blocks (``CutModel``); ``prefix_cache``: the frozen prefix's activations computed once
  (``PrefixActivations``); ``imagecache``: decoded training images kept in RAM;
- ``inputs`` (samplers, loaders), ``schedule`` (optimizer, LR schedule, precision), ``checkpoint``,
  ``history`` (metrics.csv, curves.png: the learning-curve figure the report also draws), ``distributed``
  (DDP), ``evaluation`` (the final evaluation's files), ``compiled`` (``--compile``), ``depthwise`` (bf16 on CPU);
- ``loop``: the run (``Trainer``, ``train``); ``run``: ``finetune`` and ``FinetuneRun`` (``tl.finetune``).

The package itself is callable: ``transferlab.finetune(data, **options)`` is ``run.finetune``.
Names are imported lazily (``transferlab --help`` must not load torch).
"""

from transferlab._package import lazy_package

lazy_package(__name__, {
    "FinetuneConfig": ".config",
    "PredictConfig": ".config",
    "config_diff": ".config",
    "finetune": ".run",
    "FinetuneRun": ".run",
    "load_model": ".run",
    "train": ".loop",
    "Trainer": ".loop",
}, call="transferlab.finetune.run:finetune")
