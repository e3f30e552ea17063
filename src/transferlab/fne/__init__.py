"""Full-network embedding (FNE): pooled activations of many layers, post-processed, and a linear SVM.

- ``config``: the typed options (``EmbedConfig``, ``ProbeConfig``, ``FNEConfig``);
- ``extract``: one streaming forward pass per batch, every tap pooled on the fly (the network runs on
  an engine of ``transferlab.models.engines``); ``store``: the atomic feature cache (``FeatureSet``);
- ``transforms``: ``Standardize``, ``Discretize``, ``make_probe``, ``post_processing`` (scikit-learn);
  ``solver``: the Newton linear SVM; ``probe``: fit, evaluate, per-layer comparison; ``select``: C and
  the tap set by cross-validation;
- ``pipeline``: ``embed`` and ``fne``, used by the CLI, the sweep and ``tl.embed`` / ``tl.fne``;
  ``results``: the run objects they return (``EmbedResult``, ``FNERun``); ``cli``, ``demo``.

The package itself is callable: ``transferlab.fne(data, **options)`` is ``pipeline.fne``.

Names are imported lazily (``transferlab --help`` must not load torch).
"""

from transferlab._package import lazy_package

lazy_package(__name__, {
    "EmbedConfig": ".config",
    "ProbeConfig": ".config",
    "FNEConfig": ".config",
    "embed": ".pipeline",
    "fne": ".pipeline",
    "EmbedResult": ".results",
    "FNERun": ".results",
    "FeatureSet": ".store",
    "Standardize": ".transforms",
    "Discretize": ".transforms",
    "make_probe": ".transforms",
}, call="transferlab.fne.pipeline:fne")
