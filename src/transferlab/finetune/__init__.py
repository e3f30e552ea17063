"""Fine-tuning with control over transferred, frozen and retrained blocks.

- ``config``: ``FinetuneConfig`` (every option, validated) and ``PredictConfig``;
- ``model``: backbone + new head, ``--transfer K`` / ``--freeze K``; ``prefix_cache``: the frozen
  prefix computed once; ``imagecache``: decoded training images kept in RAM;
- ``inputs`` (samplers, loaders), ``schedule`` (optimizer, LR schedule), ``checkpoint``,
  ``history`` (metrics.csv, curves.png), ``distributed`` (DDP), ``evaluation``;
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
