"""transferlab: reuse networks pretrained on one task for another.

The Python API, one import (names load lazily: ``import transferlab`` stays fast)::

    import transferlab as tl
    data = tl.load_dataset("fashion-mnist", per_class=100)          # or a folder, MIT67 lists, a CSV
    run = tl.fne(data, model="efficientnet_lite0", layers="all", compare=True, out="runs/fm")
    run.accuracy, run.per_layer, run.predict(["photo.jpg"])
    emb = tl.embed(data, layers="stages")                             # cached features (FeatureSets)
    ft = tl.finetune(data, freeze="all", epochs=5, out="runs/head")   # ft.accuracy, ft.history
    wv = tl.WordVectors.load(); wv.most_similar("frog")
    tl.sweep("spec.yaml", out="runs/s"); tl.report("runs/s")   # report.html of any run folder

Every function takes the same options as its command (``transferlab fne --help`` ...), validated
by the same typed config (``tl.FNEConfig``, ``tl.FinetuneConfig`` ...): a bad value is the same
one-line ``ValueError`` (``transferlab.errors.BadInputError``) in Python as on the command line.
"""

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "load_dataset": "transferlab.data.sources",
    "create_backbone": "transferlab.models.registry",
    "classify": "transferlab.models.classify",
    "embed": "transferlab.fne.pipeline",
    "probe": "transferlab.fne.pipeline",
    "make_probe": "transferlab.fne.transforms",
    "Standardize": "transferlab.fne.transforms",
    "Discretize": "transferlab.fne.transforms",
    "FeatureSet": "transferlab.fne.store",
    "EmbedResult": "transferlab.fne.results",
    "FNERun": "transferlab.fne.results",
    "EmbedConfig": "transferlab.fne.config",
    "ProbeConfig": "transferlab.fne.config",
    "FNEConfig": "transferlab.fne.config",
    "FinetuneRun": "transferlab.finetune.run",
    "FinetuneConfig": "transferlab.finetune.config",
    "WordVectors": "transferlab.words.vectors",
    "SweepResult": "transferlab.sweep.runner",
    "SweepConfig": "transferlab.sweep.config",
    "cache_info": "transferlab.cache.manage",
    "clear_cache": "transferlab.cache.manage",
    "BadInputError": "transferlab.errors",
    "DataError": "transferlab.errors",
    # packages that are also their capability's function when called: tl.fne(...), tl.finetune(...), tl.sweep(...),
    # tl.report(...)
    "fne": "transferlab.fne",
    "finetune": "transferlab.finetune",
    "sweep": "transferlab.sweep",
    "report": "transferlab.report",
}

from transferlab._package import lazy_package  # noqa: E402

lazy_package(__name__, _EXPORTS)
