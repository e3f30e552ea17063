"""What every result object shares: ``to_dict()``, a one-line ``repr`` and a readable notebook view."""
from __future__ import annotations

import html
from typing import Any


class Result:
    """Base of the objects ``tl.fne``, ``tl.embed``, ``tl.finetune`` and ``tl.sweep`` return.

    Subclasses list their headline attributes in ``_summary`` (shown by ``repr`` and in notebooks)
    and implement ``to_dict``.
    """

    _summary: tuple[str, ...] = ()
    _title: str = "result"

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def _headline(self) -> dict[str, Any]:
        out = {}
        for name in self._summary:
            try:
                out[name] = getattr(self, name)
            except Exception:  # noqa: BLE001 - a view must never fail
                out[name] = None
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={_short(v)}" for k, v in self._headline().items())
        return f"{type(self).__name__}({parts})"

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td style='text-align:left'>"
                       f"{html.escape(_short(v, 200))}</td></tr>" for k, v in self._headline().items())
        extra = self._html_extra()
        return (f"<div><strong>{html.escape(type(self).__name__)}</strong> ({html.escape(self._title)})"
                f"<table>{rows}</table>{extra}</div>")

    def _html_extra(self) -> str:
        return ""


class ClassifierRun(Result):
    """A finished run of a classifier (``tl.fne``, ``tl.finetune``): views of its ``metrics`` (metrics.json)."""

    metrics: dict
    config: Any

    @property
    def model(self) -> str:
        return self.metrics.get("model") or self.config.model

    @property
    def accuracy(self) -> float:
        return self.metrics["accuracy"]

    @property
    def mean_class_accuracy(self) -> float:
        return self.metrics["mean_class_accuracy"]

    @property
    def classes(self) -> list[str]:
        return list(self.metrics["per_class"])

    @property
    def n_train(self) -> int:
        return self.metrics["n_train"]

    @property
    def n_test(self) -> int:
        return self.metrics["n_test"]

    @property
    def warnings(self) -> list[str]:
        return self.metrics.get("warnings", [])

    @property
    def per_class(self):
        """Precision, recall, F1 and support per class (a DataFrame)."""
        import pandas as pd

        return pd.DataFrame([{"class": c, **v} for c, v in self.metrics["per_class"].items()])

    def to_dict(self) -> dict:
        return dict(self.metrics)


def _short(value: Any, width: int = 60) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    text = str(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def frame_html(df, max_rows: int = 60) -> str:
    """A DataFrame as an HTML table for a notebook, or nothing when there is none."""
    if df is None or len(df) == 0:
        return ""
    return df.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.4f}", border=0)
