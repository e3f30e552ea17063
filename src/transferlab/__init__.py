"""transferlab: reuse pretrained networks for new tasks.

Capabilities (each a sub-package): ``models`` (backbones, layer taps, blocks),
``data`` (image datasets), ``embed`` (feature extraction + cache), ``probe``
(full-network-embedding post-processing + linear SVM), ``finetune``, ``words``
(word-embedding spaces) and ``sweep`` (transferability studies).
"""

__version__ = "0.1.0"
