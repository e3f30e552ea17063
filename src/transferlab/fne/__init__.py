"""Full-network embedding (FNE): pooled activations of many layers, post-processed, and a linear SVM.

- ``config``: the typed options (``EmbedConfig``, ``ProbeConfig``, ``FNEConfig``);
- ``extract``: one streaming forward pass per batch, every tap pooled on the fly; ``store``: the
  atomic feature cache (``FeatureSet``);
- ``transforms``: ``Standardize``, ``Discretize``, ``make_probe`` (scikit-learn); ``probe``: fit,
  evaluate, per-layer comparison;
- ``pipeline``: ``embed`` and ``fne``, used by the CLI, the sweep and ``tl.embed`` / ``tl.fne``.

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
