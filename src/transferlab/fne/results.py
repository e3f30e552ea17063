"""What ``tl.embed`` and ``tl.fne`` return: the features of a run, and a fitted FNE probe that can predict."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transferlab.results import ClassifierRun, Result, frame_html

PROBE_FILE = "probe.skops"


@dataclass(repr=False)
class EmbedResult(Result):
    """Train and test features (``FeatureSet``: ``.features``, ``.labels``, ``.paths``, ``.layers``).

    ``cached``: split -> whether it came from the feature cache; ``run_dir``: the run folder, if any.
    """

    train: Any
    test: Any
    splits: Any
    config: Any
    cached: dict
    seconds: float
    cache_keys: dict = field(default_factory=dict)
    taps: list = field(default_factory=list)
    preprocessing: Any = None
    backbone: Any = None
    run_dir: Path | None = None

    _summary = ("model", "n_layers", "dim", "n_train", "n_test", "cached", "run_dir")
    _title = "pooled activations of the tapped layers"

    @property
    def model(self) -> str:
        return self.train.meta.get("model", "")

    @property
    def layers(self) -> list[str]:
        return self.train.layer_names()

    @property
    def n_layers(self) -> int:
        return len(self.train.layers)

    @property
    def dim(self) -> int:
        return self.train.dim

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_test(self) -> int:
        return len(self.test)

    @property
    def skipped(self) -> list[dict]:
        return self.train.skipped + self.test.skipped

    def to_dict(self) -> dict:
        return {"run": str(self.run_dir) if self.run_dir else None, "model": self.model, "layers_spec":
                self.config.layers, "n_layers": self.n_layers, "dim": self.dim, "n_train": self.n_train,
                "n_test": self.n_test, "skipped": self.skipped, "cached": self.cached,
                "seconds": round(self.seconds, 3)}


@dataclass(repr=False)
class FNERun(ClassifierRun):
    """A finished FNE run: the metrics (``accuracy``, ``per_class``, ``per_layer`` ...), the fitted probe
    and what is needed to ``predict`` new images.  ``FNERun.load(folder)`` reads a run back."""

    config: Any
    metrics: dict
    probe: Any = None
    features: EmbedResult | None = None
    run_dir: Path | None = None
    _backbone: Any = None
    _taps: Any = None

    _summary = ("accuracy", "mean_class_accuracy", "n_train", "n_test", "dim", "model", "run_dir")
    _title = "full-network embedding + linear SVM"

    @property
    def dim(self) -> int:
        return self.metrics["dim"]

    @property
    def skipped(self) -> list[dict]:
        return self.metrics.get("skipped", [])

    @property
    def cv(self):
        """With ``C="auto"`` or ``layers="auto"``: the cross-validation table (tap set, C, mean and std
        of the fold accuracies; a DataFrame)."""
        import pandas as pd

        cv = self.metrics.get("cv")
        return pd.DataFrame(cv["table"]) if cv else None

    @property
    def per_layer(self):
        """With ``compare=True``: accuracy of each tapped layer alone and of the full embedding (a DataFrame)."""
        import pandas as pd

        rows = self.metrics.get("compare")
        return pd.DataFrame(rows) if rows else None

    def _html_extra(self) -> str:
        per_layer = self.per_layer
        return frame_html(self.per_class) + (frame_html(per_layer) if per_layer is not None else "")

    # -- prediction ---------------------------------------------------------------------------------
    def predict(self, images: list[str], top_k: int = 3, batch_size: int = 32) -> dict:
        """Top-k classes of image files by the probe's decision values (the shared prediction shape)."""
        from transferlab.models.engines import open_engine
        from transferlab.models.predict import SVM_DECISION, payload, read_batches, top_k as best
        from transferlab.runtime import pick_device

        backbone, taps, pre = self._network()
        device = pick_device(self.config.device)
        engine = open_engine(backbone, taps, pre, backend=self.config.backend, precision=self.config.precision,
                             device=device, batch_size=batch_size, quiet=True, n_images=len(images))
        paths, tops, skipped = [], [], []
        with engine:
            for ok, batch, bad in read_batches(list(images), pre.transform("none", normalize=False),
                                               draft=pre.resize_size, batch_size=batch_size):
                skipped += bad
                if batch is None:
                    continue
                scores = self.probe.decision_function(engine(batch))
                paths += ok
                tops += best(scores, self.classes, top_k)
        return payload(self.model, paths, tops, skipped, SVM_DECISION,
                       run=str(self.run_dir) if self.run_dir else None)

    def _network(self):
        if self._backbone is None:
            from transferlab.models.registry import create_backbone
            from transferlab.models.taps import resolve_layers

            chosen = self.metrics.get("layers_chosen")  # --layers auto: the tap set the probe was fitted on
            held = self.features.backbone if self.features is not None else None
            if held is not None and not chosen:
                self._backbone, self._taps = held, self.features.taps
            else:
                self._backbone = held or create_backbone(self.config.model, weights=self.config.weights)
                size = self._backbone.preprocessing.with_size(self.config.image_size).input_size
                self._taps = resolve_layers(self._backbone, chosen or self.config.layers, size=size)
        pre = self._backbone.preprocessing.with_size(self.config.image_size)
        return self._backbone, self._taps, pre

    @classmethod
    def load(cls, run_dir: str | Path) -> "FNERun":
        """A finished ``fne`` run folder, with its probe, ready to ``predict``."""
        import json

        from transferlab.errors import DataError
        from transferlab.fne.config import FNEConfig
        from transferlab.fne.probe import load_probe
        from transferlab.runs import require_complete

        run_dir = Path(run_dir)
        manifest = require_complete(run_dir, ("fne",), "give the folder of a finished `transferlab fne` run")
        config = FNEConfig.from_dict(manifest.get("config") or {}, str(run_dir / "run.json"))
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{run_dir}/metrics.json cannot be read ({exc}); rerun the fne run") from None
        return cls(config=config, metrics=metrics, probe=load_probe(run_dir / PROBE_FILE), run_dir=run_dir)
