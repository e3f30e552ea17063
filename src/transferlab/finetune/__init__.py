"""Fine-tuning with control over transferred, frozen and retrained blocks.

Python API (what ``transferlab finetune`` calls)::

    from transferlab.finetune import FinetuneConfig, finetune
    result = finetune(FinetuneConfig(data="fashion-mnist", per_class=100, freeze="all", out="runs/x"))
    result["accuracy"], result["best_epoch"], result["epochs_run"], result["seconds"]

Imports are lazy so that ``transferlab --help`` does not load torch.
"""

__all__ = ["FinetuneConfig", "finetune", "load_run", "predict_images", "config_diff"]


def __getattr__(name):
    if name in ("FinetuneConfig", "config_diff"):
        from transferlab.finetune import config

        return getattr(config, name)
    if name == "finetune":
        from transferlab.finetune.train import finetune

        return finetune
    if name in ("load_run", "predict_images"):
        from transferlab.finetune import predict

        return getattr(predict, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
