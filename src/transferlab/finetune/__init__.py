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

_EXPORTS = {"FinetuneConfig": "config", "PredictConfig": "config", "config_diff": "config",
            "finetune": "run", "FinetuneRun": "run", "load_model": "run", "train": "loop", "Trainer": "loop"}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"transferlab.finetune.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


from transferlab._callable import callable_package  # noqa: E402

callable_package(__name__, "transferlab.finetune.run:finetune")
