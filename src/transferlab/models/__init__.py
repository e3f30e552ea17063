"""Backbones and what runs them, below every capability that uses a network (fne, finetune, classify).

- ``registry``: ``create_backbone`` (names → networks, with their weights and preprocessing) and ``Backbone``;
- ``preprocess``: ``Preprocessing`` (resize, crop, normalise, training augmentation);
- ``weights``: the offline models, checkpoint reading and loading, the classifier head;
- ``taps``: layer specs (``--layers``) and ``TapRecorder``, pooled activations in one forward;
- ``blocks``: the ordered blocks that ``--transfer`` / ``--freeze`` count;
- ``engines``: ``open_engine``, the inference engines (torch, ONNX Runtime, OpenVINO) over the taps;
- ``predict``: the top-k prediction payload shared by ``classify`` and ``predict``;
- ``config``, ``classify``, ``cli``: the ``models``, ``layers`` and ``classify`` commands.
"""
